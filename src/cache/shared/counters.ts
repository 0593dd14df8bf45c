/**
 * The shared tier's counters, apart from the tier that counts them.
 *
 * @module
 */

import type { S3FailureKind } from "./s3_errors.ts";

/** Counters of the shared tier, for the metrics and the run report. */
export interface SharedCounters {
  /** Requests answered from the shared tier (fresh there, or revalidated). */
  hits: number;
  /** Lookups that found nothing there. */
  misses: number;
  /** Lookups not made: the tier was not loaded yet, or skipped after failures (breaker open). */
  skipped: number;
  /** Body bytes read from the shared tier. */
  bytesRead: number;
  /** Entries uploaded. */
  uploads: number;
  /** Bytes uploaded (objects: header, metadata and body). */
  bytesUploaded: number;
  /** Uploads dropped because the queue was full, or while the tier was skipped. */
  uploadsDropped: number;
  /** Uploads that failed. */
  uploadsFailed: number;
  /** Objects that failed their check (deleted). */
  corrupt: number;
  /** Failed requests by kind (lookups and uploads). */
  failures: Record<S3FailureKind, number>;
}

/** Counters at zero. */
export function newSharedCounters(): SharedCounters {
  return {
    hits: 0,
    misses: 0,
    skipped: 0,
    bytesRead: 0,
    uploads: 0,
    bytesUploaded: 0,
    uploadsDropped: 0,
    uploadsFailed: 0,
    corrupt: 0,
    failures: {
      timeout: 0,
      unreachable: 0,
      forbidden: 0,
      server: 0,
      full: 0,
      corrupt: 0,
      other: 0,
    },
  };
}

/** The plain counts: every field but `failures`. */
type Count = Exclude<keyof SharedCounters, "failures">;

/** Their names, from `newSharedCounters`, so that a count added later is summed too. */
const COUNT_NAMES = Object.keys(newSharedCounters()).filter((k): k is Count => k !== "failures");

/**
 * Adds `from` into `into`, failures kind by kind: with a shared-tier client per
 * thread, the run's counters are the sum of every thread's.
 */
export function addSharedCounters(into: SharedCounters, from: Readonly<SharedCounters>): void {
  for (const name of COUNT_NAMES) into[name] += from[name];
  // The kinds `from` has, each starting at zero where `into` lacks it (rather than NaN).
  for (const [kind, n] of Object.entries(from.failures) as [S3FailureKind, number][]) {
    into.failures[kind] = (into.failures[kind] ?? 0) + n;
  }
}
