/**
 * The live view (src/observe/metrics.ts): render() is valid Prometheus text, read
 * back with an independent parser; counters are what was recorded, histogram
 * buckets are cumulative and agree with _count and _sum; another thread's
 * snapshot adds into them as if one Metrics had seen both threads' requests.
 */

import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { newCounters as counters } from "../../src/cache/counters.ts";
import { LATENCY_BUCKETS, Metrics, type MetricsSnapshot } from "../../src/observe/metrics.ts";

/** One sample as the parser returns it. */
interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

/** One metric family as the parser returns it. */
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}

/** Parses Prometheus text with parse-prometheus-text-format. */
function parseMetrics(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function family(m: Map<string, Family>, name: string): Family {
  const f = m.get(name);
  assert.ok(f !== undefined, `metric ${name} is exposed`);
  return f;
}

/** The value of a metric without labels. */
function single(m: Map<string, Family>, name: string): number {
  const f = family(m, name);
  assert.equal(f.metrics.length, 1, name);
  return Number(f.metrics[0]!.value);
}

Deno.test("render: parses as Prometheus text; counters and gauges are the given figures", () => {
  const metrics = new Metrics();
  metrics.request("hit", 200, 100);
  metrics.request("hit", 200, 50);
  metrics.request("hit", 304, 0);
  metrics.request("miss", 200, 1000);
  metrics.request("miss", 502, 20);
  metrics.request("pass", 404, 7);
  metrics.request("tunnel", 0, 0);
  const text = metrics.render({
    cache: counters({
      hits: 3,
      misses: 2,
      revalidations: 4,
      revalidated304: 1,
      stored: 5,
      bytesFromCache: 150,
      bytesFromOrigin: 1020,
      staleServed: 6,
    }),
    cacheBytes: 4096,
    cacheEntries: 9,
    openConnections: 2,
  });
  assert.ok(text.endsWith("\n"));
  const m = parseMetrics(text);

  const requests = family(m, "hoard_requests_total");
  assert.equal(requests.type, "COUNTER");
  assert.ok(requests.help.length > 0);
  const byLabels = new Map(
    requests.metrics.map((s) => [`${s.labels!["route"]}/${s.labels!["status"]}`, Number(s.value)]),
  );
  assert.deepEqual(
    byLabels,
    new Map([
      ["hit/2xx", 2],
      ["hit/3xx", 1],
      ["miss/2xx", 1],
      ["miss/5xx", 1],
      ["pass/4xx", 1],
      ["tunnel/none", 1],
    ]),
  );
  const bytes = family(m, "hoard_response_bytes_total");
  assert.equal(bytes.type, "COUNTER");
  assert.deepEqual(
    new Map(bytes.metrics.map((s) => [s.labels!["route"], Number(s.value)])),
    new Map([["hit", 150], ["miss", 1020], ["pass", 7], ["tunnel", 0]]),
  );

  const expected: [string, string, number][] = [
    ["hoard_cache_hits_total", "COUNTER", 3],
    ["hoard_cache_misses_total", "COUNTER", 2],
    ["hoard_cache_revalidations_total", "COUNTER", 4],
    ["hoard_cache_not_modified_total", "COUNTER", 1],
    ["hoard_cache_stale_served_total", "COUNTER", 6],
    ["hoard_cache_stored_total", "COUNTER", 5],
    ["hoard_cache_served_bytes_total", "COUNTER", 150],
    ["hoard_origin_fetched_bytes_total", "COUNTER", 1020],
    ["hoard_cache_size_bytes", "GAUGE", 4096],
    ["hoard_cache_entries", "GAUGE", 9],
    ["hoard_open_connections", "GAUGE", 2],
  ];
  for (const [name, type, value] of expected) {
    assert.equal(family(m, name).type, type, name);
    assert.equal(single(m, name), value, name);
  }
  // Every sample line belongs to a family declared with HELP and TYPE.
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!));
  for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
    const name = /^[a-z_]+/.exec(line)![0];
    const base = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(declared.has(name) || declared.has(base), line);
  }
});

Deno.test("render with nothing recorded: zeros, an empty histogram", () => {
  const m = parseMetrics(
    new Metrics().render({
      cache: counters(),
      cacheBytes: 0,
      cacheEntries: 0,
      openConnections: 0,
    }),
  );
  assert.equal(single(m, "hoard_cache_hits_total"), 0);
  const h = family(m, "hoard_origin_latency_seconds");
  assert.equal(h.type, "HISTOGRAM");
  const sample = h.metrics[0]!;
  assert.equal(Number(sample.count), 0);
  assert.equal(Number(sample.sum), 0);
  for (const v of Object.values(sample.buckets!)) assert.equal(Number(v), 0);
});

Deno.test("origin latency histogram: cumulative buckets, +Inf = _count, _sum in seconds", () => {
  const metrics = new Metrics();
  // ms → first bucket (seconds) whose bound is >= the value.
  const samples = [1, 5, 7, 10, 30, 99, 100, 240, 600, 1000, 2000, 4000, 9000, 10_000, 12_000];
  for (const ms of samples) metrics.originLatency(ms);
  const m = parseMetrics(
    metrics.render({ cache: counters(), cacheBytes: 0, cacheEntries: 0, openConnections: 0 }),
  );
  const h = family(m, "hoard_origin_latency_seconds");
  assert.equal(h.type, "HISTOGRAM");
  assert.equal(h.metrics.length, 1);
  const { buckets, count, sum } = h.metrics[0]!;
  assert.equal(Number(count), samples.length);
  const expectedSum = samples.reduce((a, b) => a + b, 0) / 1000;
  assert.ok(Math.abs(Number(sum) - expectedSum) < 1e-6, `sum ${sum} vs ${expectedSum}`);

  const bounds = [...LATENCY_BUCKETS.map(String), "+Inf"];
  assert.deepEqual(Object.keys(buckets!).sort(), [...bounds].sort());
  let previous = 0;
  for (const bound of bounds) {
    const value = Number(buckets![bound]);
    const le = bound === "+Inf" ? Infinity : Number(bound);
    // Cumulative: every observation at or below the bound.
    assert.equal(value, samples.filter((ms) => ms / 1000 <= le).length, `le=${bound}`);
    assert.ok(value >= previous, `le=${bound} is not below the bucket before`);
    previous = value;
  }
  assert.equal(Number(buckets!["+Inf"]), Number(count));
  // Exactly on a bound counts in that bucket (le = less or equal).
  assert.equal(Number(buckets!["0.01"]), 4);
  assert.equal(Number(buckets!["10"]), samples.length - 1);
});

/** One thread's requests and origin latencies, replayed into a Metrics. */
interface Thread {
  requests: [route: string, status: number, bytes: number][];
  latenciesMs: number[];
}

const THREAD_A: Thread = {
  requests: [["hit", 200, 100], ["hit", 304, 0], ["miss", 200, 1000], ["tunnel", 0, 0]],
  latenciesMs: [3, 40, 700],
};
const THREAD_B: Thread = {
  requests: [["hit", 200, 50], ["miss", 502, 20], ["pass", 404, 7], ["hit", 200, 25]],
  latenciesMs: [40, 9000, 15_000, 2],
};

function replay(metrics: Metrics, t: Thread): Metrics {
  for (const [route, status, bytes] of t.requests) metrics.request(route, status, bytes);
  for (const ms of t.latenciesMs) metrics.originLatency(ms);
  return metrics;
}

function renderAlone(metrics: Metrics): string {
  return metrics.render({ cache: counters(), cacheBytes: 0, cacheEntries: 0, openConnections: 0 });
}

Deno.test("add: another thread's snapshot renders as one Metrics that saw both threads", () => {
  const a = replay(new Metrics(), THREAD_A);
  a.add(replay(new Metrics(), THREAD_B).snapshot());
  const both = replay(replay(new Metrics(), THREAD_A), THREAD_B);
  assert.equal(renderAlone(a), renderAlone(both));

  // And the sums, read back: not only equal to the other render, but right.
  const m = parseMetrics(renderAlone(a));
  const requests = family(m, "hoard_requests_total").metrics;
  assert.deepEqual(
    new Map(requests.map((s) => [`${s.labels!["route"]}/${s.labels!["status"]}`, Number(s.value)])),
    new Map([
      ["hit/2xx", 3],
      ["hit/3xx", 1],
      ["miss/2xx", 1],
      ["tunnel/none", 1],
      ["miss/5xx", 1],
      ["pass/4xx", 1],
    ]),
  );
  const bytes = family(m, "hoard_response_bytes_total").metrics;
  assert.deepEqual(
    new Map(bytes.map((s) => [s.labels!["route"], Number(s.value)])),
    new Map([["hit", 175], ["miss", 1020], ["tunnel", 0], ["pass", 7]]),
  );
  const { buckets, count, sum } = family(m, "hoard_origin_latency_seconds").metrics[0]!;
  assert.equal(Number(count), 7);
  assert.ok(Math.abs(Number(sum) - 24.785) < 1e-6, `sum ${sum}`);
  assert.equal(Number(buckets!["0.005"]), 2);
  assert.equal(Number(buckets!["0.05"]), 4);
  assert.equal(Number(buckets!["10"]), 6);
  assert.equal(Number(buckets!["+Inf"]), 7);
});

Deno.test("snapshot: survives structuredClone and JSON; the main thread sums all threads", () => {
  const posted = [THREAD_A, THREAD_B].map((t) => replay(new Metrics(), t).snapshot());
  const cloned = posted.map((s) => structuredClone(s));
  assert.deepEqual(cloned, posted);
  assert.deepEqual(JSON.parse(JSON.stringify(posted)), posted);

  // The main thread's own requests, then every worker's latest snapshot, into a new Metrics.
  const main = new Metrics();
  main.request("hit", 200, 1);
  const total = new Metrics();
  total.add(main.snapshot());
  for (const s of cloned) total.add(s);
  const all = replay(replay(new Metrics(), THREAD_A), THREAD_B);
  all.request("hit", 200, 1);
  const sorted = (text: string) => text.split("\n").sort().join("\n");
  // Only the order of the series differs (the main thread's "hit" came first).
  assert.equal(sorted(renderAlone(total)), sorted(renderAlone(all)));
});

Deno.test("snapshot: a copy; nothing recorded is all zeros and adds nothing", () => {
  const metrics = replay(new Metrics(), THREAD_A);
  const s = metrics.snapshot();
  const before = structuredClone(s);
  metrics.request("hit", 200, 100);
  metrics.originLatency(1);
  assert.deepEqual(s, before);
  // Adding a snapshot does not tie the two together either.
  const other = new Metrics();
  other.add(s);
  other.request("hit", 200, 100);
  assert.deepEqual(s, before);

  const empty = new Metrics().snapshot();
  assert.deepEqual(empty, {
    requests: [],
    bytes: [],
    latency: { buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 },
  });
  const text = renderAlone(metrics);
  metrics.add(empty);
  assert.equal(renderAlone(metrics), text);
});

Deno.test("add: a histogram of other buckets is refused, and nothing is added", () => {
  const metrics = replay(new Metrics(), THREAD_A);
  const text = renderAlone(metrics);
  const s: MetricsSnapshot = replay(new Metrics(), THREAD_B).snapshot();
  s.latency.buckets.pop();
  assert.throws(() => metrics.add(s), RangeError);
  assert.equal(renderAlone(metrics), text);
});
