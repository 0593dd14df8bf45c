/**
 * What the cache policy decides from: a request, a stored response, and what
 * rules (src/rules.ts) say about the URL. The policy is pure: these and the
 * time are all it reads.
 *
 * @module
 */

import type { FieldList } from "../../http1/fields.ts";
import type { PolicyObject } from "./semantics.ts";

/** Methods whose responses hoard stores and reuses. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/** A request as the policy needs it. */
export interface CacheRequest {
  /** Method (GET or HEAD reach the cache). */
  method: string;
  /** The primary cache key (target URI). */
  key: string;
  /** Request fields. */
  fields: FieldList;
  /** What rules say about storing and freshness, when one matched. */
  override?: RuleOverride;
  /**
   * The URL carried query parameters that rules keep out of the key — a
   * signature: credentials in the URL, like Authorization in a field.
   */
  signed?: boolean;
}

/**
 * The rules' say on storing and freshness.
 *
 * Departure: rules may override freshness — an immutable artifact's 200 is
 * stored and fresh forever whatever either side's Cache-Control says
 * (storability.ts, freshness.ts); a `ttl` replaces the origin's lifetime
 * (freshness.ts); storability rules still apply.
 */
export interface RuleOverride {
  /** A 200 is stored (also for a request with Authorization) and fresh forever. */
  forever: boolean;
  /** Lifetime in seconds, replacing the origin's. */
  ttl?: number;
  /** Stored also for a request with Authorization, as if the origin had said `public`. */
  public?: boolean;
  /** Status codes stored although HTTP alone would not store them. */
  statuses?: readonly number[];
}

/** The lifetime given to forever-fresh artifacts (ten years: any longer is the same). */
export const FOREVER_SECONDS = 315_360_000;

/** A stored response as the policy needs it. */
export interface StoredResponse {
  /** Status code. */
  status: number;
  /** Stored fields, in order. */
  headers: [string, string][];
  /** The library's serialised policy. */
  policy: PolicyObject;
}
