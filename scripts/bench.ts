#!/usr/bin/env -S deno run --allow-all
/**
 * Benchmark of hoard against direct access to the origin, in one run, on
 * loopback: 1 KiB requests/s and latency at 64 keep-alive connections (wrk)
 * for pass-through and cache hits; 100 MiB throughput (curl) for pass, miss
 * and hit; 100 concurrent misses of one object (origin requests, time); peak
 * RSS while streaming 1 GiB.
 *
 * Installs wrk and curl with apt-get when missing. Never part of CI pass/fail.
 *
 * Usage: deno task bench [--seconds N]
 *
 * @module
 */

import { parseArgs } from "node:util";

const MiB = 1024 * 1024;
const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Installs Debian packages providing `commands` that are not on PATH. */
async function ensureTools(commands: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(commands)) {
    const r = await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .output();
    if (r.code !== 0) missing.push(pkg);
  }
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} with apt-get`);
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...missing]]) {
    const r = await new Deno.Command("apt-get", { args, stdout: "null", stderr: "inherit" })
      .output();
    if (r.code !== 0) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
}

/** Starts a Deno script and waits for a line matching `ready`; returns the child and the match. */
async function spawnDeno(
  args: string[],
  ready: RegExp,
): Promise<{ child: Deno.ChildProcess; match: RegExpExecArray }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    cwd: root,
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk);
      const m = ready.exec(text);
      if (m) return m;
    }
    throw new Error(`exited before ready:\n${text}`);
  };
  const match = await Promise.any([pump(child.stdout), pump(child.stderr)]);
  return { child, match };
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

/** wrk at 64 connections; `absoluteUrl` makes it send absolute-form requests to a proxy. */
async function wrk(target: string, seconds: number, absoluteUrl?: string): Promise<WrkResult> {
  const args = ["-t2", "-c64", `-d${seconds}s`, "--latency"];
  if (absoluteUrl !== undefined) {
    const script = await Deno.makeTempFile({ suffix: ".lua" });
    const host = new URL(absoluteUrl).host;
    await Deno.writeTextFile(
      script,
      `wrk.path = "${absoluteUrl}"\nwrk.headers["Host"] = "${host}"\n`,
    );
    args.push("-s", script);
  }
  const out = await run("wrk", [...args, target]);
  const unit = (v: string, u: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    return m ? unit(m[1]!, m[2]!) : NaN;
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50ms: lat("50"),
    p99ms: lat("99"),
    errors: (errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0) +
      Number(non2xx?.[1] ?? 0),
  };
}

/** Median MiB/s of `runs` curl downloads of `url` (through `proxy` when given). */
async function download(url: string, runs: number, proxy?: string): Promise<number> {
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const args = [
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{speed_download}",
      ...(proxy ? ["-x", proxy] : []),
      url,
    ];
    speeds.push(Number(await run("curl", args)) / MiB);
  }
  speeds.sort((a, b) => a - b);
  return speeds[Math.floor(speeds.length / 2)]!;
}

async function rssKiB(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { seconds: { type: "string", default: "5" } },
  });
  const seconds = Number(values.seconds);
  await ensureTools({ wrk: "wrk", curl: "curl" });

  const cacheDir = await Deno.makeTempDir({ prefix: "hoard-bench-" });
  const origin = await spawnDeno(
    ["run", "--allow-net", "scripts/bench_origin.ts"],
    /origin listening on (\d+)/,
  );
  const hoard = await spawnDeno(
    [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "mod.ts",
      "--port",
      "0",
      "--log-level",
      "warn",
      "--cache-dir",
      cacheDir,
    ],
    /listening on (http:\/\/\S+)/,
  );
  const originUrl = `http://127.0.0.1:${origin.match[1]}`;
  const proxyUrl = hoard.match[1]!;
  const originCount = async () => Number(await run("curl", ["-sS", `${originUrl}/count`]));
  try {
    // Memory first, on a fresh process: later load grows the heap by itself.
    await download(originUrl + "/1m?nostore", 1, proxyUrl);
    const rssBefore = await rssKiB(hoard.child.pid, "VmHWM");
    const speed1g = await download(originUrl + "/1g?nostore", 1, proxyUrl);
    const rssAfter = await rssKiB(hoard.child.pid, "VmHWM");

    // Warm every path (JIT, pools, the stored 1 KiB object) before measuring.
    await wrk(originUrl + "/1k", 1);
    await wrk(proxyUrl, 1, originUrl + "/1k?nostore");
    await wrk(proxyUrl, 1, originUrl + "/1k");

    const direct1k = await wrk(originUrl + "/1k", seconds);
    const pass1k = await wrk(proxyUrl, seconds, originUrl + "/1k?nostore");
    const hit1k = await wrk(proxyUrl, seconds, originUrl + "/1k");
    const direct100m = await download(originUrl + "/100m", 5);
    const pass100m = await download(originUrl + "/100m?nostore", 5, proxyUrl);
    const missSpeeds: number[] = [];
    for (let i = 0; i < 3; i++) {
      missSpeeds.push(await download(`${originUrl}/100m?miss=${i}`, 1, proxyUrl));
    }
    const miss100m = missSpeeds.sort((a, b) => a - b)[1]!;
    const hit100m = await download(originUrl + "/100m?miss=0", 5, proxyUrl);

    // 100 concurrent requests for one uncached 10 MiB object.
    const before = await originCount();
    const started = performance.now();
    const urls = Array.from({ length: 100 }, () => `${originUrl}/10m?collapse`);
    await run("curl", [
      "-sS",
      "-Z",
      "--parallel-max",
      "100",
      "-x",
      proxyUrl,
      ...urls.flatMap((u) => ["-o", "/dev/null", u]),
    ]);
    const collapseMs = performance.now() - started;
    const collapseRequests = (await originCount()) - before;
    const rssUnderLoad = await rssKiB(hoard.child.pid, "VmHWM");

    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const rows: [string, string, string, string][] = [
      [
        "1 KiB, 64 conns: requests/s, pass (no-store)",
        direct1k.rps.toFixed(0),
        pass1k.rps.toFixed(0),
        ratio(pass1k.rps, direct1k.rps),
      ],
      [
        "1 KiB, 64 conns: requests/s, cache hit",
        direct1k.rps.toFixed(0),
        hit1k.rps.toFixed(0),
        ratio(hit1k.rps, direct1k.rps),
      ],
      [
        "1 KiB: p50 latency (ms), pass",
        direct1k.p50ms.toFixed(3),
        pass1k.p50ms.toFixed(3),
        ratio(pass1k.p50ms, direct1k.p50ms),
      ],
      [
        "1 KiB: p50 latency (ms), hit",
        direct1k.p50ms.toFixed(3),
        hit1k.p50ms.toFixed(3),
        ratio(hit1k.p50ms, direct1k.p50ms),
      ],
      [
        "1 KiB: p99 latency (ms), hit",
        direct1k.p99ms.toFixed(3),
        hit1k.p99ms.toFixed(3),
        ratio(hit1k.p99ms, direct1k.p99ms),
      ],
      [
        "100 MiB: MiB/s, pass (no-store)",
        direct100m.toFixed(0),
        pass100m.toFixed(0),
        ratio(pass100m, direct100m),
      ],
      [
        "100 MiB: MiB/s, miss (stored)",
        direct100m.toFixed(0),
        miss100m.toFixed(0),
        ratio(miss100m, direct100m),
      ],
      [
        "100 MiB: MiB/s, cache hit",
        direct100m.toFixed(0),
        hit100m.toFixed(0),
        ratio(hit100m, direct100m),
      ],
    ];
    console.log(
      `\nhoard vs direct to the origin, loopback, ${Deno.build.target}, ${navigator.hardwareConcurrency} cores\n`,
    );
    console.log("| figure | direct | through hoard | ratio |\n|---|---:|---:|---:|");
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
    console.log(
      `\n100 concurrent misses of one 10 MiB object: ${collapseRequests} origin request(s), ${
        collapseMs.toFixed(0)
      } ms in all`,
    );
    console.log(
      `1 GiB through hoard (no-store): ${speed1g.toFixed(0)} MiB/s; peak RSS ${
        (rssBefore / 1024).toFixed(1)
      } -> ${(rssAfter / 1024).toFixed(1)} MiB (+${
        ((rssAfter - rssBefore) / 1024).toFixed(1)
      } MiB); peak after all runs ${(rssUnderLoad / 1024).toFixed(1)} MiB`,
    );
    const errors = direct1k.errors + pass1k.errors + hit1k.errors;
    if (errors > 0) console.log(`wrk errors: ${errors}`);
  } finally {
    for (const p of [hoard.child, origin.child]) {
      p.kill("SIGTERM");
      await p.status;
    }
    await Deno.remove(cacheDir, { recursive: true });
  }
}

if (import.meta.main) await main();
