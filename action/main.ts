/**
 * The main step: restore the cache directory, start hoard with a CA made
 * fresh for this job outside that directory, wait for it, and export
 * `hoard env`. It fails open: whatever goes wrong is one warning, nothing is
 * exported, and the job goes on without a proxy.
 *
 * @module
 */

import * as core from "@actions/core";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { cacheBackend } from "./cache_backend.ts";
import { keyPrefix, restorePrefixes, savedPaths } from "./cache_key.ts";
import { hoardCommand } from "./command.ts";
import { runHoardCommand, type RunningHoard, startHoard, stopHoard } from "./hoard_process.ts";
import { interceptFlags, readInputs } from "./inputs.ts";
import { markPostNext, saveMainState } from "./state.ts";

/** Runs the main step; never throws. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let running: RunningHoard | undefined;
  try {
    markPostNext();
    core.setOutput("proxy", "");
    const inputs = readInputs(env);
    if (inputs.mode === "stop") {
      core.notice(
        "hoard: mode: stop is no longer needed and does nothing: the step that starts hoard " +
          "stops it, reports and saves the cache in its post step",
      );
      return;
    }
    const temp = env["RUNNER_TEMP"] || env["TMPDIR"] || "/tmp";
    const os = env["RUNNER_OS"] || process.platform;
    const command = await hoardCommand(inputs.version, env);

    const prefix = keyPrefix(os, inputs.cacheKey);
    const backend = cacheBackend(env);
    let restoredKey: string | undefined;
    try {
      restoredKey = await backend.restore(
        savedPaths(inputs.cacheDir),
        prefix,
        restorePrefixes(os, inputs.cacheKey),
      );
      core.info(
        restoredKey === undefined
          ? `hoard: no cache in ${backend.name} yet for ${prefix}*`
          : `hoard: cache restored from ${backend.name}: ${restoredKey}`,
      );
    } catch (err) {
      core.warning(`hoard: cache not restored, starting empty: ${message(err)}`);
    }

    // A CA for this job only: made by hoard at start, never inside the saved directory.
    const caDir = join(temp, "hoard-ca");
    const summaryJson = join(temp, "hoard-summary.json");
    const logFile = join(temp, "hoard.log");
    await Promise.all(
      [caDir, summaryJson, logFile].map((p) => rm(p, { recursive: true, force: true })),
    );
    const hoardEnv = { ...env };
    // hoard would append its report to this step's summary, long closed when it exits:
    // the post step writes the report instead.
    delete hoardEnv["GITHUB_STEP_SUMMARY"];
    const where = ["--cache-dir", inputs.cacheDir, "--ca-dir", caDir];
    running = await startHoard(command, [
      "--host",
      "127.0.0.1",
      "--port",
      String(inputs.port),
      ...where,
      "--max-size",
      inputs.maxSize,
      "--summary-json",
      summaryJson,
      "--quiet",
      ...interceptFlags(inputs.intercept),
      ...(inputs.offline ? ["--offline"] : []),
    ], { logFile, timeoutMs: inputs.startTimeoutSeconds * 1000, env: hoardEnv });

    const printed = runHoardCommand(command, [
      "env",
      "--format",
      "json",
      "--port",
      String(running.port),
      ...where,
    ], { env: hoardEnv });
    if (!printed.ok) throw new Error(`hoard env failed: ${printed.stderr.trim()}`);
    const vars: Record<string, string> = JSON.parse(printed.stdout);

    saveMainState({
      pid: running.pid,
      command,
      cacheDir: inputs.cacheDir,
      summaryJson,
      logFile,
      ...(restoredKey === undefined ? {} : { restoredKey }),
      keyPrefix: prefix,
      maxSize: inputs.maxSize,
      unusedFor: inputs.unusedFor,
      save: inputs.save,
      previousEnv: Object.fromEntries(Object.keys(vars).map((name) => [name, env[name] ?? null])),
    });
    // Only now, with hoard healthy and every value known, does the job see any of it.
    for (const [name, value] of Object.entries(vars)) core.exportVariable(name, value);
    core.setOutput("proxy", running.url);
    core.setOutput("ca-cert", join(caDir, "ca.pem"));
    core.setOutput("cache-restored", restoredKey ?? "");
    core.info(`hoard: listening on ${running.url}; exported ${Object.keys(vars).join(", ")}`);
  } catch (err) {
    if (running !== undefined) await stopHoard(running.pid, 2000);
    core.warning(`hoard is not used in this job, which goes on without a proxy: ${message(err)}`, {
      title: "hoard did not start",
    });
  }
}

/** An error's message, or the value as text. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
