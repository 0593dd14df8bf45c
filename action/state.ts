/**
 * What the main step tells its post step (`$GITHUB_STATE`, read back as
 * `STATE_*`): one JSON value, so the two cannot disagree on names.
 *
 * @module
 */

import * as core from "@actions/core";
import type { HoardCommand } from "./hoard_process.ts";

/** The main step's record of what it started. */
export interface MainState {
  /** hoard's process id. */
  pid: number;
  /** How hoard is run (for `prune` in the post step). */
  command: HoardCommand;
  /** The cache directory. */
  cacheDir: string;
  /** Where hoard writes its report at exit. */
  summaryJson: string;
  /** hoard's log file. */
  logFile: string;
  /** Key the cache was restored from, if any. */
  restoredKey?: string;
  /** Prefix of the key the directory is saved under. */
  keyPrefix: string;
  /** Size cap to prune to before saving. */
  maxSize: string;
  /** Unused entries older than this are dropped before saving ("" keeps them). */
  unusedFor: string;
  /** Whether to save at all. */
  save: boolean;
  /**
   * The values the variables exported for hoard had before (null: unset), put
   * back by the post step: post steps that run after it (those of actions
   * used before this one) must not go through a hoard that has stopped.
   */
  previousEnv: Record<string, string | null>;
}

const IS_POST = "isPost";
const STATE = "hoard";

/** Marks that the next run of the bundle in this job is the post step. */
export function markPostNext(): void {
  core.saveState(IS_POST, "true");
}

/** Whether this run of the bundle is the post step. */
export function isPost(): boolean {
  return core.getState(IS_POST) === "true";
}

/** Records a started hoard for the post step. */
export function saveMainState(state: MainState): void {
  core.saveState(STATE, JSON.stringify(state));
}

/** What the main step started, or undefined when it started nothing. */
export function readMainState(): MainState | undefined {
  const text = core.getState(STATE);
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
