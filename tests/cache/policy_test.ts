import assert from "node:assert/strict";
import {
  type CacheRequest,
  forbidsStale,
  type Freshness,
  freshness,
  mergeHeaders,
  partHeaders,
  partUse,
  refreshed,
  type RequestDirectives,
  requestDirectives,
  revalidationFields,
  type RuleOverride,
  sameRepresentation,
  selectsByLanguage,
  staleIfError,
  storability,
  storedHeaders,
  strongValidator,
} from "../../src/cache/policy.ts";
import { at, fields, httpDate, type Lines, request, store, T0 } from "./_policy_helpers.ts";
import { secondaryKey } from "../../src/cache/key.ts";
import type { FieldList } from "../../src/http1/fields.ts";

// ---------------------------------------------------------------------------
// The decision table: a request and a response, whether the response is
// stored (and why not), then what a later request gets at given times.
// ---------------------------------------------------------------------------

/** A later request asking for the stored response `at` seconds after T0. */
interface Check {
  /** Seconds after T0. */
  at: number;
  /** The later request's fields (Host added); the storing request's when absent. */
  req?: Lines;
  /** The decision. */
  expect: Freshness;
}

interface Row {
  name: string;
  /** Method of the storing request. @default "GET" */
  method?: string;
  /** Fields of the storing request (Host added). */
  req?: Lines;
  /** Response status. @default 200 */
  status?: number;
  /** Response fields. */
  res: Lines;
  /** The reason storability() gives for not storing; absent when the response is stored. */
  notStored?: string;
  /** For a stored response: the later requests and their decisions. */
  checks?: Check[];
}

const hit = (age: number, ttl: number): Freshness => ({ kind: "hit", age, ttl });
const stale = (age: number): Freshness => ({ kind: "revalidate", age, reason: "stale" });
const byRequest = (age: number): Freshness => ({ kind: "revalidate", age, reason: "request" });

const CC = "Cache-Control";
const DATE: readonly [string, string] = ["Date", httpDate(0)];
/** Last-Modified 1000 s before Date: a heuristic lifetime of 100 s (10 %). */
const LM: readonly [string, string] = ["Last-Modified", httpDate(-1000)];
const RANGE: readonly [string, string] = ["Range", "bytes=0-9"];
const CONTENT_RANGE: readonly [string, string] = ["Content-Range", "bytes 0-9/100"];
const MAX_AGE_60: readonly [string, string] = [CC, "max-age=60"];

/** Fresh for 100 s by heuristic, then stale. */
const HEURISTIC_100: Check[] = [
  { at: 0, expect: hit(0, 100) },
  { at: 99, expect: hit(99, 1) },
  { at: 100, expect: stale(100) },
];

/** Stored, but with a freshness lifetime of 0. */
const STALE_AT_ONCE: Check[] = [{ at: 0, expect: stale(0) }, { at: 5, expect: stale(5) }];

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
  // --- private -------------------------------------------------------------
  { name: "private", res: [[CC, "private"]], notStored: "private" },
  { name: "private with max-age", res: [[CC, "private, max-age=60"]], notStored: "private" },
  { name: "Private in mixed case", res: [[CC, "Private"]], notStored: "private" },
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
  // --- Set-Cookie ----------------------------------------------------------
  {
    name: "Set-Cookie does not stop storing (it is not stored itself)",
    res: [MAX_AGE_60, ["Set-Cookie", "a=1"]],
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

for (const row of ROWS) {
  Deno.test(`policy table: ${row.name}`, () => {
    const req = request(row.req, row.method);
    const status = row.status ?? 200;
    const st = storability(req, status, fields(...row.res), T0);
    if (row.notStored !== undefined) {
      assert.deepEqual(st, { storable: false, reason: row.notStored });
      assert.equal(row.checks, undefined, "a row that is not stored has no checks");
      return;
    }
    assert.equal(st.storable, true, st.storable ? "" : `not storable: ${st.reason}`);
    assert.ok(row.checks !== undefined && row.checks.length > 0, "a stored row needs checks");
    const stored = store(req, status, row.res);
    for (const check of row.checks) {
      const later = check.req === undefined ? req : request(check.req);
      assert.deepEqual(
        freshness(later, stored, at(check.at)),
        check.expect,
        `at ${check.at} s with ${JSON.stringify(check.req ?? row.req ?? [])}`,
      );
    }
  });
}

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
// requestDirectives()
// ---------------------------------------------------------------------------

const NONE: RequestDirectives = {
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAge: undefined,
  minFresh: undefined,
  maxStale: undefined,
};

const DIRECTIVES: [string, Lines, RequestDirectives][] = [
  ["no fields", [], NONE],
  ["max-age", [[CC, "max-age=30"]], { ...NONE, maxAge: 30 }],
  ["max-age=0", [[CC, "max-age=0"]], { ...NONE, maxAge: 0 }],
  ["quoted max-age", [[CC, 'max-age="30"']], { ...NONE, maxAge: 30 }],
  ["invalid max-age reads as 0", [[CC, "max-age=abc"]], { ...NONE, maxAge: 0 }],
  ["huge max-age is capped at 2^31", [[CC, "max-age=99999999999"]], { ...NONE, maxAge: 2 ** 31 }],
  ["min-fresh", [[CC, "min-fresh=20"]], { ...NONE, minFresh: 20 }],
  ["max-stale with a value", [[CC, "max-stale=15"]], { ...NONE, maxStale: 15 }],
  ["max-stale without a value", [[CC, "max-stale"]], { ...NONE, maxStale: Infinity }],
  ["only-if-cached", [[CC, "only-if-cached"]], { ...NONE, onlyIfCached: true }],
  ["no-cache", [[CC, "no-cache"]], { ...NONE, noCache: true }],
  ["No-Cache", [[CC, "No-Cache"]], { ...NONE, noCache: true }],
  ["no-store", [[CC, "NO-STORE"]], { ...NONE, noStore: true }],
  ["Pragma: no-cache without Cache-Control", [["Pragma", "no-cache"]], { ...NONE, noCache: true }],
  ["Pragma: no-cache among others", [["Pragma", "foo, No-Cache"]], { ...NONE, noCache: true }],
  [
    "Pragma: no-cache beside Cache-Control is ignored",
    [["Pragma", "no-cache"], [CC, "max-age=5"]],
    { ...NONE, maxAge: 5 },
  ],
  [
    "several directives, on several lines",
    [[CC, "max-age=10, min-fresh=2"], [CC, "max-stale=3, only-if-cached"]],
    { ...NONE, onlyIfCached: true, maxAge: 10, minFresh: 2, maxStale: 3 },
  ],
  ["the first of a repeated directive counts", [[CC, "max-age=5, max-age=10"]], {
    ...NONE,
    maxAge: 5,
  }],
  ["white space around names and values", [[CC, " max-age = 7 ,no-cache "]], {
    ...NONE,
    noCache: true,
    maxAge: 7,
  }],
];

for (const [name, lines, expected] of DIRECTIVES) {
  Deno.test(`requestDirectives: ${name}`, () => {
    assert.deepEqual(requestDirectives(fields(...lines)), expected);
  });
}

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
// mergeHeaders() (RFC 9111 §3.2, §4.3.4)
// ---------------------------------------------------------------------------

Deno.test("mergeHeaders: a 304's field replaces every stored line of its name, in place", () => {
  const stored: [string, string][] = [
    ["Date", httpDate(0)],
    ["X-A", "1"],
    ["Content-Type", "text/plain"],
    ["x-a", "2"],
    ["ETag", '"v1"'],
  ];
  const merged = mergeHeaders(stored, fields(["Date", httpDate(60)], ["X-A", "3"]));
  assert.deepEqual(merged, [
    ["Date", httpDate(60)],
    ["X-A", "3"],
    ["Content-Type", "text/plain"],
    ["ETag", '"v1"'],
  ]);
});

Deno.test("mergeHeaders: repeated lines of the 304 all go in, at the first stored position", () => {
  const stored: [string, string][] = [["A", "0"], ["Link", "<a>"], ["B", "0"], ["Link", "<b>"]];
  const merged = mergeHeaders(stored, fields(["link", "<c>"], ["LINK", "<d>"]));
  assert.deepEqual(merged, [["A", "0"], ["link", "<c>"], ["LINK", "<d>"], ["B", "0"]]);
});

Deno.test("mergeHeaders: the stored body's framing and coding fields are kept", () => {
  const stored: [string, string][] = [
    ["Content-Length", "10"],
    ["Content-Encoding", "gzip"],
    ["Content-Range", "bytes 0-9/100"],
    ["ETag", '"v1"'],
  ];
  const merged = mergeHeaders(
    stored,
    fields(
      ["Content-Length", "0"],
      ["Content-Encoding", "br"],
      ["Content-Range", "bytes 0-0/1"],
      ["Transfer-Encoding", "chunked"],
      ["ETag", '"v1"'],
    ),
  );
  assert.deepEqual(merged, stored);
});

Deno.test("mergeHeaders: new names are appended; hop-by-hop, Set-Cookie and Age are not", () => {
  const stored: [string, string][] = [["Date", httpDate(0)], ["ETag", '"v1"']];
  const merged = mergeHeaders(
    stored,
    fields(
      ["Connection", "X-Hop"],
      ["X-Hop", "1"],
      ["Cache-Control", "max-age=600"],
      ["Age", "5"],
      ["Set-Cookie", "a=1"],
      ["Keep-Alive", "timeout=5"],
      ["Expires", httpDate(600)],
      ["Cache-Control", "public"],
      // Describes a body the 304 does not have: not added either.
      ["Content-Length", "0"],
    ),
  );
  assert.deepEqual(merged, [
    ["Date", httpDate(0)],
    ["ETag", '"v1"'],
    ["Cache-Control", "max-age=600"],
    ["Expires", httpDate(600)],
    ["Cache-Control", "public"],
  ]);
});

Deno.test("mergeHeaders: an empty 304 changes nothing", () => {
  const stored: [string, string][] = [["A", "1"], ["A", "2"], ["B", "3"]];
  assert.deepEqual(mergeHeaders(stored, fields()), stored);
});

// ---------------------------------------------------------------------------
// revalidationFields()
// ---------------------------------------------------------------------------

const ETAG: readonly [string, string] = ["ETag", '"v1"'];

Deno.test("revalidationFields: If-None-Match from ETag, If-Modified-Since from Last-Modified", () => {
  const req = request();
  const cases: [Lines, [string, string][]][] = [
    [[MAX_AGE_60], []],
    [[MAX_AGE_60, ETAG], [["If-None-Match", '"v1"']]],
    [[MAX_AGE_60, ["ETag", 'W/"w1"']], [["If-None-Match", 'W/"w1"']]],
    [[MAX_AGE_60, LM], [["If-Modified-Since", httpDate(-1000)]]],
    [[MAX_AGE_60, LM, ETAG], [["If-None-Match", '"v1"'], ["If-Modified-Since", httpDate(-1000)]]],
  ];
  for (const [res, expected] of cases) {
    const stored = store(req, 200, res);
    assert.deepEqual(revalidationFields(req, stored, at(100)), expected, JSON.stringify(res));
  }
});

Deno.test("revalidationFields: a HEAD revalidates a stored GET with its validators", () => {
  const stored = store(request(), 200, [MAX_AGE_60, ETAG]);
  assert.deepEqual(revalidationFields(request([], "HEAD"), stored, at(100)), [
    ["If-None-Match", '"v1"'],
  ]);
});

Deno.test("revalidationFields: the client's own validators are kept beside the stored ones", () => {
  // revalidate.ts relays a 304 that does not select the stored response.
  const stored = store(request(), 200, [MAX_AGE_60, LM, ETAG]);
  const req = request([["If-None-Match", '"c1"'], ["If-Modified-Since", httpDate(-5)]]);
  assert.deepEqual(revalidationFields(req, stored, at(100)), [
    ["If-None-Match", '"c1", "v1"'],
    ["If-Modified-Since", httpDate(-5)],
  ]);
});

Deno.test({
  name: "revalidationFields: validators are sent whatever Host the revalidating request has",
  fn() {
    const stored = store(request(), 200, [MAX_AGE_60, ETAG]);
    for (const host of [[], [["Host", "example.com:80"]], [["Host", "EXAMPLE.COM"]]] as Lines[]) {
      const req = { ...request(), fields: fields(...host) };
      assert.deepEqual(
        revalidationFields(req, stored, at(100)),
        [["If-None-Match", '"v1"']],
        JSON.stringify(host),
      );
    }
  },
});

// --- refreshed (a 304 to hoard's revalidation, RFC 9111 §3.2, §4.3.4) --------------

const ETAG_V1: Lines = [["Cache-Control", "max-age=60"], ["ETag", '"v1"'], ["Date", httpDate(0)]];

Deno.test("refreshed: a 304 with the stored strong ETag renews freshness from its Date", () => {
  const stored = store(request(), 200, ETAG_V1);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(100)]),
    false,
    at(100),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.age(), 0);
  assert.equal(r.policy.maxAge(), 60);
  assert.deepEqual(r.headers, [["Cache-Control", "max-age=60"], ["ETag", '"v1"'], [
    "Date",
    httpDate(100),
  ]]);
});

Deno.test("refreshed: a Cache-Control the 304 adds sets the new lifetime", () => {
  const stored = store(request(), 200, [
    ["Date", httpDate(0)],
    ["Last-Modified", httpDate(-100000)],
    [
      "ETag",
      '"v1"',
    ],
  ]);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(20)], ["Cache-Control", "max-age=600"]),
    false,
    at(20),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.maxAge(), 600);
  assert.ok(r.headers.some(([n, v]) => n === "Cache-Control" && v === "max-age=600"));
});

Deno.test("refreshed: the 304's Cache-Control gets the same corrections as a stored response's", () => {
  const stored = store(request(), 200, [...ETAG_V1]);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(10)], [
      "Cache-Control",
      "Max-Age=60, Proxy-Revalidate",
    ]),
    false,
    at(10),
  );
  assert.ok(r !== undefined);
  // Letter case does not matter, and proxy-revalidate does not zero the lifetime.
  assert.equal(r.policy.maxAge(), 60);
  assert.equal(r.policy.age(), 0);
});

Deno.test("refreshed: a 304 with its own Age starts at that age", () => {
  const stored = store(request(), 200, ETAG_V1);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Age", "30"], ["Date", httpDate(5)]),
    false,
    at(5),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.age(), 30);
});

Deno.test("refreshed: with the client's own validators, only a 304 that selects the stored response applies", () => {
  const stored = store(request(), 200, ETAG_V1);
  const cases: [Lines, boolean][] = [
    [[["ETag", '"v1"']], true],
    [[["ETag", '"v2"']], false],
    [[["ETag", 'W/"v1"']], true],
    [[["ETag", 'W/"v2"']], false],
    [[], false],
  ];
  for (const [fresh, selected] of cases) {
    const r = refreshed(request(), stored, fields(...fresh), true, at(10));
    assert.equal(r !== undefined, selected, JSON.stringify(fresh));
  }
  // Without validators of the client's, any 304 answers hoard's own (a bare 304 included).
  assert.ok(refreshed(request(), stored, fields(), false, at(10)) !== undefined);
  // Last-Modified selects when there is no ETag.
  const lm = store(request(), 200, [["Cache-Control", "max-age=60"], [
    "Last-Modified",
    httpDate(-1000),
  ]]);
  assert.ok(
    refreshed(request(), lm, fields(["Last-Modified", httpDate(-1000)]), true, at(10)) !==
      undefined,
  );
  assert.equal(
    refreshed(request(), lm, fields(["Last-Modified", httpDate(-500)]), true, at(10)),
    undefined,
  );
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

Deno.test("refreshed: a stored must-understand, no-store response of an understood status is renewed", () => {
  for (const status of [200, 400]) {
    const res: Lines = [["ETag", '"v1"'], [CC, "must-understand, no-store, max-age=60"]];
    const stored = store(request(), status, res);
    const r = refreshed(request(), stored, fields(["ETag", '"v1"']), false, at(100));
    assert.ok(r !== undefined);
    assert.equal(r.policy.maxAge(), 60, String(status));
    assert.deepEqual(freshness(request(), { ...stored, policy: r.policy.toObject() }, at(130)), {
      kind: "hit",
      age: 30,
      ttl: 30,
    });
  }
});

Deno.test("selectsByLanguage: the Content-Language the request wants most, other selecting fields equal", () => {
  const vary = ["accept-language", "accept"];
  const stored = (language: string | undefined, al = "de, en;q=0.5") => ({
    vary,
    secondary: secondaryKey(vary, fields(["Accept-Language", al], ["Accept", "text/html"])),
    headers: language === undefined ? [] : [["Content-Language", language] as [string, string]],
  });
  const req = (al: string | undefined, accept = "text/html") =>
    fields(...(al === undefined ? [] : [["Accept-Language", al] as const]), ["Accept", accept]);
  const cases: [string, ReturnType<typeof stored>, FieldList, boolean][] = [
    ["the language wanted most", stored("de"), req("de"), true],
    ["in any case", stored("DE"), req("De;q=1, fr;q=0.4"), true],
    ["a range matches its sub-tags", stored("de-AT"), req("de"), true],
    ["a sub-tag does not match a wider tag", stored("de"), req("de-AT"), false],
    ["one of equal weights", stored("fr"), req("de, fr"), true],
    ["a list naming it", stored("en, de"), req("de"), true],
    ["wanted, but less than another", stored("de"), req("fr, de;q=0.9"), false],
    ["* wanted most", stored("de"), req("*, de;q=0.5"), false],
    ["not wanted at all", stored("de"), req("de;q=0"), false],
    ["no Accept-Language", stored("de"), req(undefined), false],
    ["no Content-Language", stored(undefined), req("de"), false],
    ["another selecting field differs", stored("de"), req("de", "application/json"), false],
    ["white space in another field does not count", stored("de"), req("de", " text/html"), true],
  ];
  for (const [name, s, f, expected] of cases) assert.equal(selectsByLanguage(s, f), expected, name);
  // Only a response that varies on Accept-Language.
  const accept = {
    vary: ["accept"],
    secondary: "accept=text/html\n",
    headers: stored("de").headers,
  };
  assert.equal(selectsByLanguage(accept, req("de")), false);
});

// ---------------------------------------------------------------------------
// Stored parts (RFC 9111 §3.3–3.4)
// ---------------------------------------------------------------------------

/** A stored 206 holding bytes 0-999 of 10000, with `validators`. */
function storedPart(validators: Lines = [["ETag", '"v1"']], range = "bytes 0-999/10000") {
  const res: Lines = [MAX_AGE_60, ["Content-Range", range], ...validators];
  return store(request([["Range", "bytes=0-999"]]), 206, res);
}

Deno.test("partUse: inside, extended with the stored strong validator, or outside", () => {
  const stored = storedPart();
  const use = (lines: Lines, method = "GET") => partUse(request(lines, method), stored);
  assert.deepEqual(use([["Range", "bytes=10-19"]]), { kind: "inside" });
  assert.deepEqual(use([["Range", "bytes=10000-"]]), { kind: "inside" });
  assert.deepEqual(use([]), {
    kind: "extend",
    from: 1000,
    to: 9999,
    start: 0,
    whole: true,
    ifRange: '"v1"',
  });
  assert.deepEqual(use([["Range", "bytes=500-1499"]]), {
    kind: "extend",
    from: 1000,
    to: 1499,
    start: 500,
    whole: false,
    ifRange: '"v1"',
  });
  // A client's If-Range that does not match makes it a request for the whole.
  assert.equal(use([["Range", "bytes=10-19"], ["If-Range", '"v0"']]).kind, "extend");
  assert.deepEqual(use([["Range", "bytes=10-19"], ["If-Range", '"v1"']]), { kind: "inside" });
  // A gap after the part: only the origin has those bytes.
  assert.deepEqual(use([["Range", "bytes=5000-"]]), { kind: "outside" });
  // HEAD wants the whole response's head; preconditions of the client's own are its business.
  assert.deepEqual(use([], "HEAD"), { kind: "outside" });
  for (const p of ["If-None-Match", "If-Match", "If-Modified-Since", "If-Unmodified-Since"]) {
    assert.deepEqual(use([[p, '"x"']]), { kind: "outside" }, p);
  }
  // A part of unknown place is of no use.
  const unplaced = { ...stored, headers: stored.headers.filter(([n]) => n !== "Content-Range") };
  assert.deepEqual(partUse(request([["Range", "bytes=0-9"]]), unplaced), { kind: "outside" });
});

Deno.test("partUse: no strong validator, no extension (the bytes could not be shown to match)", () => {
  const noValidator = storedPart([]);
  assert.deepEqual(partUse(request(), noValidator), { kind: "outside" });
  assert.deepEqual(partUse(request([["Range", "bytes=0-9"]]), noValidator), { kind: "inside" });
  assert.deepEqual(partUse(request(), storedPart([["ETag", 'W/"v1"']])), { kind: "outside" });
  const lm = httpDate(-10);
  const strongDate = storedPart([["Last-Modified", lm], ["Date", httpDate(0)]]);
  const use = partUse(request(), strongDate);
  assert.equal(use.kind === "extend" ? use.ifRange : undefined, lm);
});

Deno.test("strongValidator: a strong ETag, else a Last-Modified a second or more before Date", () => {
  assert.equal(strongValidator([["ETag", ' "a" ']]), '"a"');
  assert.equal(strongValidator([["ETag", 'W/"a"'], ["Last-Modified", httpDate(-10)]]), undefined);
  assert.equal(
    strongValidator([["Last-Modified", httpDate(-1)], ["Date", httpDate(0)]]),
    httpDate(-1),
  );
  assert.equal(strongValidator([["Last-Modified", httpDate(0)], ["Date", httpDate(0)]]), undefined);
  assert.equal(strongValidator([["Last-Modified", httpDate(-10)]]), undefined);
  assert.equal(strongValidator([]), undefined);
});

Deno.test("sameRepresentation: the new response carries the same strong validator", () => {
  assert.equal(sameRepresentation('"a"', fields(["ETag", '"a"'])), true);
  assert.equal(sameRepresentation('"a"', fields(["ETag", '"b"'])), false);
  assert.equal(sameRepresentation('"a"', fields(["ETag", 'W/"a"'])), false);
  assert.equal(sameRepresentation('"a"', fields()), false);
  const lm = httpDate(-10);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", lm])), true);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", httpDate(-5)])), false);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", lm], ["ETag", '"a"'])), false);
});

Deno.test("partHeaders: Content-Range and Content-Length of the part; none for the whole", () => {
  const headers: [string, string][] = [
    ["ETag", '"v1"'],
    ["Content-Length", "1000"],
    ["content-range", "bytes 0-999/10000"],
    ["Content-Type", "application/octet-stream"],
  ];
  assert.deepEqual(partHeaders(headers, { start: 0, end: 4999, length: 10000 }), [
    ["ETag", '"v1"'],
    ["Content-Type", "application/octet-stream"],
    ["Content-Range", "bytes 0-4999/10000"],
    ["Content-Length", "5000"],
  ]);
  assert.deepEqual(partHeaders(headers, { start: 0, end: 9999, length: 10000 }), [
    ["ETag", '"v1"'],
    ["Content-Type", "application/octet-stream"],
    ["Content-Length", "10000"],
  ]);
});
