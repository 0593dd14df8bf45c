#!/usr/bin/env -S deno run --allow-net
/**
 * A fixed, fast origin for benchmarks: raw TCP, keep-alive, GET only.
 * `/<n>k`, `/<n>m`, `/<n>g` answer with that many bytes (KiB, MiB, GiB) of 'a',
 * cacheable for an hour (with a Date field); with `nostore` anywhere in the path, `no-store`.
 * `/count` answers how many body requests it served so far.
 * Prints `origin listening on PORT` and serves until killed. With `--tls CERT KEY`
 * (PEM files), it serves the same over HTTPS (Deno's rustls).
 *
 * Usage: deno run --allow-net scripts/bench_origin.ts [port] [--tls CERT KEY]
 *        (--allow-read too with --tls)
 *
 * @module
 */

const UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const encoder = new TextEncoder();
const block = new Uint8Array(1024 * 1024).fill(0x61);
let served = 0;
// RFC 9110 §6.6.1: an origin with a clock sends Date. squid treats max-age without Date as
// already stale (HttpReply::hdrExpirationTime), so without it squid would never hit.
let date = new Date().toUTCString();
setInterval(() => date = new Date().toUTCString(), 1000);

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

async function serve(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  let pending = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    pending += new TextDecoder().decode(buf.subarray(0, n));
    let end: number;
    while ((end = pending.indexOf("\r\n\r\n")) !== -1) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      const m = /^\S+ (\S+)/.exec(head);
      const path = m?.[1] ?? "";
      if (path === "/count") {
        const n = String(served);
        await writeAll(
          conn,
          encoder.encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${n.length}\r\nCache-Control: no-store\r\n\r\n${n}`,
          ),
        );
        continue;
      }
      const size = /^\/(\d+)([kmg])/.exec(path);
      if (!size) {
        await writeAll(conn, encoder.encode("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
        continue;
      }
      const total = Number(size[1]) * UNITS[size[2]!]!;
      const head200 =
        `HTTP/1.1 200 OK\r\nDate: ${date}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${total}\r\n` +
        `Cache-Control: ${path.includes("nostore") ? "no-store" : "max-age=3600"}\r\n\r\n`;
      served++;
      if (total <= 64 * 1024) {
        const h = encoder.encode(head200);
        const out = new Uint8Array(h.length + total);
        out.set(h);
        out.fill(0x61, h.length);
        await writeAll(conn, out);
        continue;
      }
      await writeAll(conn, encoder.encode(head200));
      for (let sent = 0; sent < total; sent += block.length) {
        await writeAll(conn, block.subarray(0, Math.min(block.length, total - sent)));
      }
    }
  }
}

if (import.meta.main) {
  const tls = Deno.args.indexOf("--tls");
  const port = Number(tls === 0 ? 0 : Deno.args[0] ?? 0);
  const listener = tls === -1 ? Deno.listen({ hostname: "127.0.0.1", port }) : Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    cert: Deno.readTextFileSync(Deno.args[tls + 1]!),
    key: Deno.readTextFileSync(Deno.args[tls + 2]!),
  });
  console.log(`origin listening on ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) serve(conn).catch(() => {}).finally(() => conn.close());
}
