/**
 * The request and the response as `npm:http-cache-semantics` sees them, with
 * hoard's corrections: where the library reads HTTP otherwise than RFC 9111
 * and RFC 9110 say, or knows only RFC 7234's day, the fields are put right
 * before it sees them. Each correction is written above the code making it.
 *
 * Departure: `CDN-Cache-Control` (RFC 9213) is for CDNs; a forward proxy
 * ignores it. It is handed to the library, which never reads it.
 *
 * @module
 */

import type { FieldList } from "../../http1/fields.ts";
import { formatHttpDate, parseHttpDate } from "../http_date.ts";
import { MAX_AGE_VALUE } from "./directives.ts";
import type { CacheRequest } from "./inputs.ts";
import type { SemanticsRequest, SemanticsResponse } from "./semantics.ts";
import { HEURISTICALLY_CACHEABLE, UNDERSTOOD_STATUSES } from "./statuses.ts";

/**
 * The request in the library's form, with hoard's corrections.
 *
 * Correction: the URL, not the request's Host field, identifies the stored
 * response; the library would drop the validators when Host is spelled
 * differently.
 *
 * Departure: HEAD is answered from a stored GET (RFC 9111 §4.3.5 allows it;
 * the library does not): the library is asked about a GET.
 */
export function semanticRequest(req: CacheRequest): SemanticsRequest {
  const headers = semanticHeaders(req.fields);
  // The stored response is found by URL; Host must not make the library think otherwise.
  const authority = req.key.slice(req.key.indexOf("//") + 2);
  const slash = authority.indexOf("/");
  headers["host"] = slash === -1 ? authority : authority.slice(0, slash);
  return { method: req.method === "HEAD" ? "GET" : req.method, url: req.key, headers };
}

/**
 * The response in the library's form, received at `now`, with hoard's
 * corrections:
 *
 * - Date, Expires and Last-Modified must be HTTP-dates (RFC 9110 §5.6.7): an
 *   Expires that is not one is in the past (§5.3); the library's `Date.parse`
 *   would read `2099` or an ISO date, and asctime dates in local time. Two
 *   Expires field lines are invalid too, even identical ones (§5.3): stale,
 *   unless max-age or s-maxage says otherwise.
 * - `Age` that is not a non-negative integer (`abc`, `-7200`, `1.5`) is
 *   ignored, as if it were absent (RFC 9111 §5.1; the library would read `1.5`
 *   as 1 and `-7200` as a negative age); values over 2^31 are 2^31 (§1.2.2);
 *   of a list, the first member counts (§5.1).
 * - The age includes the apparent age, now − Date (§4.2.3); the library only
 *   adds `Age` and the time spent in the cache.
 * - Set-Cookie is never stored (see storability.ts), so the library never
 *   sees it either.
 */
export function semanticResponse(
  status: number,
  fields: FieldList,
  now: number,
): SemanticsResponse {
  const h = semanticHeaders(fields);
  delete h["set-cookie"];
  if (h["cache-control"] !== undefined) {
    h["cache-control"] = correctResponseCacheControl(h["cache-control"], status);
  }
  const date = h["date"] === undefined ? undefined : readDate(h["date"]);
  if (date === undefined) delete h["date"];
  else h["date"] = date.fixdate;
  if (h["expires"] !== undefined) {
    // Two Expires lines make the value invalid, even when they agree (§5.3, §4.2.1).
    const lines = fields.getAll("expires");
    const expires = lines.length === 1 ? readDate(lines[0]!) : undefined;
    h["expires"] = expires?.fixdate ?? formatHttpDate(0);
  }
  if (h["last-modified"] !== undefined) {
    const lm = readDate(h["last-modified"]);
    if (lm === undefined) delete h["last-modified"];
    else h["last-modified"] = lm.fixdate;
  }
  // corrected_initial_age = max(apparent_age, Age) (RFC 9111 §4.2.3); an
  // Age that is not delta-seconds is ignored (§5.1).
  let age = 0;
  const first = h["age"]?.split(",")[0]?.trim();
  if (first !== undefined && /^\d+$/.test(first)) age = Math.min(Number(first), MAX_AGE_VALUE);
  if (date !== undefined) age = Math.max(age, Math.floor(Math.max(0, now - date.ms) / 1000));
  if (age > 0) h["age"] = String(age);
  else delete h["age"];
  return { status: semanticStatus(status), headers: h };
}

/** An HTTP-date read: its time, and its IMF-fixdate form (what the library reads right). */
interface HttpDate {
  ms: number;
  fixdate: string;
}

// The responses of one second carry one Date: the last one read is kept.
let lastDate: { text: string; date: HttpDate | undefined } = { text: "", date: undefined };

/** `text` read as an HTTP-date; undefined when it is not one. */
function readDate(text: string): HttpDate | undefined {
  if (text === lastDate.text) return lastDate.date;
  const ms = parseHttpDate(text);
  const date = ms === undefined ? undefined : { ms, fixdate: formatHttpDate(ms) };
  lastDate = { text, date };
  return date;
}

/**
 * The status the library sees.
 *
 * Correction: explicit freshness makes any final status hoard understands
 * storable (RFC 9111 §3), 400 included; the library knows only RFC 7234's
 * codes and would store no other even with explicit freshness. It sees 200
 * for a heuristically cacheable status (206 included: its freshness is that
 * of the full response) and 307 for any other — stored only with explicit
 * freshness or `public`. So an unknown code (299, 499), handled as the x00 of
 * its class (RFC 9110 §15), is stored only with explicit freshness: it is not
 * one defined as heuristically cacheable (§4.2.2).
 */
function semanticStatus(status: number): number {
  return HEURISTICALLY_CACHEABLE.has(status) ? 200 : 307;
}

/**
 * Fields by lower-case name, repeated lines joined.
 *
 * Correction: Cache-Control and Pragma are matched in any letter case (the
 * library is case-sensitive): their values are lower-cased before it sees them.
 */
function semanticHeaders(fields: FieldList): Record<string, string> {
  const out = fields.byLowerName();
  for (const l of ["cache-control", "pragma"]) {
    if (out[l] !== undefined) out[l] = out[l].toLowerCase();
  }
  return out;
}

// Directives joined by ", ", none quoted: a value that splitting and joining leaves as it is.
const PLAIN_DIRECTIVES = /^[^\s,"]+(?:, [^\s,"]+)*$/;

/**
 * The response's Cache-Control (lower-cased) as the library must see it.
 *
 * - `must-revalidate` and `proxy-revalidate` only take effect once the
 *   response is stale (RFC 9111 §5.2.2.2, §5.2.2.8); the library refuses every
 *   reuse with the former and treats the latter as max-age=0. hoard applies
 *   both itself (freshness.ts), so the library does not see proxy-revalidate.
 * - A repeated max-age or s-maxage with different values is invalid freshness
 *   information (§4.2.1) and becomes max-age=0: stale, still storable and
 *   revalidatable.
 * - `must-understand` (§5.2.2.3): with a status hoard understands, no-store
 *   is ignored — it is there for caches that do not (storability.ts refuses
 *   the other statuses).
 */
function correctResponseCacheControl(cc: string, status: number): string {
  // The usual value needs none of it: directives joined by ", ", none of the
  // ones below, max-age and s-maxage once at most.
  if (
    PLAIN_DIRECTIVES.test(cc) && !cc.includes("proxy-revalidate") &&
    !cc.includes("must-understand") &&
    cc.indexOf("max-age") === cc.lastIndexOf("max-age") &&
    cc.indexOf("s-maxage") === cc.lastIndexOf("s-maxage")
  ) {
    return cc;
  }
  let parts = cc.split(",").map((p) => p.trim()).filter((p) =>
    p !== "" && p !== "proxy-revalidate"
  );
  if (parts.includes("must-understand") && UNDERSTOOD_STATUSES.has(status)) {
    parts = parts.filter((p) => p !== "no-store");
  }
  for (const d of ["max-age", "s-maxage"]) {
    const values = new Set(
      parts.filter((p) => p.split("=")[0]!.trim() === d).map((p) => p.split("=")[1]?.trim()),
    );
    if (values.size > 1) {
      return [
        ...parts.filter((p) => !p.startsWith("max-age") && !p.startsWith("s-maxage")),
        "max-age=0",
      ].join(", ");
    }
  }
  return parts.join(", ");
}
