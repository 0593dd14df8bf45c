/**
 * What is saved of the cache directory, and under which key.
 *
 * Only the entries (`data/`) and the format marker are saved: never `tmp/`,
 * `hoard.lock`, `stats.json` (this run's counters) or a CA (which lives outside
 * the directory anyway). The key ends with a digest of the entries' content —
 * each entry's id and its body's SHA-256, read from its metadata — so two jobs
 * that end with the same entries make the same key and the second does not
 * upload; names of body files, storage times and last-use times do not enter
 * it. Restoring looks for the newest key with the job's prefix.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** The paths of a cache directory that are saved and restored. */
export function savedPaths(cacheDir: string): string[] {
  return [join(cacheDir, "data"), join(cacheDir, "hoard-cache.json")];
}

/** Keys start with this: the runner's OS and the `cache-key` input. */
export function keyPrefix(os: string, cacheKey: string): string {
  return `hoard-${os}-${cacheKey === "" ? "" : `${cacheKey}-`}`;
}

/** Prefixes to restore from, most specific first. */
export function restorePrefixes(os: string, cacheKey: string): string[] {
  return [...new Set([keyPrefix(os, cacheKey), keyPrefix(os, "")])];
}

/**
 * A digest of the entries in `cacheDir` (32 hex digits): each metadata file's
 * id with its body's SHA-256 (a response) or its variants (a vary index).
 * Unreadable metadata is left out, as hoard would leave it out.
 */
export async function contentDigest(cacheDir: string): Promise<string> {
  const lines: string[] = [];
  const data = join(cacheDir, "data");
  let shards: string[];
  try {
    shards = await readdir(data);
  } catch {
    shards = [];
  }
  for (const shard of shards) {
    let files: string[];
    try {
      files = await readdir(join(data, shard));
    } catch {
      continue;
    }
    for (const f of files) {
      if (!f.endsWith(".json")) continue;
      try {
        const m = JSON.parse(await readFile(join(data, shard, f), "utf8"));
        if (m.kind === "response") lines.push(`${m.id} ${m.sha256}`);
        else if (m.kind === "vary") lines.push(`${m.id} vary ${[...m.variants].sort().join(",")}`);
      } catch {
        // Half-written or foreign: hoard deletes it at its next start.
      }
    }
  }
  lines.sort();
  return createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 32);
}
