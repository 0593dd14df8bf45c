#!/usr/bin/env -S deno run --allow-all
/**
 * The 1 KiB miss, before and after a change: this checkout's hoard and
 * another's (`--against DIR`) in turn, each run a fresh hoard intercepting the
 * benchmark's TLS origin (or, with `--plain`, proxying its plain-HTTP twin)
 * and answering `--count` new URLs one after the other on one kept
 * connection, after `--warmup` of them. Pinned as the HTTPS part of
 * `deno task bench` is: hoard alone on the last core, the client and the
 * origin on the others. The runs alternate in pairs, the order flipped every
 * pair (A B, B A, …), so that this VM's drift falls on both trees.
 *
 * Each run prints the client's p50 and p99 and hoard's CPU time per miss (all
 * its threads, from /proc); the end, the medians of each tree. Without
 * `--against`, the runs are of this checkout alone. The caches go to a
 * temp directory: `TMPDIR=/mnt/ram` puts them on a tmpfs, where the file
 * system no longer hides hoard's own time.
 *
 * Usage: deno run -A scripts/bench_miss.ts [--against DIR] [--pairs N] [--count N] [--warmup N] [--plain]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type HttpsOrigin, startHoard, startOrigin, tlsLoad } from "./bench/https.ts";
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

async function missRun(tree: string, origin: HttpsOrigin, server: string | undefined, n: number) {
  const hoard = await startHoard(tree, origin, false);
  try {
    if (server !== undefined) await pinTree(hoard.pids[0]!, server);
    const before = await cpuSeconds(hoard.pids[0]!);
    const r = await tlsLoad(root, {
      mode: "sequential",
      proxyPort: hoard.port,
      host: values.plain ? "127.0.0.1" : "localhost",
      port: values.plain ? origin.plainPort : origin.port,
      caFile: hoard.caFile,
      plain: values.plain,
      path: `/1k?bench-miss-${n}-${Date.now()}`,
      size: 1024,
      count,
      warmup,
    });
    const cpuUs = (await cpuSeconds(hoard.pids[0]!) - before) * 1e6 / (count + warmup);
    return { p50: r.p50ms, p99: r.p99ms, cpuUs } satisfies Run;
  } finally {
    await hoard.stop();
  }
}

removeDirsAtEnd(); // no run's deletions in the next one's way
const dir = await makeTempDir("hoard-bench-miss-");
const pin = await cpuSplit();
const origin = await startOrigin(root, dir);
const trees = against === undefined ? [root] : [root, against];
const runs = new Map<string, Run[]>(trees.map((t) => [t, []]));
try {
  if (pin) { for (const pid of [Deno.pid, ...origin.pids]) await pinTree(pid, pin.rest); }
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? trees : trees.toReversed();
    for (const tree of order) {
      const r = await missRun(tree, origin, pin?.server, runs.get(tree)!.length);
      runs.get(tree)!.push(r);
      console.log(
        `${tree === root ? "this   " : "against"}  p50 ${r.p50.toFixed(3)} ms  p99 ${
          r.p99.toFixed(3)
        } ms  CPU ${r.cpuUs.toFixed(0)} µs per miss`,
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
for (const [tree, rs] of runs) {
  console.log(
    `${tree === root ? "this   " : "against"}  p50 ${
      median(rs.map((r) => r.p50)).toFixed(3)
    } ms  ` +
      `p99 ${median(rs.map((r) => r.p99)).toFixed(3)} ms  ` +
      `CPU ${median(rs.map((r) => r.cpuUs)).toFixed(0)} µs per miss  (${tree})`,
  );
}
