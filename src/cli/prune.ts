/**
 * `hoard prune`: a cache directory made smaller.
 *
 * @module
 */

import { formatBytes } from "../observe/report.ts";
import { openExisting } from "./open.ts";
import { print } from "./print.ts";

/** Drops entries unused for `unusedFor` seconds, then evicts down to `maxSize`; the exit code. */
export async function prune(
  dir: string,
  { maxSize, unusedFor }: { maxSize?: number; unusedFor?: number },
): Promise<number> {
  const opened = await openExisting(dir, { inUse: "refuse" });
  if (opened === undefined) return 1;
  const { cache, release } = opened;
  try {
    const before = (await cache.ready, cache.usedBytes);
    // Unused entries go first: the size cap then evicts fewer of those in use.
    const unused = unusedFor === undefined
      ? 0
      : await cache.dropUnusedSince(Date.now() - unusedFor * 1000);
    const evicted = maxSize === undefined ? 0 : await cache.shrinkTo(maxSize);
    const age = unusedFor === undefined
      ? ""
      : unusedFor % 86400 === 0
      ? `${unusedFor / 86400} days`
      : `${unusedFor} s`;
    const why = [
      ...(unusedFor === undefined ? [] : [`${unused} unused for ${age}`]),
      ...(maxSize === undefined ? [] : [`${evicted} over the cap of ${formatBytes(maxSize)}`]),
    ];
    print(
      `pruned ${unused + evicted} entries: ${formatBytes(before)} -> ${
        formatBytes(cache.usedBytes)
      } (${why.join(", ")})`,
    );
    return 0;
  } finally {
    release();
  }
}
