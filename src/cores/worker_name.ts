/**
 * How a thread knows it is one of hoard's workers: cores.ts names them so.
 *
 * @module
 */

/** The names of hoard's worker threads begin so. */
export const WORKER_PREFIX = "hoard-";

/** Whether this thread is one of hoard's workers (then the CLI does not run in it). */
export function isHoardWorker(): boolean {
  const scope = globalThis as { WorkerGlobalScope?: unknown; name?: string };
  return scope.WorkerGlobalScope !== undefined && (scope.name ?? "").startsWith(WORKER_PREFIX);
}
