/**
 * `npm:http-cache-semantics` (the RFC 9111 policy npm itself uses), typed for
 * the parts hoard uses, with a clock passed in: hoard's policy is a pure
 * function of (request, stored entry, now).
 *
 * @module
 */

import CachePolicyJs from "http-cache-semantics";

/** Request as the library sees it: lower-case header names, one value each. */
export interface SemanticsRequest {
  /** Method. */
  method: string;
  /** The URL (hoard passes the primary key). */
  url: string;
  /** Lower-case names. */
  headers: Record<string, string>;
}

/** Response as the library sees it. */
export interface SemanticsResponse {
  /** Status code. */
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
}

/** The serialised form kept in entry metadata (the library's `toObject()`). */
export type PolicyObject = Record<string, unknown>;

/** The methods of the library's CachePolicy that hoard relies on. */
export interface Policy {
  /** Whether the response may be stored (RFC 9111 §3). */
  storable(): boolean;
  /** Freshness lifetime in seconds (RFC 9111 §4.2.1). */
  maxAge(): number;
  /** Current age in seconds (RFC 9111 §4.2.3), at the policy's clock. */
  age(): number;
  /** Request headers for revalidating with the origin (adds If-None-Match / If-Modified-Since). */
  revalidationHeaders(req: SemanticsRequest): Record<string, string>;
  /** Serialises the policy. */
  toObject(): PolicyObject;
}

interface ClockedPolicy extends Policy {
  _clock: number | undefined;
}

// The library reads the time through `now()`, also from inside its own
// constructor (before a subclass field can be set): `ambient` is the time of
// the library call in progress, `_clock` the time a policy was asked about.
let ambient = 0;

// deno-lint-ignore no-explicit-any
class ClockedCachePolicy extends (CachePolicyJs as any) {
  _clock: number | undefined;
  now(): number {
    return this._clock ?? ambient;
  }
}

const Ctor = ClockedCachePolicy as unknown as {
  new (req: SemanticsRequest, res: SemanticsResponse, opts: { shared: boolean }): ClockedPolicy;
  fromObject(obj: PolicyObject): ClockedPolicy;
};

/** The policy of a response received at `now` (ms), for a shared cache. */
export function newPolicy(req: SemanticsRequest, res: SemanticsResponse, now: number): Policy {
  ambient = now;
  const p = new Ctor(req, res, { shared: true });
  p._clock = now;
  return p;
}

// Restoring a policy parses its stored fields again: each stored object is
// restored once (on every hit that was twice the work of the rest of the
// freshness check), and each restore after that is a small object with its own
// clock over it (the library sets fields only while it constructs a policy).
const restored = new WeakMap<PolicyObject, ClockedPolicy>();

/** A stored policy, asked about at `now` (ms). */
export function restorePolicy(obj: PolicyObject, now: number): Policy {
  let base = restored.get(obj);
  if (base === undefined) {
    base = Ctor.fromObject(obj);
    restored.set(obj, base);
  }
  const p: ClockedPolicy = Object.create(base);
  p._clock = now;
  return p;
}
