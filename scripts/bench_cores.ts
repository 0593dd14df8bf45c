/**
 * The ceiling of serving on every core (issue 18): 1 KiB hits per second
 * from one hoard process, from N independent hoard processes (each its own
 * cache directory, wrk's connections split between them, rates summed), and
 * from nginx with `worker_processes auto`, in turn in the same run.
 *
 * N independent processes are an upper bound for any every-core design: a
 * real one also shares one index, one size account and one fill registry
 * across the processes, which only costs. The figures say whether that
 * design can reach the target (1 KiB hits ≥ 1.2× nginx) on this machine.
 *
 * Usage: deno run -A scripts/bench_cores.ts [--processes N] [--seconds N] [--rounds N]
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
const figures: { one: number[]; many: number[]; nginx: number[] } = {
  one: [],
  many: [],
  nginx: [],
};
try {
  for (let round = 1; round <= rounds; round++) {
    figures.one.push(await hoards(1, originPort));
    figures.many.push(await hoards(processes, originPort));
    figures.nginx.push(await nginx(originPort));
    console.log(
      `round ${round}: hoard×1 ${figures.one.at(-1)!.toFixed(0)}/s, hoard×${processes} ${
        figures.many.at(-1)!.toFixed(0)
      }/s, nginx auto ${figures.nginx.at(-1)!.toFixed(0)}/s`,
    );
  }
} finally {
  await stopChild(origin.child);
}
const [one, many, ngx] = [median(figures.one), median(figures.many), median(figures.nginx)];
console.log(
  `\n1 KiB hits, ${CONNECTIONS} connections, ${navigator.hardwareConcurrency} cores, ` +
    `medians of ${rounds} rounds, load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
);
console.log(
  `| hoard × 1 | hoard × ${processes} (ceiling) | nginx auto | ×${processes} / ×1 | ×${processes} / nginx |`,
);
console.log("| ---: | ---: | ---: | ---: | ---: |");
console.log(
  `| ${one.toFixed(0)} | ${many.toFixed(0)} | ${ngx.toFixed(0)} | ${(many / one).toFixed(2)} | ${
    (many / ngx).toFixed(2)
  } |`,
);
