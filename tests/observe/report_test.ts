/**
 * The run report (src/observe/report.ts): figures from the cache counters, the
 * time-saved estimate at the measured origin speed, most-missed hosts,
 * offline misses, and where the report is written; another thread's snapshot
 * adds into a report as if it had seen both threads' events.
 */

import assert from "node:assert/strict";
import { newCounters as counters } from "../../src/cache/counters.ts";
import { newSharedCounters } from "../../src/cache/shared/counters.ts";
import {
  hostOfKey,
  publishSummary,
  readRunStats,
  type ReportSnapshot,
  RunReport,
  type Summary,
  summaryMarkdown,
  summaryText,
  writeRunStats,
} from "../../src/observe/report.ts";

const MiB = 1024 * 1024;

/** A summary with every figure set, for the formatting tests. */
function sample(extra: Partial<Summary> = {}): Summary {
  return {
    durationSeconds: 42,
    requests: 20,
    hits: 15,
    misses: 5,
    revalidations: 3,
    notModified: 2,
    staleServed: 1,
    stored: 4,
    removed: 1,
    cacheChanged: true,
    bytesFromCache: 10 * MiB,
    bytesFromOrigin: 1536,
    timeSavedSeconds: 2.5,
    topHosts: [
      { host: "registry.example.test", hits: 10, misses: 3 },
      { host: "index.example.test", hits: 5, misses: 2 },
    ],
    topMissedHosts: [{ host: "registry.example.test", misses: 3 }, {
      host: "index.example.test",
      misses: 2,
    }],
    offlineMisses: [],
    ...extra,
  };
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "hoard-report-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("summary: the figures are the counters', the duration is rounded seconds", () => {
  const r = new RunReport();
  r.requests = 17;
  const s = r.summary(
    counters({
      hits: 9,
      misses: 6,
      revalidations: 4,
      revalidated304: 3,
      stored: 5,
      staleServed: 2,
      removed: 3,
      bytesFromCache: 1234,
      bytesFromOrigin: 5678,
    }),
    r.startedAt + 61_400,
  );
  assert.equal(s.removed, 3);
  assert.equal(s.cacheChanged, true);
  assert.equal(s.durationSeconds, 61);
  assert.equal(s.requests, 17);
  assert.equal(s.hits, 9);
  assert.equal(s.misses, 6);
  assert.equal(s.revalidations, 4);
  assert.equal(s.notModified, 3);
  assert.equal(s.stored, 5);
  assert.equal(s.staleServed, 2);
  assert.equal(s.bytesFromCache, 1234);
  assert.equal(s.bytesFromOrigin, 5678);
  assert.deepEqual(s.topMissedHosts, []);
  assert.deepEqual(s.topHosts, []);
  assert.deepEqual(s.offlineMisses, []);
  assert.equal(r.summary(counters(), r.startedAt + 400).durationSeconds, 0);
  assert.equal(r.summary(counters(), r.startedAt + 1500).durationSeconds, 2);
});

Deno.test("time saved: defaults (100 ms, 20 MiB/s) when nothing was fetched to measure", () => {
  const r = new RunReport();
  // 3 hits + 1 revalidated 304 = 4 round trips of 100 ms; 10 MiB at 20 MiB/s = 0.5 s.
  const s = r.summary(counters({ hits: 3, revalidated304: 1, bytesFromCache: 10 * MiB }));
  assert.equal(s.timeSavedSeconds, 0.9);
  assert.equal(r.summary(counters()).timeSavedSeconds, 0);
});

Deno.test("time saved: the origin speed this run measured", () => {
  const r = new RunReport();
  r.fetched(400, 1 * MiB);
  r.fetched(600, 3 * MiB);
  // Latency: half the mean fetch time, 250 ms; speed: 4 MiB in 1 s.
  // 4 hits * 0.25 s + 8 MiB / (4 MiB/s) = 1 + 2 = 3 s.
  const c = counters({ hits: 4, bytesFromCache: 8 * MiB });
  assert.equal(r.summary(c).timeSavedSeconds, 3);

  // A slower origin makes the same hits worth more.
  const slow = new RunReport();
  slow.fetched(4000, 1 * MiB);
  assert.ok(slow.summary(c).timeSavedSeconds > r.summary(c).timeSavedSeconds);
  // 4 * 2 s + 8 MiB / (0.25 MiB/s) = 8 + 32 = 40 s.
  assert.equal(slow.summary(c).timeSavedSeconds, 40);

  // Fetches of empty bodies measure latency but not speed: the default speed stays.
  const empty = new RunReport();
  empty.fetched(200, 0);
  // 2 hits * 0.1 s + 20 MiB / 20 MiB/s = 1.2 s.
  assert.equal(
    empty.summary(counters({ hits: 2, bytesFromCache: 20 * MiB })).timeSavedSeconds,
    1.2,
  );
});

Deno.test("most missed hosts: counted per host, the top 10, most first", () => {
  const r = new RunReport();
  const misses: [string, number][] = [
    ["h1", 1],
    ["h2", 12],
    ["h3", 3],
    ["h4", 7],
    ["h5", 2],
    ["h6", 9],
    ["h7", 4],
    ["h8", 11],
    ["h9", 5],
    ["h10", 8],
    ["h11", 6],
    ["h12", 10],
  ];
  // Interleaved, so the counting (not the order of calls) decides.
  for (let round = 0; round < 12; round++) {
    for (const [host, n] of misses) if (round < n) r.missed(host);
  }
  assert.deepEqual(r.summary(counters()).topMissedHosts, [
    { host: "h2", misses: 12 },
    { host: "h8", misses: 11 },
    { host: "h12", misses: 10 },
    { host: "h6", misses: 9 },
    { host: "h10", misses: 8 },
    { host: "h4", misses: 7 },
    { host: "h11", misses: 6 },
    { host: "h9", misses: 5 },
    { host: "h7", misses: 4 },
    { host: "h3", misses: 3 },
  ]);
});

Deno.test("offline misses are listed in order, duplicates kept, at most 1000", () => {
  const r = new RunReport();
  r.offlineMiss("http://a.example/x");
  r.offlineMiss("https://b.example/y?z=1");
  r.offlineMiss("http://a.example/x");
  assert.deepEqual(r.summary(counters()).offlineMisses, [
    "http://a.example/x",
    "https://b.example/y?z=1",
    "http://a.example/x",
  ]);
  for (let i = 0; i < 1500; i++) r.offlineMiss(`http://c.example/${i}`);
  const listed = r.summary(counters()).offlineMisses;
  assert.equal(listed.length, 1000);
  assert.equal(listed.at(-1), "http://c.example/996");
  // The summary is a copy: changing it does not change the report.
  listed.length = 0;
  assert.equal(r.summary(counters()).offlineMisses.length, 1000);
});

Deno.test("summaryText: the lines of the log", () => {
  assert.equal(
    summaryText(sample({ offlineMisses: ["http://a.example/x", "https://b.example/y"] })),
    "hoard: 20 requests in 42 s: 15 hits, 5 misses (75% hits), 3 revalidations (2 not modified), " +
      "1 stale served, 4 stored\n" +
      "hoard: 10.0 MiB from the cache, 1.5 KiB from origins; about 2.5 s saved\n" +
      "hoard: most misses: registry.example.test (3), index.example.test (2)\n" +
      "hoard: offline, not in the cache (2):\n" +
      "  http://a.example/x\n" +
      "  https://b.example/y\n",
  );
  // Nothing happened: no hit rate, no host or offline lines.
  const empty = summaryText(
    sample({
      requests: 0,
      hits: 0,
      misses: 0,
      revalidations: 0,
      notModified: 0,
      staleServed: 0,
      stored: 0,
      bytesFromCache: 0,
      bytesFromOrigin: 0,
      timeSavedSeconds: 0,
      topMissedHosts: [],
    }),
  );
  assert.equal(
    empty,
    "hoard: 0 requests in 42 s: 0 hits, 0 misses, 0 revalidations (0 not modified), " +
      "0 stale served, 0 stored\n" +
      "hoard: 0 B from the cache, 0 B from origins; about 0 s saved\n",
  );
  assert.match(summaryText(sample({ hits: 1, misses: 2 })), /1 hits, 2 misses \(33% hits\)/);
});

Deno.test("summaryMarkdown: headline, a Mermaid pie, the figures, hosts, offline misses", () => {
  assert.equal(
    summaryMarkdown(sample({ offlineMisses: ["http://a.example/x", "http://a.example/`y`"] })),
    "### hoard cache\n\n" +
      "**75% hits**: 15 of 20 cacheable requests answered from the cache; 10.0 MiB from the " +
      "cache, 1.5 KiB from origins; about 2.5 s saved.\n" +
      "\n```mermaid\npie showData title Answers\n" +
      '    "Hits" : 15\n' +
      '    "Revalidated, not modified" : 2\n' +
      '    "Revalidated, changed" : 1\n' +
      '    "Misses" : 5\n' +
      "```\n" +
      "\n| | |\n|---|---:|\n" +
      "| Requests | 20 |\n" +
      "| Cache hits | 15 |\n" +
      "| Misses | 5 |\n" +
      "| Hit ratio | 75% |\n" +
      "| Revalidations (not modified) | 3 (2) |\n" +
      "| Stale served (origin failed) | 1 |\n" +
      "| Stored | 4 |\n" +
      "| Removed (evicted, invalidated) | 1 |\n" +
      "| From the cache | 10.0 MiB |\n" +
      "| From origins | 1.5 KiB |\n" +
      "| Time saved (estimate) | 2.5 s |\n" +
      "\n| Host | Hits | Misses |\n|---|---:|---:|\n" +
      "| registry.example.test | 10 | 3 |\n" +
      "| index.example.test | 5 | 2 |\n" +
      "\nOffline, not in the cache (2):\n\n" +
      "- `http://a.example/x`\n" +
      "- `http://a.example/%60y%60`\n" +
      "\n",
  );
  // Nothing cacheable: no ratio, no chart, no hosts, no offline list.
  const bare = summaryMarkdown(
    sample({
      hits: 0,
      misses: 0,
      revalidations: 0,
      notModified: 0,
      topHosts: [],
      requests: 3,
    }),
  );
  assert.ok(bare.startsWith("### hoard cache\n\nNo cacheable requests; 3 requests in all.\n\n| |"));
  assert.doesNotMatch(bare, /mermaid|Hit ratio|\| Host |Offline/);
  assert.ok(bare.endsWith("| Time saved (estimate) | 2.5 s |\n\n"));
  // Slices at zero are left out of the pie.
  const allHits = summaryMarkdown(sample({ misses: 0, revalidations: 0, notModified: 0 }));
  assert.match(allHits, /pie showData title Answers\n {4}"Hits" : 15\n```/);
});

Deno.test("hosts: hits by the host of the entry's key, misses by origin host, busiest first", () => {
  const r = new RunReport();
  for (let i = 0; i < 3; i++) r.hit("https://registry.example.test/pkg/-/pkg-1.0.0.tgz");
  r.hit("https://registry.example.test:8443/x");
  r.hit("http://[::1]:8080/y");
  r.missed("registry.example.test");
  r.missed("files.example.test");
  r.missed("files.example.test");
  const s = r.summary(counters());
  assert.deepEqual(s.topHosts, [
    { host: "registry.example.test", hits: 4, misses: 1 },
    { host: "files.example.test", hits: 0, misses: 2 },
    { host: "::1", hits: 1, misses: 0 },
  ]);
  assert.deepEqual(s.topMissedHosts, [
    { host: "files.example.test", misses: 2 },
    { host: "registry.example.test", misses: 1 },
  ]);
  assert.equal(hostOfKey("http://example.test"), "example.test");
});

Deno.test("publishSummary: log, step summary appended, JSON, stats.json", async () => {
  await using dir = await tempDir();
  const stepSummary = `${dir.path}/step_summary.md`;
  await Deno.writeTextFile(stepSummary, "## Earlier step\n\nkept\n");
  const json = `${dir.path}/summary.json`;
  await Deno.writeTextFile(json, "old content that is replaced");
  const logged: Summary[] = [];
  const s = sample();
  const failures = await publishSummary(s, {
    log: (t) => logged.push(t),
    stepSummary,
    json,
    cacheDir: dir.path,
  });
  assert.deepEqual(failures, []);
  assert.deepEqual(logged, [s]);
  assert.equal(
    await Deno.readTextFile(stepSummary),
    "## Earlier step\n\nkept\n" + summaryMarkdown(s),
  );
  assert.equal(await Deno.readTextFile(json), JSON.stringify(s, null, 2) + "\n");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(json)), s);
  const stats = await readRunStats(dir.path);
  assert.ok(stats !== undefined);
  assert.deepEqual(stats.summary, s);
  assert.ok(Math.abs(stats.endedAt - Date.now()) < 5000);
  // No temp file left behind.
  const names = [];
  for await (const e of Deno.readDir(dir.path)) names.push(e.name);
  assert.deepEqual(names.sort(), ["stats.json", "step_summary.md", "summary.json"]);

  // A second run appends again.
  await publishSummary(s, { stepSummary });
  assert.equal(
    await Deno.readTextFile(stepSummary),
    "## Earlier step\n\nkept\n" + summaryMarkdown(s) + summaryMarkdown(s),
  );
});

Deno.test("publishSummary: a place that cannot be written is a failure line, the rest is written", async () => {
  await using dir = await tempDir();
  const json = `${dir.path}/summary.json`;
  const failures = await publishSummary(sample(), {
    stepSummary: `${dir.path}/missing/dir/summary.md`,
    json,
    cacheDir: `${dir.path}/no-such-cache`,
  });
  assert.equal(failures.length, 2);
  assert.match(failures[0]!, new RegExp(`^cannot write ${dir.path}/missing/dir/summary\\.md: `));
  assert.match(failures[1]!, /^cannot write run statistics: /);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(json)), sample());
  // Nothing asked for, nothing done.
  assert.deepEqual(await publishSummary(sample(), {}), []);
});

Deno.test("readRunStats: round trip; missing, broken or foreign files read as none", async () => {
  await using dir = await tempDir();
  assert.equal(await readRunStats(dir.path), undefined);
  const s = sample({ offlineMisses: ["http://a.example/x"] });
  const before = Date.now();
  await writeRunStats(dir.path, s);
  const back = await readRunStats(dir.path);
  assert.ok(back !== undefined);
  assert.deepEqual(back.summary, s);
  assert.ok(back.endedAt >= before && back.endedAt <= Date.now());
  await Deno.writeTextFile(`${dir.path}/stats.json`, "{ not json");
  assert.equal(await readRunStats(dir.path), undefined);
  await Deno.writeTextFile(`${dir.path}/stats.json`, JSON.stringify({ endedAt: "yesterday" }));
  assert.equal(await readRunStats(dir.path), undefined);
  await Deno.writeTextFile(`${dir.path}/stats.json`, "null");
  assert.equal(await readRunStats(dir.path), undefined);
});

/** One thread's events, replayed into a RunReport. */
interface Thread {
  requests: number;
  hits: string[];
  misses: string[];
  offline: string[];
  fetched: [ms: number, bytes: number][];
}

const THREAD_A: Thread = {
  requests: 9,
  hits: ["https://registry.example.test/a.tgz", "https://registry.example.test/b.tgz"],
  misses: ["registry.example.test", "files.example.test", "files.example.test"],
  offline: ["http://a.example/x"],
  fetched: [[400, 1 * MiB], [600, 3 * MiB]],
};
const THREAD_B: Thread = {
  requests: 6,
  hits: ["https://files.example.test/c", "https://index.example.test/d"],
  misses: ["registry.example.test", "other.example.test"],
  offline: ["http://b.example/y", "http://a.example/x"],
  fetched: [[3000, 1 * MiB]],
};

function replay(r: RunReport, t: Thread): RunReport {
  r.requests += t.requests;
  for (const key of t.hits) r.hit(key);
  for (const host of t.misses) r.missed(host);
  for (const url of t.offline) r.offlineMiss(url);
  for (const [ms, bytes] of t.fetched) r.fetched(ms, bytes);
  return r;
}

/** The summary 5 s after the report's start, with hits worth estimating time for. */
function summaryAt5s(r: RunReport): Summary {
  return r.summary(counters({ hits: 4, bytesFromCache: 8 * MiB }), r.startedAt + 5000);
}

Deno.test("add: the summary is that of one report that saw both threads' events", () => {
  const a = replay(new RunReport(), THREAD_A);
  a.add(replay(new RunReport(), THREAD_B).snapshot());
  const both = replay(replay(new RunReport(), THREAD_A), THREAD_B);
  assert.deepEqual(summaryAt5s(a), summaryAt5s(both));
  assert.deepEqual(a.snapshot(), both.snapshot());

  // And the figures, not only equal to the other report's, but right.
  const s = summaryAt5s(a);
  assert.equal(s.requests, 15);
  assert.deepEqual(s.topHosts, [
    { host: "registry.example.test", hits: 2, misses: 2 },
    { host: "files.example.test", hits: 1, misses: 2 },
    { host: "index.example.test", hits: 1, misses: 0 },
    { host: "other.example.test", hits: 0, misses: 1 },
  ]);
  assert.deepEqual(s.offlineMisses, [
    "http://a.example/x",
    "http://b.example/y",
    "http://a.example/x",
  ]);
  // Every fetch's speed: latency half of 4000 ms / 3, speed 5 MiB in 4 s.
  // 4 hits * 0.6667 s + 8 MiB / 1.25 MiB/s = 2.667 + 6.4 = 9.1 s.
  assert.equal(s.timeSavedSeconds, 9.1);
});

Deno.test("snapshot: survives structuredClone and JSON; the main thread sums all threads", () => {
  const posted: ReportSnapshot[] = [THREAD_A, THREAD_B].map((t) =>
    replay(new RunReport(), t).snapshot()
  );
  const cloned = posted.map((s) => structuredClone(s));
  assert.deepEqual(cloned, posted);
  assert.deepEqual(JSON.parse(JSON.stringify(posted)), posted);
  const total = new RunReport();
  for (const s of cloned) total.add(s);
  const both = replay(replay(new RunReport(), THREAD_A), THREAD_B);
  assert.deepEqual(summaryAt5s(total), summaryAt5s(both));
});

Deno.test("add: hosts and offline misses stay capped at 1000, the first kept, as when recorded", () => {
  const a = new RunReport();
  for (let i = 0; i < 1000; i++) a.missed(`h${i}.example.test`);
  for (let i = 0; i < 998; i++) a.offlineMiss(`http://a.example/${i}`);
  const b = new RunReport();
  b.missed("h5.example.test");
  b.missed("new.example.test");
  for (let i = 0; i < 5; i++) b.offlineMiss(`http://b.example/${i}`);
  a.add(b.snapshot());

  const s = a.snapshot();
  assert.equal(s.hosts.length, 1000);
  // A host already listed is summed; one past the cap is left out, as a miss recorded here would be.
  assert.deepEqual(s.hosts.find((h) => h.host === "h5.example.test"), {
    host: "h5.example.test",
    hits: 0,
    misses: 2,
  });
  assert.equal(s.hosts.find((h) => h.host === "new.example.test"), undefined);
  assert.equal(s.offlineMisses.length, 1000);
  assert.deepEqual(s.offlineMisses.slice(-3), [
    "http://a.example/997",
    "http://b.example/0",
    "http://b.example/1",
  ]);
  // Full: adding more changes neither list.
  a.add(b.snapshot());
  assert.deepEqual(a.snapshot().offlineMisses, s.offlineMisses);
  assert.equal(a.snapshot().hosts.length, 1000);
});

Deno.test("snapshot: a copy, without the start time or the shared counters; add leaves them", () => {
  const a = replay(new RunReport(), THREAD_A);
  const s = a.snapshot();
  const before = structuredClone(s);
  replay(a, THREAD_B);
  assert.deepEqual(s, before);
  assert.deepEqual(Object.keys(s).sort(), ["fetched", "hosts", "offlineMisses", "requests"]);

  // The report adding keeps its own start and shared counters (summed apart, with addSharedCounters).
  const main = new RunReport();
  const shared = newSharedCounters();
  main.shared = shared;
  const startedAt = main.startedAt;
  main.add(s);
  assert.equal(main.startedAt, startedAt);
  assert.equal(main.shared, shared);
  assert.deepEqual(shared, newSharedCounters());
  // Adding into a report does not tie it to the snapshot.
  main.missed("registry.example.test");
  assert.deepEqual(s, before);

  // Nothing collected adds nothing.
  const figures = summaryAt5s(a);
  a.add(new RunReport().snapshot());
  assert.deepEqual(summaryAt5s(a), figures);
});
