/**
 * The check step (tenancy "shared"): a response that a rule let hoard store
 * although the request that fetched it carried credentials (an image blob, a
 * private tarball) is served to another request only once the origin has
 * accepted that request's own credentials for it. The request goes to the
 * origin as it is — its own Authorization — with the stored response's
 * validators: a 304 serves the stored body; a 200 (it changed) is stored and
 * served like a miss; anything else (401, 403, 404, 5xx) is the origin's
 * answer to this client and is relayed, the stored response staying for the
 * clients it belongs to. An origin that cannot be asked fails the request:
 * there is no stale-if-error for someone else's response.
 *
 * @module
 */

import { revalidationFields } from "./cache/policy.ts";
import { restorePolicy } from "./cache/semantics.ts";
import type { ResponseMeta } from "./cache/meta.ts";
import type { ProxyContext } from "./context.ts";
import { fillKey, type Target } from "./decide.ts";
import { hit } from "./hit.ts";
import { lead, miss } from "./miss.ts";
import { forward, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";

/** Serves `entry` to `req` if the origin accepts `req`'s credentials for it, else the origin's answer. */
export async function check(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  target: Target,
  entry: ResponseMeta,
): Promise<void> {
  const cache = proxy.cache;
  cache.counters.revalidations++;
  const res = await forward(
    proxy,
    ex,
    req,
    target.origin,
    target.path,
    revalidationFields(target.cache, entry, Date.now()),
  );
  const status = res.head.status;
  const cacheStatus = `hoard; fwd=request; fwd-status=${status}; detail=credentials`;
  if (status === 304) {
    res.finish(true);
    cache.counters.revalidated304++;
    const age = restorePolicy(entry.policy, Date.now()).age();
    if (await hit(proxy, ex, req, entry, age, cacheStatus, false)) return;
    // Gone from the store meanwhile; the origin accepts this client: fetch it.
    return miss(proxy, ex, req, target, entry.id, "request");
  }
  if (status === 200 && req.head.method === "GET") {
    const { fill, leader } = cache.fills.join(fillKey(target, entry.id));
    if (leader) return lead(proxy, ex, req, target, fill, res, "request", true);
  }
  cache.counters.bytesFromOrigin += await relay(ex, res, cacheStatus);
}
