#!/usr/bin/env -S deno run --allow-all
/**
 * Load on hoard, on loopback, with a client of its own (raw sockets, one
 * keep-alive loop per connection), since wrk cannot mix request kinds:
 *
 * (a) `--connections` (1,000) keep-alive connections for `--seconds` (20),
 *     each doing, at random, a cache hit (1, 4 or 64 KiB), a miss (a unique
 *     URL, stored) or a CONNECT tunnel to a local echo server (a few round
 *     trips, then a new connection), then pausing `--pause` ms on average
 *     (500; 0 for closed loops at full speed, which overloads a small machine:
 *     see below); every response is checked (status, length, bytes,
 *     Cache-Status) and any failure, or an operation over 10 s, is an error;
 * (b) a client doing hits (keep-alive, and on new connections) for 10 s
 *     alone, then again while `--slowloris` (500) connections each send a
 *     request head one byte per second; the slowloris connections are held
 *     for `--hold` (40) seconds to see hoard's header timeout (default 30 s,
 *     `--header-timeout` to change it) cut them. `--slowloris 0` skips (b).
 *
 * The origins are `scripts/bench_origin.ts` and an echo server (this script
 * with `--echo-server`), each in its own process; hoard runs as
 * `deno run -A mod.ts` with its open-file limit raised (`ulimit -n`). When
 * this process's own limit is too low for its connections, it runs itself
 * again under a raised one.
 *
 * Overloaded, a Deno process (hoard, this client, or a 60-line raw origin
 * alike) serves its sockets unfairly: most operations stay fast while a few
 * connections wait for seconds, and an outgoing connect can take longer than
 * hoard's connect timeout (a 504 from a healthy origin). The default pause
 * keeps the offered load under what a 2-core machine serves.
 *
 * Usage: deno run -A scripts/load.ts [--seconds S] [--pause MS] [--connections N]
 *          [--slowloris N] [--probe S] [--hold S] [--header-timeout S]
 *
 * Exits 1 when a request failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { percentile, RawConn, sleep } from "../tests/_helpers/raw_http.ts";
import { cpuSeconds } from "./bench/_proc.ts";

const root = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const decoder = new TextDecoder();

/** Sizes of the objects that are hits, by path on bench_origin. */
export const HIT_PATHS: Record<string, number> = { "/1k": 1024, "/4k": 4096, "/64k": 65536 };

/** A child Deno process that printed its ready line. */
export interface DenoChild {
  /** The process (under `sh -c 'ulimit ...; exec deno ...'` its pid is deno's). */
  child: Deno.ChildProcess;
  /** The match of the ready pattern. */
  match: RegExpExecArray;
  /** stdout and stderr so far. */
  output(): string;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Kills it if still running. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Runs `deno ...args` in the project root and waits (20 s at most) for a line
 * matching `ready` on stdout or stderr. With `fdLimit`, the child's open-file
 * limit is raised to it first (or to the hard limit, if that is lower).
 */
export async function spawnDeno(
  args: string[],
  ready: RegExp,
  fdLimit?: number,
): Promise<DenoChild> {
  const [cmd, cmdArgs] = fdLimit === undefined ? [Deno.execPath(), args] : [
    "sh",
    [
      "-c",
      `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
      Deno.execPath(),
      ...args,
    ],
  ];
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let found!: (m: RegExpExecArray) => void;
  let failed!: (err: Error) => void;
  const matched = new Promise<RegExpExecArray>((res, rej) => {
    found = res;
    failed = rej;
  });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      const m = ready.exec(text);
      if (m) found(m);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() =>
    failed(new Error(`${args.join(" ")} exited before it was ready:\n${text}`))
  );
  const timer = setTimeout(() => failed(new Error(`${args.join(" ")} not ready in 20 s`)), 20_000);
  let status: Promise<Deno.CommandStatus> | undefined;
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* exited */ }
    status ??= child.status;
    const s = await status;
    await pumps;
    return s;
  };
  try {
    const match = await matched;
    return {
      child,
      match,
      output: () => text,
      stop,
      [Symbol.asyncDispose]: async () => void await stop("SIGKILL"),
    };
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `scripts/bench_origin.ts`; its URL is `http://127.0.0.1:<match[1]>`. */
export function startBenchOrigin(): Promise<DenoChild> {
  return spawnDeno(["run", "--allow-net", "scripts/bench_origin.ts"], /origin listening on (\d+)/);
}

/** Starts the echo server (this script with `--echo-server`); its port is `match[1]`. */
export function startEchoServer(): Promise<DenoChild> {
  return spawnDeno(["run", "--allow-net", SELF, "--echo-server"], /echo listening on (\d+)/);
}

/** The echo server: every connection gets back what it sends. */
async function echoServer(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`echo listening on ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    (async () => {
      const buf = new Uint8Array(16 * 1024);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
      }
    })().catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch { /* closed */ }
    });
  }
}

/** Soft and hard open-file limits of a process (Linux), or undefined elsewhere. */
export async function fdLimits(
  pid: number | "self" = "self",
): Promise<{ soft: number; hard: number } | undefined> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/limits`);
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
    if (m === null) return undefined;
    const n = (s: string) => s === "unlimited" ? Infinity : Number(s);
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return undefined;
  }
}

/** What one kind of operation of the mixed load did. */
export interface KindStats {
  /** Operations completed without error. */
  done: number;
  /** Their latencies (ms). */
  latencies: number[];
}

/** Options of {@linkcode mixedLoad}. */
export interface MixOptions {
  /** hoard's port. */
  proxyPort: number;
  /** bench_origin's URL. */
  originUrl: string;
  /** The echo server's port (allowed by hoard's `--connect-ports`). */
  echoPort: number;
  /** Concurrent connections. */
  connections: number;
  /** How long to run. */
  seconds: number;
  /** Shares of the operation kinds. @default {{ hit: 0.6, miss: 0.25, tunnel: 0.15 }} */
  share?: { hit: number; miss: number; tunnel: number };
  /** Longest time one operation may take before it counts as an error (ms). @default {10000} */
  timeoutMs?: number;
  /**
   * Mean pause of a connection between two operations (ms; each pause is
   * uniform in 0..2×): 0 makes every connection a closed loop at full speed.
   * @default {0}
   */
  pauseMs?: number;
}

/** What {@linkcode mixedLoad} saw. */
export interface MixResult {
  /** Cache hits. */
  hit: KindStats;
  /** Misses of unique URLs. */
  miss: KindStats;
  /** CONNECT tunnels (CONNECT, 3 echo round trips, close). */
  tunnel: KindStats;
  /** Failed operations (connection errors, timeouts, wrong status, bytes or Cache-Status). */
  errors: number;
  /** The first few errors. */
  errorSamples: string[];
  /** Wall time of the measured part (s). */
  seconds: number;
}

/**
 * Runs `connections` workers, each with one keep-alive connection to hoard,
 * for `seconds`. The hit objects must have been stored before.
 */
export async function mixedLoad(o: MixOptions): Promise<MixResult> {
  const share = o.share ?? { hit: 0.6, miss: 0.25, tunnel: 0.15 };
  const timeoutMs = o.timeoutMs ?? 10_000;
  const pauseMs = o.pauseMs ?? 0;
  const run = crypto.randomUUID().slice(0, 8);
  const hitPaths = Object.keys(HIT_PATHS);
  const result: MixResult = {
    hit: { done: 0, latencies: [] },
    miss: { done: 0, latencies: [] },
    tunnel: { done: 0, latencies: [] },
    errors: 0,
    errorSamples: [],
    seconds: 0,
  };
  const error = (what: string) => {
    result.errors++;
    if (result.errorSamples.length < 10) result.errorSamples.push(what);
  };
  let missCounter = 0;

  /** GET `path` and check it: 200, `size` bytes of 'a', and a Cache-Status matching `status`. */
  const get = async (conn: RawConn, path: string, size: number, status: RegExp) => {
    let bad = false;
    const res = await conn.get(o.originUrl + path, (chunk) => {
      if (chunk[0] !== 0x61 || chunk[chunk.length - 1] !== 0x61) bad = true;
    }, timeoutMs);
    const cs = res.headers.get("cache-status") ?? "";
    if (res.status !== 200 || res.bodyBytes !== size || bad || !status.test(cs)) {
      throw new Error(`GET ${path}: ${res.status}, ${res.bodyBytes} bytes, Cache-Status ${cs}`);
    }
  };
  const echo = async (conn: RawConn) => {
    const res = await conn.connect(`127.0.0.1:${o.echoPort}`, timeoutMs);
    if (res.status !== 200) throw new Error(`CONNECT: ${res.status}`);
    for (let i = 0; i < 3; i++) {
      const data = crypto.getRandomValues(new Uint8Array(256));
      await conn.write(data);
      const back = await conn.readExactly(data.length, timeoutMs);
      if (!back.every((b, k) => b === data[k])) throw new Error("tunnel: echo differs");
    }
  };

  // Open every connection first, a hundred at a time, so the run starts at full count.
  const conns: (RawConn | undefined)[] = [];
  for (let i = 0; i < o.connections; i += 100) {
    const batch = Math.min(100, o.connections - i);
    conns.push(
      ...await Promise.all(Array.from({ length: batch }, () => RawConn.open(o.proxyPort))),
    );
  }
  const started = performance.now();
  const end = started + o.seconds * 1000;
  const worker = async (i: number) => {
    // Start at random moments too: a thousand first requests at once is a burst, not a load.
    if (pauseMs > 0) await sleep(Math.random() * 2 * pauseMs);
    while (performance.now() < end) {
      const roll = Math.random() * (share.hit + share.miss + share.tunnel);
      const kind = roll < share.hit ? "hit" : roll < share.hit + share.miss ? "miss" : "tunnel";
      const t0 = performance.now();
      try {
        const conn = conns[i] ??= await RawConn.open(o.proxyPort);
        if (kind === "hit") {
          const path = hitPaths[Math.floor(Math.random() * hitPaths.length)]!;
          await get(conn, path, HIT_PATHS[path]!, /^hoard; hit; ttl=\d+$/);
        } else if (kind === "miss") {
          await get(conn, `/1k?miss=${run}-${missCounter++}`, 1024, /fwd=uri-miss; stored$/);
        } else {
          await echo(conn);
          conn.close(); // a tunnel uses its connection up
        }
        result[kind].done++;
        result[kind].latencies.push(performance.now() - t0);
        // A new connection at once (outside the latency), so that the count stays up.
        if (conn.closed) conns[i] = await RawConn.open(o.proxyPort);
      } catch (err) {
        error(`${kind}: ${err instanceof Error ? err.message : err}`);
        conns[i]?.close();
        conns[i] = undefined;
      }
      if (pauseMs > 0) await sleep(Math.random() * 2 * pauseMs);
    }
    conns[i]?.close();
  };
  await Promise.all(conns.map((_, i) => worker(i)));
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Slowloris connections being held. */
export interface Slowloris {
  /** Connections opened. */
  readonly opened: number;
  /** Per connection: ms from its first byte to hoard closing it, if it did. */
  readonly cutAfterMs: (number | undefined)[];
  /** Connections that received a 408 before being closed. */
  readonly got408: number;
  /** Connections that received anything else. */
  readonly gotOther: string[];
  /** Connections still open. */
  readonly open: number;
  /** Stops sending and closes them all. */
  stop(): Promise<void>;
}

/**
 * Opens `count` connections to hoard (50 at a time) that each send a request
 * head for `url` one byte per second, forever (a header line after another),
 * starting at random moments within the first second.
 */
export async function startSlowloris(port: number, count: number, url: string): Promise<Slowloris> {
  let stopped = false;
  const cutAfterMs: (number | undefined)[] = [];
  const received: string[] = [];
  const conns: Deno.TcpConn[] = [];
  const tasks: Promise<void>[] = [];
  const head = `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\n`;
  const byte = (k: number) => {
    if (k < head.length) return head.charCodeAt(k);
    const pad = "X-Slow: loris\r\n";
    return pad.charCodeAt((k - head.length) % pad.length);
  };
  for (let i = 0; i < count; i += 50) {
    const batch = Math.min(50, count - i);
    conns.push(
      ...await Promise.all(
        Array.from({ length: batch }, () => Deno.connect({ hostname: "127.0.0.1", port })),
      ),
    );
  }
  conns.forEach((conn, i) => {
    received.push("");
    cutAfterMs.push(undefined);
    let firstByteAt = 0;
    let closed = false;
    const reader = (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        received[i] += decoder.decode(buf.subarray(0, n));
      }
      closed = true;
      if (!stopped && firstByteAt > 0) cutAfterMs[i] = performance.now() - firstByteAt;
    })();
    const writer = (async () => {
      await sleep(Math.random() * 1000);
      for (let k = 0; !stopped && !closed; k++) {
        if (k === 0) firstByteAt = performance.now();
        try {
          await conn.write(Uint8Array.of(byte(k)));
        } catch {
          break; // hoard closed it
        }
        await sleep(1000);
      }
    })();
    tasks.push(reader, writer);
  });
  return {
    opened: conns.length,
    cutAfterMs,
    get got408() {
      return received.filter((r) => r.startsWith("HTTP/1.1 408 ")).length;
    },
    get gotOther() {
      return received.filter((r) => r !== "" && !r.startsWith("HTTP/1.1 408 "));
    },
    get open() {
      return cutAfterMs.filter((c) => c === undefined).length;
    },
    async stop() {
      stopped = true;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.all(tasks);
    },
  };
}

/** What {@linkcode probe} measured. */
export interface ProbeResult {
  /** Latencies (ms) of hits on keep-alive connections. */
  keepAlive: number[];
  /** Latencies (ms) of hits on a new connection each (connect included). */
  fresh: number[];
  /** Failed requests. */
  errors: number;
  /** The first few errors. */
  errorSamples: string[];
}

/**
 * A normal client: `keepAlive` loops of hits on their own keep-alive
 * connection and `fresh` loops that open a connection per hit, each pausing
 * `pauseMs` between requests, for `seconds`.
 */
export async function probe(
  proxyPort: number,
  url: string,
  seconds: number,
  { keepAlive = 4, fresh = 4, pauseMs = 5, timeoutMs = 10_000 } = {},
): Promise<ProbeResult> {
  const out: ProbeResult = { keepAlive: [], fresh: [], errors: 0, errorSamples: [] };
  const end = performance.now() + seconds * 1000;
  const once = async (conn: RawConn) => {
    const res = await conn.get(url, undefined, timeoutMs);
    const cs = res.headers.get("cache-status") ?? "";
    if (res.status !== 200 || !/^hoard; hit/.test(cs)) {
      throw new Error(`${res.status}, Cache-Status ${cs}`);
    }
  };
  const loop = async (reuse: boolean) => {
    let conn: RawConn | undefined;
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        conn ??= await RawConn.open(proxyPort);
        await once(conn);
        (reuse ? out.keepAlive : out.fresh).push(performance.now() - t0);
        if (!reuse || conn.closed) {
          conn.close();
          conn = undefined;
        }
      } catch (err) {
        out.errors++;
        if (out.errorSamples.length < 10) out.errorSamples.push(String(err));
        conn?.close();
        conn = undefined;
      }
      await sleep(pauseMs);
    }
    conn?.close();
  };
  await Promise.all([
    ...Array.from({ length: keepAlive }, () => loop(true)),
    ...Array.from({ length: fresh }, () => loop(false)),
  ]);
  return out;
}

/** Stores the hit objects (and checks they are hits now). */
export async function warmHits(proxyPort: number, originUrl: string): Promise<void> {
  const conn = await RawConn.open(proxyPort);
  try {
    for (const path of Object.keys(HIT_PATHS)) {
      for (let i = 0; i < 2; i++) {
        const res = await conn.get(originUrl + path, undefined, 10_000);
        if (res.status !== 200) throw new Error(`warming ${path}: ${res.status}`);
      }
      // The leader's answer can come before the commit: wait for a hit.
      for (let i = 0;; i++) {
        const res = await conn.get(originUrl + path, undefined, 10_000);
        if (/^hoard; hit/.test(res.headers.get("cache-status") ?? "")) break;
        if (i === 100) throw new Error(`${path} is not a hit after warming`);
        await sleep(10);
      }
    }
  } finally {
    conn.close();
  }
}

const ms = (v: number) => v.toFixed(2);

function latencyRow(name: string, s: KindStats, seconds: number): string {
  return `| ${name} | ${s.done} | ${(s.done / seconds).toFixed(0)} | ${
    ms(percentile(s.latencies, 50))
  } | ${ms(percentile(s.latencies, 99))} | ${
    ms(s.latencies.reduce((a, b) => Math.max(a, b), 0))
  } |`;
}

async function openConnections(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/_hoard/metrics`)).text();
    return Number(/^hoard_open_connections\s+(\d+)/m.exec(text)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

async function startHoard(
  cacheDir: string,
  echoPort: number,
  extra: string[],
): Promise<DenoChild & { url: string; port: number }> {
  const hoard = await spawnDeno(
    [
      "run",
      "-A",
      "mod.ts",
      "--port",
      "0",
      "--cache-dir",
      cacheDir,
      "--log-level",
      "warn",
      // The default (1024) is just above the 1,000 connections; a worker's
      // next connection can be accepted before hoard saw its last one close.
      "--max-connections",
      "4096",
      "--connect-ports",
      String(echoPort),
      ...extra,
    ],
    /listening on (http:\/\/\S+)/,
    65536,
  );
  const url = hoard.match[1]!;
  return Object.assign(hoard, { url, port: Number(new URL(url).port) });
}

/** Runs the script; returns its exit code (after every child has been stopped). */
async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "20" },
      pause: { type: "string", default: "500" },
      connections: { type: "string", default: "1000" },
      slowloris: { type: "string", default: "500" },
      probe: { type: "string", default: "10" },
      hold: { type: "string", default: "40" },
      "header-timeout": { type: "string" },
      "echo-server": { type: "boolean", default: false },
    },
  });
  if (values["echo-server"]) {
    await echoServer();
    return 0;
  }
  const connections = Number(values.connections);
  const slowCount = Number(values.slowloris);
  const own = await fdLimits();
  const needed = Math.max(connections, slowCount) + 256;
  if (own !== undefined && own.soft < needed && Deno.env.get("HOARD_LOAD_RAISED") === undefined) {
    // Run again with the soft limit raised as far as the hard one allows.
    console.log(`open-file limit ${own.soft} < ${needed}: running again under ulimit -n`);
    const status = await new Deno.Command("sh", {
      args: [
        "-c",
        `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
        Deno.execPath(),
        "run",
        "-A",
        SELF,
        ...Deno.args,
      ],
      env: { HOARD_LOAD_RAISED: "1" },
    }).spawn().status;
    return status.code;
  }

  const cacheDir = await Deno.makeTempDir({ prefix: "hoard-load-" });
  await using origin = await startBenchOrigin();
  await using echo = await startEchoServer();
  const originUrl = `http://127.0.0.1:${origin.match[1]}`;
  const echoPort = Number(echo.match[1]);
  let failed = false;
  try {
    // (a) mixed load.
    {
      await using hoard = await startHoard(cacheDir, echoPort, []);
      const theirs = await fdLimits(hoard.child.pid);
      console.log(
        `\nloopback, ${Deno.build.target}, ${navigator.hardwareConcurrency} cores; open-file limit (soft/hard): this process ${own?.soft}/${own?.hard}, hoard ${theirs?.soft}/${theirs?.hard}`,
      );
      await warmHits(hoard.port, originUrl);
      const cpuBefore = await cpuSeconds(hoard.child.pid);
      let peak = 0;
      const sampling = setInterval(async () => {
        peak = Math.max(peak, await openConnections(hoard.url) || 0);
      }, 500);
      const r = await mixedLoad({
        proxyPort: hoard.port,
        originUrl,
        echoPort,
        connections,
        seconds: Number(values.seconds),
        pauseMs: Number(values.pause),
      }).finally(() => clearInterval(sampling));
      const cpu = (await cpuSeconds(hoard.child.pid)) - cpuBefore;
      const total = r.hit.done + r.miss.done + r.tunnel.done;
      const all = {
        done: total,
        latencies: [...r.hit.latencies, ...r.miss.latencies, ...r.tunnel.latencies],
      };
      console.log(
        `\n(a) ${connections} keep-alive connections, ${
          r.seconds.toFixed(1)
        } s, hits / misses / tunnels at 60 / 25 / 15 %, pauses of ${values.pause} ms on average between a connection's operations; hoard's open connections peaked at ${peak} (sampled every 0.5 s), hoard used ${
          cpu.toFixed(1)
        } CPU-s (${(cpu / r.seconds * 100).toFixed(0)}% of a core)\n`,
      );
      console.log(
        "| kind | done | per s | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|",
      );
      console.log(latencyRow("hit (1/4/64 KiB)", r.hit, r.seconds));
      console.log(latencyRow("miss (1 KiB, unique URL)", r.miss, r.seconds));
      console.log(latencyRow("tunnel (CONNECT + 3 echoes)", r.tunnel, r.seconds));
      console.log(latencyRow("**all**", all, r.seconds));
      console.log(`\nerrors: ${r.errors}`);
      for (const e of r.errorSamples) console.log(`  ${e}`);
      if (r.errors > 0) failed = true;
    }

    // (b) slowloris, on a fresh hoard.
    if (slowCount > 0) {
      const headerTimeout = values["header-timeout"];
      await using hoard = await startHoard(
        cacheDir,
        echoPort,
        headerTimeout === undefined ? [] : ["--header-timeout", headerTimeout],
      );
      await warmHits(hoard.port, originUrl);
      const url = `${originUrl}/1k`;
      const seconds = Number(values.probe);
      await probe(hoard.port, url, 1); // warm-up
      const base = await probe(hoard.port, url, seconds);
      const loris = await startSlowloris(hoard.port, slowCount, url);
      const loriStart = performance.now();
      await sleep(2000); // every connection has sent its first byte
      const heldAtStart = await openConnections(hoard.url);
      const under = await probe(hoard.port, url, seconds);
      const hold = Number(values.hold) * 1000;
      while (performance.now() - loriStart < hold && loris.open > 0) await sleep(200);
      const cuts = loris.cutAfterMs.filter((c): c is number => c !== undefined);
      const stillOpen = loris.open;
      await loris.stop();

      const line = (name: string, a: number[], b: number[], p: number) => {
        const x = percentile(a, p), y = percentile(b, p);
        return `| ${name} p${p} | ${ms(x)} | ${ms(y)} | ${(y / x).toFixed(2)} |`;
      };
      console.log(
        `\n(b) normal client (4 keep-alive loops + 4 new-connection loops of 1 KiB hits, 5 ms pauses) for ${seconds} s, alone and with ${loris.opened} slowloris connections (${heldAtStart} connections open in hoard)\n`,
      );
      console.log("| latency (ms) | alone | with slowloris | ratio |\n|---|---:|---:|---:|");
      console.log(line("keep-alive", base.keepAlive, under.keepAlive, 50));
      console.log(line("keep-alive", base.keepAlive, under.keepAlive, 99));
      console.log(line("new connection", base.fresh, under.fresh, 50));
      console.log(line("new connection", base.fresh, under.fresh, 99));
      console.log(
        `\nrequests: ${base.keepAlive.length + base.fresh.length} alone, ${
          under.keepAlive.length + under.fresh.length
        } with slowloris; errors ${base.errors} / ${under.errors}`,
      );
      for (const e of [...base.errorSamples, ...under.errorSamples]) console.log(`  ${e}`);
      if (base.errors + under.errors > 0) failed = true;
      console.log(
        `slowloris (header timeout ${
          headerTimeout ?? "30 (default)"
        } s, held up to ${values.hold} s): ${cuts.length} of ${loris.opened} cut by hoard, ${loris.got408} with a 408, ${stillOpen} still open; cut after ${
          cuts.length > 0
            ? `${(Math.min(...cuts) / 1000).toFixed(1)} / ${
              (percentile(cuts, 50) / 1000).toFixed(1)
            } / ${(Math.max(...cuts) / 1000).toFixed(1)} s (min / median / max) from the first byte`
            : "-"
        }`,
      );
      for (const o of loris.gotOther.slice(0, 3)) console.log(`  unexpected: ${JSON.stringify(o)}`);
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
