#!/usr/bin/env -S deno run --allow-all
/**
 * The shared tier on this machine: a cold runner warming 200 MiB of mixed
 * objects (a few large image layers, some wheels and tarballs, many small
 * packages) from the shared tier, from the origin, and from a tarball of a
 * warm cache directory (what the Actions cache does today); then shared-hit
 * throughput and first-byte latency against a local hit.
 *
 * Starts its own Ceph RGW (scripts/ceph.sh), origin and hoards on 127.0.0.1,
 * drives them with curl (4 downloads at once, as a package manager does),
 * and stops everything at the end.
 *
 *   deno run -A scripts/bench_shared.ts [--mib 200] [--origin-latency-ms 0]
 *
 * Everything is on one machine over loopback with 2 cores: the origin is far
 * faster than a registry on the internet, and Ceph shares the cores with
 * hoard and curl. Read the ratios, not the absolute figures.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startProxy } from "../src/proxy.ts";

const root = new URL("..", import.meta.url).pathname;
const MiB = 1024 * 1024, KiB = 1024;

interface Ceph {
  dir: string;
  env: Record<string, string>;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function startCeph(): Promise<Ceph> {
  const text = await run("bash", [`${root}scripts/ceph.sh`, "start"], {
    ...Deno.env.toObject(),
    CEPH_STORE_BYTES: String(1024 * MiB),
  });
  const vars = Object.fromEntries(
    text.trim().split("\n").map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  return {
    dir: vars["CEPH_DIR"]!,
    env: {
      AWS_ENDPOINT_URL: vars["AWS_ENDPOINT_URL"]!,
      AWS_ACCESS_KEY_ID: vars["AWS_ACCESS_KEY_ID"]!,
      AWS_SECRET_ACCESS_KEY: vars["AWS_SECRET_ACCESS_KEY"]!,
      AWS_REGION: "us-east-1",
      AWS_EC2_METADATA_DISABLED: "true",
    },
  };
}

/** The mix: sizes of the objects, about `total` bytes in all. */
function mix(total: number): number[] {
  const sizes: number[] = [];
  let left = total;
  // 40% image layers (16 MiB), 40% wheels and tarballs (1-4 MiB), 20% small packages (8-128 KiB).
  for (let b = 0; b < total * 0.4 && left > 0; b += 16 * MiB) {
    (sizes.push(16 * MiB), left -= 16 * MiB);
  }
  let i = 0;
  for (let b = 0; b < total * 0.4 && left > 0; i++) {
    const s = (1 + (i % 4)) * MiB;
    sizes.push(s);
    b += s;
    left -= s;
  }
  for (i = 0; left > 0; i++) {
    const s = Math.min(left, (8 << (i % 5)) * KiB);
    sizes.push(s);
    left -= s;
  }
  return sizes;
}

function startOrigin(sizes: number[], latencyMs: number) {
  const bodies = sizes.map((s, i) => {
    const b = new Uint8Array(s);
    for (let off = 0; off < s; off += 65536) {
      crypto.getRandomValues(b.subarray(off, Math.min(s, off + 65536)));
    }
    b[0] = i & 0xff;
    return b;
  });
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests++;
    const i = Number(new URL(req.url).pathname.slice(1).split(".")[0]);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    return new Response(bodies[i], {
      headers: { "cache-control": "max-age=86400", etag: `"${i}"` },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

/** Downloads every URL through `proxy`, 4 at once; returns seconds. */
async function fetchAll(proxy: string, urls: string[]): Promise<number> {
  const t = performance.now();
  const args = ["-sS", "--fail", "--parallel", "--parallel-max", "4", "-x", proxy];
  for (const u of urls) args.push(u, "-o", "/dev/null");
  await run("curl", args);
  return (performance.now() - t) / 1000;
}

/** First byte and total seconds of one download. */
async function timed(proxy: string, url: string): Promise<{ first: number; total: number }> {
  const out = await run("curl", [
    "-sS",
    "--fail",
    "-x",
    proxy,
    url,
    "-o",
    "/dev/null",
    "-w",
    "%{time_starttransfer} %{time_total}",
  ]);
  const [first, total] = out.trim().split(" ").map(Number);
  return { first: first!, total: total! };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function dirBytes(dir: string): Promise<number> {
  return Number((await run("du", ["-sb", dir])).split("\t")[0]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { mib: { type: "string" }, "origin-latency-ms": { type: "string" } },
  });
  const total = Number(values.mib ?? 200) * MiB;
  const latency = Number(values["origin-latency-ms"] ?? 0);
  const sizes = mix(total);
  console.log(
    `${sizes.length} objects, ${(sizes.reduce((a, b) => a + b, 0) / MiB).toFixed(0)} MiB; ` +
      `origin on loopback, first-byte latency ${latency} ms`,
  );
  const ceph = await startCeph();
  const origin = startOrigin(sizes, latency);
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await Deno.makeTempDir({ prefix: "hoard-bench-shared-" });
    dirs.push(d);
    return d;
  };
  const sharedEnv = (n: string) => ceph.env[n];
  const rows: [string, string][] = [];
  try {
    const { S3Store } = await import("../src/cache/shared/s3.ts");
    const { parseS3Url } = await import("../src/cache/shared/s3_settings.ts");
    const s3 = await S3Store.open(parseS3Url("s3://bench"), sharedEnv, { firstByteMs: 10_000 });
    await s3.createBucket();
    s3.close();
    const urls = sizes.map((s, i) => `${origin.url}/${i}.bin?size=${s}`);
    const hoard = async (dir: string, shared: boolean) => {
      const p = await startProxy({
        port: 0,
        cacheDir: dir,
        logLevel: "error",
        ...(shared ? { sharedCache: "s3://bench/ci", sharedEnv, sharedUploads: 4 } : {}),
      });
      if (shared) {
        // The S3 client loads in the background: wait until the tier is used.
        for (;;) {
          const m = await (await fetch(`${p.url}/_hoard/metrics`)).text();
          if (/^hoard_shared_up 1$/m.test(m)) break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      return p;
    };
    const mbps = (s: number) => `${(total / MiB / s).toFixed(0)} MiB/s`;

    // The first runner: everything from the origin, uploaded behind it.
    const warm = await tmp();
    let p = await hoard(warm, true);
    const tWarm = await fetchAll(p.url, urls);
    const tClose = performance.now();
    await p.close(); // waits for the uploads
    const sum = p.summary();
    rows.push([
      "first runner: from the origin, uploading behind (s)",
      `${tWarm.toFixed(2)} (${mbps(tWarm)}); uploads done ${
        ((performance.now() - tClose) / 1000).toFixed(2)
      } s after the last client (${sum.shared?.uploads} uploaded, ${sum.shared?.uploadsDropped} dropped)`,
    ]);

    // A cold runner, no shared tier: the origin again.
    p = await hoard(await tmp(), false);
    const before = origin.requests();
    const tOrigin = await fetchAll(p.url, urls);
    await p.close();
    rows.push([
      "cold runner from the origin (s)",
      `${tOrigin.toFixed(2)} (${mbps(tOrigin)}), ${origin.requests() - before} origin requests`,
    ]);

    // A cold runner with the shared tier.
    const cold = await tmp();
    p = await hoard(cold, true);
    const before2 = origin.requests();
    const tShared = await fetchAll(p.url, urls);
    const sharedSum = p.summary();
    rows.push([
      "cold runner from the shared tier (s)",
      `${tShared.toFixed(2)} (${mbps(tShared)}), ${origin.requests() - before2} origin requests, ` +
      `${sharedSum.shared?.hits} shared hits`,
    ]);

    // What the Actions cache does: a tarball of the warm directory, restored on the cold runner.
    const tar = `${await tmp()}/cache.tar`;
    let t = performance.now();
    await run("tar", ["-cf", tar, "-C", warm, "."]);
    const tPack = (performance.now() - t) / 1000;
    const restored = await tmp();
    t = performance.now();
    await run("tar", ["-xf", tar, "-C", restored]);
    const tUnpack = (performance.now() - t) / 1000;
    t = performance.now();
    const q = await hoard(restored, false);
    const tHits = await fetchAll(q.url, urls);
    const tStart = (performance.now() - t) / 1000 - tHits;
    rows.push([
      "cold runner from a tarball of the cache directory (s)",
      `${(tUnpack + tStart + tHits).toFixed(2)}: untar ${tUnpack.toFixed(2)} + start ${
        tStart.toFixed(2)
      } + serve ${tHits.toFixed(2)} (tar ${tPack.toFixed(2)} s, ${
        (await dirBytes(warm) / MiB).toFixed(0)
      } MiB; downloading it from the CI cache not included)`,
    ]);
    await q.close();

    // Throughput and first byte: the 16 MiB layers, a shared hit on a fresh runner vs a local hit.
    const big = urls.filter((_, i) => sizes[i] === 16 * MiB);
    const small = urls.filter((_, i) => sizes[i]! <= 128 * KiB).slice(0, 10);
    await p.close();
    const fresh = await hoard(await tmp(), true);
    const sharedBig = [], sharedSmall = [];
    for (const u of big) sharedBig.push(await timed(fresh.url, u));
    for (const u of small) sharedSmall.push(await timed(fresh.url, u));
    await new Promise((r) => setTimeout(r, 300)); // local commits
    const localBig = [], localSmall = [];
    for (const u of big) localBig.push(await timed(fresh.url, u));
    for (const u of small) localSmall.push(await timed(fresh.url, u));
    await fresh.close();
    const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
    const rate = (xs: { total: number }[]) =>
      `${(16 / median(xs.map((x) => x.total))).toFixed(0)} MiB/s`;
    rows.push(
      [
        "16 MiB shared hit: throughput, first byte (median)",
        `${rate(sharedBig)}, ${ms(median(sharedBig.map((x) => x.first)))}`,
      ],
      [
        "16 MiB local hit: throughput, first byte (median)",
        `${rate(localBig)}, ${ms(median(localBig.map((x) => x.first)))}`,
      ],
      [
        "small (8-128 KiB) shared hit: first byte (median)",
        ms(median(sharedSmall.map((x) => x.first))),
      ],
      [
        "small (8-128 KiB) local hit: first byte (median)",
        ms(median(localSmall.map((x) => x.first))),
      ],
    );
  } finally {
    await origin.close();
    await run("bash", [`${root}scripts/ceph.sh`, "stop", ceph.dir]).catch((e) => console.error(e));
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

if (import.meta.main) await main();
