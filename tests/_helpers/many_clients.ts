/**
 * Many clients at once through a proxy — Deno fetch, curl, and raw HTTP/1.0
 * sockets — each reporting the status, Cache-Status and SHA-256 of what it
 * got: for the collapsing tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { curl } from "./clients.ts";
import { sha256 } from "./cache_origin.ts";

/** What one client got. */
export interface Got {
  status: number;
  cacheStatus: string;
  /** SHA-256 of the body. */
  hash: string;
  length: number;
}

export async function viaFetch(client: Deno.HttpClient, url: string): Promise<Got> {
  const res = await fetch(url, { client });
  const hash = createHash("sha256");
  let length = 0;
  for await (const chunk of res.body!) {
    hash.update(chunk);
    length += chunk.length;
  }
  return {
    status: res.status,
    cacheStatus: res.headers.get("cache-status") ?? "",
    hash: hash.digest("hex"),
    length,
  };
}

export async function viaCurl(proxyUrl: string, url: string): Promise<Got> {
  const r = await curl(["--max-time", "20", "-x", proxyUrl, url]);
  assert.equal(r.code, 0, r.stderr);
  return {
    status: r.status,
    cacheStatus: r.headers["cache-status"] ?? "",
    hash: sha256(r.body),
    length: r.body.length,
  };
}

/** hoard's gauge of open client connections (its own metrics page, not origin traffic). */
export async function openConnections(proxyUrl: string): Promise<number> {
  const text = await (await fetch(`${proxyUrl}/_hoard/metrics`)).text();
  return Number(/^hoard_open_connections (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** An HTTP/1.0 request on a raw socket: the body ends at close (no chunked framing). */
export async function viaRaw10(proxyPort: number, url: string): Promise<Got> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  try {
    const host = new URL(url).host;
    await conn.write(new TextEncoder().encode(`GET ${url} HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    const buf = new Uint8Array(256 * 1024);
    const hash = createHash("sha256");
    let head = "", length = 0, inBody = false;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      let chunk = buf.subarray(0, n);
      if (!inBody) {
        head += new TextDecoder("latin1").decode(chunk);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) continue;
        // Every byte after the head is body; the head is ASCII, so text offsets are byte offsets.
        chunk = chunk.subarray(chunk.length - (head.length - end - 4));
        head = head.slice(0, end);
        inBody = true;
      }
      hash.update(chunk);
      length += chunk.length;
    }
    assert.ok(inBody, `no complete head: ${head}`);
    return {
      status: Number(head.split(" ")[1]),
      cacheStatus: /^cache-status:[ \t]*(.*)$/im.exec(head)?.[1]?.trim() ?? "",
      hash: hash.digest("hex"),
      length,
    };
  } finally {
    conn.close();
  }
}

/** `count` requests at once, spread over the three clients. */
export function many(
  count: number,
  proxy: { url: string; port: number },
  client: Deno.HttpClient,
  url: string,
): Promise<Got[]> {
  return Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        i % 10 === 1
          ? viaCurl(proxy.url, url)
          : i % 10 === 2
          ? viaRaw10(proxy.port, url)
          : viaFetch(client, url),
    ),
  );
}
