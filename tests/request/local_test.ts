/**
 * The local step (src/request/local.ts) without sockets: hoard's own pages
 * written to an in-memory client, and the requests it refuses.
 */

import assert from "node:assert/strict";
import { newCounters } from "../../src/cache/counters.ts";
import type { ProxyContext } from "../../src/context.ts";
import { ProxyError } from "../../src/errors.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { local } from "../../src/request/local.ts";
import { DONE } from "../../src/request/step.ts";
import { exchange, MemoryClient, request, response } from "./_memory_client.ts";

/** Only what the local step reads. */
function proxy(caPem?: string): ProxyContext {
  const counters = newCounters({ hits: 7 });
  return {
    metrics: new Metrics(),
    cache: { counters, usedBytes: 1234, entryCount: 2 },
    openConnections: () => 3,
    interception: caPem === undefined ? undefined : { ca: { certPem: caPem } },
  } as unknown as ProxyContext;
}

/** Runs the local step for `method path` (and `extra` lines); the client's response. */
async function page(
  path: string,
  { method = "GET", extra = "", caPem = undefined as string | undefined } = {},
) {
  const client = new MemoryClient();
  const ex = exchange(client, { method, route: "local" });
  const req = request(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:8080${extra}`);
  const next = await local(proxy(caPem), ex, req, { kind: "local", path });
  assert.equal(next, DONE);
  return { ex, ...response(client.text()) };
}

Deno.test("local step: the health check answers ok, never stored, under both paths", async () => {
  for (const path of ["/_hoard/health", "/healthz"]) {
    const { ex, status, fields, body } = await page(path);
    assert.equal(status, "HTTP/1.1 200 OK", path);
    assert.equal(body, "ok\n", path);
    assert.equal(fields.get("content-length"), "3", path);
    assert.equal(fields.get("cache-control"), "no-store", path);
    assert.equal(fields.get("content-type"), "text/plain; charset=utf-8", path);
    assert.ok(fields.has("date"), path);
    assert.deepEqual([ex.record.route, ex.record.status, ex.record.bytes], ["local", 200, 3]);
    assert.equal(ex.keepAlive, true);
  }
});

Deno.test("local step: / says hoard is a proxy; a query does not change the page", async () => {
  const { status, body } = await page("/?x=1");
  assert.equal(status, "HTTP/1.1 200 OK");
  assert.match(body, /^hoard \S+: a caching forward proxy\. Use it as HTTP_PROXY/);
});

Deno.test("local step: the metrics page in Prometheus' text format, from the cache's counters", async () => {
  const { fields, body } = await page("/_hoard/metrics");
  assert.equal(fields.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(body, /^hoard_cache_hits_total 7$/m);
  assert.match(body, /^# TYPE hoard_requests_total counter$/m);
});

Deno.test("local step: the CA certificate only when interception is on", async () => {
  const on = await page("/_hoard/ca.pem", { caPem: "-----BEGIN CERTIFICATE-----\n" });
  assert.equal(on.fields.get("content-type"), "application/x-pem-file");
  assert.equal(on.body, "-----BEGIN CERTIFICATE-----\n");
  await assert.rejects(page("/_hoard/ca.pem"), (e: ProxyError) => e.status === 404);
});

Deno.test("local step: any other path is 404, a method other than GET or HEAD 405", async () => {
  await assert.rejects(
    page("/elsewhere"),
    (e: ProxyError) =>
      e instanceof ProxyError && e.status === 404 && /use it as HTTP_PROXY/.test(e.message),
  );
  await assert.rejects(
    page("/_hoard/health", { method: "DELETE" }),
    (e: ProxyError) => e.status === 405 && e.message === "DELETE is not allowed on /_hoard/health",
  );
});

Deno.test("local step: HEAD gets the fields without the body", async () => {
  const { status, fields, body } = await page("/_hoard/health", { method: "HEAD" });
  assert.equal(status, "HTTP/1.1 200 OK");
  assert.equal(fields.get("content-length"), "3");
  assert.equal(body, "");
});

Deno.test("local step: a request with a body it does not read ends the connection", async () => {
  const { ex, fields } = await page("/_hoard/health", { extra: "\r\nContent-Length: 4" });
  assert.equal(ex.keepAlive, false);
  assert.equal(fields.get("connection"), "close");
});
