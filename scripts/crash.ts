#!/usr/bin/env -S deno run --allow-all
/**
 * Crash safety of the disk cache: hoard is killed with SIGKILL at random
 * moments while many requests (and so fills) are in flight, restarted on the
 * same cache directory, and every object is then fetched through it and
 * compared byte for byte (SHA-256) with the origin's.
 *
 * A local origin serves `--objects` objects of deterministic pseudo-random
 * bytes, 1 KiB to 8 MiB, cacheable for an hour, half with Content-Length and
 * half chunked, streamed at a few MiB/s per response so that fills last long
 * enough to be cut. hoard runs with a size cap of half the objects' total, so
 * each round starts with some objects stored and the rest to fill (and
 * eviction gets its share of kills too). Each round:
 *
 * 1. start hoard (`deno run -A mod.ts`) on the fixed cache directory;
 * 2. keep `--workers` keep-alive connections requesting random objects; every
 *    response that arrives complete must be the origin's bytes;
 * 3. after a random delay, note the fills in flight (`tmp/*.part`) and SIGKILL
 *    hoard; responses cut by the kill must be visibly cut (short of their
 *    Content-Length, or a chunked body without its last chunk);
 * 4. with hoard dead, check every entry on disk: its body (a file, or inline
 *    in the metadata) exists and its SHA-256 matches both its metadata and the origin (body files without
 *    metadata, left by a kill inside a commit, are counted: start-up removes
 *    them);
 * 5. restart hoard on the directory (its `tmp/` must be empty once it
 *    listens); fetch every object through it (the stored ones first): each
 *    must be a complete 200 with the origin's bytes, and each stored one a hit.
 *
 * Usage: deno run -A scripts/crash.ts [--rounds N] [--objects M] [--seed S]
 *          [--workers W] [--kill-min MS] [--kill-max MS] [--cache-dir DIR]
 *
 * Exits 1 when anything did not match.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { pseudoRandom } from "../tests/_helpers/cache_origin.ts";
import { type HoardProcess, startHoardProcess } from "../tests/_helpers/process.ts";
import { RawConn, seededRandom, sleep, TruncatedError } from "../tests/_helpers/raw_http.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** One object the origin serves. */
export interface CrashObject {
  /** Path on the origin (`/o/<i>`). */
  path: string;
  /** Body size in bytes. */
  size: number;
  /** Whether it is sent chunked (else with Content-Length). */
  chunked: boolean;
  /** SHA-256 of the body, hex. */
  sha256: string;
  /** The body. */
  body: Uint8Array<ArrayBuffer>;
}

/** A running crash origin. */
export interface CrashOrigin {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The objects, by index. */
  objects: CrashObject[];
  /** Origin requests so far. */
  readonly requests: number;
  /** Stops it. */
  close(): Promise<void>;
  /** Same as close. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How the crash origin makes and paces its objects. */
export interface CrashOriginOptions {
  /** Number of objects. */
  objects: number;
  /** Seed of the sizes and contents. */
  seed: number;
  /** Smallest body. @default {1 KiB} */
  minSize?: number;
  /** Largest body. @default {8 MiB} */
  maxSize?: number;
  /** Bytes sent per step of a response. @default {32 KiB} */
  piece?: number;
  /** Pause between two steps of a response (ms). @default {5} */
  delayMs?: number;
}

/**
 * Starts the origin. Sizes are log-uniform between `minSize` and `maxSize`
 * (object 0 is the smallest, object 1 the largest), odd byte counts included.
 */
export function startCrashOrigin(options: CrashOriginOptions): CrashOrigin {
  const { objects: count, seed } = options;
  const minSize = options.minSize ?? KiB;
  const maxSize = options.maxSize ?? 8 * MiB;
  const piece = options.piece ?? 32 * KiB;
  const delayMs = options.delayMs ?? 5;
  const random = seededRandom(seed);
  const objects: CrashObject[] = [];
  for (let i = 0; i < count; i++) {
    const size = i === 0
      ? minSize
      : i === 1
      ? maxSize
      : Math.floor(minSize * (maxSize / minSize) ** random());
    const body = pseudoRandom(size, (seed * 7919 + i * 104_729 + 1) >>> 0 || 1);
    objects.push({
      path: `/o/${i}`,
      size,
      chunked: i % 2 === 1,
      sha256: createHash("sha256").update(body).digest("hex"),
      body,
    });
  }
  let requests = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    // A client (hoard) killed in the middle of a body is the point of the run.
    onError: () => new Response("origin error", { status: 500 }),
  }, (req) => {
    const m = /^\/o\/(\d+)$/.exec(new URL(req.url).pathname);
    const object = m === null ? undefined : objects[Number(m[1])];
    if (object === undefined) return new Response("no such object", { status: 404 });
    requests++;
    let at = 0;
    const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
      async pull(c) {
        if (at >= object.size) return c.close();
        if (at > 0) await sleep(delayMs);
        const end = Math.min(at + piece, object.size);
        c.enqueue(object.body.slice(at, end));
        at = end;
      },
    });
    const headers: Record<string, string> = {
      "cache-control": "max-age=3600",
      "content-type": "application/octet-stream",
    };
    if (!object.chunked) headers["content-length"] = String(object.size);
    return new Response(stream, { headers });
  });
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    objects,
    get requests() {
      return requests;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Options of {@linkcode runCrash}. */
export interface CrashOptions {
  /** Rounds of start, load, kill, restart, verify. */
  rounds: number;
  /** The origin's objects. */
  origin: CrashOrigin;
  /** The fixed cache directory. */
  cacheDir: string;
  /** Seed of the requests and kill moments (which still depend on timing). */
  seed: number;
  /** Concurrent keep-alive connections during the load. @default {24} */
  workers?: number;
  /** Earliest kill, after the load started (ms). @default {200} */
  killMinMs?: number;
  /** Latest kill (ms). @default {2500} */
  killMaxMs?: number;
  /**
   * After the random delay, wait (up to 3 s) until a fill is in progress before
   * killing, so that every round kills one mid-fill. @default {false}
   */
  killDuringFill?: boolean;
  /** hoard's cache size cap (bytes). @default {half the objects' total} */
  maxSize?: number;
  /** Called with each finished round. */
  onRound?: (r: RoundResult) => void;
}

/** What one round saw. */
export interface RoundResult {
  /** 1-based. */
  round: number;
  /** When hoard was killed, after the load started (ms). */
  killAtMs: number;
  /** Requests sent during the load. */
  requests: number;
  /** Of those, complete responses with the origin's bytes. */
  complete: number;
  /** Of those, responses cut by the kill (visibly incomplete). */
  cut: number;
  /** Fills in progress (`tmp/*.part` files) just before the kill. */
  partsAtKill: number;
  /** Bytes in those files. */
  partBytesAtKill: number;
  /** Entries (metadata files) on disk after the restart. */
  entries: number;
  /** Entries on disk whose body is missing or not the origin's bytes (checked with hoard dead). */
  badOnDisk: number;
  /** Body files without metadata (a kill between a commit's rename and its metadata write), before the restart. */
  orphans: number;
  /** Verification fetches that were hits. */
  hits: number;
  /** Verification fetches that went to the origin. */
  misses: number;
  /** Entries on disk that were not served as hits after the restart. */
  lost: number;
  /** Wrong bytes, wrong status, or cuts without a kill, during load or verification. */
  mismatches: number;
  /** One line per mismatch or bad entry. */
  problems: string[];
  /** Why entries were lost, as far as hoard's log tells. */
  notes: string[];
}

/** Runs the rounds; the origin and cache directory are the caller's. */
export async function runCrash(options: CrashOptions): Promise<RoundResult[]> {
  const { origin, cacheDir, rounds } = options;
  const random = seededRandom(options.seed);
  const workers = options.workers ?? 24;
  const killMin = options.killMinMs ?? 200;
  const killMax = options.killMaxMs ?? 2500;
  const total = origin.objects.reduce((a, o) => a + o.size, 0);
  const maxSize = options.maxSize ?? Math.floor(total / 2);
  const args = ["--cache-dir", cacheDir, "--max-size", String(maxSize)];
  const byUrl = new Map(origin.objects.map((o) => [origin.url + o.path, o]));
  const results: RoundResult[] = [];

  for (let round = 1; round <= rounds; round++) {
    const r: RoundResult = {
      round,
      killAtMs: 0,
      requests: 0,
      complete: 0,
      cut: 0,
      partsAtKill: 0,
      partBytesAtKill: 0,
      entries: 0,
      badOnDisk: 0,
      orphans: 0,
      hits: 0,
      misses: 0,
      lost: 0,
      mismatches: 0,
      problems: [],
      notes: [],
    };
    const problem = (line: string) => {
      r.mismatches++;
      if (r.problems.length < 20) r.problems.push(line);
    };

    // 1-3: load, then SIGKILL at a random moment.
    const hoard = await startHoardProcess([...args, "--log-level", "warn"]);
    const port = hoard.port;
    let killed = false;
    const load = async () => {
      let conn: RawConn | undefined;
      while (!killed) {
        try {
          conn ??= await RawConn.open(port);
        } catch (err) {
          if (killed) break;
          throw err;
        }
        const object = origin.objects[Math.floor(random() * origin.objects.length)]!;
        const url = origin.url + object.path;
        const hash = createHash("sha256");
        r.requests++;
        try {
          const res = await conn.get(url, (chunk) => hash.update(chunk), 60_000);
          const digest = hash.digest("hex");
          if (res.status !== 200) problem(`load ${url}: status ${res.status}`);
          else if (res.bodyBytes !== object.size || digest !== object.sha256) {
            problem(`load ${url}: ${res.bodyBytes} bytes, not the origin's ${object.size}`);
          } else r.complete++;
          if (conn.closed) conn = undefined;
        } catch (err) {
          conn?.close();
          conn = undefined;
          if (killed) r.cut++;
          else problem(`load ${url}: ${err instanceof TruncatedError ? "cut" : "failed"}: ${err}`);
        }
      }
      conn?.close();
    };
    const started = performance.now();
    const tasks = Array.from({ length: workers }, load);
    try {
      await sleep(killMin + random() * (killMax - killMin));
      if (options.killDuringFill) {
        for (let i = 0; i < 600 && (await partFiles(cacheDir)).count === 0; i++) await sleep(5);
      }
      const parts = await partFiles(cacheDir);
      killed = true;
      r.killAtMs = Math.round(performance.now() - started);
      const status = await hoard.stop("SIGKILL");
      if (status.signal !== "SIGKILL") problem(`hoard ended with ${JSON.stringify(status)}`);
      r.partsAtKill = parts.count;
      r.partBytesAtKill = parts.bytes;
    } finally {
      killed = true;
      await hoard.stop("SIGKILL");
    }
    const loadFailures = (await Promise.allSettled(tasks)).filter((t) => t.status === "rejected");
    for (const f of loadFailures) {
      problem(`load worker failed: ${(f as PromiseRejectedResult).reason}`);
    }

    // 4: every entry on disk, checked with hoard dead.
    const disk = await checkDisk(cacheDir, byUrl);
    r.badOnDisk = disk.bad.length;
    r.orphans = disk.orphans;
    for (const b of disk.bad) problem(`on disk: ${b}`);

    // 5: restart, then fetch everything (stored objects first: those must be hits).
    let again: HoardProcess | undefined;
    try {
      // At info level, so that an eviction at start-up shows in its log.
      again = await startHoardProcess([...args, "--log-level", "info"]);
      r.entries = await countEntries(cacheDir);
      const left = await partFiles(cacheDir);
      if (left.count > 0) problem(`${left.count} temp files left in tmp/ after the restart`);
      const stored = new Set(disk.keys);
      const order = [
        ...origin.objects.filter((o) => stored.has(origin.url + o.path)),
        ...origin.objects.filter((o) => !stored.has(origin.url + o.path)),
      ];
      const verify = async (queue: CrashObject[]) => {
        let conn: RawConn | undefined;
        for (let object = queue.shift(); object !== undefined; object = queue.shift()) {
          const url = origin.url + object.path;
          const hash = createHash("sha256");
          conn ??= await RawConn.open(again!.port);
          try {
            const res = await conn.get(url, (chunk) => hash.update(chunk), 60_000);
            const digest = hash.digest("hex");
            const hit = /^hoard; hit\b/.test(res.headers.get("cache-status") ?? "");
            if (hit) r.hits++;
            else r.misses++;
            if (stored.has(url) && !hit) {
              r.lost++;
              r.notes.push(`${url} was on disk but not a hit: ${res.headers.get("cache-status")}`);
            }
            if (res.status !== 200) problem(`verify ${url}: status ${res.status}`);
            else if (res.bodyBytes !== object.size || digest !== object.sha256) {
              problem(
                `verify ${url}: ${res.bodyBytes} bytes${
                  hit ? " (hit)" : ""
                }, not the origin's ${object.size}`,
              );
            }
            if (conn.closed) conn = undefined;
          } catch (err) {
            conn?.close();
            conn = undefined;
            problem(`verify ${url}: ${err}`);
          }
        }
        conn?.close();
      };
      // Hits first, all of them, before any miss can make room by eviction.
      const hitsFirst = order.slice(0, stored.size);
      const rest = order.slice(stored.size);
      await Promise.all(Array.from({ length: 8 }, () => verify(hitsFirst)));
      await Promise.all(Array.from({ length: 8 }, () => verify(rest)));
      const log = again.stderr().split("\n");
      for (const w of log.filter((l) => /checksum|error=|\berror\b/i.test(l))) {
        problem(`hoard said: ${w}`);
      }
      if (r.lost > 0) {
        r.notes.push(`${disk.bytes} bytes in data/ before the restart, cap ${maxSize}`);
        r.notes.push(...log.filter((l) => /evicted|warn/i.test(l)));
      }
    } finally {
      await again?.stop("SIGTERM");
    }
    results.push(r);
    options.onRound?.(r);
  }
  return results;
}

/** Fill temp files in `tmp/` now: how many, and their bytes. */
async function partFiles(dir: string): Promise<{ count: number; bytes: number }> {
  let count = 0, bytes = 0;
  try {
    for await (const f of Deno.readDir(`${dir}/tmp`)) {
      if (!f.name.endsWith(".part")) continue;
      count++;
      bytes += (await Deno.stat(`${dir}/tmp/${f.name}`).catch(() => ({ size: 0 }))).size;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return { count, bytes };
}

/** Metadata files under `data/`. */
async function countEntries(dir: string): Promise<number> {
  let n = 0;
  for await (const shard of Deno.readDir(`${dir}/data`)) {
    for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
      if (f.name.endsWith(".json")) n++;
    }
  }
  return n;
}

/**
 * Reads every entry's metadata and body, independently of hoard: the body
 * must exist, match the metadata's size and SHA-256, and be the origin's
 * object for the entry's key. Returns the keys of the good entries.
 */
async function checkDisk(
  dir: string,
  byUrl: Map<string, CrashObject>,
): Promise<{ keys: string[]; bad: string[]; orphans: number; bytes: number }> {
  const keys: string[] = [], bad: string[] = [];
  let bytes = 0;
  const bodies = new Set<string>(), named = new Set<string>();
  for await (const shard of Deno.readDir(`${dir}/data`)) {
    const shardDir = `${dir}/data/${shard.name}`;
    for await (const f of Deno.readDir(shardDir)) {
      if (f.name.endsWith(".body")) bodies.add(`${shard.name}/${f.name}`);
      bytes += (await Deno.stat(`${shardDir}/${f.name}`).catch(() => ({ size: 0 }))).size;
      if (!f.name.endsWith(".json")) continue;
      let meta: {
        kind?: string;
        key?: string;
        body?: string;
        inline?: string;
        size?: number;
        sha256?: string;
      };
      try {
        meta = JSON.parse(await Deno.readTextFile(`${shardDir}/${f.name}`));
      } catch (err) {
        bad.push(`${f.name}: unreadable metadata: ${err}`);
        continue;
      }
      if (meta.kind !== "response") continue;
      if (meta.inline === undefined) named.add(`${shard.name}/${meta.body}`);
      const object = byUrl.get(meta.key ?? "");
      if (object === undefined) continue; // from another run's origin
      let body: Uint8Array;
      try {
        // A small body lives inside its metadata (base64).
        body = meta.inline !== undefined
          ? Uint8Array.from(atob(meta.inline), (c) => c.charCodeAt(0))
          : await Deno.readFile(`${shardDir}/${meta.body}`);
      } catch (err) {
        bad.push(`${meta.key}: body ${meta.body}: ${err}`);
        continue;
      }
      const sha = createHash("sha256").update(body).digest("hex");
      if (body.length !== meta.size || sha !== meta.sha256) {
        bad.push(`${meta.key}: body does not match its metadata (${body.length} bytes)`);
      } else if (sha !== object.sha256) {
        bad.push(`${meta.key}: stored body is not the origin's (${body.length} bytes)`);
      } else keys.push(meta.key!);
    }
  }
  return { keys, bad, orphans: [...bodies].filter((b) => !named.has(b)).length, bytes };
}

const COLUMNS: [string, (r: RoundResult) => string | number][] = [
  ["round", (r) => r.round],
  ["kill at ms", (r) => r.killAtMs],
  ["requests", (r) => r.requests],
  ["complete", (r) => r.complete],
  ["cut by kill", (r) => r.cut],
  ["fills at kill", (r) => r.partsAtKill],
  ["MiB in fills", (r) => (r.partBytesAtKill / MiB).toFixed(1)],
  ["entries", (r) => r.entries],
  ["bad on disk", (r) => r.badOnDisk],
  ["orphan bodies", (r) => r.orphans],
  ["hits", (r) => r.hits],
  ["misses", (r) => r.misses],
  ["lost", (r) => r.lost],
  ["mismatches", (r) => r.mismatches],
];

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** Runs the script; returns its exit code (after every child has been stopped). */
async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "20" },
      objects: { type: "string", default: "40" },
      seed: { type: "string" },
      workers: { type: "string", default: "24" },
      "kill-min": { type: "string", default: "200" },
      "kill-max": { type: "string", default: "2500" },
      "cache-dir": { type: "string" },
    },
  });
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
  const cacheDir = values["cache-dir"] ?? await Deno.makeTempDir({ prefix: "hoard-crash-" });
  const ownDir = values["cache-dir"] === undefined;
  await using origin = startCrashOrigin({ objects: Number(values.objects), seed });
  const total = origin.objects.reduce((a, o) => a + o.size, 0);
  console.log(
    `crash run: seed ${seed}, ${origin.objects.length} objects (${(total / MiB).toFixed(1)} MiB, ${
      origin.objects.filter((o) => o.chunked).length
    } chunked), cache ${cacheDir} capped at ${
      (total / 2 / MiB).toFixed(1)
    } MiB, ${values.workers} connections, kill after ${values["kill-min"]}-${
      values["kill-max"]
    } ms\n`,
  );
  console.log(row(COLUMNS.map(([h]) => h)));
  console.log(row(COLUMNS.map(() => "---:")));
  const started = performance.now();
  let results: RoundResult[];
  try {
    results = await runCrash({
      rounds: Number(values.rounds),
      origin,
      cacheDir,
      seed,
      workers: Number(values.workers),
      killMinMs: Number(values["kill-min"]),
      killMaxMs: Number(values["kill-max"]),
      onRound: (r) => console.log(row(COLUMNS.map(([, f]) => f(r)))),
    });
  } finally {
    if (ownDir) await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
  const sum = (f: (r: RoundResult) => number) => results.reduce((a, r) => a + f(r), 0);
  console.log(row([
    "**total**",
    "",
    sum((r) => r.requests),
    sum((r) => r.complete),
    sum((r) => r.cut),
    sum((r) => r.partsAtKill),
    (sum((r) => r.partBytesAtKill) / MiB).toFixed(1),
    sum((r) => r.entries),
    sum((r) => r.badOnDisk),
    sum((r) => r.orphans),
    sum((r) => r.hits),
    sum((r) => r.misses),
    sum((r) => r.lost),
    sum((r) => r.mismatches),
  ]));
  const midFill = results.filter((r) => r.partsAtKill > 0).length;
  console.log(
    `\n${results.length} kills, ${midFill} of them with fills in progress; ${
      sum((r) => r.hits + r.misses)
    } verified fetches; origin requests ${origin.requests}; ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  const problems = results.flatMap((r) => r.problems.map((p) => `round ${r.round}: ${p}`));
  for (const p of problems) console.log(p);
  for (const r of results) for (const n of r.notes) console.log(`round ${r.round}: ${n}`);
  return sum((r) => r.mismatches) > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
