#!/usr/bin/env -S deno run --allow-net --allow-env --allow-read --allow-write --allow-run
/**
 * Completing a partly stored download (RFC 9111 §3.4) against a plain miss:
 * an origin on loopback serves a 256 MiB body with a strong ETag and byte
 * ranges; hoard first stores its first 64 MiB (a Range request), then a
 * whole GET is completed from the part plus the origin's rest; a plain miss
 * of a second URL and a hit after are timed beside it. curl does the GETs
 * and checks each body's SHA-256.
 *
 * Usage: deno run -A scripts/bench_partial.ts [--mib 256] [--part-mib 64]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { startProxy } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mib: { type: "string", default: "256" },
    "part-mib": { type: "string", default: "64" },
  },
});
const MiB = 1024 * 1024;
const size = Number(values.mib) * MiB, part = Number(values["part-mib"]) * MiB;
const body = new Uint8Array(size);
for (let i = 0; i < size; i += 4096) body[i] = (i / 4096) & 0xff;
const digest = createHash("sha256").update(body).digest("hex");

const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const headers = { etag: '"v1"', "cache-control": "max-age=3600", "accept-ranges": "bytes" };
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
  if (m === null) return new Response(body, { headers });
  const start = Number(m[1]), end = m[2] === "" ? size - 1 : Number(m[2]);
  return new Response(body.subarray(start, end + 1), {
    status: 206,
    headers: { ...headers, "content-range": `bytes ${start}-${end}/${size}` },
  });
});
const dir = await Deno.makeTempDir({ prefix: "hoard-bench-partial-" });
const proxy = await startProxy({ port: 0, cacheDir: dir, logLevel: "warn" });
const base = `http://127.0.0.1:${origin.addr.port}`;

/** curl through hoard: wall seconds, Cache-Status, and the body's SHA-256. */
async function get(path: string, ...args: string[]): Promise<[number, string, string]> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-x",
      proxy.url,
      "-o",
      `${dir}/out`,
      "-w",
      "%{time_total} %header{cache-status}",
      ...args,
      base + path,
    ],
  }).output();
  const [secs, ...status] = new TextDecoder().decode(out.stdout).split(" ");
  const sha = createHash("sha256").update(await Deno.readFile(`${dir}/out`)).digest("hex");
  return [Number(secs), status.join(" "), sha];
}

const row = (what: string, [s, status, sha]: [number, string, string], expected = digest) =>
  console.log(
    `${what.padEnd(34)} ${(s * 1000).toFixed(0).padStart(6)} ms  ${
      sha === expected ? "sha256 ok" : "SHA256 MISMATCH"
    }  ${status}`,
  );
const partDigest = createHash("sha256").update(body.subarray(0, part)).digest("hex");
row(`part: bytes 0-${part / MiB} MiB (miss)`, await get("/a", "-r", `0-${part - 1}`), partDigest);
await new Promise((r) => setTimeout(r, 500)); // the part committed
row(`whole, completing the part`, await get("/a"));
row(`whole, plain miss (another URL)`, await get("/b"));
await new Promise((r) => setTimeout(r, 500));
row(`whole, hit`, await get("/a"));
await proxy.close();
await origin.shutdown();
await Deno.remove(dir, { recursive: true });
