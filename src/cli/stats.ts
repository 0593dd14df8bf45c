/**
 * `hoard stats`: what a cache directory holds, and its last run.
 *
 * @module
 */

import { formatBytes, readRunStats, summaryText } from "../observe/report.ts";
import { openExisting } from "./open.ts";
import { print } from "./print.ts";

/** Prints what the cache directory `dir` holds and its last run's summary; the exit code. */
export async function stats(dir: string): Promise<number> {
  // A directory in use is read as it is: its temp files are the running hoard's fills.
  const opened = await openExisting(dir, { inUse: "read" });
  if (opened === undefined) return 1;
  const { cache, release, note } = opened;
  try {
    await cache.ready;
    const last = await readRunStats(dir);
    print(`cache ${dir}: ${cache.entryCount} entries, ${formatBytes(cache.usedBytes)}${note}`);
    if (last === undefined) print("last run: no record");
    else {print(
        `last run, ended ${new Date(last.endedAt).toISOString()}:\n${summaryText(last.summary)}`,
      );}
    return 0;
  } finally {
    release();
  }
}
