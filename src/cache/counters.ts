/**
 * The cache's counters of one run: what the metrics, the run report and
 * `hoard stats` read, apart from the cache that counts them.
 *
 * @module
 */

/** Counters of one run, for the summary and `hoard stats`. */
export interface CacheCounters {
  /** Requests answered from the cache without asking the origin. */
  hits: number;
  /** Requests that found nothing usable and went to the origin. */
  misses: number;
  /** Stale entries checked with the origin (304 or a new response). */
  revalidations: number;
  /** Of those, answered by a 304 (the stored body was reused). */
  revalidated304: number;
  /** Responses stored. */
  stored: number;
  /** Body bytes sent from the cache. */
  bytesFromCache: number;
  /** Body bytes fetched from origins for cacheable requests. */
  bytesFromOrigin: number;
  /** Stale responses served because the origin failed (stale-if-error). */
  staleServed: number;
  /** Entries deleted: evicted over the size cap, invalidated, or failing their checksum. */
  removed: number;
}

/** Counters at zero, with `set` applied. */
export function newCounters(set: Partial<CacheCounters> = {}): CacheCounters {
  return {
    hits: 0,
    misses: 0,
    revalidations: 0,
    revalidated304: 0,
    stored: 0,
    bytesFromCache: 0,
    bytesFromOrigin: 0,
    staleServed: 0,
    removed: 0,
    ...set,
  };
}

/** Every counter's name, from `newCounters`, so one added later is summed too. */
const COUNTER_NAMES = Object.keys(newCounters()) as (keyof CacheCounters)[];

/**
 * Adds `from` into `into`: with one cache per thread, the run's counters are
 * the sum of every thread's.
 */
export function addCounters(into: CacheCounters, from: Readonly<CacheCounters>): void {
  for (const name of COUNTER_NAMES) into[name] += from[name];
}
