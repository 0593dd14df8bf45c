/**
 * Looking after the bucket: what it holds (`hoard stats --shared`) and
 * removing what nobody uploaded for a while (`hoard prune --shared
 * --older-than 30d`). A lifecycle rule on the bucket does the same without
 * hoard (see the README's fleet section).
 *
 * @module
 */

import type { S3Store } from "./s3.ts";

/** What the bucket holds under hoard's prefix. */
export interface SharedStats {
  /** Objects (entries and vary indexes). */
  objects: number;
  /** Their bytes. */
  bytes: number;
  /** Upload time of the oldest and the newest (ms since the epoch), when there are any. */
  oldest?: number;
  newest?: number;
  /** Objects by age: uploaded within a day, a week, a month, longer ago. */
  byAge: { day: number; week: number; month: number; older: number };
  /** Objects that are not hoard's (another format version, stray keys). */
  foreign: number;
}

const DAY_MS = 86_400_000;

/** Lists the bucket under the prefix and sums it up. */
export async function sharedStats(store: S3Store, now: number = Date.now()): Promise<SharedStats> {
  const s: SharedStats = {
    objects: 0,
    bytes: 0,
    byAge: { day: 0, week: 0, month: 0, older: 0 },
    foreign: 0,
  };
  for await (const o of store.list()) {
    if (!isEntryKey(store, o.key)) {
      s.foreign++;
      continue;
    }
    s.objects++;
    s.bytes += o.size;
    s.oldest = Math.min(s.oldest ?? Infinity, o.lastModified);
    s.newest = Math.max(s.newest ?? 0, o.lastModified);
    const age = now - o.lastModified;
    if (age <= DAY_MS) s.byAge.day++;
    else if (age <= 7 * DAY_MS) s.byAge.week++;
    else if (age <= 30 * DAY_MS) s.byAge.month++;
    else s.byAge.older++;
  }
  return s;
}

/**
 * Deletes hoard's objects uploaded more than `olderThanMs` ago (an entry that
 * is still used comes back at its next miss); returns how many and their bytes.
 */
export async function pruneShared(
  store: S3Store,
  olderThanMs: number,
  now: number = Date.now(),
): Promise<{ deleted: number; bytes: number; kept: number }> {
  const old: { key: string; size: number }[] = [];
  let kept = 0;
  // Listed first, deleted after: deleting while paging could skip keys.
  for await (const o of store.list()) {
    if (!isEntryKey(store, o.key)) continue;
    if (now - o.lastModified > olderThanMs) old.push(o);
    else kept++;
  }
  let deleted = 0, bytes = 0;
  const queue = [...old];
  const worker = async () => {
    for (let o = queue.shift(); o !== undefined; o = queue.shift()) {
      await store.delete(o.key);
      deleted++;
      bytes += o.size;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { deleted, bytes, kept };
}

function isEntryKey(store: S3Store, key: string): boolean {
  return /^v1\/[0-9a-f]{64}$/.test(key.slice(store.location.prefix.length)) &&
    key.startsWith(store.location.prefix);
}
