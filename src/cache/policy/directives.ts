/**
 * Cache-Control directives (RFC 9111 §5.2): the request's, read into one
 * record, and the small readers the rest of the policy uses on a response's.
 * Names are matched in any letter case, as corrections.ts makes the library do.
 *
 * @module
 */

import { type FieldList, listTokens } from "../../http1/fields.ts";

/** The largest delta-seconds value kept: larger ones are this (RFC 9111 §1.2.2). */
export const MAX_AGE_VALUE = 2147483648; // 2^31

/** Request cache directives (RFC 9111 §5.2.1), `Pragma: no-cache` included. */
export interface RequestDirectives {
  /** no-cache, or Pragma: no-cache without Cache-Control. */
  noCache: boolean;
  /** no-store: the response must not be stored (a stored one may still be used). */
  noStore: boolean;
  /** only-if-cached: answer from the cache or with 504. */
  onlyIfCached: boolean;
  /** max-age in seconds. */
  maxAge?: number;
  /** min-fresh in seconds. */
  minFresh?: number;
  /** max-stale in seconds; Infinity when given without a value. */
  maxStale?: number;
}

// What most requests say: nothing. Shared, so that reading it allocates nothing.
const NONE: RequestDirectives = Object.freeze({
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAge: undefined,
  minFresh: undefined,
  maxStale: undefined,
});

/** Reads the request's cache directives (the result is not to be changed). */
export function requestDirectives(fields: FieldList): RequestDirectives {
  if (!fields.has("cache-control") && !fields.has("pragma")) return NONE;
  const cc = parseDirectives(fields.combined("cache-control"));
  const pragmaNoCache = !fields.has("cache-control") &&
    listTokens(fields.combined("pragma")).includes("no-cache");
  const seconds = (name: string): number | undefined => {
    const v = cc.get(name);
    if (v === undefined) return undefined;
    return /^\d+$/.test(v) ? Math.min(Number(v), MAX_AGE_VALUE) : 0;
  };
  return {
    noCache: cc.has("no-cache") || pragmaNoCache,
    noStore: cc.has("no-store"),
    onlyIfCached: cc.has("only-if-cached"),
    maxAge: seconds("max-age"),
    minFresh: seconds("min-fresh"),
    maxStale: cc.has("max-stale")
      ? (cc.get("max-stale") === "" ? Infinity : seconds("max-stale"))
      : undefined,
  };
}

/** Directive name (lower-case) to value ("" when it has none); a later repeat does not override. */
export function parseDirectives(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === "" || out.has(name)) continue;
    out.set(name, eq === -1 ? "" : part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return out;
}

/** The delta-seconds value of the stored Cache-Control directive `name`, if it has one. */
export function directiveSeconds(headers: [string, string][], name: string): number | undefined {
  const v = parseDirectives(joined(headers, "cache-control")).get(name);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The stored field `lower` (a lower-case name), its lines joined with ", "; undefined when absent. */
export function joined(headers: [string, string][], lower: string): string | undefined {
  const values = headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(", ");
}
