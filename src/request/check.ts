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

import { currentAge } from "../cache/policy/freshness.ts";
import { revalidationFields } from "../cache/policy/revalidation.ts";
import type { ProxyContext } from "../context.ts";
import { fillKey } from "./decide.ts";
import { type CacheStatus, cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import { forward, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";

/**
 * The check step: serves `entry` to `req` if the origin accepts `req`'s
 * credentials for it, else the origin's answer.
 */
export async function check(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, entry }: Extract<Step, { kind: "check" }>,
): Promise<Step> {
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
  const checked: CacheStatus = { fwd: "request", fwdStatus: status, detail: "credentials" };
  if (status === 304) {
    res.finish(true);
    cache.counters.revalidated304++;
    return {
      kind: "deliver",
      entry,
      age: currentAge(entry, Date.now()),
      status: checked,
      count: false,
      // Gone from the store meanwhile; the origin accepts this client: fetch it.
      otherwise: { kind: "miss", target, id: entry.id, vary: false, fwd: "request" },
    };
  }
  if (status === 200 && req.head.method === "GET") {
    const { fill, leader } = cache.fills.join(fillKey(target, entry.id));
    if (leader) return { kind: "lead", target, fill, res, fwd: "request", fwdStatus: true };
  }
  cache.counters.bytesFromOrigin += await relay(ex, res, cacheStatus(checked));
  return DONE;
}
