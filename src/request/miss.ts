/**
 * The miss step: nothing usable is stored. The first request for a key leads
 * a fill (lead.ts) — after the shared tier, when there is one (shared.ts) —
 * and every concurrent request for the key follows it (follow.ts).
 *
 * @module
 */

import { requestDirectives } from "../cache/policy/directives.ts";
import type { ProxyContext } from "../context.ts";
import { fillKey, type Target } from "./decide.ts";
import { storeId } from "../cache/key.ts";
import { ProxyError } from "../errors.ts";
import { cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import { forward, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";

/** The miss step: serves a miss for `target`, collapsing with other requests for store id `id`. */
export async function miss(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  route: Extract<Step, { kind: "miss" }>,
): Promise<Step> {
  const { target, id } = route;
  const fwd = route.fwd ?? (route.partial ? "partial" : route.vary ? "vary-miss" : "uri-miss");
  const cache = proxy.cache;
  if (proxy.options.offline) {
    // Not missed(): an offline miss never reaches an origin, so the report
    // lists its key among the offline misses instead of counting a host.
    proxy.report.offlineMiss(target.cache.key);
    cache.counters.misses++;
    throw new ProxyError(
      504,
      "http_request_error",
      `offline: ${target.cache.key} is not in the cache`,
    );
  }
  if (requestDirectives(req.head.fields).onlyIfCached) {
    throw new ProxyError(
      504,
      "http_request_error",
      `only-if-cached: ${target.cache.key} is not in the cache`,
    );
  }
  // HEAD is not stored (no body to store): it goes to the origin as it is.
  if (req.head.method === "HEAD") {
    missed(proxy, target);
    const res = await forward(proxy, ex, req, target.origin, target.path);
    await relay(ex, res, cacheStatus({ fwd }));
    return DONE;
  }
  const { fill, leader, recheck } = cache.fills.join(fillKey(target, id));
  if (!leader) return { kind: "follow", target, fill, fwd };
  if (recheck) {
    // Another thread stored it a moment ago; this one may not have heard yet.
    await cache.joined.reread(storeId(target.cache.key), id);
    const found = await cache.find(target.cache, Date.now());
    if (found.kind === "entry" && found.freshness.kind === "hit") {
      fill.bypass("stored");
      cache.fills.remove(fill);
      return { kind: "follow", target, fill, fwd };
    }
  }
  // The shared tier comes before the origin (a stored range is never there).
  if (proxy.shared !== undefined && !req.head.fields.has("range")) {
    const found = await proxy.shared.lookup(target.cache.key, id, req.head.fields);
    if (found !== undefined) return { kind: "shared", target, fill, found };
  }
  missed(proxy, target);
  try {
    const res = await forward(proxy, ex, req, target.origin, target.path);
    return { kind: "lead", target, fill, res, fwd };
  } catch (err) {
    fill.fail(err);
    cache.fills.remove(fill);
    throw err;
  }
}

/** Counts a request that goes to the origin because nothing usable is stored. */
export function missed(proxy: ProxyContext, target: Target): void {
  proxy.cache.counters.misses++;
  proxy.report.missed(target.origin.host);
}
