/**
 * Conditional requests answered from the cache (RFC 9110 §13): a client that
 * already has the stored representation gets 304 instead of the body.
 *
 * @module
 */

import type { FieldList } from "../http1/fields.ts";
import { formatHttpDate, parseHttpDate } from "./http_date.ts";

/**
 * Whether a GET/HEAD with these fields is answered by 304 for a stored
 * response with `etag` / `lastModified`: If-None-Match (weak comparison)
 * decides when present, otherwise If-Modified-Since.
 */
export function notModified(
  fields: FieldList,
  etag: string | undefined,
  lastModified: string | undefined,
): boolean {
  const inm = fields.combined("if-none-match");
  if (inm !== undefined) {
    // "*" matches any current representation, with or without an ETag (RFC 9110 §13.1.2).
    if (inm.trim() === "*") return true;
    if (etag === undefined) return false;
    return splitTags(inm).some((tag) => weakMatch(tag, etag));
  }
  const ims = fields.get("if-modified-since");
  if (ims === undefined || lastModified === undefined) return false;
  // A value that is not an HTTP-date is ignored (RFC 9110 §13.1.3).
  const since = parseHttpDate(ims), modified = parseHttpDate(lastModified);
  return since !== undefined && modified !== undefined && modified <= since;
}

/**
 * What If-Modified-Since is compared with for a stored response (RFC 9111
 * §4.3.2): its Last-Modified, else its Date, else the time it was stored —
 * so a client holding a response without Last-Modified still gets 304.
 */
export function storedLastModified(
  lastModified: string | undefined,
  date: string | undefined,
  storedAt: number,
): string {
  const valid = (v: string | undefined) => v !== undefined && parseHttpDate(v) !== undefined;
  return valid(lastModified) ? lastModified! : valid(date) ? date! : formatHttpDate(storedAt);
}

/** Weak comparison: the opaque tags are equal, W/ prefixes ignored. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}

/** Strong comparison: equal and neither is weak. */
export function strongMatch(a: string, b: string): boolean {
  return !a.trim().startsWith("W/") && !b.trim().startsWith("W/") && a.trim() === b.trim();
}

function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith("W/") ? t.slice(2) : t;
}

function splitTags(list: string): string[] {
  return list.match(/(?:W\/)?"[^"]*"/g) ?? [];
}
