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
