/**
 * The action's inputs (`with:` in a workflow, `INPUT_*` in the environment),
 * read once and checked, with the defaults of `action.yml` repeated here for
 * runs that do not go through it (tests, other runners).
 *
 * @module
 */

import * as core from "@actions/core";
import { join } from "node:path";

/** What the step was asked to do. */
export interface ActionInputs {
  /**
   * Release tag to download (`v0.1.0`), checked against the release's
   * `SHA256SUMS`; empty runs hoard from the action's own checkout with `deno run`.
   * @default {""}
   */
  version: string;
  /** Cache directory kept in the CI cache. @default {`$RUNNER_TEMP/hoard`} */
  cacheDir: string;
  /** Part of the cache key that separates caches, e.g. lockfile hashes. @default {""} */
  cacheKey: string;
  /** `true` (every host), `false`, or a comma list of hosts to decrypt and cache. @default {"true"} */
  intercept: string;
  /** Size cap of the cache, as hoard's `--max-size` takes it; pruned to before a save. @default {"5G"} */
  maxSize: string;
  /** Entries no run used for this long (hoard's duration: `30d`) are dropped before a save; empty keeps them. @default {"30d"} */
  unusedFor: string;
  /** Never contact an origin. @default {false} */
  offline: boolean;
  /** Port hoard listens on (127.0.0.1); 0 picks a free one. @default {8080} */
  port: number;
  /** Save the cache directory at the end of the job when this run changed it. @default {true} */
  save: boolean;
  /** Seconds hoard has to answer its health check before the job goes on without it. @default {10} */
  startTimeoutSeconds: number;
  /** `stop` is what the two-step composite action used: now a no-op. @default {"start"} */
  mode: "start" | "stop";
}

/**
 * Reads and checks the inputs.
 *
 * @throws {Error} naming the input, for a value that cannot be used.
 */
export function readInputs(env: NodeJS.ProcessEnv = process.env): ActionInputs {
  const input = (name: string, fallback: string) => core.getInput(name).trim() || fallback;
  const temp = env["RUNNER_TEMP"] || env["TMPDIR"] || "/tmp";
  const mode = input("mode", "start");
  if (mode !== "start" && mode !== "stop") {
    throw new Error(`input mode: expected start or stop, got ${JSON.stringify(mode)}`);
  }
  return {
    version: input("version", ""),
    cacheDir: input("cache-dir", join(temp, "hoard")),
    cacheKey: input("cache-key", ""),
    intercept: input("intercept", "true"),
    maxSize: input("max-size", "5G"),
    // 0 would drop every entry this run did not use: it means "keep them", like "".
    unusedFor: /^0+(\.0*)?[smhd]?$/i.test(input("unused-for", "30d"))
      ? ""
      : input("unused-for", "30d"),
    offline: flag("offline", input("offline", "false")),
    port: integer("port", input("port", "8080"), 0, 65535),
    save: flag("save", input("save", "true")),
    startTimeoutSeconds: integer("start-timeout", input("start-timeout", "10"), 1, 600),
    mode,
  };
}

function flag(name: string, text: string): boolean {
  if (/^(true|yes|1)$/i.test(text)) return true;
  if (/^(false|no|0)$/i.test(text)) return false;
  throw new Error(`input ${name}: expected true or false, got ${JSON.stringify(text)}`);
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) {
    throw new Error(
      `input ${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** hoard's flags for `intercept`: none, every host, or the hosts listed. */
export function interceptFlags(intercept: string): string[] {
  if (/^(false|no|0)?$/i.test(intercept)) return [];
  if (/^(true|yes|1)$/i.test(intercept)) return ["--intercept"];
  return [`--intercept=${intercept}`];
}
