/**
 * The command line: parses it (parse.ts), runs one command (one file each
 * under src/cli/) and exits with its code. Only src/cli/ exits the process.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import { VERSION } from "../version.ts";
import { ConfigError, loadConfig } from "../config.ts";
import { defaultCacheDir, readEnv } from "../options.ts";
import { parseS3Url } from "../cache/shared/s3_settings.ts";
import { type Command, parseCommandLine } from "./parse.ts";
import { USAGE, UsageError } from "./usage.ts";
import { print } from "./print.ts";
import { printCa } from "./ca.ts";
import { printEnv } from "./env.ts";
import { stats } from "./stats.ts";
import { sharedCommand } from "./shared.ts";
import { prune } from "./prune.ts";
import { serve } from "./serve.ts";

/**
 * Runs hoard with `args` and returns the exit code: 0 after a clean shutdown,
 * 1 when the proxy cannot start, 2 for a usage error.
 */
export async function run(args: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    print(`hoard: ${err.message}\n\n${USAGE}`, "stderr");
    return 2;
  }
  if (command.kind === "help") {
    print(USAGE);
    return 0;
  }
  if (command.kind === "version") {
    print(`hoard ${VERSION}`);
    return 0;
  }
  if (command.kind === "stats") return await stats(command.cacheDir ?? defaultCacheDir());
  if (command.kind === "stats-shared" || command.kind === "prune-shared") {
    const url = command.url ?? readEnv("HOARD_SHARED_CACHE");
    if (url === undefined || url === "") {
      print(
        "hoard: --shared needs --shared-cache s3://BUCKET[/PREFIX] or $HOARD_SHARED_CACHE",
        "stderr",
      );
      return 2;
    }
    return await sharedCommand(command, url);
  }
  if (command.kind === "ca") return await printCa(command.ca, command.pem);
  if (command.kind === "env") return await printEnv(command);
  if (command.kind === "prune") {
    return await prune(command.cacheDir ?? defaultCacheDir(), command);
  }
  if (command.configFile !== undefined) {
    try {
      const config = await loadConfig(command.configFile);
      command.options.rules = config.rules;
      command.options.presets = config.presets;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      print(`hoard: ${err.message}`, "stderr");
      return 2;
    }
  }
  if (command.options.sharedCache === undefined) {
    const url = readEnv("HOARD_SHARED_CACHE");
    if (url) {
      try {
        parseS3Url(url);
      } catch (err) {
        print(`hoard: HOARD_SHARED_CACHE: ${errorLine(err)}`, "stderr");
        return 2;
      }
      command.options.sharedCache = url;
    }
  }
  const stepSummary = readEnv("GITHUB_STEP_SUMMARY");
  if (stepSummary) command.options.stepSummary = stepSummary;
  return await serve(command.options, command.upstreamCaFiles);
}

/** Entry point: runs the command line and exits with its code. */
export async function main(): Promise<never> {
  Deno.exit(await run(Deno.args));
}
