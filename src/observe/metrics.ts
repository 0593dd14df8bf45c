/**
 * The live view: counters a running hoard exposes at `/_hoard/metrics` in the
 * Prometheus text format (version 0.0.4).
 *
 * @module
 */

import type { CacheCounters } from "../cache/counters.ts";
import type { SharedCounters } from "../cache/shared/counters.ts";

/** Upper bounds of the origin latency histogram, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/**
 * Everything one {@link Metrics} counted, as plain data: what a worker thread
 * posts to the main thread (it survives `structuredClone` and JSON) so the
 * main thread can show the sum of all threads.
 */
export interface MetricsSnapshot {
  /** Requests by how they were answered (`route`) and status class (`2xx`, …, `none`). */
  requests: { route: string; status: string; count: number }[];
  /** Body bytes sent to clients, by route. */
  bytes: { route: string; bytes: number }[];
  /**
   * Origin latencies counted per bucket, not cumulative: `buckets[i]` counts those
   * above `LATENCY_BUCKETS[i - 1]` and at most `LATENCY_BUCKETS[i]`; the last one,
   * those above every bound.
   */
  latency: { buckets: number[]; sum: number; count: number };
}

/** What the live view counts besides the cache counters. */
export class Metrics {
  #requests = new Map<string, number>();
  #bytes = new Map<string, number>();
  #latency = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  #latencySum = 0;
  #latencyCount = 0;

  /** One request done: how it was answered (`hit`, `miss`, `pass`, …), its status and body bytes. */
  request(route: string, status: number, bytes: number): void {
    const key = requestKey(route, statusClass(status));
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#bytes.set(route, (this.#bytes.get(route) ?? 0) + bytes);
  }

  /** An origin answered (response head) after `ms`. */
  originLatency(ms: number): void {
    const s = ms / 1000;
    let i = LATENCY_BUCKETS.findIndex((b) => s <= b);
    if (i === -1) i = LATENCY_BUCKETS.length;
    this.#latency[i]!++;
    this.#latencySum += s;
    this.#latencyCount++;
  }

  /**
   * A copy of everything counted so far (totals since this object was made, not
   * changes since the last snapshot).
   */
  snapshot(): MetricsSnapshot {
    return {
      requests: [...this.#requests].map(([key, count]) => {
        const [route, status] = key.split("\0") as [string, string];
        return { route, status, count };
      }),
      bytes: [...this.#bytes].map(([route, bytes]) => ({ route, bytes })),
      latency: { buckets: [...this.#latency], sum: this.#latencySum, count: this.#latencyCount },
    };
  }

  /**
   * Adds another thread's counts into these. Snapshots are totals, so adding
   * the same thread's snapshots over time counts it again each time: to show
   * the sum of all threads, add the latest snapshot of each into a new Metrics.
   *
   * @throws {RangeError} when the snapshot's histogram has other buckets than this one's.
   */
  add(s: MetricsSnapshot): void {
    // Every thread has the same bounds; a snapshot with others would shift counts between buckets.
    if (s.latency.buckets.length !== this.#latency.length) {
      throw new RangeError(
        `a latency histogram of ${s.latency.buckets.length} buckets, not ${this.#latency.length}`,
      );
    }
    for (const { route, status, count } of s.requests) {
      const key = requestKey(route, status);
      this.#requests.set(key, (this.#requests.get(key) ?? 0) + count);
    }
    for (const { route, bytes } of s.bytes) {
      this.#bytes.set(route, (this.#bytes.get(route) ?? 0) + bytes);
    }
    s.latency.buckets.forEach((n, i) => this.#latency[i]! += n);
    this.#latencySum += s.latency.sum;
    this.#latencyCount += s.latency.count;
  }

  /** The Prometheus text exposition of everything. */
  render(
    g: {
      cache: CacheCounters;
      cacheBytes: number;
      cacheEntries: number;
      openConnections: number;
      shared?: SharedCounters;
      sharedUp?: boolean;
    },
  ): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
    };
    metric(
      "hoard_requests_total",
      "counter",
      "Requests by how hoard answered them (route) and status class.",
      [...this.#requests].map(([k, v]) => {
        const [route, status] = k.split("\0");
        return [`{route="${route}",status="${status}"}`, v];
      }),
    );
    metric(
      "hoard_response_bytes_total",
      "counter",
      "Body bytes sent to clients, by route.",
      [...this.#bytes].map(([route, v]) => [`{route="${route}"}`, v]),
    );
    const c = g.cache;
    // Metrics of one sample (no labels): name, type, help, value.
    const singles: [string, string, string, number][] = [
      ["hoard_cache_hits_total", "counter", "Requests answered from the cache.", c.hits],
      [
        "hoard_cache_misses_total",
        "counter",
        "Requests that found nothing usable stored.",
        c.misses,
      ],
      [
        "hoard_cache_revalidations_total",
        "counter",
        "Stale entries checked with the origin.",
        c.revalidations,
      ],
      [
        "hoard_cache_not_modified_total",
        "counter",
        "Revalidations answered 304.",
        c.revalidated304,
      ],
      [
        "hoard_cache_stale_served_total",
        "counter",
        "Stale entries served because the origin failed.",
        c.staleServed,
      ],
      ["hoard_cache_stored_total", "counter", "Responses stored.", c.stored],
      [
        "hoard_cache_served_bytes_total",
        "counter",
        "Body bytes sent from the cache.",
        c.bytesFromCache,
      ],
      [
        "hoard_origin_fetched_bytes_total",
        "counter",
        "Body bytes fetched from origins for the cache.",
        c.bytesFromOrigin,
      ],
      ["hoard_cache_size_bytes", "gauge", "Bytes the cache takes on disk.", g.cacheBytes],
      ["hoard_cache_entries", "gauge", "Entries in the cache.", g.cacheEntries],
      ["hoard_open_connections", "gauge", "Client connections open now.", g.openConnections],
    ];
    const s = g.shared;
    if (s !== undefined) {
      singles.push(
        [
          "hoard_shared_up",
          "gauge",
          "1 while the shared tier is used (loaded, not skipped after failures).",
          g.sharedUp ? 1 : 0,
        ],
        ["hoard_shared_hits_total", "counter", "Requests answered from the shared tier.", s.hits],
        [
          "hoard_shared_misses_total",
          "counter",
          "Shared-tier lookups that found nothing.",
          s.misses,
        ],
        [
          "hoard_shared_skipped_total",
          "counter",
          "Shared-tier lookups not made (loading, or skipped after failures).",
          s.skipped,
        ],
        [
          "hoard_shared_read_bytes_total",
          "counter",
          "Body bytes read from the shared tier.",
          s.bytesRead,
        ],
        [
          "hoard_shared_uploads_total",
          "counter",
          "Entries uploaded to the shared tier.",
          s.uploads,
        ],
        [
          "hoard_shared_uploaded_bytes_total",
          "counter",
          "Bytes uploaded to the shared tier.",
          s.bytesUploaded,
        ],
        [
          "hoard_shared_uploads_dropped_total",
          "counter",
          "Uploads dropped (queue full, tier skipped, shutdown).",
          s.uploadsDropped,
        ],
        [
          "hoard_shared_uploads_failed_total",
          "counter",
          "Uploads that failed.",
          s.uploadsFailed,
        ],
        [
          "hoard_shared_corrupt_total",
          "counter",
          "Shared objects that failed their integrity check (deleted).",
          s.corrupt,
        ],
      );
    }
    for (const [name, type, help, value] of singles) metric(name, type, help, [["", value]]);
    if (s !== undefined) {
      metric(
        "hoard_shared_failures_total",
        "counter",
        "Failed shared-tier requests by kind.",
        Object.entries(s.failures).map(([kind, n]) => [`{kind="${kind}"}`, n]),
      );
    }
    let cumulative = 0;
    const buckets: [string, number][] = LATENCY_BUCKETS.map((b, i) => {
      cumulative += this.#latency[i]!;
      return [`_bucket{le="${b}"}`, cumulative];
    });
    cumulative += this.#latency[LATENCY_BUCKETS.length]!;
    buckets.push(['_bucket{le="+Inf"}', cumulative], ["_sum", round(this.#latencySum)], [
      "_count",
      this.#latencyCount,
    ]);
    metric(
      "hoard_origin_latency_seconds",
      "histogram",
      "Time until an origin's response head arrived.",
      buckets,
    );
    return out.join("\n") + "\n";
  }
}

/** The key of `#requests`: route and status class, apart by a byte neither holds. */
function requestKey(route: string, statusClass: string): string {
  return `${route}\0${statusClass}`;
}

function statusClass(status: number): string {
  return status === 0 ? "none" : `${Math.floor(status / 100)}xx`;
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
