/**
 * The job summary: hoard's report (the same Markdown hoard writes when it runs
 * on its own) and a line on what happened to the cache.
 *
 * @module
 */

import * as core from "@actions/core";
import { readFile } from "node:fs/promises";
import { type Summary, summaryMarkdown } from "../src/observe/report.ts";

/** The report hoard wrote at exit (`--summary-json`), or undefined. */
export async function readSummary(path: string): Promise<Summary | undefined> {
  try {
    const s = JSON.parse(await readFile(path, "utf8"));
    return typeof s === "object" && s !== null && typeof s.requests === "number" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Appends the report and `cacheLine` to the step summary. */
export async function writeJobSummary(summary: Summary, cacheLine: string): Promise<void> {
  if (!process.env["GITHUB_STEP_SUMMARY"]) return;
  await core.summary.addRaw(`${summaryMarkdown(summary)}${cacheLine}\n`).write();
}
