/**
 * What one thread counted, as plain data another thread can add to its own:
 * for the metrics page and the run's summary when hoard serves on several.
 *
 * @module
 */

import { addCounters, type CacheCounters } from "../cache/counters.ts";
import {
  addSharedCounters,
  newSharedCounters,
  type SharedCounters,
} from "../cache/shared/counters.ts";
import { Metrics, type MetricsSnapshot } from "../observe/metrics.ts";
import type { ReportSnapshot, RunReport } from "../observe/report.ts";

/** What a thread counts with (the parts of its ProxyContext read here). */
export interface Counting {
  /** The cache: its counters, and the directory's size. */
  cache: { counters: CacheCounters; usedBytes: number; entryCount: number };
  /** The live view's counters. */
  metrics: Metrics;
  /** The run report. */
  report: RunReport;
  /** The shared tier, when there is one. */
  shared?: { counters: SharedCounters; usable: boolean };
  /** Client connections open now. */
  openConnections(): number;
}

/** One thread's counters so far. */
export interface ThreadStats {
  /** The cache's counters. */
  cache: CacheCounters;
  /** The live view's counters. */
  metrics: MetricsSnapshot;
  /** The run report's. */
  report: ReportSnapshot;
  /** The shared tier's, when there is one. */
  shared?: SharedCounters;
  /** Client connections open now. */
  open: number;
}

/** What `proxy`'s thread counted so far. */
export function threadStats(proxy: Counting): ThreadStats {
  return {
    cache: { ...proxy.cache.counters },
    metrics: proxy.metrics.snapshot(),
    report: proxy.report.snapshot(),
    ...(proxy.shared !== undefined ? { shared: { ...proxy.shared.counters } } : {}),
    open: proxy.openConnections(),
  };
}

/** The Prometheus page of every thread: this one's counters and the `others`' added. */
export function renderAll(proxy: Counting, others: ThreadStats[]): string {
  const metrics = new Metrics();
  metrics.add(proxy.metrics.snapshot());
  const cache = { ...proxy.cache.counters };
  const shared = proxy.shared && { ...proxy.shared.counters };
  let open = proxy.openConnections();
  for (const t of others) {
    metrics.add(t.metrics);
    addCounters(cache, t.cache);
    if (shared !== undefined) addSharedCounters(shared, t.shared ?? newSharedCounters());
    open += t.open;
  }
  return metrics.render({
    cache,
    cacheBytes: proxy.cache.usedBytes,
    cacheEntries: proxy.cache.entryCount,
    openConnections: open,
    shared,
    sharedUp: proxy.shared?.usable,
  });
}

/** Adds the `others`' final counters into this thread's, for the run's summary. */
export function addFinal(proxy: Counting, others: ThreadStats[]): void {
  for (const t of others) {
    proxy.report.add(t.report);
    addCounters(proxy.cache.counters, t.cache);
    if (proxy.shared !== undefined && t.shared !== undefined) {
      addSharedCounters(proxy.shared.counters, t.shared);
    }
  }
}
