/**
 * Revalidation (RFC 9111 §4.3): the validators to ask the origin with, and
 * the stored response after the origin's 304.
 *
 * @module
 */

import { FieldList } from "../../http1/fields.ts";
import { weakMatch } from "../conditional.ts";
import { semanticRequest, semanticResponse } from "./corrections.ts";
import { joined } from "./directives.ts";
import type { CacheRequest, StoredResponse } from "./inputs.ts";
import { newPolicy, type Policy, restorePolicy } from "./semantics.ts";
import { storedHeaders } from "./storability.ts";

/** Fields a 304 must not replace in the stored response (they describe the stored body). */
const KEPT_ON_UPDATE: ReadonlySet<string> = new Set([
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "content-range",
]);

/** The conditional fields for revalidating `stored` (If-None-Match / If-Modified-Since). */
export function revalidationFields(
  req: CacheRequest,
  stored: StoredResponse,
  now: number,
): [string, string][] {
  const h = restorePolicy(stored.policy, now).revalidationHeaders(semanticRequest(req));
  const out: [string, string][] = [];
  if (h["if-none-match"] !== undefined) out.push(["If-None-Match", h["if-none-match"]]);
  if (h["if-modified-since"] !== undefined) out.push(["If-Modified-Since", h["if-modified-since"]]);
  return out;
}

/**
 * The stored fields updated with those of a 304 (RFC 9111 §3.2, §4.3.4): each
 * field the 304 carries replaces every stored line of that name, except the
 * fields that describe the stored body.
 *
 * Departure: fields the stored response did not have are added, Cache-Control
 * included; the library only replaces fields the stored response already had.
 */
export function mergeHeaders(stored: [string, string][], fresh: FieldList): [string, string][] {
  const update = storedHeaders(fresh).filter(([n]) => !KEPT_ON_UPDATE.has(n.toLowerCase()));
  const replaced = new Set(update.map(([n]) => n.toLowerCase()));
  const out: [string, string][] = [];
  const placed = new Set<string>();
  for (const [name, value] of stored) {
    const l = name.toLowerCase();
    if (!replaced.has(l)) {
      out.push([name, value]);
    } else if (!placed.has(l)) {
      placed.add(l);
      for (const f of update) if (f[0].toLowerCase() === l) out.push(f);
    }
  }
  for (const f of update) if (!placed.has(f[0].toLowerCase())) out.push(f);
  return out;
}

/**
 * The stored response after a 304 to hoard's revalidation (RFC 9111 §4.3.4):
 * its fields merged and its policy renewed from them at `now`. Undefined when
 * the 304 does not select it — only possible when the client sent validators
 * of its own, which the 304 may have answered instead.
 *
 * Departure: freshness is renewed from all of the merged fields (§3.2), with
 * the same corrections as a stored response's, not only from those the
 * library would have replaced.
 */
export function refreshed(
  req: CacheRequest,
  stored: StoredResponse,
  fresh: FieldList,
  clientValidators: boolean,
  now: number,
): { headers: [string, string][]; policy: Policy } | undefined {
  if (clientValidators && !selects(stored.headers, fresh)) return undefined;
  const headers = mergeHeaders(stored.headers, fresh);
  const fields = new FieldList();
  for (const [n, v] of headers) fields.add(n, v);
  const age = fresh.get("age");
  if (age !== undefined) fields.add("Age", age);
  return {
    headers,
    policy: newPolicy(semanticRequest(req), semanticResponse(stored.status, fields, now), now),
  };
}

/** `stored` as a 304 to hoard's revalidation leaves it ({@linkcode refreshed}), stored anew at `now`. */
export function renewedEntry<T extends StoredResponse & { storedAt: number }>(
  req: CacheRequest,
  stored: T,
  fresh: FieldList,
  clientValidators: boolean,
  now: number,
): T | undefined {
  const renewed = refreshed(req, stored, fresh, clientValidators, now);
  return renewed === undefined
    ? undefined
    : { ...stored, headers: renewed.headers, policy: renewed.policy.toObject(), storedAt: now };
}

/** Whether a 304's validators select the stored response (RFC 9111 §4.3.4). */
function selects(stored: [string, string][], fresh: FieldList): boolean {
  const storedTag = joined(stored, "etag"), freshTag = fresh.get("etag");
  if (freshTag !== undefined) {
    if (storedTag === undefined) return false;
    return freshTag.trim().startsWith("W/")
      ? weakMatch(storedTag, freshTag)
      : storedTag.trim() === freshTag.trim();
  }
  const storedLm = joined(stored, "last-modified"), freshLm = fresh.get("last-modified");
  if (freshLm !== undefined) return storedLm === freshLm;
  return storedTag === undefined && storedLm === undefined;
}
