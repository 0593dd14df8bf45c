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
 * registry, which only costs. `--workers N` ÷ nginx is the issue's target
 * (≥ 1.2×); `--workers N` ÷ the ceiling says what the sharing costs.
 *
 * Each run also counts CPU time: the contender's processes (every thread and
 * child) and the whole machine's (/proc/stat), per request. On a machine
 * whose cores wrk shares with the proxy, the rate is bounded by cores ÷ (the
 * proxy's CPU per hit + wrk's): which of the two a design can change, and by
 * how much, is what these say.
 *
 * Usage: deno run -A scripts/bench_cores.ts [--processes N] [--seconds N] [--rounds N]
 * (`--processes`: N of both `--workers N` and the independent processes; the
 * number of cores unless given)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Contender, start, target } from "./bench/contenders.ts";
import { download, median, wrk } from "./bench/measure.ts";
import {
  cpuTimes,
  ensurePackage,
  processTree,
  spawnServer,
  stopChild,
  waitForOutput,
} from "./bench/_proc.ts";

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

/** One run: requests per second, and CPU per request (µs) of the proxy and of the rest. */
interface Run {
  rps: number;
  proxyUs: number;
  /** Of which in the kernel. */
  proxySysUs: number;
  restUs: number;
  idle: number;
}

/** Busy and idle CPU time of the whole machine so far (clock ticks, all cores). */
function machineTicks(): { busy: number; idle: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = Deno.readTextFileSync(
    "/proc/stat",
  )
    .split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number) as number[];
  return { busy: user! + nice! + system! + irq! + softirq! + steal!, idle: idle! + iowait! };
}

/** CPU seconds (all, and in the kernel) of the processes of `running` and their descendants. */
async function treeCpu(running: Contender[]): Promise<{ all: number; sys: number }> {
  let all = 0, sys = 0;
  for (const c of running) {
    for (const pid of processTree(c.pid!)) {
      const t = await cpuTimes(pid);
      if (Number.isNaN(t.user)) continue; // exited meanwhile
      all += t.user + t.sys;
      sys += t.sys;
    }
  }
  return { all, sys };
}

/** `running` loaded at once, the connections split between them. */
async function hitRate(running: Contender[], path: string): Promise<Run> {
  const targets = running.map((c) => target(c, originPort, path));
  for (const t of targets) await download(t, 1024); // stores it
  const each = Math.floor(CONNECTIONS / targets.length);
  await Promise.all(targets.map((t) => wrk(t, 1, each))); // warm-up
  const [cpu0, ticks0] = [await treeCpu(running), machineTicks()];
  const runs = await Promise.all(targets.map((t) => wrk(t, seconds, each)));
  const [cpu1, ticks1] = [await treeCpu(running), machineTicks()];
  const requests = runs.reduce((sum, r) => sum + r.requests, 0);
  const busy = (ticks1.busy - ticks0.busy) / 100, idle = (ticks1.idle - ticks0.idle) / 100;
  const proxy = cpu1.all - cpu0.all;
  return {
    rps: runs.reduce((sum, r) => sum + r.rps, 0),
    proxyUs: proxy * 1e6 / requests,
    proxySysUs: (cpu1.sys - cpu0.sys) * 1e6 / requests,
    restUs: (busy - proxy) * 1e6 / requests,
    idle: idle / (busy + idle),
  };
}

/** hoard × `count`, each its own process and cache directory. */
async function hoards(count: number): Promise<Run> {
  const running = [];
  try {
    for (let i = 0; i < count; i++) running.push(await start("hoard", { originPort, root }));
    return await hitRate(running, `/1k?cores-${count}`);
  } finally {
    for (const c of running) await c.stop();
  }
}

/** One hoard serving on `count` threads (`--workers count`), one cache directory. */
async function workers(count: number): Promise<Run> {
  const c = await start("hoard-cores", { originPort, root, hoardWorkers: String(count) });
  try {
    return await hitRate([c], `/1k?workers-${count}`);
  } finally {
    await c.stop();
  }
}

async function nginx(): Promise<Run> {
  const c = await start("nginx", { originPort, root, nginxWorkers: "auto" });
  try {
    return await hitRate([c], "/1k?cores-nginx");
  } finally {
    await c.stop();
  }
}

await ensurePackage("wrk", ["wrk"]);
const origin = spawnServer(Deno.execPath(), ["run", "--allow-net", "scripts/bench_origin.ts"], {
  cwd: root,
});
const originPort = Number((await waitForOutput(origin, /origin listening on (\d+)/))[1]);
const kinds = ["one", "workers", "many", "nginx"] as const;
const runs: Record<typeof kinds[number], Run[]> = { one: [], workers: [], many: [], nginx: [] };
const n = processes;
const label = {
  one: "hoard × 1",
  workers: `hoard --workers ${n}`,
  many: `hoard × ${n} processes (ceiling)`,
  nginx: "nginx auto",
};
try {
  for (let round = 1; round <= rounds; round++) {
    runs.one.push(await hoards(1));
    runs.workers.push(await workers(n));
    runs.many.push(await hoards(n));
    runs.nginx.push(await nginx());
    console.log(
      `round ${round}: ${
        kinds.map((k) => `${label[k]} ${runs[k].at(-1)!.rps.toFixed(0)}/s`).join(", ")
      }`,
    );
  }
} finally {
  await stopChild(origin.child);
}
/** The median over the rounds of one figure of a kind's runs. */
const med = (k: typeof kinds[number], f: (r: Run) => number) => median(runs[k].map(f));
const [one, threads, many, ngx] = kinds.map((k) => med(k, (r) => r.rps)) as number[];
console.log(
  `\n1 KiB hits, ${CONNECTIONS} connections, ${navigator.hardwareConcurrency} cores, ` +
    `medians of ${rounds} rounds, load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
);
const cells = [
  ...kinds.map((k) => [label[k], med(k, (r) => r.rps).toFixed(0)]),
  [`--workers ${n} / ×1`, (threads! / one!).toFixed(2)],
  [`--workers ${n} / ceiling`, (threads! / many!).toFixed(2)],
  [`--workers ${n} / nginx (target ≥ 1.2)`, (threads! / ngx!).toFixed(2)],
  [`ceiling / nginx`, (many! / ngx!).toFixed(2)],
];
console.log(`| ${cells.map((c) => c[0]).join(" | ")} |`);
console.log(`|${" ---: |".repeat(cells.length)}`);
console.log(`| ${cells.map((c) => c[1]).join(" | ")} |`);
// Where the CPU went: the proxy's share, the rest (wrk, the kernel's side of
// loopback for it), and what was left idle. With no core idle, the rate is
// cores ÷ (proxy + rest) per request.
console.log(
  `\nCPU per request (µs, all cores): the proxy's processes, everything else, and the machine idle`,
);
console.log("| | proxy | of it in the kernel | everything else | idle |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const k of kinds) {
  console.log(
    `| ${label[k]} | ${med(k, (r) => r.proxyUs).toFixed(1)} | ${
      med(k, (r) => r.proxySysUs).toFixed(1)
    } | ${med(k, (r) => r.restUs).toFixed(1)} | ${(100 * med(k, (r) => r.idle)).toFixed(0)}% |`,
  );
}
