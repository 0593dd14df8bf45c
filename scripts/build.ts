#!/usr/bin/env -S deno run --allow-run --allow-read --allow-write --allow-env
/**
 * Builds what users download: `dist/hoard.js` (`deno bundle`, works offline)
 * and `dist/hoard` (`deno compile`, one executable; `--target` for others);
 * and the GitHub Action's one committed file, `action/dist/index.mjs`
 * (`deno bundle` of `action/index.ts` with the Actions toolkit, run by node).
 *
 * `deno compile` takes a small runtime (denort) from the internet. Where that
 * cannot be reached, point `DENORT_BIN` at a denort binary for the target;
 * without it the build says so and stops with exit code 1.
 *
 * Usage:
 *   deno task bundle
 *   deno task action:build
 *   deno task compile [--target x86_64-unknown-linux-gnu|aarch64-unknown-linux-gnu|
 *                      x86_64-apple-darwin|aarch64-apple-darwin|x86_64-pc-windows-msvc]
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The permissions hoard needs, and no more: network, its environment, its cache directory. */
export const PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
];

/** Deno's unstable APIs the binary uses: `reusePort`, for `--workers`. */
export const UNSTABLE: readonly string[] = ["--unstable-net"];

/** Targets `deno compile` builds release binaries for. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const root = new URL("..", import.meta.url).pathname;

async function deno(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  await Deno.stderr.write(out.stderr);
  return { code: out.code, stderr };
}

/** `deno bundle` to dist/hoard.js. */
export async function bundle(): Promise<number> {
  await Deno.mkdir(`${root}dist`, { recursive: true });
  const r = await deno(["bundle", "--platform", "deno", "-o", "dist/hoard.js", "mod.ts"]);
  return r.code;
}

/** Where the action's bundle is committed. */
export const ACTION_BUNDLE = "action/dist/index.mjs";

/**
 * Bundles the GitHub Action to `out` (absolute, or relative to the repository root): the
 * same bytes on every machine, so a test can tell a stale committed bundle.
 * The bundler names each module by its file, with the path of the machine's
 * npm cache in it: those names become `npm:name@version/file`.
 */
export async function bundleAction(out: string = ACTION_BUNDLE): Promise<number> {
  const r = await deno(["bundle", "--platform", "deno", "--quiet", "-o", out, "action/index.ts"]);
  if (r.code !== 0) return r.code;
  const path = out.startsWith("/") ? out : `${root}${out}`;
  // Anchored at a comment or a quote and at "../": a scan from every position of
  // a long line (the base64 of a wasm module) took 20 s.
  const text = (await Deno.readTextFile(path)).replace(
    /(^\/\/ |")(?:\.\.\/)+[^\s"']*?\/npm\/[^/\s"']+\/((?:@[^/\s"']+\/)?[^/@\s"']+)\/([^/\s"']+)\/([^\s"']*)/gm,
    "$1npm:$2@$3/$4",
  );
  await Deno.writeTextFile(path, text);
  return 0;
}

/** `deno compile` to dist/hoard (or dist/hoard-TARGET). */
export async function compile(target?: string): Promise<number> {
  if (target !== undefined && !TARGETS.includes(target)) {
    console.error(`build: unknown --target ${target}; one of ${TARGETS.join(", ")}`);
    return 2;
  }
  await Deno.mkdir(`${root}dist`, { recursive: true });
  const output = target === undefined
    ? "dist/hoard"
    : `dist/hoard-${target}${target.includes("windows") ? ".exe" : ""}`;
  const args = ["compile", ...PERMISSIONS, ...UNSTABLE, "--no-check", "-o", output];
  if (target !== undefined) args.push("--target", target);
  const r = await deno([...args, "mod.ts"]);
  if (
    r.code !== 0 && !Deno.env.get("DENORT_BIN") &&
    /dns error|download|fetch|connect|lookup/i.test(r.stderr)
  ) {
    console.error(
      "\nbuild: deno compile needs its runtime (denort) from the internet, which cannot be reached here.\n" +
        "build: set DENORT_BIN to a denort binary for the target (from a Deno release archive), or use\n" +
        "build: `deno task bundle` and run dist/hoard.js with `deno run` instead.",
    );
  }
  return r.code === 0 ? 0 : 1;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { target: { type: "string" } },
  });
  const what = positionals[0];
  if (what === "bundle") Deno.exit(await bundle());
  if (what === "action") Deno.exit(await bundleAction());
  if (what === "compile") Deno.exit(await compile(values.target));
  console.error("usage: deno run -A scripts/build.ts bundle | action | compile [--target TARGET]");
  Deno.exit(2);
}
