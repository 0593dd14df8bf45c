#!/usr/bin/env -S deno run --allow-read --allow-write --allow-run --allow-net=127.0.0.1
/**
 * Start-up cost of a large cache directory: creates N entries in a temp cache
 * directory, in the layout `Store.commit` produces (written directly, which is
 * much faster than committing them), then measures in fresh processes:
 *
 * 1. hoard (`deno run -A mod.ts --port 0 --cache-dir DIR`): process start to
 *    its "listening on" line, the first cache hit through it, and SIGTERM to
 *    exit (shutdown waits for the start-up scan);
 * 2. `Cache.open` in a process of its own: open, a first hit while the scan
 *    runs, the scan's end (`cache.ready`, with entryCount and usedBytes), a
 *    hit after it, and RSS;
 * 3. hoard on an empty cache directory, for comparison.
 *
 * The files were just written, so the page cache is warm: a cold disk is
 * slower. Never part of CI pass/fail.
 *
 * Usage: deno run -A scripts/bench_cache_startup.ts [--entries 100000] [--body-bytes 256] [--keep]
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { Cache } from "../src/cache/cache.ts";
import { formatBytes } from "../src/observe/report.ts";
import { storeId } from "../src/cache/key.ts";
import type { ResponseMeta } from "../src/cache/meta.ts";
import { newPolicy } from "../src/cache/policy/semantics.ts";
import { FieldList } from "../src/http1/fields.ts";
import { Logger } from "../src/observe/log.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
/** Port 9 (discard): nothing listens, so a hit is answered without an origin. */
const HIT_KEY = "http://127.0.0.1:9/bench-hit";
const LATE_KEY = "http://127.0.0.1:9/bench-late";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TIMEOUT_MS = 90_000;

/** What the in-process child reports, all times in ms since its process started. */
interface ChildReport {
  opened: number;
  firstHitStart: number;
  firstHitEnd: number;
  firstHitOk: boolean;
  ready: number;
  entryCount: number;
  usedBytes: number;
  lateHitMs: number;
  lateHitOk: boolean;
  rssBytes: number;
}

function metaFor(key: string, body: Uint8Array, now: number): ResponseMeta {
  const id = storeId(key);
  const headers: [string, string][] = [
    ["Content-Type", "application/octet-stream"],
    ["Cache-Control", "max-age=31536000"],
    ["Content-Length", String(body.length)],
  ];
  const policy = newPolicy(
    { method: "GET", url: key, headers: { host: new URL(key).host } },
    { status: 200, headers: Object.fromEntries(headers.map(([n, v]) => [n.toLowerCase(), v])) },
    now,
  ).toObject();
  return {
    v: 1,
    kind: "response",
    id,
    key,
    status: 200,
    reason: "OK",
    headers,
    policy: JSON.parse(JSON.stringify(policy)),
    storedAt: now,
    size: body.length,
    sha256: createHash("sha256").update(body).digest("hex"),
    body: `${id}-${crypto.randomUUID().slice(0, 8)}.body`,
  };
}

/** Writes `entries` entries into `dir` as Store.commit leaves them; returns bytes written. */
function populate(dir: string, entries: number, bodyBytes: number): number {
  Deno.mkdirSync(`${dir}/tmp`, { recursive: true, mode: 0o700 });
  Deno.mkdirSync(`${dir}/data`, { recursive: true, mode: 0o700 });
  Deno.writeTextFileSync(
    `${dir}/hoard-cache.json`,
    JSON.stringify({ format: "hoard-cache", version: 1 }) + "\n",
  );
  for (let i = 0; i < 256; i++) {
    Deno.mkdirSync(`${dir}/data/${i.toString(16).padStart(2, "0")}`, { mode: 0o700 });
  }
  const now = Date.now();
  // One policy for the bulk (only the hit entries need their own URL in it).
  const template = metaFor("http://bench.test/", new Uint8Array(bodyBytes), now);
  let total = 0;
  const keys = [HIT_KEY, LATE_KEY];
  for (let i = 0; i < entries; i++) {
    const key = i < keys.length ? keys[i]! : `http://bench.test/objects/${i}.bin`;
    const body = new Uint8Array(bodyBytes);
    new DataView(body.buffer).setUint32(0, i);
    const meta = i < keys.length ? metaFor(key, body, now) : {
      ...template,
      id: storeId(key),
      key,
      sha256: createHash("sha256").update(body).digest("hex"),
      body: "",
    };
    meta.body = `${meta.id}-${crypto.randomUUID().slice(0, 8)}.body`;
    const shard = `${dir}/data/${meta.id.slice(0, 2)}`;
    const json = encoder.encode(JSON.stringify(meta, null, 1) + "\n");
    Deno.writeFileSync(`${shard}/${meta.body}`, body, { mode: 0o600 });
    Deno.writeFileSync(`${shard}/${meta.id}.json`, json, { mode: 0o600 });
    total += body.length + json.length;
    if ((i + 1) % 20_000 === 0) console.error(`  ${i + 1} entries written`);
  }
  return total;
}

/** Reads a child's stream until `pattern` matches; resolves with ms since `t0`. */
async function waitFor(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  t0: number,
): Promise<{ ms: number; text: string; match: RegExpExecArray }> {
  let text = "";
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`child ended before ${pattern}:\n${text}`);
      text += decoder.decode(value, { stream: true });
      const match = pattern.exec(text);
      if (match) return { ms: performance.now() - t0, text, match };
    }
  } finally {
    reader.releaseLock();
  }
}

/** Sends one proxied GET of `key` through `proxyUrl`; returns status, Cache-Status and ms. */
async function proxiedGet(
  proxyUrl: string,
  key: string,
): Promise<{ ms: number; status: string; cacheStatus: string; bodyBytes: number }> {
  const { hostname, port } = new URL(proxyUrl);
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const host = new URL(key).host;
    const req = `GET ${key} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(encoder.encode(req));
    const chunks: Uint8Array[] = [];
    for await (const c of conn.readable) chunks.push(c);
    const ms = performance.now() - t0;
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    const text = decoder.decode(all);
    const headEnd = text.indexOf("\r\n\r\n");
    const head = text.slice(0, headEnd);
    return {
      ms,
      status: head.split("\r\n")[0] ?? "",
      cacheStatus: /^cache-status:\s*(.*)$/im.exec(head)?.[1] ?? "-",
      bodyBytes: all.length - (headEnd + 4),
    };
  } catch (err) {
    try {
      conn.close();
    } catch { /* closed by readable */ }
    throw err;
  }
}

interface HoardRun {
  listenMs: number;
  hit?: { ms: number; status: string; cacheStatus: string; bodyBytes: number };
  exitMs: number;
  code: number;
}

/** Runs hoard on `dir`: start to "listening on", one hit (optional), SIGTERM to exit. */
async function runHoard(dir: string, hitKey?: string): Promise<HoardRun> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--port", "0", "--cache-dir", dir, "--log-level", "warn"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  try {
    const listening = await waitFor(child.stderr, /listening on (http:\/\/\S+)/, t0);
    const drained = child.stderr.pipeTo(new WritableStream());
    const hit = hitKey === undefined ? undefined : await proxiedGet(listening.match[1]!, hitKey);
    const t1 = performance.now();
    child.kill("SIGTERM");
    const status = await child.status;
    const exitMs = performance.now() - t1;
    await drained;
    return { listenMs: listening.ms, hit, exitMs, code: status.code };
  } finally {
    clearTimeout(timer);
  }
}

/** The in-process measurement, in a child of its own: prints one JSON line. */
async function child(dir: string): Promise<void> {
  const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("warn"));
  const opened = performance.now();
  const lookup = async (key: string): Promise<boolean> => {
    const found = await cache.find({ method: "GET", key, fields: new FieldList() }, Date.now());
    if (found.kind !== "entry" || found.freshness.kind !== "hit") return false;
    const body = await cache.body(found.entry);
    if (body !== undefined && "source" in body) body.source.close();
    return body !== undefined;
  };
  const firstHitStart = performance.now();
  const firstHitOk = await lookup(HIT_KEY);
  const firstHitEnd = performance.now();
  await cache.ready;
  const ready = performance.now();
  const t = performance.now();
  const lateHitOk = await lookup(LATE_KEY);
  const lateHitMs = performance.now() - t;
  await cache.settled();
  const report: ChildReport = {
    opened,
    firstHitStart,
    firstHitEnd,
    firstHitOk,
    ready,
    entryCount: cache.entryCount,
    usedBytes: cache.usedBytes,
    lateHitMs,
    lateHitOk,
    rssBytes: Deno.memoryUsage().rss,
  };
  console.log(JSON.stringify(report));
}

async function runChild(dir: string): Promise<{ wallMs: number; report: ChildReport }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", SELF, "--child", dir],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  }).output();
  const wallMs = performance.now() - t0;
  if (out.code !== 0) throw new Error(`in-process child failed (${out.code})`);
  return { wallMs, report: JSON.parse(decoder.decode(out.stdout).trim().split("\n").at(-1)!) };
}

function row(label: string, ms: number, note = ""): string {
  return `${label.padEnd(52)} ${ms.toFixed(0).padStart(7)} ms  ${note}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      entries: { type: "string", default: "100000" },
      "body-bytes": { type: "string", default: "256" },
      keep: { type: "boolean", default: false },
      child: { type: "string" },
    },
  });
  if (values.child !== undefined) return await child(values.child);
  const entries = Number(values.entries);
  const bodyBytes = Number(values["body-bytes"]);
  if (!Number.isInteger(entries) || entries < 2) throw new Error("--entries: an integer >= 2");
  if (!Number.isInteger(bodyBytes) || bodyBytes < 4) {
    throw new Error("--body-bytes: an integer >= 4");
  }

  const dir = await Deno.makeTempDir({ prefix: "hoard-bench-startup-" });
  const empty = await Deno.makeTempDir({ prefix: "hoard-bench-empty-" });
  try {
    let t = performance.now();
    const bytes = populate(dir, entries, bodyBytes);
    const createMs = performance.now() - t;
    console.log(
      `${entries} entries of ${bodyBytes} B bodies (${formatBytes(bytes)} of files) written in ${
        (createMs / 1000).toFixed(1)
      } s to ${dir}`,
    );
    console.log(
      `deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}; page cache warm\n`,
    );

    const emptyRun = await runHoard(empty);
    const hoard = await runHoard(dir, HIT_KEY);
    const inProc = await runChild(dir);
    const r = inProc.report;
    t = performance.now();

    const lines = [
      "hoard process (deno run -A mod.ts --port 0 --cache-dir DIR)",
      row('  start -> "listening on", empty cache dir', emptyRun.listenMs),
      row(`  start -> "listening on", ${entries} entries`, hoard.listenMs),
      row(
        "  first hit through the proxy, right after",
        hoard.hit!.ms,
        `${hoard.hit!.status}, Cache-Status: ${hoard.hit!.cacheStatus}, ${hoard.hit!.bodyBytes} B`,
      ),
      row("  SIGTERM -> exit (waits for the scan)", hoard.exitMs, `exit code ${hoard.code}`),
      "Cache.open in a fresh process (ms since process start)",
      row("  Cache.open resolved", r.opened),
      row(
        "  first hit (find + body) while the scan runs",
        r.firstHitEnd - r.firstHitStart,
        `from ${r.firstHitStart.toFixed(0)} ms, ${r.firstHitOk ? "hit" : "NOT FOUND"}`,
      ),
      row(
        "  start-up scan complete (cache.ready)",
        r.ready,
        `${r.entryCount} entries, ${formatBytes(r.usedBytes)} (${r.usedBytes} B), scan took ${
          (r.ready - r.opened).toFixed(0)
        } ms`,
      ),
      row("  hit after the scan (another entry)", r.lateHitMs, r.lateHitOk ? "hit" : "NOT FOUND"),
      row("  child wall time (spawn -> exit)", inProc.wallMs, `RSS ${formatBytes(r.rssBytes)}`),
    ];
    console.log(lines.join("\n"));
    if (r.entryCount !== entries || r.usedBytes !== bytes) {
      console.log(`\nWARNING: expected ${entries} entries and ${bytes} B`);
    }
  } finally {
    if (values.keep) console.log(`\nkept ${dir}`);
    else await Deno.remove(dir, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
}

if (import.meta.main) await main();
