#!/usr/bin/env -S deno run --allow-all
/**
 * TLS interception figures, in one run on loopback: leaf certificate
 * generation time; the TLS handshake time a client sees through an
 * intercepted tunnel vs a plain one (curl's time_appconnect, medians of fresh
 * connections); and 100 MiB cache-hit throughput over interception vs over
 * plain HTTP.
 *
 * Usage: deno run -A scripts/bench_intercept.ts [--runs N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadOrCreateCa } from "../src/tls/ca.ts";
import { LeafCertificates } from "../src/tls/leaf.ts";
import { makeCert } from "../tests/_helpers/tls.ts";

const MiB = 1024 * 1024;
const decoder = new TextDecoder();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function curl(args: string[]): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`curl ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "21" } },
  });
  const runs = Number(values.runs);
  const dir = await Deno.makeTempDir({ prefix: "hoard-bench-tls-" });
  try {
    // 1. Leaf generation.
    const ca = await loadOrCreateCa({ dir: `${dir}/ca` });
    const leaves = await LeafCertificates.create(ca);
    await leaves.forHost("warm.example");
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await leaves.forHost(`host${i}.example`);
    const leafMs = (performance.now() - t0) / 200;

    // Origins: https (its own certificate) and plain http, same 100 MiB body.
    const cert = await makeCert();
    const certFile = `${dir}/origin.pem`;
    await Deno.writeTextFile(certFile, cert.cert);
    const block = new Uint8Array(MiB).fill(0x61);
    const handler = (req: Request) => {
      const size = new URL(req.url).pathname === "/big" ? 100 * MiB : 1024;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          const n = Math.min(block.length, size - sent);
          if (n === 0) return c.close();
          c.enqueue(block.subarray(0, n));
          sent += n;
        },
      });
      return new Response(body, {
        headers: { "content-length": String(size), "cache-control": "max-age=3600" },
      });
    };
    const tlsOrigin = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: cert.cert,
      key: cert.key,
      onListen() {},
    }, handler);
    const plainOrigin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);

    // hoard intercepts "localhost" only: https://127.0.0.1 stays a plain tunnel to the same origin.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "mod.ts",
        "--port",
        "0",
        "--log-level",
        "warn",
        "--cache-dir",
        `${dir}/cache`,
        "--ca-dir",
        `${dir}/ca`,
        "--intercept=localhost",
        "--connect-ports",
        String(tlsOrigin.addr.port),
        "--upstream-ca",
        certFile,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      stderr: "piped",
    }).spawn();
    let text = "";
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk);
      if (/listening on/.test(text)) break;
    }
    const proxy = /listening on (\S+)/.exec(text)![1]!;
    const caFile = `${dir}/ca/ca.pem`;
    try {
      const port = tlsOrigin.addr.port;
      const appconnect = async (url: string, cacert: string) =>
        Number(
          await curl([
            "-x",
            proxy,
            "--cacert",
            cacert,
            "-o",
            "/dev/null",
            "-w",
            "%{time_appconnect}",
            url,
          ]),
        ) * 1000;
      await appconnect(`https://localhost:${port}/small`, caFile); // leaf made, entry stored
      const plain: number[] = [], intercepted: number[] = [];
      for (let i = 0; i < runs; i++) {
        plain.push(await appconnect(`https://127.0.0.1:${port}/small`, certFile));
        intercepted.push(await appconnect(`https://localhost:${port}/small`, caFile));
      }

      const speed = async (args: string[]) =>
        Number(await curl(["-x", proxy, "-o", "/dev/null", "-w", "%{speed_download}", ...args])) /
        MiB;
      const httpsBig = ["--cacert", caFile, `https://localhost:${port}/big`];
      const httpBig = [`http://127.0.0.1:${plainOrigin.addr.port}/big`];
      await speed(httpsBig);
      await speed(httpBig); // both stored now
      const hitHttps: number[] = [], hitHttp: number[] = [];
      for (let i = 0; i < 5; i++) {
        hitHttps.push(await speed(httpsBig));
        hitHttp.push(await speed(httpBig));
      }

      console.log(`\nTLS interception, loopback, ${navigator.hardwareConcurrency} cores\n`);
      console.log("| figure | value |\n|---|---:|");
      console.log(`| leaf certificate generation (mean of 200 hosts) | ${leafMs.toFixed(2)} ms |`);
      console.log(
        `| TLS handshake seen by curl, plain tunnel (median of ${runs}) | ${
          median(plain).toFixed(2)
        } ms |`,
      );
      console.log(
        `| TLS handshake seen by curl, intercepted (median of ${runs}) | ${
          median(intercepted).toFixed(2)
        } ms |`,
      );
      console.log(
        `| extra handshake latency of interception | ${
          (median(intercepted) - median(plain)).toFixed(2)
        } ms |`,
      );
      console.log(
        `| 100 MiB cache hit over interception (median of 5) | ${
          median(hitHttps).toFixed(0)
        } MiB/s |`,
      );
      console.log(
        `| 100 MiB cache hit over plain HTTP (median of 5) | ${median(hitHttp).toFixed(0)} MiB/s |`,
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await tlsOrigin.shutdown();
      await plainOrigin.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
