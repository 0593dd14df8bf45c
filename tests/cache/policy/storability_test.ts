import assert from "node:assert/strict";
import { freshness, staleIfError } from "../../../src/cache/policy/freshness.ts";
import type { CacheRequest, RuleOverride } from "../../../src/cache/policy/inputs.ts";
import { storability, storedHeaders } from "../../../src/cache/policy/storability.ts";
import { at, fields, httpDate, type Lines, request, store, T0 } from "./_helpers.ts";
import {
  CC,
  CONTENT_RANGE,
  DATE,
  HEURISTIC_100,
  hit,
  LM,
  MAX_AGE_60,
  RANGE,
  type Row,
  stale,
  STALE_AT_ONCE,
  testTable,
} from "./_table.ts";

// ---------------------------------------------------------------------------
// The decision table: which responses are stored, and why not.
// ---------------------------------------------------------------------------

const ROWS: Row[] = [
  // --- no-store ------------------------------------------------------------
  { name: "response no-store", res: [[CC, "no-store"]], notStored: "no-store" },
  { name: "response No-Store", res: [[CC, "No-Store"]], notStored: "no-store" },
  {
    name: "response NO-STORE beside max-age",
    res: [[CC, "max-age=60, NO-STORE"]],
    notStored: "no-store",
  },
  {
    name: "request no-store",
    req: [[CC, "no-store"]],
    res: [MAX_AGE_60],
    notStored: "request no-store",
  },
  {
    name: "request No-Store",
    req: [[CC, "No-Store"]],
    res: [MAX_AGE_60],
    notStored: "request no-store",
  },
  {
    name: "request no-store does not stop a stored response from being used",
    res: [MAX_AGE_60],
    checks: [{ at: 10, req: [[CC, "no-store"]], expect: hit(10, 50) }],
  },
  // --- private -------------------------------------------------------------
  { name: "private", res: [[CC, "private"]], notStored: "private" },
  { name: "private with max-age", res: [[CC, "private, max-age=60"]], notStored: "private" },
  { name: "Private in mixed case", res: [[CC, "Private"]], notStored: "private" },
  // --- Authorization (RFC 9111 §3.5) ---------------------------------------
  {
    name: "Authorization: not stored",
    req: [["Authorization", "Basic dTpw"]],
    res: [MAX_AGE_60],
    notStored: "authorization",
  },
  {
    name: "Authorization + public: stored",
    req: [["Authorization", "Basic dTpw"]],
    res: [[CC, "public, max-age=60"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "Authorization + s-maxage: stored",
    req: [["Authorization", "Basic dTpw"]],
    res: [[CC, "s-maxage=60"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "Authorization + must-revalidate: stored",
    req: [["Authorization", "Basic dTpw"]],
    res: [[CC, "max-age=60, must-revalidate"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "Authorization + proxy-revalidate: not stored (§3.5 does not list it)",
    req: [["Authorization", "Basic dTpw"]],
    res: [[CC, "max-age=60, proxy-revalidate"]],
    notStored: "authorization",
  },
  {
    name: "Authorization + no-store: the no-store reason comes first",
    req: [["Authorization", "Basic dTpw"]],
    res: [[CC, "no-store, public"]],
    notStored: "no-store",
  },
  // --- explicit freshness makes any understood final status cacheable (RFC 9111 §3) ---
  ...[400, 403, 409, 422, 499, 299, 399].map((status): Row => ({
    name: `${status} with max-age is stored and fresh for max-age`,
    status,
    res: [MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }, { at: 59, expect: hit(59, 1) }, {
      at: 60,
      expect: stale(60),
    }],
  })),
  {
    name: "499 with Expires is stored",
    status: 499,
    res: [DATE, ["Expires", httpDate(60)]],
    checks: [{ at: 0, expect: hit(0, 60) }, { at: 60, expect: stale(60) }],
  },
  {
    name: "400 with s-maxage is stored",
    status: 400,
    res: [[CC, "s-maxage=60"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // Not defined as heuristically cacheable: without explicit freshness, not stored.
  ...[400, 403, 409, 499, 299, 399].map((status): Row => ({
    name: `${status} with only Last-Modified is not stored`,
    status,
    res: [DATE, LM],
    notStored: `status ${status}`,
  })),
  {
    name: "public makes an unknown 299 heuristically cacheable, as it does a 302",
    status: 299,
    res: [DATE, LM, [CC, "public"]],
    checks: HEURISTIC_100,
  },
  // A server error is never stored on the strength of its freshness (a departure).
  ...[500, 502, 503, 504, 505, 599].map((status): Row => ({
    name: `${status} with max-age is not stored`,
    status,
    res: [MAX_AGE_60],
    notStored: `status ${status}`,
  })),
  {
    name: "304 with max-age is not stored",
    status: 304,
    res: [MAX_AGE_60],
    notStored: "status 304",
  },
  {
    name: "501 with max-age is stored",
    status: 501,
    res: [MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- must-understand (RFC 9111 §5.2.2.3) -----------------------------------
  ...[200, 204, 301, 404, 400].map((status): Row => ({
    name: `must-understand, no-store on an understood ${status}: stored, no-store ignored`,
    status,
    res: [[CC, "must-understand, no-store, max-age=60"]],
    checks: [{ at: 0, expect: hit(0, 60) }, { at: 60, expect: stale(60) }],
  })),
  {
    name: "Must-Understand, No-Store in mixed case on a 200",
    res: [[CC, "Must-Understand, No-Store"], [CC, "max-age=60"]],
    checks: [{ at: 30, expect: hit(30, 30) }],
  },
  {
    name: "must-understand, no-store on a 206 (understood): stored",
    status: 206,
    req: [RANGE],
    res: [[CC, "must-understand, no-store, max-age=60"], CONTENT_RANGE],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "must-understand, no-store without freshness on a 200: stored, stale",
    res: [[CC, "must-understand, no-store"]],
    checks: STALE_AT_ONCE,
  },
  ...[299, 499, 399].map((status): Row => ({
    name: `must-understand, no-store on an unknown ${status}: not stored`,
    status,
    res: [[CC, "must-understand, no-store, max-age=60"]],
    notStored: "must-understand",
  })),
  {
    name: "must-understand on an unknown 299 with max-age and no no-store: not stored",
    status: 299,
    res: [[CC, "must-understand, max-age=60"]],
    notStored: "must-understand",
  },
  {
    name: "must-understand does not override private",
    res: [[CC, "must-understand, no-store, private, max-age=60"]],
    notStored: "private",
  },
  {
    name: "must-understand does not override the request's no-store",
    req: [[CC, "no-store"]],
    res: [[CC, "must-understand, no-store, max-age=60"]],
    notStored: "request no-store",
  },
  {
    name: "no-store without must-understand is still not stored",
    res: [[CC, "no-store, max-age=60"]],
    notStored: "no-store",
  },
  // --- cacheable statuses without freshness information ----------------------
  ...[200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501].map((status): Row => ({
    name: `${status} without freshness information is stored, stale`,
    status,
    res: [],
    checks: STALE_AT_ONCE,
  })),
  {
    name: "206 with Range and Content-Range, no freshness information: stored, stale",
    status: 206,
    req: [RANGE],
    res: [CONTENT_RANGE],
    checks: STALE_AT_ONCE,
  },
  // --- Vary ----------------------------------------------------------------
  { name: "Vary: *", res: [MAX_AGE_60, ["Vary", "*"]], notStored: "vary *" },
  {
    name: "Vary with * among names",
    res: [MAX_AGE_60, ["Vary", "Accept-Encoding, *"]],
    notStored: "vary *",
  },
  {
    name: "Vary * on a second line",
    res: [MAX_AGE_60, ["Vary", "Accept"], ["Vary", "*"]],
    notStored: "vary *",
  },
  {
    name: "Vary naming fields is stored",
    req: [["Accept", "text/html"]],
    res: [MAX_AGE_60, ["Vary", "Accept"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- 206 -----------------------------------------------------------------
  {
    name: "206 with max-age answering a Range",
    status: 206,
    req: [RANGE],
    res: [MAX_AGE_60, CONTENT_RANGE],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  { name: "206 without a request Range", status: 206, res: [MAX_AGE_60], notStored: "partial" },
  {
    name: "206 without Content-Range",
    status: 206,
    req: [RANGE],
    res: [MAX_AGE_60],
    notStored: "partial",
  },
  {
    name: "206 multipart/byteranges (no top-level Content-Range)",
    status: 206,
    req: [["Range", "bytes=0-1,5-6"]],
    res: [MAX_AGE_60, ["Content-Type", "multipart/byteranges; boundary=XYZ"]],
    notStored: "partial",
  },
  {
    name: "206 multipart/byteranges even with a Content-Range",
    status: 206,
    req: [["Range", "bytes=0-1,5-6"]],
    res: [MAX_AGE_60, CONTENT_RANGE, ["Content-Type", "Multipart/ByteRanges; boundary=XYZ"]],
    notStored: "multipart range",
  },
  {
    name: "206 whose Content-Range has no complete length: not stored",
    status: 206,
    req: [RANGE],
    res: [MAX_AGE_60, ["Content-Range", "bytes 0-9/*"]],
    notStored: "partial",
  },
  {
    name: "206 with two Content-Range lines: not stored",
    status: 206,
    req: [RANGE],
    res: [MAX_AGE_60, CONTENT_RANGE, CONTENT_RANGE],
    notStored: "partial",
  },
  {
    name: "206 with Vary is stored (as its variant)",
    status: 206,
    req: [RANGE, ["Accept-Encoding", "gzip"]],
    res: [MAX_AGE_60, CONTENT_RANGE, ["Vary", "Accept-Encoding"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- methods -------------------------------------------------------------
  { name: "HEAD responses are not stored", method: "HEAD", res: [MAX_AGE_60], notStored: "method" },
  { name: "POST responses are not stored", method: "POST", res: [MAX_AGE_60], notStored: "method" },
  // --- a POST's answer that names its own URL (RFC 9110 §9.3.3) ---------------
  ...["/doc", "http://example.com/doc", "http://EXAMPLE.com:80/doc", "doc"].map((cl): Row => ({
    name: `POST answered with Content-Location ${cl} and max-age: stored for GETs`,
    method: "POST",
    res: [MAX_AGE_60, ["Content-Location", cl]],
    checks: [
      { at: 0, req: [], expect: hit(0, 60) },
      { at: 60, req: [], expect: stale(60) },
    ],
  })),
  {
    name: "POST answered with its own Content-Location and Expires: stored",
    method: "POST",
    res: [DATE, ["Expires", httpDate(60)], ["Content-Location", "/doc"]],
    checks: [{ at: 30, req: [], expect: hit(30, 30) }],
  },
  {
    name: "POST answered with its own Content-Location and s-maxage: stored",
    method: "POST",
    res: [[CC, "s-maxage=60"], ["Content-Location", "/doc"]],
    checks: [{ at: 30, req: [], expect: hit(30, 30) }],
  },
  ...([
    ["another URL", [MAX_AGE_60, ["Content-Location", "/other"]]],
    ["another query", [MAX_AGE_60, ["Content-Location", "/doc?x=1"]]],
    ["another host", [MAX_AGE_60, ["Content-Location", "http://example.org/doc"]]],
    ["no Content-Location", [MAX_AGE_60]],
    ["two Content-Location lines", [MAX_AGE_60, ["Content-Location", "/doc"], [
      "Content-Location",
      "/doc",
    ]]],
    ["no explicit freshness", [DATE, LM, ["Content-Location", "/doc"]]],
    ["only public", [DATE, LM, [CC, "public"], ["Content-Location", "/doc"]]],
  ] as const).map(([what, res]): Row => ({
    name: `POST answered with ${what}: not stored`,
    method: "POST",
    res,
    notStored: "method",
  })),
  {
    name: "POST answered with its own Content-Location, max-age and no-store: not stored",
    method: "POST",
    res: [[CC, "max-age=60, no-store"], ["Content-Location", "/doc"]],
    notStored: "no-store",
  },
  {
    name: "POST answered with its own Content-Location, max-age and private: not stored",
    method: "POST",
    res: [[CC, "max-age=60, private"], ["Content-Location", "/doc"]],
    notStored: "private",
  },
  {
    name: "PUT answered with its own Content-Location and max-age: not stored",
    method: "PUT",
    res: [MAX_AGE_60, ["Content-Location", "/doc"]],
    notStored: "method",
  },
  // --- Set-Cookie ----------------------------------------------------------
  {
    name: "Set-Cookie does not stop storing (it is not stored itself)",
    res: [MAX_AGE_60, ["Set-Cookie", "a=1"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
];

testTable(ROWS);

// ---------------------------------------------------------------------------
// storedHeaders()
// ---------------------------------------------------------------------------

Deno.test("storedHeaders: drops hop-by-hop, Connection-named, Set-Cookie and Age; keeps order", () => {
  const res = fields(
    ["Date", httpDate(0)],
    ["Connection", "keep-alive, X-Hop"],
    ["Keep-Alive", "timeout=5"],
    ["Content-Type", "text/plain"],
    ["Set-Cookie", "a=1"],
    ["X-Hop", "1"],
    ["Vary", "Accept"],
    ["Age", "3"],
    ["Transfer-Encoding", "chunked"],
    ["Proxy-Connection", "keep-alive"],
    ["Proxy-Authenticate", "Basic"],
    ["Trailer", "X-T"],
    ["Upgrade", "h2c"],
    ["TE", "trailers"],
    ["set-cookie", "b=2"],
    ["Vary", "Accept-Encoding"],
    ["x-hop", "2"],
    ["Cache-Control", "max-age=60"],
    ["ETag", '"v1"'],
  );
  assert.deepEqual(storedHeaders(res), [
    ["Date", httpDate(0)],
    ["Content-Type", "text/plain"],
    ["Vary", "Accept"],
    ["Vary", "Accept-Encoding"],
    ["Cache-Control", "max-age=60"],
    ["ETag", '"v1"'],
  ]);
});

Deno.test("storedHeaders: Connection naming a field on a second Connection line", () => {
  const res = fields(["Connection", "close"], ["Connection", "X-A"], ["X-A", "1"], ["X-B", "2"]);
  assert.deepEqual(storedHeaders(res), [["X-B", "2"]]);
});

Deno.test("storedHeaders: nothing to drop leaves the fields as they are", () => {
  const res = fields(["A", "1"], ["b", "2"], ["A", "3"]);
  assert.deepEqual(storedHeaders(res), [["A", "1"], ["b", "2"], ["A", "3"]]);
});

// ---------------------------------------------------------------------------
// Rules that store responses to requests with Authorization, and statuses
// HTTP alone would not store (container registries).
// ---------------------------------------------------------------------------

const AUTH: readonly [string, string] = ["Authorization", "Basic Y2k6czNjcmV0"];
/** What docker-registry sends with a blob: max-age, but not `public`. */
const BLOB: Lines = [
  ["Cache-Control", "max-age=31536000"],
  ["ETag", '"sha256:0123"'],
  ["Docker-Content-Digest", "sha256:0123"],
  DATE,
];

/** A request with Authorization under `override`. */
const ruled = (override: RuleOverride, lines: Lines = [AUTH]): CacheRequest => ({
  ...request(lines),
  override,
});

Deno.test("storability: a response to a request with Authorization needs the origin's public, or a rule", () => {
  // RFC 9111 §3.5: a shared cache stores it only when the origin says so.
  assert.deepEqual(storability(request([AUTH]), 200, fields(...BLOB), T0), {
    storable: false,
    reason: "authorization",
  });
  for (const cc of ["public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"]) {
    const st = storability(request([AUTH]), 200, fields([CC, cc], DATE), T0);
    assert.ok(st.storable, cc);
    // The origin shares it: not marked, every client may be served it.
    assert.equal(st.credentialed, false, cc);
  }
  // A forever rule (an image blob) or `public` (a manifest by tag) stores it, marked.
  for (const o of [{ forever: true }, { forever: false, ttl: 0, public: true }]) {
    const st = storability(ruled(o), 200, fields(...BLOB), T0);
    assert.ok(st.storable, JSON.stringify(o));
    assert.equal(st.credentialed, true, JSON.stringify(o));
  }
  // Without Authorization nothing is marked.
  const anonymous = storability(ruled({ forever: true }, []), 200, fields(...BLOB), T0);
  assert.ok(anonymous.storable && !anonymous.credentialed);
});

Deno.test("storability: `public` from a rule does not beat the origin's private or no-store", () => {
  const o: RuleOverride = { forever: false, public: true };
  assert.deepEqual(storability(ruled(o), 200, fields([CC, "private, max-age=60"]), T0), {
    storable: false,
    reason: "private",
  });
  assert.deepEqual(storability(ruled(o), 200, fields([CC, "no-store"]), T0), {
    storable: false,
    reason: "no-store",
  });
  // A 404 is stored under `public` too (cacheable by default), marked: a tag that went away.
  const gone = storability(ruled(o), 404, fields(DATE), T0);
  assert.ok(gone.storable && gone.credentialed);
});

Deno.test("storability: a rule's `public` never stores a 401 or 403 to a request with credentials", () => {
  const o: RuleOverride = { forever: true, public: true };
  for (const status of [401, 403]) {
    const denied = fields([CC, "max-age=60"], ["WWW-Authenticate", 'Basic realm="r"'], DATE);
    assert.equal(storability(ruled(o), status, denied, T0).storable, false, String(status));
  }
  // The same rule still stores what the registry serves to the right credentials.
  assert.ok(storability(ruled(o), 200, fields(...BLOB), T0).storable);
});

Deno.test("storability: a rule's statuses store a registry's 401 challenge, and only those", () => {
  const challenge = fields(["WWW-Authenticate", 'Basic realm="registry"'], DATE);
  assert.deepEqual(storability(request(), 401, challenge, T0), {
    storable: false,
    reason: "status 401",
  });
  const o: RuleOverride = { forever: false, ttl: 0, statuses: [401] };
  const st = storability(ruled(o, []), 401, challenge, T0);
  assert.ok(st.storable);
  assert.equal(st.credentialed, false);
  // Always asked about again (ttl 0), and a stand-in while the registry is down.
  const stored = store(ruled(o, []), 401, [["WWW-Authenticate", 'Basic realm="registry"'], DATE]);
  assert.deepEqual(freshness(ruled(o, []), stored, at(1)), stale(1));
  assert.equal(staleIfError(ruled(o, []), stored, at(3600), 86400), true);
  // A 401 to a request with credentials (wrong ones) is not stored: it is not shareable.
  assert.deepEqual(storability(ruled(o), 401, challenge, T0), {
    storable: false,
    reason: "authorization",
  });
  // Statuses the rule does not name stay unstored.
  assert.equal(storability(ruled(o, []), 403, challenge, T0).storable, false);
});

Deno.test("storability: a response to a signed URL (signature out of the key) is marked", () => {
  const st = storability({ ...request(), signed: true }, 200, fields(...BLOB), T0);
  assert.ok(st.storable && st.credentialed);
});
