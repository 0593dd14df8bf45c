/**
 * The run's report: what hoard did for this job, in figures a person reads at
 * the end of a CI log (and in the GitHub step summary), or as JSON.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import type { CacheCounters } from "../cache/counters.ts";
import type { SharedCounters } from "../cache/shared/counters.ts";

/** Hosts and offline misses kept. */
const MAX_LISTED = 1000;
/** Hosts listed in the summary. */
const TOP_HOSTS = 10;

/** Default origin speed for the time-saved estimate when the run fetched nothing to measure it. */
const DEFAULT_LATENCY_MS = 100;
const DEFAULT_BYTES_PER_SECOND = 20 * 1024 * 1024;

/**
 * What one {@link RunReport} collected, as plain data: what a worker thread
 * posts to the main thread (it survives `structuredClone` and JSON). The start
 * time and the shared tier's counters are not in it: threads of one run share
 * its clock, and the counters are summed with `addSharedCounters`.
 */
export interface ReportSnapshot {
  /** Requests through the proxy. */
  requests: number;
  /** Hits and misses by host (at most 1000 hosts, the first seen). */
  hosts: { host: string; hits: number; misses: number }[];
  /** URLs requested offline that were not in the cache (at most 1000, the first). */
  offlineMisses: string[];
  /** Origin fetches for the cache, their time (ms, summed) and body bytes. */
  fetched: { count: number; ms: number; bytes: number };
}

/** Collects what the counters do not: per-host misses, origin timings, offline misses. */
export class RunReport {
  /** When the run started (ms). */
  readonly startedAt: number = Date.now();
  /** Requests that went through the proxy (not those for hoard itself). */
  requests = 0;
  /** The shared tier's counters, when there is one. */
  shared?: SharedCounters;
  #hosts = new Map<string, { hits: number; misses: number }>();
  #offlineMisses: string[] = [];
  #originFetches = 0;
  #originMs = 0;
  #originBytes = 0;

  /** A request went to the origin because nothing usable was stored. */
  missed(host: string): void {
    const h = this.#host(host);
    if (h !== undefined) h.misses++;
  }

  /** A request was answered from the entry stored under cache key `key` (a URL). */
  hit(key: string): void {
    const h = this.#host(hostOfKey(key));
    if (h !== undefined) h.hits++;
  }

  #host(host: string): { hits: number; misses: number } | undefined {
    let h = this.#hosts.get(host);
    if (h === undefined && this.#hosts.size < MAX_LISTED) {
      h = { hits: 0, misses: 0 };
      this.#hosts.set(host, h);
    }
    return h;
  }

  /** Offline, a request found nothing stored. */
  offlineMiss(url: string): void {
    if (this.#offlineMisses.length < MAX_LISTED) this.#offlineMisses.push(url);
  }

  /** An origin fetch for the cache took `ms` for `bytes`. */
  fetched(ms: number, bytes: number): void {
    this.#originFetches++;
    this.#originMs += ms;
    this.#originBytes += bytes;
  }

  /** A copy of what was collected so far (totals, not changes since the last snapshot). */
  snapshot(): ReportSnapshot {
    return {
      requests: this.requests,
      hosts: [...this.#hosts].map(([host, { hits, misses }]) => ({ host, hits, misses })),
      offlineMisses: [...this.#offlineMisses],
      fetched: { count: this.#originFetches, ms: this.#originMs, bytes: this.#originBytes },
    };
  }

  /**
   * Adds what another thread of this run collected, as if this report had seen
   * it too: counts are summed per host, and hosts and offline misses stay
   * capped as when they are recorded (the time-saved estimate then uses the
   * origin speed of all fetches). `startedAt` and `shared` are left as they are.
   */
  add(s: ReportSnapshot): void {
    this.requests += s.requests;
    for (const { host, hits, misses } of s.hosts) {
      const h = this.#host(host);
      if (h === undefined) continue;
      h.hits += hits;
      h.misses += misses;
    }
    const room = MAX_LISTED - this.#offlineMisses.length;
    this.#offlineMisses.push(...s.offlineMisses.slice(0, Math.max(0, room)));
    this.#originFetches += s.fetched.count;
    this.#originMs += s.fetched.ms;
    this.#originBytes += s.fetched.bytes;
  }

  /** The figures so far. */
  summary(c: CacheCounters, now: number = Date.now()): Summary {
    // Each hit would have cost a round trip and its bytes at this run's origin speed.
    const latencyMs = this.#originFetches > 0
      ? this.#originMs / this.#originFetches / 2
      : DEFAULT_LATENCY_MS;
    const bytesPerSecond = this.#originMs > 0 && this.#originBytes > 0
      ? this.#originBytes / (this.#originMs / 1000)
      : DEFAULT_BYTES_PER_SECOND;
    const saved = (c.hits + c.revalidated304) * latencyMs / 1000 +
      c.bytesFromCache / bytesPerSecond;
    return {
      durationSeconds: Math.round((now - this.startedAt) / 1000),
      requests: this.requests,
      hits: c.hits,
      misses: c.misses,
      revalidations: c.revalidations,
      notModified: c.revalidated304,
      staleServed: c.staleServed,
      stored: c.stored,
      removed: c.removed,
      cacheChanged: c.stored + c.removed > 0,
      bytesFromCache: c.bytesFromCache,
      bytesFromOrigin: c.bytesFromOrigin,
      timeSavedSeconds: Math.round(saved * 10) / 10,
      topHosts: [...this.#hosts]
        .map(([host, { hits, misses }]) => ({ host, hits, misses }))
        .sort((a, b) => b.hits + b.misses - (a.hits + a.misses))
        .slice(0, TOP_HOSTS),
      topMissedHosts: [...this.#hosts]
        .filter(([, h]) => h.misses > 0)
        .sort((a, b) => b[1].misses - a[1].misses)
        .slice(0, TOP_HOSTS)
        .map(([host, { misses }]) => ({ host, misses })),
      offlineMisses: [...this.#offlineMisses],
      ...(this.shared === undefined ? {} : { shared: sharedSummary(this.shared) }),
    };
  }
}

/** What the shared tier did in one run: its counters, with the failure kinds that did not happen left out. */
export type SharedSummary = Omit<SharedCounters, "failures"> & { failures: Record<string, number> };

function sharedSummary(c: SharedCounters): SharedSummary {
  // A copy: the counters go on counting after the summary is taken.
  const failures = Object.fromEntries(Object.entries(c.failures).filter(([, n]) => n > 0));
  return { ...c, failures };
}

function failureText(f: Record<string, number>): string {
  const parts = Object.entries(f).map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** The report of one run. */
export interface Summary {
  /** How long hoard ran. */
  durationSeconds: number;
  /** Requests through the proxy. */
  requests: number;
  /** Answered from the cache. */
  hits: number;
  /** Fetched because nothing usable was stored. */
  misses: number;
  /** Stale entries checked with the origin. */
  revalidations: number;
  /** Of those, still valid (304): the stored body was served. */
  notModified: number;
  /** Stale entries served because the origin failed. */
  staleServed: number;
  /** Responses stored. */
  stored: number;
  /** Entries deleted (evicted over the size cap, invalidated, failing their checksum). */
  removed: number;
  /**
   * Whether this run changed what the cache directory holds (stored or removed
   * entries): when false, saving the directory again would upload the same
   * entries. Refreshed metadata (after a 304) and last-use times do not count.
   */
  cacheChanged: boolean;
  /** Body bytes sent from the cache. */
  bytesFromCache: number;
  /** Body bytes fetched from origins. */
  bytesFromOrigin: number;
  /** Estimated time the cache saved (round trips and transfer at this run's origin speed). */
  timeSavedSeconds: number;
  /** Hosts with the most requests answered from the cache or sent to them as misses. */
  topHosts: { host: string; hits: number; misses: number }[];
  /** Hosts with the most misses. */
  topMissedHosts: { host: string; misses: number }[];
  /** URLs requested offline that were not in the cache: what to warm. */
  offlineMisses: string[];
  /** The shared tier's figures, when hoard ran with one. */
  shared?: SharedSummary;
}

/** Bytes for people: 1.5 GiB, 300 KiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The summary as lines for a log. */
export function summaryText(s: Summary): string {
  const ratio = hitRatio(s);
  const hitRate = ratio === undefined ? "" : ` (${ratio}% hits)`;
  const lines = [
    `hoard: ${s.requests} requests in ${s.durationSeconds} s: ${s.hits} hits, ${s.misses} misses${hitRate}, ` +
    `${s.revalidations} revalidations (${s.notModified} not modified), ${s.staleServed} stale served, ${s.stored} stored`,
    `hoard: ${formatBytes(s.bytesFromCache)} from the cache, ${
      formatBytes(s.bytesFromOrigin)
    } from origins; ` +
    `about ${s.timeSavedSeconds} s saved`,
  ];
  if (s.shared !== undefined) {
    const h = s.shared;
    lines.push(
      `hoard: shared cache: ${h.hits} hits, ${h.misses} misses, ${h.skipped} skipped, ${
        formatBytes(h.bytesRead)
      } read; ${h.uploads} uploaded (${
        formatBytes(h.bytesUploaded)
      }), ${h.uploadsDropped} dropped, ` +
        `${h.uploadsFailed} failed; ${h.corrupt} corrupt; failures: ${failureText(h.failures)}`,
    );
  }
  if (s.topMissedHosts.length > 0) {
    lines.push(
      `hoard: most misses: ${s.topMissedHosts.map((h) => `${h.host} (${h.misses})`).join(", ")}`,
    );
  }
  if (s.offlineMisses.length > 0) {
    lines.push(`hoard: offline, not in the cache (${s.offlineMisses.length}):`);
    for (const url of s.offlineMisses) lines.push(`  ${url}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * The summary as Markdown, for `$GITHUB_STEP_SUMMARY` (the GitHub Action's
 * post step writes this too): a headline, a Mermaid pie of where answers came
 * from (GitHub renders it), the figures, the busiest hosts with their hits and
 * misses, and what an `--offline` run could not serve.
 */
export function summaryMarkdown(s: Summary): string {
  const ratio = hitRatio(s);
  let md = "### hoard cache\n\n";
  md += ratio === undefined
    ? `No cacheable requests; ${s.requests} requests in all.\n`
    : `**${ratio}% hits**: ${s.hits} of ${s.hits + s.misses} cacheable requests answered ` +
      `from the cache; ${formatBytes(s.bytesFromCache)} from the cache, ${
        formatBytes(s.bytesFromOrigin)
      } from origins; about ${s.timeSavedSeconds} s saved.\n`;
  const slices: [string, number][] = [
    ["Hits", s.hits],
    ["Revalidated, not modified", s.notModified],
    ["Revalidated, changed", s.revalidations - s.notModified],
    ["Misses", s.misses],
  ];
  const shown = slices.filter(([, n]) => n > 0);
  if (shown.length > 0) {
    md += "\n```mermaid\npie showData title Answers\n" +
      shown.map(([label, n]) => `    "${label}" : ${n}\n`).join("") + "```\n";
  }
  const rows: [string, string][] = [
    ["Requests", String(s.requests)],
    ["Cache hits", String(s.hits)],
    ["Misses", String(s.misses)],
    ...(ratio === undefined ? [] : [["Hit ratio", `${ratio}%`] as [string, string]]),
    ["Revalidations (not modified)", `${s.revalidations} (${s.notModified})`],
    ["Stale served (origin failed)", String(s.staleServed)],
    ["Stored", String(s.stored)],
    ["Removed (evicted, invalidated)", String(s.removed)],
    ["From the cache", formatBytes(s.bytesFromCache)],
    ["From origins", formatBytes(s.bytesFromOrigin)],
    ["Time saved (estimate)", `${s.timeSavedSeconds} s`],
  ];
  if (s.shared !== undefined) {
    const h = s.shared;
    rows.push(
      ["Shared cache hits / misses / skipped", `${h.hits} / ${h.misses} / ${h.skipped}`],
      ["From the shared cache", formatBytes(h.bytesRead)],
      [
        "Uploaded to the shared cache (dropped, failed)",
        `${h.uploads}, ${formatBytes(h.bytesUploaded)} (${h.uploadsDropped}, ${h.uploadsFailed})`,
      ],
      ["Shared cache failures", failureText({ ...h.failures })],
    );
  }
  md += "\n| | |\n|---|---:|\n" + rows.map(([k, v]) => `| ${k} | ${v} |`).join("\n") + "\n";
  if (s.topHosts.length > 0) {
    md += "\n| Host | Hits | Misses |\n|---|---:|---:|\n" +
      s.topHosts.map((h) => `| ${h.host} | ${h.hits} | ${h.misses} |`).join("\n") + "\n";
  }
  if (s.offlineMisses.length > 0) {
    md += `\nOffline, not in the cache (${s.offlineMisses.length}):\n\n${
      s.offlineMisses.map((u) => `- \`${u.replaceAll("`", "%60")}\``).join("\n")
    }\n`;
  }
  return md + "\n";
}

/** Percentage of cacheable requests answered from the cache; undefined when there were none. */
function hitRatio(s: Summary): number | undefined {
  const n = s.hits + s.misses;
  return n > 0 ? Math.round((100 * s.hits) / n) : undefined;
}

/** The host name of a cache key (`scheme://host[:port]/path`), without its port or brackets. */
export function hostOfKey(key: string): string {
  const start = key.indexOf("://") + 3;
  let end = key.indexOf("/", start);
  if (end < 0) end = key.length;
  const authority = key.slice(start, end);
  if (authority.startsWith("[")) return authority.slice(1, authority.indexOf("]"));
  const colon = authority.lastIndexOf(":");
  return colon < 0 ? authority : authority.slice(0, colon);
}

/** What `stats.json` in the cache directory holds: the report of the last run that ended cleanly. */
export interface RunStats {
  /** When the run ended (ms since the epoch). */
  endedAt: number;
  /** Its report. */
  summary: Summary;
}

const RUN_STATS = "stats.json";

/** Keeps this run's report in the cache directory, for `hoard stats`. */
export async function writeRunStats(dir: string, summary: Summary): Promise<void> {
  const stats: RunStats = { endedAt: Date.now(), summary };
  await Deno.writeTextFile(`${dir}/${RUN_STATS}.tmp`, JSON.stringify(stats, null, 1) + "\n");
  await Deno.rename(`${dir}/${RUN_STATS}.tmp`, `${dir}/${RUN_STATS}`);
}

/** The last run's report, if any. */
export async function readRunStats(dir: string): Promise<RunStats | undefined> {
  try {
    const s = JSON.parse(await Deno.readTextFile(`${dir}/${RUN_STATS}`));
    return typeof s?.endedAt === "number" && typeof s?.summary === "object" ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes the report where it was asked for: the log (unless silent), the
 * GitHub step summary, a JSON file, and the cache directory.
 */
export async function publishSummary(
  s: Summary,
  to: { log?: (s: Summary) => void; stepSummary?: string; json?: string; cacheDir?: string },
): Promise<string[]> {
  const failures: string[] = [];
  to.log?.(s);
  const attempt = async (what: string, write: () => Promise<void>) => {
    try {
      await write();
    } catch (err) {
      failures.push(`cannot write ${what}: ${errorLine(err)}`);
    }
  };
  if (to.stepSummary) {
    await attempt(
      to.stepSummary,
      () => Deno.writeTextFile(to.stepSummary!, summaryMarkdown(s), { append: true }),
    );
  }
  if (to.json) {
    await attempt(to.json, () => Deno.writeTextFile(to.json!, JSON.stringify(s, null, 2) + "\n"));
  }
  if (to.cacheDir) await attempt("run statistics", () => writeRunStats(to.cacheDir!, s));
  return failures;
}
