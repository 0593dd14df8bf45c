/**
 * The cache's counters (src/cache/counters.ts): addCounters sums every counter,
 * so the main thread can show the sum of all threads' caches.
 */

import assert from "node:assert/strict";
import { addCounters, type CacheCounters, newCounters } from "../../src/cache/counters.ts";

/** Counters with a different value in each field, `scale` apart. */
function distinct(scale: number): CacheCounters {
  const c = newCounters();
  Object.keys(c).forEach((name, i) => c[name as keyof CacheCounters] = scale * (i + 1));
  return c;
}

Deno.test("addCounters: every counter is summed, the added ones are left as they were", () => {
  const into = distinct(100);
  const from = distinct(1);
  addCounters(into, from);
  // Every field, so one added to CacheCounters later is checked too.
  for (const [i, name] of (Object.keys(into) as (keyof CacheCounters)[]).entries()) {
    assert.equal(into[name], 101 * (i + 1), name);
  }
  assert.deepEqual(from, distinct(1));
});

Deno.test("addCounters: counters posted from a worker (structured clone) add the same", () => {
  const threads = [
    newCounters({ hits: 3, misses: 1, bytesFromCache: 300, bytesFromOrigin: 10 }),
    newCounters({ hits: 2, revalidations: 2, revalidated304: 1, stored: 1, removed: 4 }),
    newCounters({ misses: 5, staleServed: 1, bytesFromOrigin: 7 }),
  ];
  const total = newCounters();
  for (const c of threads) addCounters(total, structuredClone(c));
  assert.deepEqual(
    total,
    newCounters({
      hits: 5,
      misses: 6,
      revalidations: 2,
      revalidated304: 1,
      stored: 1,
      bytesFromCache: 300,
      bytesFromOrigin: 17,
      staleServed: 1,
      removed: 4,
    }),
  );
});
