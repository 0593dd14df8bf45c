/**
 * Shared builders for the cache policy tests: field lists, a fixed clock and
 * requests under one primary key.
 *
 * @module
 */

import { FieldList } from "../../../src/http1/fields.ts";
import type { CacheRequest, StoredResponse } from "../../../src/cache/policy/inputs.ts";
import { storability, storedHeaders } from "../../../src/cache/policy/storability.ts";

/** Field lines as written in a test: `[name, value]`, in wire order. */
export type Lines = readonly (readonly [string, string])[];

/** The instant every test response is received at (ms); a Monday, 12:00:00 UTC. */
export const T0: number = Date.UTC(2024, 0, 15, 12, 0, 0);

/** The primary key the test requests are for. */
export const KEY = "http://example.com/doc";

/** The Host line a client sends for {@linkcode KEY}. */
export const HOST: readonly [string, string] = ["Host", "example.com"];

/** A field list holding `lines`, in order. */
export function fields(...lines: Lines): FieldList {
  const out = new FieldList();
  for (const [name, value] of lines) out.add(name, value);
  return out;
}

/** The clock `seconds` after {@linkcode T0}, in ms. */
export function at(seconds: number): number {
  return T0 + seconds * 1000;
}

/** The HTTP-date (IMF-fixdate) `seconds` after {@linkcode T0}. */
export function httpDate(seconds: number): string {
  return new Date(at(seconds)).toUTCString();
}

/** A request for {@linkcode KEY} with `lines` (Host added first unless given). */
export function request(lines: Lines = [], method = "GET"): CacheRequest {
  const withHost = lines.some(([n]) => n.toLowerCase() === "host") ? lines : [HOST, ...lines];
  return { method, key: KEY, fields: fields(...withHost) };
}

/**
 * What the cache keeps of a response to `req` received at `now`, as miss.ts
 * builds it. Throws when the response is not storable.
 */
export function store(
  req: CacheRequest,
  status: number,
  res: Lines,
  now: number = T0,
): StoredResponse {
  const f = fields(...res);
  const st = storability(req, status, f, now);
  if (!st.storable) throw new Error(`not storable: ${st.reason}`);
  return { status, headers: storedHeaders(f), policy: st.policy.toObject() };
}
