/**
 * What hoard tells about a run, end to end: the summary at shutdown (GitHub
 * step summary, --summary-json, stats.json for `hoard stats`), the live
 * Prometheus metrics and health endpoints, and JSON log lines.
 */

import assert from "node:assert/strict";
import { get, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { curl } from "../_helpers/clients.ts";
import { runHoard, startHoardProcess } from "../_helpers/process.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import type { Summary } from "../../src/observe/report.ts";
import { parseMetrics, samples, tempDir, valueOf, withEnv } from "./ci_helpers.ts";

const A_BODY = "a".repeat(1000);
const B_BODY = "b".repeat(300);

function twoPathOrigin() {
  return startRoutedOrigin({
    "/a": () => new Response(A_BODY, { headers: { "cache-control": "max-age=60" } }),
    "/b": () => new Response(B_BODY, { headers: { "cache-control": "max-age=60" } }),
    "/post": () => new Response("posted"),
  });
}

/** The rows of the first Markdown table in `md`, label to value. */
function tableRows(md: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of md.split("\n")) {
    const m = /^\| (.+?) \| (.+?) \|$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  return rows;
}

Deno.test("report at close: step summary appended, --summary-json exact, stats.json for hoard stats", async () => {
  await using dir = await tempDir();
  const stepSummary = `${dir.path}/step_summary.md`;
  await Deno.writeTextFile(stepSummary, "## Build\n\nearlier step output\n");
  const summaryJson = `${dir.path}/summary.json`;
  const cacheDir = `${dir.path}/cache`;
  await using origin = twoPathOrigin();
  const proxy = await startTestProxy({ cacheDir, stepSummary, summaryJson });
  try {
    // /a: miss, hit, hit; /b: miss, hit; one POST (passed).
    for (const p of ["/a", "/a", "/b", "/a", "/b"]) await get(proxy, origin.url + p);
    await get(proxy, origin.url + "/post", "--data-binary", "x");
  } finally {
    await proxy.close();
  }
  assert.equal(origin.requests.length, 3);

  const md = await Deno.readTextFile(stepSummary);
  assert.ok(md.startsWith("## Build\n\nearlier step output\n### hoard cache\n"), md);
  const rows = tableRows(md);
  assert.equal(rows.get("Requests"), "6");
  assert.equal(rows.get("Cache hits"), "3");
  assert.equal(rows.get("Misses"), "2");
  assert.equal(rows.get("Stored"), "2");
  assert.equal(rows.get("Stale served (origin failed)"), "0");
  assert.equal(rows.get("From the cache"), "2.2 KiB");
  assert.equal(rows.get("From origins"), "1.3 KiB");
  assert.equal(rows.get("Hit ratio"), "60%");
  assert.equal(rows.get("127.0.0.1"), "3 | 2", "the host's hits and misses");
  assert.match(
    md,
    /\n```mermaid\npie showData title Answers\n {4}"Hits" : 3\n {4}"Misses" : 2\n```\n/,
  );

  const json: Summary = JSON.parse(await Deno.readTextFile(summaryJson));
  assert.equal(json.requests, 6);
  assert.equal(json.hits, 3);
  assert.equal(json.misses, 2);
  assert.equal(json.stored, 2);
  assert.equal(json.revalidations, 0);
  assert.equal(json.staleServed, 0);
  assert.equal(json.bytesFromCache, 2300);
  assert.equal(json.bytesFromOrigin, 1300);
  assert.deepEqual(json.topMissedHosts, [{ host: "127.0.0.1", misses: 2 }]);
  assert.deepEqual(json.topHosts, [{ host: "127.0.0.1", hits: 3, misses: 2 }]);
  assert.equal(json.removed, 0);
  assert.equal(json.cacheChanged, true, "two responses were stored");
  assert.deepEqual(json.offlineMisses, []);
  assert.ok(json.timeSavedSeconds >= 0);

  const stats = await runHoard(["stats", "--cache-dir", cacheDir]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, new RegExp(`^cache ${cacheDir}: 2 entries, `));
  assert.match(stats.stdout, /\nlast run, ended \d{4}-\d\d-\d\dT[\d:.]+Z:\n/);
  assert.match(
    stats.stdout,
    /\nhoard: 6 requests in \d+ s: 3 hits, 2 misses \(60% hits\), 0 revalidations \(0 not modified\), 0 stale served, 2 stored\n/,
  );
  assert.match(stats.stdout, /\nhoard: most misses: 127\.0\.0\.1 \(2\)\n/);
});

Deno.test("hoard process: GITHUB_STEP_SUMMARY and --summary-json written at exit, summary on stderr", async () => {
  await using dir = await tempDir();
  const stepSummary = `${dir.path}/step_summary.md`;
  const summaryJson = `${dir.path}/summary.json`;
  await using origin = twoPathOrigin();
  await using hoard = await withEnv(
    { GITHUB_STEP_SUMMARY: stepSummary },
    () => startHoardProcess(["--summary-json", summaryJson, "--cache-dir", `${dir.path}/c`]),
  );
  const at = { url: hoard.url, cacheDir: `${dir.path}/c` };
  assert.equal((await get(at, origin.url + "/a")).text, A_BODY);
  assert.equal((await get(at, origin.url + "/a")).text, A_BODY);
  assert.equal((await get(at, origin.url + "/a")).text, A_BODY);
  assert.equal((await get(at, origin.url + "/b")).text, B_BODY);
  assert.equal((await hoard.stop("SIGTERM")).code, 0);
  assert.equal(origin.requests.length, 2);

  const rows = tableRows(await Deno.readTextFile(stepSummary));
  assert.equal(rows.get("Requests"), "4");
  assert.equal(rows.get("Cache hits"), "2");
  assert.equal(rows.get("Misses"), "2");
  const json: Summary = JSON.parse(await Deno.readTextFile(summaryJson));
  assert.equal(json.requests, 4);
  assert.equal(json.hits, 2);
  assert.equal(json.misses, 2);
  assert.equal(json.bytesFromCache, 2000);
  assert.equal(json.bytesFromOrigin, 1300);
  assert.match(hoard.stderr(), /hoard: 4 requests in \d+ s: 2 hits, 2 misses \(50% hits\)/);

  const stats = await runHoard(["stats", "--cache-dir", `${dir.path}/c`]);
  assert.match(stats.stdout, /hoard: 4 requests in \d+ s: 2 hits, 2 misses \(50% hits\)/);
});

Deno.test("metrics: /_hoard/metrics parses and counts the traffic sent", async () => {
  await using origin = twoPathOrigin();
  await using proxy = await startTestProxy();
  for (const p of ["/a", "/a", "/a", "/b", "/b"]) await get(proxy, origin.url + p);
  await get(proxy, origin.url + "/post", "--data-binary", "x");
  const missing = await get(proxy, "http://127.0.0.1:1/refused");
  assert.equal(missing.status, 502);
  const originRequests = origin.requests.length;
  assert.equal(originRequests, 3);

  // Origin-form: a request for hoard itself, not through it.
  const r = await curl(["--max-time", "10", `${proxy.url}/_hoard/metrics`]);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const m = parseMetrics(r.text);

  const requests = (route: string, status: string) =>
    valueOf(m, "hoard_requests_total", { route, status });
  assert.equal(requests("hit", "2xx"), 3);
  assert.equal(requests("miss", "2xx"), 2);
  assert.equal(requests("pass", "2xx"), 1);
  assert.equal(requests("miss", "5xx"), 1);
  // Seven requests through the proxy and nothing else (this one is counted once it ends).
  const total = samples(m, "hoard_requests_total").reduce((n, s) => n + Number(s.value), 0);
  assert.equal(total, 7);
  assert.equal(valueOf(m, "hoard_response_bytes_total", { route: "hit" }), 2 * 1000 + 300);

  assert.equal(valueOf(m, "hoard_cache_hits_total"), 3);
  assert.equal(valueOf(m, "hoard_cache_misses_total"), 3);
  assert.equal(valueOf(m, "hoard_cache_stored_total"), 2);
  assert.equal(valueOf(m, "hoard_cache_served_bytes_total"), 2300);
  assert.equal(valueOf(m, "hoard_origin_fetched_bytes_total"), 1300);
  assert.equal(valueOf(m, "hoard_cache_entries"), 2);
  assert.ok(valueOf(m, "hoard_cache_size_bytes") >= 1300);
  assert.ok(valueOf(m, "hoard_open_connections") >= 1, "at least this request's connection");

  const [h] = samples(m, "hoard_origin_latency_seconds");
  assert.equal(Number(h!.count), originRequests, "one observation per origin response");
  assert.equal(Number(h!.buckets!["+Inf"]), originRequests);
  assert.ok(Number(h!.sum) > 0 && Number(h!.sum) < 5);

  // The metrics request itself shows up in the next scrape, as a local one.
  const next = parseMetrics(
    (await curl(["--max-time", "10", `${proxy.url}/_hoard/metrics`])).text,
  );
  assert.equal(valueOf(next, "hoard_requests_total", { route: "local", status: "2xx" }), 1);
  assert.equal(valueOf(next, "hoard_cache_hits_total"), 3);
  // Local requests are not part of the run's request count.
  assert.equal(proxy.summary().requests, 7);
});

Deno.test("health and CA endpoints: /_hoard/health, /healthz; ca.pem only with interception", async () => {
  await using plain = await startTestProxy();
  for (const path of ["/_hoard/health", "/healthz"]) {
    const r = await curl(["--max-time", "10", `${plain.url}${path}`]);
    assert.equal(r.status, 200, path);
    assert.equal(r.text, "ok\n", path);
  }
  // Absolute-form to hoard's own address is answered locally too.
  const abs = await curl(["--max-time", "10", "-x", plain.url, `${plain.url}/_hoard/health`]);
  assert.equal(abs.text, "ok\n");
  const noCa = await curl(["--max-time", "10", `${plain.url}/_hoard/ca.pem`]);
  assert.equal(noCa.status, 404);
  assert.doesNotMatch(noCa.text, /BEGIN CERTIFICATE/);
  const unknown = await curl(["--max-time", "10", `${plain.url}/_hoard/nothing`]);
  assert.equal(unknown.status, 404);
  const post = await curl(["--max-time", "10", "--data-binary", "x", `${plain.url}/_hoard/health`]);
  assert.equal(post.status, 405);

  await using intercepting = await startTestProxy({ intercept: ["*"] });
  const ca = await curl(["--max-time", "10", `${intercepting.url}/_hoard/ca.pem`]);
  assert.equal(ca.status, 200);
  assert.equal(ca.headers["content-type"], "application/x-pem-file");
  assert.match(ca.text, /^-----BEGIN CERTIFICATE-----\n/);
  assert.equal(ca.text, await Deno.readTextFile(`${intercepting.cacheDir}/ca/ca.pem`));
});

/** The fields every JSON request line has. */
interface JsonLine {
  time: string;
  client?: string;
  method: string;
  url: string;
  status: number;
  route: string;
  cacheStatus?: string;
  bytes: number;
  ms: number;
  originMs?: number;
  error?: string;
}

Deno.test("--log-format json: one JSON object per request with what was decided", async () => {
  await using origin = twoPathOrigin();
  await using proxy = await startTestProxy({ logFormat: "json", connectPorts: [origin.port] });
  await get(proxy, origin.url + "/a");
  await get(proxy, origin.url + "/a");
  await get(proxy, origin.url + "/post", "--data-binary", "x");
  await get(proxy, "http://127.0.0.1:1/refused");
  await curl(["--max-time", "10", `${proxy.url}/_hoard/health`]);

  assert.equal(proxy.logs.length, 5);
  const lines: JsonLine[] = proxy.logs.map((l) => JSON.parse(l));
  for (const l of lines) {
    assert.ok(!Number.isNaN(Date.parse(l.time)), l.time);
    assert.match(l.client ?? "", /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof l.ms, "number");
    assert.ok(l.ms >= 0);
    assert.equal(typeof l.bytes, "number");
  }
  const [miss, hit, pass, failed, local] = lines as [
    JsonLine,
    JsonLine,
    JsonLine,
    JsonLine,
    JsonLine,
  ];
  assert.deepEqual(
    [miss.method, miss.url, miss.status, miss.route, miss.cacheStatus, miss.bytes],
    ["GET", `${origin.url}/a`, 200, "miss", "hoard; fwd=uri-miss; stored", 1000],
  );
  assert.equal(typeof miss.originMs, "number");
  assert.equal(miss.error, undefined);
  assert.deepEqual(
    [hit.method, hit.url, hit.status, hit.route, hit.bytes],
    ["GET", `${origin.url}/a`, 200, "hit", 1000],
  );
  assert.match(hit.cacheStatus ?? "", /^hoard; hit; ttl=\d+$/);
  assert.equal(hit.originMs, undefined, "a hit asks no origin");
  assert.deepEqual(
    [pass.method, pass.status, pass.route, pass.cacheStatus, pass.bytes],
    ["POST", 200, "pass", "hoard; fwd=method", 6],
  );
  assert.deepEqual(
    [failed.url, failed.status, failed.route, failed.error],
    ["http://127.0.0.1:1/refused", 502, "miss", "connection_refused"],
  );
  assert.deepEqual([local.method, local.status, local.route], ["GET", 200, "local"]);
});

Deno.test({
  name: "--log-format json: the diagnostics and the summary at exit are JSON lines too",
  fn: async () => {
    await using origin = twoPathOrigin();
    const proxy = await startTestProxy({ logFormat: "json" });
    try {
      await get(proxy, origin.url + "/a");
    } finally {
      await proxy.close();
    }
    const lines = proxy.logs.flatMap((l) => l.split("\n"));
    assert.ok(lines.length > 1);
    for (const line of lines) {
      assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    }
  },
});
