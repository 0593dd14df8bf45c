#!/usr/bin/env -S deno run --allow-all
/**
 * Benchmark of hoard against the caches people use today, in one run, on one
 * machine, over loopback (issue 7): direct to the origin (baseline), hoard
 * (forward proxy), hoard-cores (the same on every core: `--workers auto`),
 * nginx with proxy_cache (reverse proxy) and squid (forward proxy), each in
 * turn against the same origin. Figures per contender: 1 KiB hit requests/s
 * and p50/p99 latency at 64 keep-alive connections (wrk); 100 MiB hit
 * throughput (curl, checksum verified) and RSS growth per concurrent stream;
 * 1 KiB miss latency added to direct; 100 MiB miss throughput against direct;
 * 100 concurrent misses of one 10 MiB object (origin requests, total time).
 *
 * Prints a table with the ratios hoard/nginx and hoard/squid (and
 * hoard-cores/nginx and hoard-cores/hoard: issue 18's target is 1 KiB hits
 * ≥ 1.2× nginx with `worker_processes auto`) and writes
 * `bench/results.json`, `bench/results.md` and `bench/ratios.svg`. Installs
 * wrk, curl, nginx and squid with apt-get when missing; a contender that
 * cannot be set up is skipped with the reason. Never part of CI pass/fail.
 *
 * The HTTPS part (issue 18, scripts/bench/https.ts) runs after it: the same
 * origin over TLS, straight, through hoard --intercept (also with
 * `--workers auto`), squid with ssl-bump and mitmproxy; it writes
 * `bench/results_https.json` and `.md`.
 *
 * Usage: deno task bench [--seconds N] [--quick] [--out DIR]
 *        [--contenders direct,hoard,hoard-cores,nginx,squid,mitmproxy] [--nginx-workers N|auto]
 *        [--part all|http|https] [--https (= --part https)] [--hoard-root DIR]
 *
 * `--hoard-root DIR` measures the hoard of another checkout (mod.ts in DIR) with this
 * script, so that a before/after comparison runs the same commands.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  HTTPS_CONTENDERS,
  type HttpsContenderName,
  httpsMd,
  type HttpsOptions,
  httpsTable,
  runHttps,
} from "./bench/https.ts";
import {
  type Contender,
  type ContenderName,
  CONTENDERS,
  start,
  type Target,
  target,
} from "./bench/contenders.ts";
import {
  concurrentMisses,
  download,
  flushPageCache,
  median,
  medianSpeed,
  rssPerStream,
  sequentialLatency,
  verifyChecksum,
  wrk,
} from "./bench/measure.ts";
import {
  computeRatios,
  type ContenderResult,
  CORES_PEERS,
  evaluateTargets,
  type FigureId,
  issues,
  ratiosSvg,
  type Results,
  resultsJson,
  resultsMd,
  table,
} from "./bench/report.ts";
import {
  cacheFileSystem,
  cpuSplit,
  ensurePackage,
  lastLines,
  removeDirsAtEnd,
  run,
  runRaw,
  spawnServer,
  stopAll,
  stopChild,
  waitForOutput,
} from "./bench/_proc.ts";

const KiB = 1024;
const MiB = 1024 * 1024;
const root = new URL("..", import.meta.url).pathname;
/** The checkout whose hoard is measured (`--hoard-root`, for before/after runs of one script). */
let hoardRoot = root;

/** Options of one run. */
export interface BenchOptions {
  /** wrk duration of each measured 1 KiB run, s. @default 15 (1 with quick) */
  seconds: number;
  /** wrk warm-up before it, s. @default 2 (1 with quick) */
  warmSeconds: number;
  /** 100 MiB hit downloads (median). @default 7 (2 with quick) */
  hitRuns: number;
  /** 100 MiB miss downloads, each of a new URL (median). @default 5 (1 with quick) */
  missRuns: number;
  /** Concurrent 100 MiB hit downloads for the RSS figure. @default 4 */
  streams: number;
  /** Sequential 1 KiB miss requests measured. @default 500 (100 with quick) */
  missRequests: number;
  /** Unmeasured ones before them. @default 50 (10 with quick) */
  missWarmup: number;
  /** Concurrent clients asking for one uncached 10 MiB object. @default 100 */
  collapseClients: number;
  /** nginx worker_processes. @default "auto" */
  nginxWorkers: string;
  /** Rounds of every contender in turn; each figure is the median over the rounds. @default 1 */
  rounds: number;
  /** HTTPS part: each contender on a core of its own (see HttpsOptions.pin). @default true */
  pin: boolean;
}

/** The 100 MiB object's SHA-256: bench_origin.ts serves `n` bytes of 'a'. */
async function originSha256(size: number): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(size).fill(0x61));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What every contender is measured against. */
interface Bench {
  o: BenchOptions;
  /** Port of the benchmark origin. */
  originPort: number;
  /** Body requests the origin served so far. */
  originCount: () => Promise<number>;
  /** SHA-256 of the 100 MiB object. */
  sha100m: string;
}

/** Runs every step against one contender; a failed step is recorded, the others go on. */
async function measure(
  c: Contender,
  { o, originPort, originCount, sha100m }: Bench,
  direct: ContenderResult | undefined,
): Promise<ContenderResult> {
  const res: ContenderResult = {
    status: "ok",
    version: c.version,
    figures: {},
    errors: {},
    notes: [],
    details: {},
    config: c.config,
  };
  const T = (path: string): Target => target(c, originPort, path);
  const tag = c.name;
  const f = res.figures;
  const step = async (name: string, fn: () => Promise<void>) => {
    const started = performance.now();
    try {
      await fn();
      console.log(`  ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = (e as Error).message;
      res.errors[name] = msg;
      console.log(`  ${name}: FAILED — ${msg}`);
      const out = lastLines(c.output(), 3);
      if (out) console.log(`    ${c.name} said: ${out}`);
    }
  };

  const hit100m = T(`/100m?hit-${tag}`);
  await step("100 MiB hit", async () => {
    await download(hit100m, 100 * MiB); // stores it
    await verifyChecksum(hit100m, sha100m);
    const before = await originCount();
    const r = await medianSpeed(() => hit100m, o.hitRuns, 100 * MiB);
    const origin = (await originCount()) - before;
    f.hit100mMBps = r.median / 1e6;
    res.details["hit100m"] = { runsMBps: r.runs.map((s) => s / 1e6), originRequests: origin };
    if (c.name !== "direct" && origin > 0) {
      res.notes.push(`100 MiB hit: the origin served ${origin} requests during the hit runs`);
    }
  });

  if (c.pid !== undefined) {
    const pid = c.pid;
    await step("RSS per stream", async () => {
      const r = await rssPerStream(pid, hit100m, 100 * MiB, o.streams);
      f.hit100mRssPerStreamMiB = r.perStreamMiB;
      res.details["rss"] = r;
    });
  }

  await step("1 KiB hit", async () => {
    const t = T(`/1k?hit-${tag}`);
    await download(t, KiB); // stores it
    await wrk(t, o.warmSeconds);
    const before = await originCount();
    const r = await wrk(t, o.seconds);
    const origin = (await originCount()) - before;
    f.hit1kRps = r.rps;
    f.hit1kP50Ms = r.p50ms;
    f.hit1kP99Ms = r.p99ms;
    res.details["hit1k"] = { ...r, originRequests: origin };
    if (r.errors > 0) res.notes.push(`1 KiB hit: wrk counted ${r.errors} errors of ${r.requests}`);
    if (c.name !== "direct" && origin > 0) {
      res.notes.push(`1 KiB hit: the origin served ${origin} requests during the hit run`);
    }
  });

  await step("1 KiB miss latency", async () => {
    await flushPageCache();
    const before = await originCount();
    const r = await sequentialLatency(
      (i) => T(`/1k?miss-${tag}-${i}`),
      o.missRequests,
      o.missWarmup,
      KiB,
    );
    const origin = (await originCount()) - before;
    f.miss1kP50Ms = r.p50ms;
    res.details["miss1k"] = { ...r, originRequests: origin };
    if (origin !== o.missRequests + o.missWarmup) {
      res.notes.push(
        `1 KiB miss: the origin served ${origin} requests for ${
          o.missRequests + o.missWarmup
        } unique URLs`,
      );
    }
    if (r.reconnects > 0) {
      res.notes.push(`1 KiB miss: the client connection was reopened ${r.reconnects} times`);
    }
  });

  await step("100 MiB miss", async () => {
    const before = await originCount();
    const r = await medianSpeed((i) => T(`/100m?miss-${tag}-${i}`), o.missRuns, 100 * MiB, true);
    const origin = (await originCount()) - before;
    f.miss100mMBps = r.median / 1e6;
    res.details["miss100m"] = { runsMBps: r.runs.map((s) => s / 1e6), originRequests: origin };
    if (origin !== o.missRuns) {
      res.notes.push(`100 MiB miss: the origin served ${origin} requests for ${o.missRuns} URLs`);
    }
  });

  await step("collapsing", async () => {
    await flushPageCache(true);
    const r = await concurrentMisses(
      T(`/10m?collapse-${tag}`),
      o.collapseClients,
      10 * MiB,
      originCount,
    );
    f.collapseOriginRequests = r.originRequests;
    f.collapseMs = r.totalMs;
    res.details["collapse"] = r;
    if (r.failures > 0) {
      res.notes.push(
        `collapsing: ${r.failures} of ${o.collapseClients} responses were not 200 with 10 MiB`,
      );
    }
  });

  const d = direct?.figures;
  if (d?.miss1kP50Ms !== undefined && f.miss1kP50Ms !== undefined && c.name !== "direct") {
    f.miss1kAddedP50Ms = f.miss1kP50Ms - d.miss1kP50Ms;
  }
  if (d?.miss100mMBps !== undefined && f.miss100mMBps !== undefined) {
    f.miss100mVsDirect = f.miss100mMBps / d.miss100mMBps;
  }
  return res;
}

/** Starts one contender, measures it and stops it; one that cannot be set up is skipped. */
async function runContender(
  name: ContenderName,
  bench: Bench,
  direct: ContenderResult | undefined,
): Promise<ContenderResult> {
  console.log(`\n${name}`);
  let c: Contender;
  try {
    c = await start(name, {
      originPort: bench.originPort,
      root: hoardRoot,
      nginxWorkers: bench.o.nginxWorkers,
    });
  } catch (e) {
    const reason = (e as Error).message;
    console.log(`  skipped: could not set up ${name}: ${reason}`);
    return { status: "skipped", reason, figures: {}, errors: {}, notes: [], details: {} };
  }
  console.log(`  ${c.version} on 127.0.0.1:${c.port}`);
  try {
    return await measure(c, bench, direct);
  } finally {
    await c.stop();
  }
}

/**
 * One result from several rounds of a contender: each figure is the median of
 * the rounds that have it; notes and errors are kept with their round.
 */
function medianOfRounds(rounds: ContenderResult[]): ContenderResult {
  if (rounds.length === 1) return rounds[0]!;
  const ok = rounds.filter((r) => r.status === "ok");
  if (ok.length === 0) return rounds[0]!;
  const figures: ContenderResult["figures"] = {};
  const ids = new Set(ok.flatMap((r) => Object.keys(r.figures))) as Set<FigureId>;
  for (const id of ids) {
    const values = ok.map((r) => r.figures[id]).filter((v): v is number => v !== undefined);
    figures[id] = median(values);
  }
  return {
    ...ok[ok.length - 1]!,
    figures,
    errors: Object.fromEntries(
      rounds.flatMap((r, i) =>
        Object.entries(r.errors).map(([k, v]) => [`${k} (round ${i + 1})`, v])
      ),
    ),
    notes: rounds.flatMap((r, i) => r.notes.map((n) => `round ${i + 1}: ${n}`)),
    details: { rounds: rounds.map((r) => ({ figures: r.figures, details: r.details })) },
  };
}

async function toolVersions(): Promise<Record<string, string>> {
  const first = async (cmd: string, args: string[]) => {
    const r = await runRaw(cmd, args).catch(() => undefined);
    return (r ? (r.stdout || r.stderr).split("\n")[0]!.trim() : "?");
  };
  return {
    wrk: (await first("wrk", ["-v"])).replace(/^wrk /, "").replace(/ \[.*$/, ""),
    curl: (await first("curl", ["-V"])).split(" ")[1] ?? "?",
    deno: Deno.version.deno,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string" },
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      contenders: { type: "string", default: CONTENDERS.join(",") },
      "nginx-workers": { type: "string", default: "auto" },
      rounds: { type: "string", default: "1" },
      part: { type: "string", default: "all" },
      https: { type: "boolean", default: false },
      "hoard-root": { type: "string" },
      "no-pin": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "deno task bench [--seconds N] [--rounds N] [--quick] [--out DIR] [--contenders LIST] " +
        "[--nginx-workers N] [--part all|http|https] [--https] [--hoard-root DIR] [--no-pin]",
    );
    return;
  }
  const quick = values.quick;
  if (values["hoard-root"]) {
    hoardRoot = new URL(`${values["hoard-root"]}/`, `file://${Deno.cwd()}/`).pathname;
  }
  const o: BenchOptions = {
    seconds: Number(values.seconds ?? (quick ? 1 : 15)),
    warmSeconds: quick ? 1 : 2,
    hitRuns: quick ? 2 : 7,
    missRuns: quick ? 1 : 5,
    streams: 4,
    missRequests: quick ? 100 : 500,
    missWarmup: quick ? 10 : 50,
    collapseClients: 100,
    nginxWorkers: values["nginx-workers"],
    rounds: Number(values.rounds),
    pin: !values["no-pin"],
  };
  if (!(o.seconds >= 1)) throw new Error("--seconds must be a number ≥ 1");
  if (!Number.isInteger(o.rounds) || o.rounds < 1) {
    throw new Error("--rounds must be an integer ≥ 1");
  }
  const part = values.https ? "https" : values.part;
  if (!["all", "http", "https"].includes(part)) {
    throw new Error("--part must be all, http or https");
  }
  const given = values.contenders.split(",").map((s) => s.trim());
  for (const n of given) {
    if (![...CONTENDERS, ...HTTPS_CONTENDERS].includes(n as ContenderName)) {
      throw new Error(`unknown contender ${n}`);
    }
  }
  // By default the HTTPS part has mitmproxy too; an explicit list says who runs.
  const httpsNames = (values.contenders === CONTENDERS.join(",") ? [...HTTPS_CONTENDERS] : given)
    .filter((n): n is HttpsContenderName => HTTPS_CONTENDERS.includes(n as HttpsContenderName));
  if (!httpsNames.includes("direct")) httpsNames.unshift("direct");
  const names = given.filter((n): n is ContenderName => CONTENDERS.includes(n as ContenderName));
  if (!names.includes("direct")) names.unshift("direct"); // the baseline of the miss figures
  const outDir = values.out ?? (quick ? undefined : `${root}bench`);
  if (part === "https") {
    await benchHttps(o, quick, httpsNames, outDir);
    return;
  }
  const started = performance.now();

  await ensurePackage("wrk", ["wrk"]);
  await ensurePackage("curl", ["curl"]);
  const sha100m = await originSha256(100 * MiB);

  const origin = spawnServer(Deno.execPath(), ["run", "--allow-net", "scripts/bench_origin.ts"], {
    cwd: root,
  });
  const originPort = await waitForOutput(origin, /origin listening on (\d+)/).then(
    (m) => Number(m[1]),
    async (e) => {
      await stopChild(origin.child);
      throw new Error(`the benchmark origin did not start: ${(e as Error).message}`);
    },
  );
  const originCount = async () =>
    Number(await run("curl", ["-sS", "--noproxy", "*", `http://127.0.0.1:${originPort}/count`]));

  // Rounds interleave the contenders, so that a machine whose speed drifts
  // during the run (other tenants, page cache, writeback) weighs on all alike.
  const byName: Partial<Record<ContenderName, ContenderResult[]>> = {};
  try {
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) console.log(`\nround ${round} of ${o.rounds}`);
      let direct: ContenderResult | undefined;
      for (const name of CONTENDERS.filter((n) => names.includes(n))) {
        const r = await runContender(name, { o, originPort, originCount, sha100m }, direct);
        if (name === "direct") direct = r;
        (byName[name] ??= []).push(r);
      }
    }
  } finally {
    await stopChild(origin.child);
  }
  const contenders: Results["contenders"] = {};
  for (const name of CONTENDERS) {
    const rounds = byName[name];
    if (rounds !== undefined) contenders[name] = medianOfRounds(rounds);
  }

  const ratios = computeRatios(contenders);
  const coresRatios = computeRatios(contenders, "hoard-cores", CORES_PEERS);
  const results: Results = {
    date: new Date().toISOString(),
    command: ["deno task bench", ...Deno.args].join(" "),
    machine: {
      target: Deno.build.target,
      cores: navigator.hardwareConcurrency,
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 1024 ** 3),
      kernel: Deno.osRelease(),
      caches: cacheFileSystem(),
    },
    tools: await toolVersions(),
    settings: { ...o, quick },
    durationSeconds: (performance.now() - started) / 1000,
    contenders,
    ratios,
    coresRatios,
    targets: evaluateTargets(contenders, ratios, coresRatios),
  };

  console.log(
    `\nhoard vs nginx and squid, loopback, ${results.machine.cores} cores, ${
      results.durationSeconds.toFixed(0)
    } s\n`,
  );
  console.log(table(results));
  const notes = issues(results);
  if (notes.length > 0) console.log(`\n${notes.join("\n")}`);
  if (outDir) {
    await Deno.mkdir(outDir, { recursive: true });
    await Deno.writeTextFile(`${outDir}/results.json`, resultsJson(results));
    await Deno.writeTextFile(`${outDir}/results.md`, resultsMd(results));
    await Deno.writeTextFile(`${outDir}/ratios.svg`, ratiosSvg(results));
    console.log(`\nwrote ${outDir}/results.json, results.md, ratios.svg`);
  } else {
    console.log("\n--quick: nothing written (pass --out DIR to write the results)");
  }
  if (part === "all") {
    await benchHttps(o, quick, httpsNames, outDir, contenders.hoard?.figures);
  }
}

/** The HTTPS part; `plain`: hoard's plain-HTTP figures of the same run, for the targets. */
async function benchHttps(
  o: BenchOptions,
  quick: boolean,
  names: HttpsContenderName[],
  outDir: string | undefined,
  plain?: { hit1kRps?: number; hit100mMBps?: number },
): Promise<void> {
  await ensurePackage("curl", ["curl"]);
  const h: HttpsOptions = {
    seconds: Math.min(o.seconds, quick ? 1 : 10),
    warmSeconds: o.warmSeconds,
    hitRuns: quick ? 2 : 5,
    missRequests: o.missRequests,
    missWarmup: o.missWarmup,
    rounds: o.rounds,
    hoardRoot,
    pin: o.pin ? await cpuSplit() : undefined,
  };
  if (h.pin) {
    console.log(`HTTPS: each contender on core ${h.pin.server}, everything else on ${h.pin.rest}`);
  }
  const started = performance.now();
  const r = await runHttps(root, names, h);
  const machine = `${navigator.hardwareConcurrency} cores, ${
    Math.round(Deno.systemMemoryInfo().total / 1024 ** 3)
  } GiB, ${Deno.build.target}, load average ${
    Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
  }, caches in ${cacheFileSystem()}`;
  console.log(
    `\nHTTPS: hoard --intercept vs squid ssl-bump and mitmproxy, loopback, ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s\n`,
  );
  console.log(httpsTable(r, plain));
  for (const [name, c] of Object.entries(r)) {
    for (const n of c.notes) console.log(`${name}: ${n}`);
    for (const [k, v] of Object.entries(c.errors)) console.log(`${name}: ${k} failed: ${v}`);
  }
  if (outDir) {
    const meta = {
      date: new Date().toISOString(),
      command: ["deno task bench", ...Deno.args].join(" "),
      machine,
      options: h,
    };
    await Deno.mkdir(outDir, { recursive: true });
    await Deno.writeTextFile(
      `${outDir}/results_https.json`,
      JSON.stringify({ ...meta, plainHoard: plain, contenders: r }, null, 2) + "\n",
    );
    await Deno.writeTextFile(`${outDir}/results_https.md`, httpsMd(r, meta, plain));
    console.log(`\nwrote ${outDir}/results_https.json, results_https.md`);
  }
}

if (import.meta.main) {
  // An interrupted run stops what it started (nginx, squid, hoard, the origin) by pid.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      console.error(`\n${signal}: stopping the servers`);
      stopAll().finally(() => Deno.exit(130));
    });
  }
  removeDirsAtEnd();
  try {
    await main();
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    Deno.exitCode = 1;
  } finally {
    await stopAll();
  }
  // The signal listeners would keep the process alive.
  Deno.exit();
}
