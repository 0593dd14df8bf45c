/**
 * All of the freshness arithmetic (RFC 9111 §4.2): whether a stored response
 * answers a request now, its age and remaining lifetime, and whether it may
 * stand in for a failing origin. Nothing outside the policy computes an age.
 *
 * @module
 */

import { directiveSeconds, joined, parseDirectives, requestDirectives } from "./directives.ts";
import { type CacheRequest, FOREVER_SECONDS, type StoredResponse } from "./inputs.ts";
import { restorePolicy } from "./semantics.ts";

/** What to do with a request that found `stored` in the cache. */
export type Freshness =
  /**
   * Fresh (or stale but acceptable): serve it. `ttl` is the remaining freshness
   * in seconds; `refresh` says to revalidate it in the background meanwhile
   * (stale-while-revalidate).
   */
  | { kind: "hit"; age: number; ttl: number; refresh?: boolean }
  /** Must be checked with the origin first. */
  | { kind: "revalidate"; age: number; reason: "stale" | "request" };

/**
 * Decides whether `stored` can answer `req` at `now` (RFC 9111 §4.2, §5.2.1).
 *
 * Departure: rules (src/rules.ts) override the origin's freshness — an
 * immutable artifact's 200 is fresh forever whatever the client asks, and a
 * `ttl` replaces the origin's lifetime.
 */
export function freshness(req: CacheRequest, stored: StoredResponse, now: number): Freshness {
  const policy = restorePolicy(stored.policy, now);
  const age = policy.age();
  const o = req.override;
  // An immutable artifact needs no revalidation, whatever the client asks.
  if (o?.forever && stored.status === 200) return { kind: "hit", age, ttl: FOREVER_SECONDS - age };
  const lifetime = o?.ttl ?? policy.maxAge();
  const d = requestDirectives(req.fields);
  if (d.noCache) return { kind: "revalidate", age, reason: "request" };
  if (d.maxAge !== undefined && age > d.maxAge) {
    return { kind: "revalidate", age, reason: "request" };
  }
  if (d.minFresh !== undefined && lifetime - age < d.minFresh) {
    return { kind: "revalidate", age, reason: "request" };
  }
  const ttl = lifetime - age;
  if (ttl > 0) return { kind: "hit", age, ttl };
  // Stale: usable only when the response allows serving it stale.
  if (!forbidsStale(stored.headers)) {
    // stale-while-revalidate (RFC 5861 §3): serve now, refresh in the background.
    const swr = directiveSeconds(stored.headers, "stale-while-revalidate");
    if (swr !== undefined && -ttl <= swr) return { kind: "hit", age, ttl, refresh: true };
    // A client may accept it with max-stale.
    if (d.maxStale !== undefined && -ttl <= d.maxStale) return { kind: "hit", age, ttl };
  }
  return { kind: "revalidate", age, reason: "stale" };
}

/**
 * Whether `stored` may stand in for a failed origin (unreachable, timed out,
 * or 5xx): RFC 5861 §4 stale-if-error, up to `maxStaleSeconds` past its
 * freshness (or longer if its own stale-if-error says so) — never when it
 * forbids serving it stale (RFC 9111 §4.2.4).
 */
export function staleIfError(
  req: CacheRequest,
  stored: StoredResponse,
  now: number,
  maxStaleSeconds: number,
): boolean {
  if (forbidsStale(stored.headers)) return false;
  const policy = restorePolicy(stored.policy, now);
  const staleFor = policy.age() - (req.override?.ttl ?? policy.maxAge());
  const own = directiveSeconds(stored.headers, "stale-if-error") ?? 0;
  return staleFor <= Math.max(maxStaleSeconds, own);
}

/**
 * Whether a stored response must never be served stale (RFC 9111 §4.2.4):
 * must-revalidate, proxy-revalidate, no-cache or s-maxage.
 *
 * Departure: `must-revalidate` and `proxy-revalidate` take effect here, only
 * once the response is stale (§5.2.2.2, §5.2.2.8), not in the library, which
 * refuses every reuse with the former (corrections.ts hides the latter).
 */
export function forbidsStale(headers: [string, string][]): boolean {
  const cc = parseDirectives(joined(headers, "cache-control"));
  return cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("no-cache") ||
    cc.has("s-maxage");
}

/** The current age of `stored`, in seconds (RFC 9111 §4.2.3). */
export function currentAge(stored: Pick<StoredResponse, "policy">, now: number): number {
  return restorePolicy(stored.policy, now).age();
}

/** How long `stored`, whose age is `age` seconds, has left to be fresh (negative once stale). */
export function timeToLive(
  stored: Pick<StoredResponse, "policy">,
  age: number,
  now: number,
): number {
  return restorePolicy(stored.policy, now).maxAge() - age;
}
