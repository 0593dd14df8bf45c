#!/usr/bin/env -S deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run=tar
/**
 * The local npm registry of `scripts/demo.sh`: a generated package tree
 * (`demo-top` → libraries → utilities) served over HTTPS on 127.0.0.1 by the
 * test helper tests/_helpers/npm_registry.ts, until SIGINT or SIGTERM.
 *
 * In `--dir DIR` it writes `cert.pem` (the certificate to trust), `stats.json`
 * (requests and body bytes served so far, rewritten after each request) and,
 * once listening, `ready.json` (`{ port, url, packages }`).
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run=tar \
 *   scripts/demo_registry.ts --dir /tmp/registry [--libs 8] [--utils 24] [--padding 65536] [--latency 40]
 * ```
 *
 * @module
 */

import { type PackageSpec, startNpmRegistry } from "../tests/_helpers/npm_registry.ts";

/** Options of {@linkcode demoPackages}. */
export interface DemoTree {
  /** Libraries `demo-top` depends on. @default {8} */
  libs: number;
  /** Utilities; each library depends on three of them. @default {24} */
  utils: number;
  /** Incompressible bytes in each tarball. @default {65536} */
  padding: number;
}

/** The demo's packages: `demo-top` → `demo-lib-*` → `demo-util-*`. */
export function demoPackages({ libs, utils, padding }: DemoTree): PackageSpec[] {
  const specs: PackageSpec[] = [];
  for (let u = 0; u < utils; u++) specs.push({ name: `demo-util-${u}`, version: "1.0.0", padding });
  const libNames: string[] = [];
  for (let l = 0; l < libs; l++) {
    const deps = [0, 1, 2].map((k) => `demo-util-${(l * 3 + k) % utils}`);
    libNames.push(`demo-lib-${l}`);
    specs.push({
      name: `demo-lib-${l}`,
      version: "2.1.0",
      dependencies: Object.fromEntries(deps.map((d) => [d, "^1.0.0"])),
      main: deps.map((d) => `require(${JSON.stringify(d)});\n`).join("") +
        `module.exports = ${JSON.stringify(`demo-lib-${l}`)};\n`,
      padding,
    });
  }
  specs.push({
    name: "demo-top",
    version: "1.0.0",
    dependencies: Object.fromEntries(libNames.map((n) => [n, "^2.0.0"])),
    main: `module.exports = ${JSON.stringify(libNames)}.map((n) => require(n));\n`,
    padding,
  });
  return specs;
}

function flag(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(`--${name}`);
  const value = i === -1 ? fallback : args[i + 1];
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

async function main(args: string[]): Promise<void> {
  const dir = flag(args, "dir");
  const tree: DemoTree = {
    libs: Number(flag(args, "libs", "8")),
    utils: Number(flag(args, "utils", "24")),
    padding: Number(flag(args, "padding", "65536")),
  };
  await Deno.mkdir(dir, { recursive: true });
  const stats = { requests: 0, bytes: 0 };
  const writeStats = () => Deno.writeTextFileSync(`${dir}/stats.json`, JSON.stringify(stats));
  writeStats();
  const registry = await startNpmRegistry(demoPackages(tree), {
    latencyMs: Number(flag(args, "latency", "40")),
    onServe(served) {
      stats.requests++;
      stats.bytes += served.bytes;
      writeStats();
    },
  });
  await Deno.writeTextFile(`${dir}/cert.pem`, registry.cert.cert);
  await Deno.writeTextFile(
    `${dir}/ready.json`,
    JSON.stringify({ port: registry.port, url: registry.url, packages: registry.packages.length }),
  );
  // Until told to stop; then close, so the parent's `wait` sees a clean exit.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  for (const s of signals) Deno.addSignalListener(s, stop);
  await stopped;
  for (const s of signals) Deno.removeSignalListener(s, stop);
  await registry.close();
}

if (import.meta.main) await main(Deno.args);
