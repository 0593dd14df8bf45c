/**
 * Serving on every core (issue 18): 1 KiB hits per second from one hoard
 * process on one thread, from one hoard serving on N threads (`--workers N`:
 * one port, one cache directory), from N independent hoard processes (each
 * its own cache directory, wrk's connections split between them, rates
 * summed) and from nginx with `worker_processes auto`, in turn in the same
 * run, 64 connections in all.
 *
 * The independent processes are the ceiling of any every-core design: the
 * threads of `--workers` also share one index, one size account and one fill
 * registry, which only costs. `--workers N` ÷ nginx is the target
 * (≥ 1.2×); `--workers N` ÷ the ceiling says what the sharing costs.
 *
 * Usage: deno run -A scripts/bench_cores.ts [--processes N] [--seconds N] [--rounds N]
 * (`--processes`: N of both `--workers N` and the independent processes; the
 * number of cores unless given)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { start, type Target, target } from "./bench/contenders.ts";
import { download, median, wrk } from "./bench/measure.ts";
import { ensurePackage, spawnServer, stopChild, waitForOutput } from "./bench/_proc.ts";

const root = new URL("..", import.meta.url).pathname;
const CONNECTIONS = 64;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    processes: { type: "string", default: String(navigator.hardwareConcurrency) },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
  },
});
const processes = Number(values.processes);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
if (![processes, seconds, rounds].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error("--processes, --seconds and --rounds take whole numbers ≥ 1");
  Deno.exit(2);
}

/** Requests per second of `targets` loaded at once, the connections split between them. */
async function hitRate(targets: Target[]): Promise<number> {
  for (const t of targets) await download(t, 1024); // stores it
  const each = Math.floor(CONNECTIONS / targets.length);
  await Promise.all(targets.map((t) => wrk(t, 1, each))); // warm-up
  const runs = await Promise.all(targets.map((t) => wrk(t, seconds, each)));
  return runs.reduce((sum, r) => sum + r.rps, 0);
}

/** hoard × `count`, each its own process and cache directory. */
async function hoards(count: number, originPort: number): Promise<number> {
  const running = [];
  try {
    for (let i = 0; i < count; i++) running.push(await start("hoard", { originPort, root }));
    return await hitRate(running.map((c) => target(c, originPort, `/1k?cores-${count}`)));
  } finally {
    for (const c of running) await c.stop();
  }
}

/** One hoard serving on `count` threads (`--workers count`), one cache directory. */
async function workers(count: number, originPort: number): Promise<number> {
  const c = await start("hoard-cores", { originPort, root, hoardWorkers: String(count) });
  try {
    return await hitRate([target(c, originPort, `/1k?workers-${count}`)]);
  } finally {
    await c.stop();
  }
}

async function nginx(originPort: number): Promise<number> {
  const c = await start("nginx", { originPort, root, nginxWorkers: "auto" });
  try {
    return await hitRate([target(c, originPort, "/1k?cores-nginx")]);
  } finally {
    await c.stop();
  }
}

await ensurePackage("wrk", ["wrk"]);
const origin = spawnServer(Deno.execPath(), ["run", "--allow-net", "scripts/bench_origin.ts"], {
  cwd: root,
});
const originPort = Number((await waitForOutput(origin, /origin listening on (\d+)/))[1]);
const figures: { one: number[]; workers: number[]; many: number[]; nginx: number[] } = {
  one: [],
  workers: [],
  many: [],
  nginx: [],
};
const rate = (xs: number[]) => `${xs.at(-1)!.toFixed(0)}/s`;
try {
  for (let round = 1; round <= rounds; round++) {
    figures.one.push(await hoards(1, originPort));
    figures.workers.push(await workers(processes, originPort));
    figures.many.push(await hoards(processes, originPort));
    figures.nginx.push(await nginx(originPort));
    console.log(
      `round ${round}: hoard×1 ${rate(figures.one)}, hoard --workers ${processes} ${
        rate(figures.workers)
      }, hoard×${processes} processes ${rate(figures.many)}, nginx auto ${rate(figures.nginx)}`,
    );
  }
} finally {
  await stopChild(origin.child);
}
const [one, threads, many, ngx] = [
  median(figures.one),
  median(figures.workers),
  median(figures.many),
  median(figures.nginx),
];
console.log(
  `\n1 KiB hits, ${CONNECTIONS} connections, ${navigator.hardwareConcurrency} cores, ` +
    `medians of ${rounds} rounds, load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
);
const n = processes;
const cells = [
  ["hoard × 1", one.toFixed(0)],
  [`hoard --workers ${n}`, threads.toFixed(0)],
  [`hoard × ${n} processes (ceiling)`, many.toFixed(0)],
  ["nginx auto", ngx.toFixed(0)],
  [`--workers ${n} / ×1`, (threads / one).toFixed(2)],
  [`--workers ${n} / ceiling`, (threads / many).toFixed(2)],
  [`--workers ${n} / nginx (target ≥ 1.2)`, (threads / ngx).toFixed(2)],
  [`ceiling / nginx`, (many / ngx).toFixed(2)],
];
console.log(`| ${cells.map((c) => c[0]).join(" | ")} |`);
console.log(`|${" ---: |".repeat(cells.length)}`);
console.log(`| ${cells.map((c) => c[1]).join(" | ")} |`);
