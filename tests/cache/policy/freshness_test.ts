import assert from "node:assert/strict";
import { forbidsStale, freshness } from "../../../src/cache/policy/freshness.ts";
import { httpDate, type Lines, request, store, T0 } from "./_helpers.ts";
import {
  byRequest,
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
// The decision table: how long a stored response answers later requests.
// ---------------------------------------------------------------------------

const ROWS: Row[] = [
  // --- max-age -------------------------------------------------------------
  {
    name: "max-age=60 is fresh for 60 s",
    res: [DATE, MAX_AGE_60],
    checks: [
      { at: 0, expect: hit(0, 60) },
      { at: 59, expect: hit(59, 1) },
      { at: 60, expect: stale(60) },
      { at: 61, expect: stale(61) },
    ],
  },
  {
    name: "max-age=0 is stored but stale at once",
    res: [[CC, "max-age=0"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "MAX-AGE in upper case",
    res: [[CC, "MAX-AGE=60"]],
    checks: [{ at: 30, expect: hit(30, 30) }, { at: 60, expect: stale(60) }],
  },
  {
    name: "quoted max-age value",
    res: [[CC, 'max-age="60"']],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- s-maxage ------------------------------------------------------------
  {
    name: "s-maxage wins over max-age in a shared cache (longer)",
    res: [[CC, "max-age=10, s-maxage=120"]],
    checks: [
      { at: 60, expect: hit(60, 60) },
      { at: 120, expect: stale(120) },
    ],
  },
  {
    name: "s-maxage wins over max-age in a shared cache (shorter)",
    res: [[CC, "s-maxage=0, max-age=600"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "s-maxage wins over a past Expires",
    res: [DATE, ["Expires", httpDate(-10)], [CC, "s-maxage=60"]],
    checks: [{ at: 30, expect: hit(30, 30) }],
  },
  // --- Expires -------------------------------------------------------------
  {
    name: "Expires in the future: lifetime is Expires - Date",
    res: [DATE, ["Expires", httpDate(120)]],
    checks: [
      { at: 0, expect: hit(0, 120) },
      { at: 119, expect: hit(119, 1) },
      { at: 120, expect: stale(120) },
    ],
  },
  {
    name: "Expires without Date counts from the time of receipt",
    res: [["Expires", httpDate(90)]],
    checks: [{ at: 0, expect: hit(0, 90) }, { at: 90, expect: stale(90) }],
  },
  {
    name: "Expires in the past is stale",
    res: [DATE, ["Expires", httpDate(-60)]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "invalid Expires is stale",
    res: [DATE, ["Expires", "next tuesday"]],
    checks: STALE_AT_ONCE,
  },
  { name: 'Expires "0" is stale', res: [DATE, ["Expires", "0"]], checks: STALE_AT_ONCE },
  {
    name: "two Expires lines are invalid: stale, even when they agree",
    res: [DATE, ["Expires", httpDate(120)], ["Expires", httpDate(120)]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "two Expires lines that differ: stale",
    res: [DATE, ["Expires", httpDate(120)], ["Expires", httpDate(240)]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "two Expires lines beside max-age: max-age decides",
    res: [DATE, ["Expires", httpDate(120)], ["Expires", httpDate(120)], MAX_AGE_60],
    checks: [{ at: 59, expect: hit(59, 1) }, { at: 60, expect: stale(60) }],
  },
  {
    name: "two Expires lines beside s-maxage: s-maxage decides",
    res: [DATE, ["Expires", httpDate(-5)], ["Expires", httpDate(-5)], [CC, "s-maxage=60"]],
    checks: [{ at: 59, expect: hit(59, 1) }, { at: 60, expect: stale(60) }],
  },
  {
    name: "max-age wins over Expires",
    res: [DATE, ["Expires", httpDate(3600)], [CC, "max-age=30"]],
    checks: [{ at: 29, expect: hit(29, 1) }, { at: 30, expect: stale(30) }],
  },
  // --- Age from upstream ---------------------------------------------------
  {
    name: "Age adds to the age",
    res: [MAX_AGE_60, ["Age", "10"]],
    checks: [
      { at: 0, expect: hit(10, 50) },
      { at: 49, expect: hit(59, 1) },
      { at: 50, expect: stale(60) },
    ],
  },
  {
    name: "Age 0",
    res: [MAX_AGE_60, ["Age", "0"]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "huge Age is capped at 2^31: stale",
    res: [MAX_AGE_60, ["Age", "99999999999"]],
    checks: [{ at: 0, expect: stale(2 ** 31) }, { at: 3, expect: stale(2 ** 31 + 3) }],
  },
  // An Age that is not delta-seconds is ignored, as if absent (RFC 9111 §5.1).
  ...["abc", "-7200", "1.5", "", "0x10", "abc, 10"].map((value): Row => ({
    name: `invalid Age ${JSON.stringify(value)} is ignored: fresh for the whole max-age`,
    res: [[CC, "max-age=3600"], ["Age", value]],
    checks: [{ at: 0, expect: hit(0, 3600) }, { at: 3599, expect: hit(3599, 1) }, {
      at: 3600,
      expect: stale(3600),
    }],
  })),
  {
    name: "an invalid Age does not hide the apparent age from Date",
    res: [["Date", httpDate(-100)], MAX_AGE_60, ["Age", "-5"]],
    checks: [{ at: 0, expect: stale(100) }],
  },
  // --- no-cache ------------------------------------------------------------
  {
    name: "response no-cache: stored, always revalidated",
    res: [[CC, "no-cache"]],
    checks: [
      { at: 0, expect: stale(0) },
      { at: 0, req: [[CC, "max-stale"]], expect: stale(0) },
    ],
  },
  {
    name: "response No-Cache beside max-age: always revalidated, even with max-stale",
    res: [[CC, "No-Cache, max-age=600"]],
    checks: [
      { at: 10, expect: stale(10) },
      { at: 10, req: [[CC, "max-stale=1000"]], expect: stale(10) },
    ],
  },
  {
    name: "request no-cache (any case) revalidates a fresh response; Pragma only without CC",
    res: [MAX_AGE_60],
    checks: [
      { at: 10, req: [[CC, "no-cache"]], expect: byRequest(10) },
      { at: 10, req: [[CC, "No-Cache"]], expect: byRequest(10) },
      { at: 10, req: [["Pragma", "no-cache"]], expect: byRequest(10) },
      { at: 10, req: [["Pragma", "No-Cache"]], expect: byRequest(10) },
      { at: 10, req: [["Pragma", "no-cache"], [CC, "max-stale"]], expect: hit(10, 50) },
      { at: 10, req: [["Pragma", "no-cache"], [CC, "max-age=100"]], expect: hit(10, 50) },
      { at: 10, req: [["Pragma", "x-other"]], expect: hit(10, 50) },
    ],
  },
  {
    // Not in RFC 9111 (Pragma in responses has no defined meaning); the
    // library reads it as no-cache when there is no Cache-Control: the safe side.
    name: "response Pragma: no-cache without Cache-Control: always revalidated",
    res: [["Pragma", "no-cache"], ["Expires", httpDate(600)]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "response Pragma: no-cache beside Cache-Control is ignored",
    res: [["Pragma", "no-cache"], MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- must-revalidate / proxy-revalidate -----------------------------------
  {
    name: "must-revalidate: a hit while fresh, revalidated once stale whatever max-stale says",
    res: [[CC, "max-age=60, must-revalidate"]],
    checks: [
      { at: 30, expect: hit(30, 30) },
      { at: 60, expect: stale(60) },
      { at: 61, req: [[CC, "max-stale"]], expect: stale(61) },
      { at: 61, req: [[CC, "max-stale=3600"]], expect: stale(61) },
    ],
  },
  {
    name: "Must-Revalidate in mixed case",
    res: [[CC, "Max-Age=60, Must-Revalidate"]],
    checks: [
      { at: 30, expect: hit(30, 30) },
      { at: 61, req: [[CC, "max-stale=3600"]], expect: stale(61) },
    ],
  },
  {
    name: "proxy-revalidate: a hit while fresh, revalidated once stale whatever max-stale says",
    res: [[CC, "max-age=60, proxy-revalidate"]],
    checks: [
      { at: 30, expect: hit(30, 30) },
      { at: 60, expect: stale(60) },
      { at: 61, req: [[CC, "max-stale"]], expect: stale(61) },
    ],
  },
  {
    name: "s-maxage forbids serving stale too",
    res: [[CC, "s-maxage=60"]],
    checks: [{ at: 61, req: [[CC, "max-stale"]], expect: stale(61) }],
  },
  // --- heuristic freshness (RFC 9111 §4.2.2) -------------------------------
  ...[200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501].map((status): Row => ({
    name: `heuristic: ${status} with Last-Modified is fresh for 10 % of Date - Last-Modified`,
    status,
    res: [DATE, LM],
    checks: HEURISTIC_100,
  })),
  {
    name: "heuristic: 206 answering a Range",
    status: 206,
    req: [RANGE],
    res: [DATE, LM, CONTENT_RANGE],
    checks: HEURISTIC_100,
  },
  {
    name: "heuristic: without Date, from the time of receipt",
    res: [LM],
    checks: HEURISTIC_100,
  },
  {
    name: "heuristic: Last-Modified after Date gives no lifetime",
    res: [DATE, ["Last-Modified", httpDate(60)]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "heuristic: invalid Last-Modified gives no lifetime",
    res: [DATE, ["Last-Modified", "yesterday"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "heuristic: public makes a 302 heuristically cacheable",
    status: 302,
    res: [DATE, LM, [CC, "public"]],
    checks: HEURISTIC_100,
  },
  { name: "302 without explicit freshness", status: 302, res: [DATE, LM], notStored: "status 302" },
  { name: "303 without explicit freshness", status: 303, res: [DATE, LM], notStored: "status 303" },
  { name: "307 without explicit freshness", status: 307, res: [DATE, LM], notStored: "status 307" },
  {
    name: "302 with max-age",
    status: 302,
    res: [MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "307 with Expires",
    status: 307,
    res: [DATE, ["Expires", httpDate(60)]],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  { name: "500 with Last-Modified", status: 500, res: [DATE, LM], notStored: "status 500" },
  { name: "503 with Last-Modified", status: 503, res: [DATE, LM], notStored: "status 503" },
  {
    // RFC 9111 §3 would allow storing it; never storing is always allowed.
    name: "500 with max-age is not stored either (the library does not understand 500)",
    status: 500,
    res: [MAX_AGE_60],
    notStored: "status 500",
  },
  // --- repeated directives (RFC 9111 §4.2.1) ---------------------------------
  {
    name: "max-age repeated with different values: stale",
    res: [[CC, "max-age=60, max-age=120"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "max-age repeated on two lines with different values: stale",
    res: [MAX_AGE_60, [CC, "max-age=120"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "max-age repeated in different letter case with different values: stale",
    res: [[CC, "max-age=60, MAX-AGE=120"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "s-maxage repeated with different values: stale",
    res: [[CC, "s-maxage=60, s-maxage=120, max-age=600"]],
    checks: STALE_AT_ONCE,
  },
  {
    name: "max-age repeated with the same value is fine",
    res: [[CC, "max-age=60, max-age=60"]],
    checks: [{ at: 0, expect: hit(0, 60) }, { at: 60, expect: stale(60) }],
  },
  {
    name: "max-age repeated identically on two lines is fine",
    res: [MAX_AGE_60, MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  // --- CDN-Cache-Control (RFC 9213) is for CDNs: ignored -----------------------
  {
    name: "CDN-Cache-Control max-age does not make a no-store response storable",
    res: [["CDN-Cache-Control", "max-age=600"], [CC, "no-store"]],
    notStored: "no-store",
  },
  {
    name: "CDN-Cache-Control no-store does not stop storing",
    res: [["CDN-Cache-Control", "no-store"], MAX_AGE_60],
    checks: [{ at: 0, expect: hit(0, 60) }],
  },
  {
    name: "CDN-Cache-Control max-age does not change the lifetime",
    res: [["CDN-Cache-Control", "max-age=600"], MAX_AGE_60],
    checks: [{ at: 60, expect: stale(60) }],
  },
  // --- request directives (RFC 9111 §5.2.1) ----------------------------------
  {
    name: "request max-age",
    res: [MAX_AGE_60],
    checks: [
      { at: 30, req: [[CC, "max-age=30"]], expect: hit(30, 30) },
      { at: 31, req: [[CC, "max-age=30"]], expect: byRequest(31) },
      { at: 0, req: [[CC, "max-age=0"]], expect: hit(0, 60) },
      { at: 1, req: [[CC, "max-age=0"]], expect: byRequest(1) },
      // A request max-age does not let a stale response through.
      { at: 70, req: [[CC, "max-age=100"]], expect: stale(70) },
    ],
  },
  {
    name: "request min-fresh",
    res: [MAX_AGE_60],
    checks: [
      { at: 40, req: [[CC, "min-fresh=20"]], expect: hit(40, 20) },
      { at: 41, req: [[CC, "min-fresh=20"]], expect: byRequest(41) },
    ],
  },
  {
    name: "request max-stale with and without a value",
    res: [MAX_AGE_60],
    checks: [
      { at: 90, req: [[CC, "max-stale=30"]], expect: hit(90, -30) },
      { at: 91, req: [[CC, "max-stale=30"]], expect: stale(91) },
      { at: 100000, req: [[CC, "max-stale"]], expect: hit(100000, -99940) },
      { at: 100000, req: [[CC, "MAX-STALE"]], expect: hit(100000, -99940) },
    ],
  },
  {
    name: "request only-if-cached does not change the decision",
    res: [MAX_AGE_60],
    checks: [
      { at: 10, req: [[CC, "only-if-cached"]], expect: hit(10, 50) },
      { at: 70, req: [[CC, "only-if-cached"]], expect: stale(70) },
    ],
  },
];

testTable(ROWS);

Deno.test("policy: the table's response times do not depend on the wall clock", () => {
  // Same response, stored 30 years apart: the decisions are the same.
  const req = request();
  for (const base of [0, T0, Date.UTC(2054, 0, 1)]) {
    const stored = store(req, 200, [MAX_AGE_60], base);
    assert.deepEqual(freshness(req, stored, base + 20_000), hit(20, 40));
  }
});

Deno.test({
  name: "policy: a response whose Date is older than its max-age is stale on arrival",
  fn() {
    const req = request();
    const stored = store(req, 200, [["Date", httpDate(-3600)], MAX_AGE_60]);
    assert.deepEqual(freshness(req, stored, T0), stale(3600));
  },
});

Deno.test({
  name: "policy: a list-valued Age uses its first member",
  fn() {
    const req = request();
    const stored = store(req, 200, [MAX_AGE_60, ["Age", "10"], ["Age", "20"]]);
    assert.deepEqual(freshness(req, stored, T0), hit(10, 50));
  },
});

Deno.test({
  name: "policy: an Expires that is not an HTTP-date is stale even when Date.parse accepts it",
  fn() {
    const req = request();
    for (const expires of ["2099", "2099-01-01T00:00:00Z"]) {
      const stored = store(req, 200, [DATE, ["Expires", expires]]);
      assert.deepEqual(freshness(req, stored, T0), stale(0), expires);
    }
  },
});

// ---------------------------------------------------------------------------
// forbidsStale()
// ---------------------------------------------------------------------------

Deno.test("forbidsStale: must-revalidate, proxy-revalidate, no-cache, s-maxage in any case", () => {
  const cases: [Lines, boolean][] = [
    [[], false],
    [[MAX_AGE_60], false],
    [[[CC, "public, max-age=60, immutable"]], false],
    [[[CC, "must-revalidate"]], true],
    [[[CC, "Must-Revalidate"]], true],
    [[[CC, "max-age=60, proxy-revalidate"]], true],
    [[[CC, "no-cache"]], true],
    [[[CC, "s-maxage=10"]], true],
    [[MAX_AGE_60, ["cache-control", "PROXY-REVALIDATE"]], true],
    [[["X-Cache-Control", "must-revalidate"]], false],
  ];
  for (const [headers, expected] of cases) {
    assert.equal(
      forbidsStale(headers.map(([n, v]): [string, string] => [n, v])),
      expected,
      JSON.stringify(headers),
    );
  }
});
