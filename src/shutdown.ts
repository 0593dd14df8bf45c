/**
 * An orderly shutdown: stop accepting, let requests in flight finish (up to
 * the grace period), cut the rest, let fills and uploads end, then publish
 * the run's summary and give back the cache directory.
 *
 * @module
 */

import type { Connections } from "./accept.ts";
import type { DirLock } from "./cache/dir_lock.ts";
import type { ProxyContext } from "./context.ts";
import { oneLine } from "./errors.ts";
import type { OriginPool } from "./origin/pool.ts";
import { publishSummary } from "./observe/report.ts";
import type { Cores } from "./cores/cores.ts";
import type { Member } from "./cores/member.ts";
import { addFinal } from "./cores/stats.ts";

/** What a running proxy holds that shutdown gives back. */
export interface Running {
  /** The proxy's shared state. */
  proxy: ProxyContext;
  /** The listening socket. */
  listener: Deno.TcpListener;
  /** The accept loop, which ends once the listener is closed. */
  acceptLoop: Promise<void>;
  /** The client connections. */
  connections: Connections;
  /** The origin connection pool. */
  pool: OriginPool;
  /** The cache directory's lock, when the cache has one. */
  dirLock?: DirLock;
  /** The workers serving with this (main) thread, when there are any. */
  cores?: Cores;
  /** A worker's link to the hub: the main thread publishes the run's summary, not the worker. */
  worker?: Member;
}

/** Shuts the proxy down; settles once everything is given back. */
export async function shutDown(
  { proxy, listener, acceptLoop, connections, pool, dirLock, cores, worker }: Running,
): Promise<void> {
  const { cache, shared, options: opts, logger, report } = proxy;
  const { clients, tasks } = connections;
  proxy.closing = true;
  listener.close();
  // The workers shut down alongside, each the same way.
  const workersDone = cores?.close();
  cache.stopScan();
  worker?.abandonIndex();
  await acceptLoop;
  for (const c of clients) if (!c.busy) c.io.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise((r) => timer = setTimeout(r, opts.shutdownGraceMs));
  await Promise.race([Promise.allSettled([...tasks]), grace]);
  clearTimeout(timer);
  for (const c of clients) {
    c.io.close();
    c.abort.abort();
  }
  await Promise.allSettled([...tasks]);
  // Fills whose clients were cut end as their origin sockets close.
  await cache.settled();
  // Uploads behind the last clients: what this job fetched is worth the wait.
  await shared?.close(opts.sharedDrainMs);
  if (worker !== undefined) {
    worker.close();
    pool.close();
    return;
  }
  addFinal(proxy, (await workersDone) ?? []);
  cores?.release();
  const failures = await publishSummary(report.summary(cache.counters), {
    log: (s) => logger.summary(s),
    stepSummary: opts.stepSummary,
    json: opts.summaryJson,
    cacheDir: cache.enabled ? opts.cacheDir : undefined,
  });
  for (const f of failures) logger.log("warn", oneLine(f));
  dirLock?.release();
  pool.close();
}
