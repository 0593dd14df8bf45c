#!/usr/bin/env -S deno run --allow-all
/**
 * The 1 KiB miss, before and after a change: this checkout's hoard and
 * another's (`--against DIR`), or squid with ssl-bump as the benchmark runs
 * it (`--squid`), in turn, each run a fresh proxy intercepting the
 * benchmark's TLS origin (or, with `--plain`, proxying its plain-HTTP twin)
 * and answering `--count` new URLs one after the other on one kept
 * connection, after `--warmup` of them. Pinned as the HTTPS part of
 * `deno task bench` is: the proxy alone on the last core, the client and the
 * origin on the others. The runs alternate, the order flipped every round
 * (A B, B A, …), so that this VM's drift falls on all alike.
 *
 * Each run prints the client's p50 and p99 and the proxy's CPU time per miss
 * (all its threads, from /proc); the end, the medians of each. Alone, the
 * runs are of this checkout. The caches go to a temp directory:
 * `TMPDIR=/mnt/ram` puts them on a tmpfs, where the file system no longer
 * hides the proxy's own time. A larger `--warmup` measures a proxy past its
 * start (hoard's JavaScript is compiled to optimized code as it runs).
 *
 * Usage: deno run -A scripts/bench_miss.ts [--against DIR] [--squid] [--pairs N] [--count N]
 *   [--warmup N] [--plain]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type HttpsContender,
  type HttpsOrigin,
  startHoard,
  startOrigin,
  startSquid,
  tlsLoad,
} from "./bench/https.ts";
import { median } from "./bench/measure.ts";
import {
  cacheFileSystem,
  cpuSeconds,
  cpuSplit,
  makeTempDir,
  pinTree,
  removeDirsAtEnd,
  stopAll,
} from "./bench/_proc.ts";

const root = new URL("..", import.meta.url).pathname;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    against: { type: "string" },
    pairs: { type: "string", default: "3" },
    count: { type: "string", default: "2000" },
    warmup: { type: "string", default: "50" },
    plain: { type: "boolean", default: false },
    squid: { type: "boolean", default: false },
  },
});
const pairs = Number(values.pairs), count = Number(values.count), warmup = Number(values.warmup);
if (![pairs, count, warmup].every(Number.isInteger) || pairs < 1 || count < 1 || warmup < 0) {
  console.error("--pairs and --count take whole numbers ≥ 1, --warmup one ≥ 0");
  Deno.exit(2);
}
const against = values.against === undefined ? undefined : await Deno.realPath(values.against)
  .catch(() => {
    console.error(`--against ${values.against}: no such directory`);
    Deno.exit(2);
  });

/** One run's figures. */
interface Run {
  p50: number;
  p99: number;
  cpuUs: number;
}

/** Who answers the misses of a run: this checkout's hoard, another's, or squid ssl-bump. */
interface Contender {
  label: string;
  source: string;
  start: () => Promise<HttpsContender>;
}

/**
 * `count` requests for new 1 KiB URLs under `path`, one after the other,
 * after `warmup` of them: through the proxy `via` names, or (no port)
 * straight to the origin.
 */
function sequential(
  origin: HttpsOrigin,
  via: { proxyPort?: number; caFile: string },
  path: string,
  count: number,
  warmup: number,
) {
  return tlsLoad(root, {
    mode: "sequential",
    ...via,
    host: values.plain ? "127.0.0.1" : "localhost",
    port: values.plain ? origin.plainPort : origin.port,
    plain: values.plain,
    path,
    size: 1024,
    count,
    warmup,
  });
}

async function missRun(c: Contender, origin: HttpsOrigin, server: string | undefined, n: number) {
  const proxy = await c.start();
  try {
    if (server !== undefined) await pinTree(proxy.pids[0]!, server);
    const before = await cpuSeconds(proxy.pids[0]!);
    const via = { proxyPort: proxy.port, caFile: proxy.caFile };
    const r = await sequential(origin, via, `/1k?bench-miss-${n}-${Date.now()}`, count, warmup);
    const cpuUs = (await cpuSeconds(proxy.pids[0]!) - before) * 1e6 / (count + warmup);
    return { p50: r.p50ms, p99: r.p99ms, cpuUs } satisfies Run;
  } finally {
    await proxy.stop();
  }
}

removeDirsAtEnd(); // no run's deletions in the next one's way
const dir = await makeTempDir("hoard-bench-miss-");
const pin = await cpuSplit();
const origin = await startOrigin(root, dir);
const hoardOf = (label: string, tree: string): Contender => ({
  label,
  source: tree,
  start: () => startHoard(tree, origin, false),
});
const contenders = [hoardOf("this", root)];
if (against !== undefined) contenders.push(hoardOf("against", against));
if (values.squid) {
  contenders.push({ label: "squid", source: "squid ssl-bump", start: () => startSquid(origin) });
}
const runs = new Map<Contender, Run[]>(contenders.map((c) => [c, []]));
try {
  if (pin) { for (const pid of [Deno.pid, ...origin.pids]) await pinTree(pid, pin.rest); }
  // The origin is JavaScript too: warmed first, it answers the first run as fast as the last.
  await sequential(
    origin,
    { caFile: origin.certFile },
    `/1k?bench-miss-origin-${Date.now()}`,
    3000,
    0,
  );
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? contenders : contenders.toReversed();
    for (const c of order) {
      const r = await missRun(c, origin, pin?.server, runs.get(c)!.length);
      runs.get(c)!.push(r);
      console.log(
        `${c.label.padEnd(7)}  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  ` +
          `CPU ${r.cpuUs.toFixed(0)} µs per miss`,
      );
    }
  }
} finally {
  await origin.stop();
  await stopAll();
}
console.log(
  `\n${count} sequential 1 KiB misses ${values.plain ? "over plain HTTP" : "intercepted"} a run, ` +
    `${pin ? `hoard on core ${pin.server}` : "unpinned"}, caches in ${cacheFileSystem()}; ` +
    `medians of ${pairs} runs:`,
);
for (const [c, rs] of runs) {
  console.log(
    `${c.label.padEnd(7)}  p50 ${median(rs.map((r) => r.p50)).toFixed(3)} ms  ` +
      `p99 ${median(rs.map((r) => r.p99)).toFixed(3)} ms  ` +
      `CPU ${median(rs.map((r) => r.cpuUs)).toFixed(0)} µs per miss  (${c.source})`,
  );
}
