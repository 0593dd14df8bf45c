/**
 * The post step: stop hoard (it writes its report and releases the cache
 * directory), show its log, and save the directory — only when this run
 * stored or removed entries, pruned first, under a key made of its content
 * so that the same entries are never uploaded twice. Like the main step it
 * warns instead of failing the job.
 *
 * @module
 */

import * as core from "@actions/core";
import { cacheBackend } from "./cache_backend.ts";
import { contentDigest, savedPaths } from "./cache_key.ts";
import { logTail, runHoardCommand, stopHoard } from "./hoard_process.ts";
import { message } from "./main.ts";
import { type MainState, readMainState } from "./state.ts";
import { readSummary, writeJobSummary } from "./summary.ts";
import type { Summary } from "../src/observe/report.ts";

/** Time hoard has to finish requests in flight and write its report (its grace is 10 s). */
const STOP_TIMEOUT_MS = 20_000;

/** Runs the post step; never throws. */
export async function post(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const state = readMainState();
  if (state === undefined) {
    core.info("hoard: not started in this job: nothing to stop or save");
    return;
  }
  try {
    const stopped = await stopHoard(state.pid, STOP_TIMEOUT_MS);
    if (!stopped) core.warning(`hoard did not stop within ${STOP_TIMEOUT_MS / 1000} s: killed`);
    restoreEnv(state.previousEnv, env);
    core.startGroup("hoard log");
    core.info(logTail(state.logFile, 200));
    core.endGroup();
    const summary = stopped ? await readSummary(state.summaryJson) : undefined;
    const outcome = await save(state, summary, env);
    core.info(`hoard: cache ${outcome}`);
    if (summary !== undefined) await writeJobSummary(summary, `Cache: ${outcome}.`);
  } catch (err) {
    core.warning(`hoard: ${message(err)}`);
  }
}

/**
 * Puts back what the variables exported for hoard were, for this process (the
 * cache upload must not go through the stopped proxy) and for the post steps
 * after this one (an unset variable comes back empty, which clients read as
 * unset).
 */
function restoreEnv(previous: Record<string, string | null>, env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(previous)) {
    core.exportVariable(name, value ?? "");
    if (value === null) delete env[name];
    else env[name] = value;
  }
}

/** Saves the cache directory when it is worth it; says what happened, for the log and summary. */
async function save(state: MainState, summary: Summary | undefined, env: NodeJS.ProcessEnv) {
  const restored = state.restoredKey === undefined
    ? "nothing restored"
    : `restored from \`${state.restoredKey}\``;
  if (!state.save) return `${restored}; not saved (save: false)`;
  if (summary === undefined) return `${restored}; not saved: hoard left no report`;
  if (!summary.cacheChanged) {
    return `${restored}; not saved: this run stored and removed nothing`;
  }
  const pruned = runHoardCommand(state.command, [
    "prune",
    "--cache-dir",
    state.cacheDir,
    "--max-size",
    state.maxSize,
    ...(state.unusedFor === "" ? [] : ["--unused-for", state.unusedFor]),
  ]);
  if (pruned.ok) core.info(`hoard: ${pruned.stdout.trim()}`);
  else core.warning(`hoard prune failed, saving without it: ${pruned.stderr.trim()}`);

  const key = state.keyPrefix + await contentDigest(state.cacheDir);
  if (key === state.restoredKey) return `${restored}; not saved: the same entries`;
  const paths = savedPaths(state.cacheDir);
  const backend = cacheBackend(env);
  try {
    if (await backend.has(paths, key)) {
      return `${restored}; not saved: \`${key}\` already holds the same entries`;
    }
    await backend.save(paths, key);
  } catch (err) {
    core.warning(`hoard: cache not saved: ${message(err)}`);
    return `${restored}; not saved: ${message(err)}`;
  }
  return `${restored}; saved as \`${key}\` in ${backend.name}`;
}
