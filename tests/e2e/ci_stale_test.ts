/**
 * Stale responses for CI, end to end with curl: stale-if-error (an origin that
 * is down or answers 5xx is replaced by the stored response, unless it forbade
 * that) and stale-while-revalidate (a stale response served at once while one
 * background request refreshes it).
 */

import assert from "node:assert/strict";
import { type Gate, gate, get, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { curl } from "../_helpers/clients.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { waitFor } from "../_helpers/sockets.ts";

const MISS_STORED = "hoard; fwd=uri-miss; stored";
const STALE_IF_ERROR = (status: number) =>
  `hoard; fwd=stale; fwd-status=${status}; detail=stale-if-error`;

/** Paths whose responses go stale in a second; those after the first forbid serving them stale. */
const STALE_OK = "/ok";
const FORBIDDING: Record<string, string> = {
  "/must-revalidate": "max-age=1, must-revalidate",
  "/proxy-revalidate": "max-age=1, proxy-revalidate",
  "/s-maxage": "s-maxage=1",
  "/no-cache": "no-cache",
};

/** A response that is stale after one second, with an ETag (so it is revalidated, not refetched). */
function oneSecond(body: string, cacheControl = "max-age=1"): Response {
  return new Response(body, {
    headers: { "cache-control": cacheControl, etag: `"${body.length}-${body.charCodeAt(0)}"` },
  });
}

Deno.test("stale-if-error: the origin is down — the stale response is served, unless it forbids it", async () => {
  const origin = startRoutedOrigin({
    [STALE_OK]: () => oneSecond("stored body of /ok\n"),
    ...Object.fromEntries(
      Object.entries(FORBIDDING).map(([p, cc]) => [p, () => oneSecond(`body of ${p}\n`, cc)]),
    ),
  });
  await using proxy = await startTestProxy();
  // The same, with stale-if-error turned off.
  await using off = await startTestProxy({ staleIfError: 0 });
  try {
    for (const p of [STALE_OK, ...Object.keys(FORBIDDING)]) {
      const first = await get(proxy, origin.url + p);
      assert.equal(first.status, 200, p);
      assert.equal(first.headers["cache-status"], MISS_STORED, p);
    }
    assert.equal((await get(off, origin.url + STALE_OK)).headers["cache-status"], MISS_STORED);
    assert.equal(origin.requests.length, 6);
    await sleep(1100);
  } finally {
    await origin.close();
  }

  // Stale and the origin gone: connection refused is a 502, answered from the cache.
  const stale = await get(proxy, origin.url + STALE_OK);
  assert.equal(stale.status, 200);
  assert.equal(stale.text, "stored body of /ok\n");
  assert.equal(stale.headers["cache-status"], STALE_IF_ERROR(502));
  assert.match(stale.headers["age"] ?? "", /^[1-9]\d*$/);
  assert.equal(stale.headers["etag"], `"19-115"`);
  // Again: still served (nothing was replaced).
  const again = await get(proxy, origin.url + STALE_OK);
  assert.equal(again.text, "stored body of /ok\n");
  assert.equal(again.headers["cache-status"], STALE_IF_ERROR(502));

  for (const p of Object.keys(FORBIDDING)) {
    const r = await get(proxy, origin.url + p);
    assert.equal(r.status, 502, `${p}: ${r.headers["cache-status"]} ${r.text}`);
    assert.notEqual(r.text, `body of ${p}\n`, p);
    assert.match(r.text, new RegExp(`^502 Bad Gateway: .*127\\.0\\.0\\.1:${origin.port}`), p);
    assert.match(r.headers["proxy-status"] ?? "", /^hoard; error=connection_refused/, p);
  }
  const summary = proxy.summary();
  assert.equal(summary.staleServed, 2);
  assert.equal(summary.hits, 0, "a stale response served for a failed origin is not a hit");

  // stale-if-error 0: stale is never good enough.
  const r = await get(off, origin.url + STALE_OK);
  assert.equal(r.status, 502);
  assert.match(r.text, /^502 Bad Gateway: /);
  assert.equal(off.summary().staleServed, 0);
});

Deno.test("stale-if-error: the origin answers 500 — stale served, the failing attempt counted", async () => {
  // Each path answers 200 once, then 500.
  const failing = (body: string, cc?: string) => (_req: Request, n: number) =>
    n === 0 ? oneSecond(body, cc) : new Response("origin broke\n", { status: 500 });
  await using origin = startRoutedOrigin({
    [STALE_OK]: failing("stored body of /ok\n"),
    "/off": failing("stored body of /off\n"),
    ...Object.fromEntries(
      Object.entries(FORBIDDING).map(([p, cc]) => [p, failing(`body of ${p}\n`, cc)]),
    ),
  });
  await using proxy = await startTestProxy();
  await using off = await startTestProxy({ staleIfError: 0 });
  for (const p of [STALE_OK, ...Object.keys(FORBIDDING)]) {
    assert.equal((await get(proxy, origin.url + p)).headers["cache-status"], MISS_STORED, p);
  }
  assert.equal((await get(off, origin.url + "/off")).headers["cache-status"], MISS_STORED);
  await sleep(1100);

  const stale = await get(proxy, origin.url + STALE_OK);
  assert.equal(stale.status, 200);
  assert.equal(stale.text, "stored body of /ok\n");
  assert.equal(stale.headers["cache-status"], STALE_IF_ERROR(500));
  assert.equal(origin.count(STALE_OK), 2, "the revalidation reached the origin and failed");
  // The conditional request carried the stored validator.
  assert.equal(
    origin.requests.filter((r) => r.path === STALE_OK)[1]!.headers.get("if-none-match"),
    `"19-115"`,
  );

  for (const p of Object.keys(FORBIDDING)) {
    const r = await get(proxy, origin.url + p);
    assert.equal(r.status, 500, `${p}: ${r.headers["cache-status"]}`);
    assert.equal(r.text, "origin broke\n", p);
    assert.equal(origin.count(p), 2, p);
  }
  assert.equal(proxy.summary().staleServed, 1);

  const r = await get(off, origin.url + "/off");
  assert.equal(r.status, 500);
  assert.equal(r.text, "origin broke\n");
  assert.equal(origin.count("/off"), 2);
  assert.equal(off.summary().staleServed, 0);
});

Deno.test("stale-while-revalidate: old body at once, exactly one background refresh, then the new body", async () => {
  const refresh: Gate = gate();
  await using origin = startRoutedOrigin({
    "/swr": async (_req, n) => {
      // The refresh waits until the test has seen the stale answers.
      if (n > 0) await refresh.opened;
      // The refreshed response stays fresh for the rest of the test.
      const cc = n === 0 ? "max-age=1, stale-while-revalidate=30" : "max-age=60";
      return new Response(`version ${n}\n`, { headers: { "cache-control": cc } });
    },
  });
  await using proxy = await startTestProxy();
  // Disposed first: a failing test must not leave the origin's handler waiting.
  using _release = { [Symbol.dispose]: () => refresh.open() };
  const url = `${origin.url}/swr`;
  const first = await get(proxy, url);
  assert.equal(first.text, "version 0\n");
  assert.equal(first.headers["cache-status"], MISS_STORED);
  await sleep(1100);

  // Five requests in the window: each answered from the cache while the origin is held back
  // (a proxy that waited for the refresh would time out here).
  const stale = await Promise.all(
    Array.from({ length: 5 }, () => curl(["--max-time", "5", "-x", proxy.url, url])),
  );
  for (const r of stale) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200);
    assert.equal(r.text, "version 0\n");
    assert.match(
      r.headers["cache-status"] ?? "",
      /^hoard; hit; ttl=-?\d+; detail=stale-while-revalidate$/,
    );
  }
  await waitFor(() => origin.count("/swr") === 2, "the background refresh");
  assert.equal(proxy.summary().hits, 5);
  assert.equal(proxy.summary().revalidations, 1);

  refresh.open();
  await waitFor(() => proxy.summary().stored === 2, "the refreshed response to be stored");
  assert.equal(origin.count("/swr"), 2, "one refresh for five stale requests");

  const fresh = await get(proxy, url);
  assert.equal(fresh.text, "version 1\n");
  assert.match(fresh.headers["cache-status"] ?? "", /^hoard; hit; ttl=5\d$/);
  assert.equal(origin.count("/swr"), 2);
});

Deno.test("stale-while-revalidate: past the window the client waits for the origin", async () => {
  await using origin = startRoutedOrigin({
    "/short": (_req, n) =>
      new Response(`version ${n}\n`, {
        headers: { "cache-control": "max-age=0, stale-while-revalidate=1" },
      }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/short`;
  assert.equal((await get(proxy, url)).text, "version 0\n");
  await sleep(1100);
  // More than max-age + stale-while-revalidate: a normal (blocking) fetch.
  const r = await get(proxy, url);
  assert.equal(r.text, "version 1\n");
  assert.match(r.headers["cache-status"] ?? "", /^hoard; fwd=stale/);
  assert.equal(origin.count("/short"), 2);
});

Deno.test({
  name: "stale-if-error: concurrent requests for one stale entry all get it when the origin fails",
  fn: async () => {
    const failing: Gate = gate();
    await using origin = startRoutedOrigin({
      "/shared": async (_req, n) => {
        if (n === 0) return oneSecond("shared body\n");
        await failing.opened;
        return new Response("origin broke\n", { status: 500 });
      },
    });
    await using proxy = await startTestProxy();
    using _release = { [Symbol.dispose]: () => failing.open() };
    const url = `${origin.url}/shared`;
    assert.equal((await get(proxy, url)).headers["cache-status"], MISS_STORED);
    await sleep(1100);
    const all = Array.from({ length: 3 }, () => curl(["--max-time", "5", "-x", proxy.url, url]));
    // The first revalidation is at the origin; the others join it.
    await waitFor(() => origin.count("/shared") === 2, "the revalidation");
    await sleep(100);
    failing.open();
    const results = await Promise.all(all);
    for (const r of results) {
      assert.equal(r.status, 200, `${r.headers["cache-status"]}: ${r.text}`);
      assert.equal(r.text, "shared body\n");
      assert.equal(r.headers["cache-status"], STALE_IF_ERROR(500));
    }
    assert.equal(origin.count("/shared"), 2, "one revalidation for the three requests");
    assert.equal(proxy.summary().staleServed, 3);
  },
});
