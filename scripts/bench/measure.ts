/**
 * The measurements, each against one {@linkcode Target}: wrk at 64 keep-alive
 * connections, curl downloads (speed, size and checksum checked), sequential
 * requests on one kept connection (latency), concurrent downloads with the
 * peak RSS of a process tree, and N concurrent requests for one URL.
 *
 * @module
 */

import { ResponseReader } from "./_response_reader.ts";
import { memKiB, processTree, resetPeakRss, run, runRaw } from "./_proc.ts";
import type { Target } from "./contenders.ts";

const encoder = new TextEncoder();

/** What wrk reports for one run. */
export interface WrkResult {
  /** Requests per second. */
  rps: number;
  /** Median latency, ms. */
  p50ms: number;
  /** 99th percentile latency, ms. */
  p99ms: number;
  /** Requests completed. */
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number;
}

/** wrk with 2 threads and `connections` keep-alive connections for `seconds`. */
export async function wrk(t: Target, seconds: number, connections = 64): Promise<WrkResult> {
  const args = ["-t2", `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "--latency"];
  let script: string | undefined;
  if (t.wrkPath !== undefined) {
    // Forward proxies need absolute-form requests: wrk sends wrk.path as the request-target.
    script = await Deno.makeTempFile({ prefix: "hoard-bench-", suffix: ".lua" });
    await Deno.writeTextFile(
      script,
      `wrk.path = ${JSON.stringify(t.wrkPath)}\nwrk.headers["Host"] = ${JSON.stringify(t.host)}\n`,
    );
    args.push("-s", script);
  }
  try {
    const out = await run("wrk", [...args, t.wrkUrl]);
    const unit = (v: string, u: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? NaN);
    const lat = (p: string) => {
      const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
      return m ? unit(m[1]!, m[2]!) : NaN;
    };
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    if (!Number.isFinite(rps)) throw new Error(`wrk printed no Requests/sec: ${out.slice(0, 500)}`);
    return {
      rps,
      p50ms: lat("50"),
      p99ms: lat("99"),
      requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
      errors: (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0) +
        Number(non2xx?.[1] ?? 0),
    };
  } finally {
    if (script) await Deno.remove(script).catch(() => {});
  }
}

const CURL = ["-sS", "--max-time", "180"];

/**
 * Downloads `t` once with curl to /dev/null; checks status 200 and `size`
 * bytes, and returns the speed in bytes/s.
 */
export async function download(t: Target, size: number): Promise<number> {
  const out = await run("curl", [
    ...CURL,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{size_download} %{speed_download}",
    ...t.curl,
  ]);
  const [code, got, speed] = out.trim().split(" ").map(Number);
  if (code !== 200 || got !== size) {
    throw new Error(`${t.requestTarget}: status ${code}, ${got} bytes, expected 200 and ${size}`);
  }
  return speed!;
}

/**
 * Writes dirty pages back to disk (`sync`), so that what one run wrote (a
 * stored 100 MiB body) is not written back during, and slowing, the next.
 * With `drop`, also empties the page cache when allowed (root): in a VM, page
 * cache on memory the guest never used before is slow to fill (each page
 * faults in the host): consecutive 100 MiB misses here fell from 1.1 GB/s to
 * 0.4 after half a GiB, and stayed at 1.1-1.3 with the cache dropped before
 * each. Dropping gives every contender the same start.
 */
export async function flushPageCache(drop = false): Promise<void> {
  await run("sync", []);
  if (drop) await Deno.writeTextFile("/proc/sys/vm/drop_caches", "1\n").catch(() => {});
}

/**
 * Median of `runs` downloads of the targets `make(i)` returns, in bytes/s;
 * the page cache is flushed before each (and dropped, with `dropCache`).
 */
export async function medianSpeed(
  make: (i: number) => Target,
  runs: number,
  size: number,
  dropCache = false,
): Promise<{ median: number; runs: number[] }> {
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    await flushPageCache(dropCache);
    speeds.push(await download(make(i), size));
  }
  return { median: median(speeds), runs: speeds };
}

/** Downloads `t` and throws unless its SHA-256 is `sha256` (hex). */
export async function verifyChecksum(t: Target, sha256: string): Promise<void> {
  const r = await runRaw("bash", [
    "-c",
    'set -o pipefail; curl "$@" | sha256sum',
    "bash",
    ...CURL,
    "-f",
    ...t.curl,
  ]);
  if (r.code !== 0) throw new Error(`download for the checksum failed: ${r.stderr.trim()}`);
  const got = r.stdout.split(" ")[0];
  if (got !== sha256) {
    throw new Error(`${t.requestTarget}: SHA-256 ${got}, expected ${sha256} (wrong bytes)`);
  }
}

/** Peak memory while `streams` downloads run at once. */
export interface RssResult {
  /** Summed RSS of the tree before, KiB. */
  beforeKiB: number;
  /** Summed peak RSS of the tree during, KiB. */
  peakKiB: number;
  /** (peak − before) / streams, MiB. */
  perStreamMiB: number;
  /** Processes measured. */
  processes: number;
  /** How the peak was found: the kernel's VmHWM after a reset, or 10 ms sampling of VmRSS. */
  method: "VmHWM" | "sampled VmRSS";
}

/**
 * Runs `streams` concurrent downloads of `t` (each checked for `size` bytes)
 * and measures the RSS growth of `pid` and its descendants.
 */
export async function rssPerStream(
  pid: number,
  t: Target,
  size: number,
  streams: number,
): Promise<RssResult> {
  const pids = processTree(pid);
  const hwm = resetPeakRss(pids);
  const sum = (field: "VmRSS" | "VmHWM") => pids.reduce((a, p) => a + memKiB(p, field), 0);
  const beforeKiB = sum("VmRSS");
  let sampled = beforeKiB;
  let running = true;
  const sampler = (async () => {
    while (running) {
      sampled = Math.max(sampled, sum("VmRSS"));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    await Promise.all(Array.from({ length: streams }, () => download(t, size)));
  } finally {
    running = false;
    await sampler;
  }
  const peakKiB = hwm ? Math.max(sum("VmHWM"), sampled) : sampled;
  return {
    beforeKiB,
    peakKiB,
    perStreamMiB: Math.max(0, peakKiB - beforeKiB) / 1024 / streams,
    processes: pids.length,
    method: hwm ? "VmHWM" : "sampled VmRSS",
  };
}

/** Latencies of sequential requests on one kept connection. */
export interface LatencyResult {
  /** Median, ms. */
  p50ms: number;
  /** 90th percentile, ms. */
  p90ms: number;
  /** Requests measured. */
  requests: number;
  /** Times the server closed the connection and it was opened again. */
  reconnects: number;
}

/**
 * Sends `count` GET requests one after another on one keep-alive connection,
 * for the targets `make(i)` returns (all on one port), after `warmup`
 * unmeasured ones; each response must be 200 with `size` bytes.
 */
export async function sequentialLatency(
  make: (i: number) => Target,
  count: number,
  warmup: number,
  size: number,
): Promise<LatencyResult> {
  const client = new KeepAliveClient(make(0).port);
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + count; i++) {
      const t = make(i);
      const started = performance.now();
      const res = await client.get(t.requestTarget, t.host);
      const ms = performance.now() - started;
      if (res.status !== 200 || res.length !== size) {
        throw new Error(
          `${t.requestTarget}: status ${res.status}, ${res.length} bytes, expected 200 and ${size}`,
        );
      }
      if (i >= warmup) times.push(ms);
    }
  } finally {
    client.close();
  }
  return {
    p50ms: percentile(times, 0.5),
    p90ms: percentile(times, 0.9),
    requests: times.length,
    reconnects: client.reconnects,
  };
}

/**
 * A minimal HTTP/1.1 client on one connection: GET only, responses framed by
 * Content-Length (every contender sends it for these objects).
 */
class KeepAliveClient {
  reconnects = 0;
  #conn: Deno.TcpConn | undefined;
  #reader = new ResponseReader();

  constructor(readonly port: number) {}

  async get(requestTarget: string, host: string): Promise<{ status: number; length: number }> {
    const req = encoder.encode(`GET ${requestTarget} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    for (let attempt = 0;; attempt++) {
      const fresh = this.#conn === undefined;
      if (fresh) {
        this.#conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        this.#conn.setNoDelay(true);
        this.#reader.reset(this.#conn);
      }
      try {
        await this.#conn!.write(req);
        return await this.#readResponse();
      } catch (e) {
        this.close();
        // A kept connection the server closed meanwhile: one new try on a fresh one.
        if (fresh || attempt > 0 || !(e instanceof Deno.errors.UnexpectedEof)) throw e;
        this.reconnects++;
      }
    }
  }

  async #readResponse(): Promise<{ status: number; length: number }> {
    const head = await this.#reader.head();
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!cl) throw new Error(`response without Content-Length: ${head.split("\r\n")[0]}`);
    const length = Number(cl[1]);
    await this.#reader.skip(length);
    if (/\r\nconnection:\s*close/i.test(head)) {
      this.close();
      this.reconnects++;
    }
    return { status, length };
  }

  close(): void {
    this.#conn?.close();
    this.#conn = undefined;
  }
}

/** What N concurrent requests for one URL did. */
export interface CollapseResult {
  /** Requests the origin served meanwhile. */
  originRequests: number;
  /** From the first request sent to the last response received, ms. */
  totalMs: number;
  /** Responses that were not 200 with the full size. */
  failures: number;
}

/**
 * `n` concurrent curl transfers of `t` (one connection each), counting what
 * the origin served meanwhile with `originCount`.
 */
export async function concurrentMisses(
  t: Target,
  n: number,
  size: number,
  originCount: () => Promise<number>,
): Promise<CollapseResult> {
  const before = await originCount();
  const started = performance.now();
  // --next resets the per-transfer options: each transfer carries its own.
  const transfer = [
    ...CURL,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{size_download}\\n",
    ...t.curl,
  ];
  const { stdout: out } = await runRaw("curl", [
    "-Z",
    "--parallel-immediate",
    "--parallel-max",
    String(n),
    ...Array.from({ length: n }, (_, i) => i === 0 ? transfer : ["--next", ...transfer]).flat(),
  ]);
  const totalMs = performance.now() - started;
  const originRequests = (await originCount()) - before;
  const ok = out.split("\n").filter((l) => l.trim() === `200 ${size}`).length;
  return { originRequests, totalMs, failures: n - ok };
}

/** Median of `xs` (NaN when empty). */
export function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

/** The `p` quantile of `xs` by nearest rank (NaN when empty). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
