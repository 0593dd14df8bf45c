/**
 * The `Cache-Status` response field (RFC 9211): what hoard's cache did with a
 * request, built in one place from what the steps report.
 *
 * @module
 */

/** The cache's name in the field (RFC 9211 §2). */
const CACHE_NAME = "hoard";

/**
 * `fwd` values (RFC 9211 §2.2) hoard uses when it went forward; `bypass` is a
 * request the cache stood aside for.
 */
export type Forwarded =
  | "uri-miss"
  | "vary-miss"
  | "stale"
  | "request"
  | "method"
  | "partial"
  | "bypass";

/** What the cache did with one request. */
export type CacheStatus =
  /** Answered from the cache; `ttl` in seconds, when known. */
  | { hit: true; ttl?: number; collapsed?: boolean; detail?: string }
  /**
   * Went to the origin because of `fwd`: `fwdStatus` is the origin's status
   * when it matters, `stored` says the response was stored, `collapsed` that
   * it came from another request's fill.
   */
  | {
    fwd: Forwarded;
    fwdStatus?: number;
    stored?: boolean;
    collapsed?: boolean;
    detail?: string;
  };

/** The field value for `s`: parameters in one fixed order. */
export function cacheStatus(s: CacheStatus): string {
  let out = CACHE_NAME;
  if ("hit" in s) {
    out += "; hit";
    if (s.ttl !== undefined) out += `; ttl=${Math.floor(s.ttl)}`;
  } else {
    out += `; fwd=${s.fwd}`;
    if (s.fwdStatus !== undefined) out += `; fwd-status=${s.fwdStatus}`;
    if (s.stored) out += "; stored";
  }
  if (s.collapsed) out += "; collapsed";
  if (s.detail !== undefined) out += `; detail=${detailValue(s.detail)}`;
  return out;
}

/** RFC 8941 §3.3.4's token; anything else is sent as a string. */
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/**
 * `detail` as RFC 9211 §2.8 allows it: a token when it is one, otherwise an
 * RFC 8941 string (`"status 500"`), so that structured-field parsers accept
 * the whole field.
 */
function detailValue(detail: string): string {
  return TOKEN.test(detail) ? detail : `"${detail.replaceAll(/["\\]/g, (c) => `\\${c}`)}"`;
}
