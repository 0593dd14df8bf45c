import assert from "node:assert/strict";
import { cacheStatus } from "../../src/request/cache_status.ts";

// Every Cache-Status value hoard sends, as the steps built them by hand before.
Deno.test("cacheStatus: hits, with ttl in whole seconds and a detail", () => {
  assert.equal(cacheStatus({ hit: true, ttl: 3599.7 }), "hoard; hit; ttl=3599");
  assert.equal(
    cacheStatus({ hit: true, ttl: -12.5, detail: "offline" }),
    "hoard; hit; ttl=-13; detail=offline",
  );
  assert.equal(
    cacheStatus({ hit: true, ttl: 10, detail: "stale-while-revalidate" }),
    "hoard; hit; ttl=10; detail=stale-while-revalidate",
  );
  assert.equal(
    cacheStatus({ hit: true, ttl: 60, detail: "shared" }),
    "hoard; hit; ttl=60; detail=shared",
  );
  assert.equal(cacheStatus({ hit: true, collapsed: true }), "hoard; hit; collapsed");
});

Deno.test("cacheStatus: forwarded requests, in RFC 9211's order of parameters", () => {
  assert.equal(cacheStatus({ fwd: "uri-miss" }), "hoard; fwd=uri-miss");
  assert.equal(cacheStatus({ fwd: "method" }), "hoard; fwd=method");
  assert.equal(cacheStatus({ fwd: "bypass", detail: "rule" }), "hoard; fwd=bypass; detail=rule");
  assert.equal(cacheStatus({ fwd: "stale", fwdStatus: 304 }), "hoard; fwd=stale; fwd-status=304");
  assert.equal(
    cacheStatus({ fwd: "stale", fwdStatus: 502, detail: "stale-if-error" }),
    "hoard; fwd=stale; fwd-status=502; detail=stale-if-error",
  );
  assert.equal(
    cacheStatus({ fwd: "request", fwdStatus: 401, detail: "credentials" }),
    "hoard; fwd=request; fwd-status=401; detail=credentials",
  );
  assert.equal(cacheStatus({ fwd: "vary-miss", stored: true }), "hoard; fwd=vary-miss; stored");
  assert.equal(
    cacheStatus({ fwd: "partial", fwdStatus: 200, stored: true }),
    "hoard; fwd=partial; fwd-status=200; stored",
  );
  assert.equal(
    cacheStatus({ fwd: "uri-miss", stored: true, collapsed: true }),
    "hoard; fwd=uri-miss; stored; collapsed",
  );
  assert.equal(
    cacheStatus({ fwd: "uri-miss", detail: "stale-if-error:503" }),
    "hoard; fwd=uri-miss; detail=stale-if-error:503",
  );
  assert.equal(
    cacheStatus({ fwd: "partial", detail: "not stored" }),
    'hoard; fwd=partial; detail="not stored"',
  );
});

Deno.test("cacheStatus: a detail that is no RFC 8941 token is sent as a string", () => {
  assert.equal(
    cacheStatus({ fwd: "uri-miss", detail: "vary *" }),
    'hoard; fwd=uri-miss; detail="vary *"',
  );
  assert.equal(
    cacheStatus({ hit: true, detail: 'a "b" \\c' }),
    'hoard; hit; detail="a \\"b\\" \\\\c"',
  );
  // Tokens may hold ":" and "/" (RFC 8941 §3.3.4) and stay bare.
  assert.equal(cacheStatus({ hit: true, detail: "x:1/y" }), "hoard; hit; detail=x:1/y");
  assert.equal(cacheStatus({ hit: true, detail: "1x" }), 'hoard; hit; detail="1x"');
});
