/**
 * How hoard is run: a checked release binary when a version is asked for,
 * else `deno run` on the action's own checkout (Deno installed with npm when
 * the runner has none).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HoardCommand } from "./hoard_process.ts";
import { releaseBinary } from "./release.ts";

/** Deno installed when the runner has none (the version the project is built and tested with). */
export const DENO_VERSION = "2.9.6";

/** What hoard needs, and no more (the same as scripts/build.ts bakes into the binary). */
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

/**
 * The command that runs hoard for this job.
 *
 * @throws {Error} when the release cannot be had or Deno cannot be installed.
 */
export async function hoardCommand(
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HoardCommand> {
  if (version !== "") return [await releaseBinary(version, env)];
  const deno = denoPath();
  const mod = join(checkoutRoot(), "mod.ts");
  // hoard's npm dependencies are fetched now, so the start-up timeout measures hoard alone.
  const cached = spawnSync(deno, ["cache", mod], { encoding: "utf8", env, timeout: 300_000 });
  if (cached.status !== 0) {
    throw new Error(`deno cache failed: ${cached.error?.message ?? cached.stderr}`);
  }
  return [deno, "run", ...PERMISSIONS, mod];
}

/**
 * The root of the action's checkout: the nearest directory above this code
 * that holds `action.yml` and `mod.ts` (the code is `action/*.ts` or the
 * bundle in `action/dist/`).
 */
export function checkoutRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, "action.yml")) && existsSync(join(dir, "mod.ts"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the action's checkout (action.yml and mod.ts)");
    dir = up;
  }
}

function denoPath(): string {
  const shell = process.platform === "win32";
  if (spawnSync("deno", ["--version"], { stdio: "ignore", shell }).status === 0) return "deno";
  const npm = spawnSync("npm", ["install", "-g", `deno@${DENO_VERSION}`], {
    encoding: "utf8",
    shell,
    timeout: 300_000,
  });
  if (npm.status !== 0) {
    throw new Error(`no deno, and npm could not install it: ${npm.error?.message ?? npm.stderr}`);
  }
  return "deno";
}
