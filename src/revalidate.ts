/**
 * The revalidate step: a stored response that may not be used as it is goes
 * to the origin with its validators (If-None-Match / If-Modified-Since). A 304
 * refreshes the stored headers and the stored body is served; any other
 * response replaces the entry like a miss. Concurrent revalidations of one
 * entry are collapsed into one.
 *
 * @module
 */

import { refreshed, revalidationFields, staleIfError } from "./cache/policy.ts";
import { restorePolicy } from "./cache/semantics.ts";
import type { ResponseMeta } from "./cache/meta.ts";
import type { ProxyContext } from "./context.ts";
import { fillKey, type Target } from "./decide.ts";
import { hit, serveStale } from "./hit.ts";
import { follow, lead, miss, storeDetached } from "./miss.ts";
import { oneLine, ProxyError } from "./errors.ts";
import type { OriginResponse } from "./origin/client.ts";
import { forward, forwardDetached, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";

/** Revalidates `entry` for `req`; `why` says whether it was stale or the client asked. */
export async function revalidate(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  target: Target,
  entry: ResponseMeta,
  why: "stale" | "request",
): Promise<void> {
  const cache = proxy.cache;
  const { fill, leader } = cache.fills.join(fillKey(target, entry.id));
  // Someone is already asking the origin about this entry: wait for its answer.
  if (!leader) return follow(proxy, ex, req, target, fill, why);
  cache.counters.revalidations++;
  const now = Date.now();
  let res: OriginResponse;
  try {
    res = await forward(
      proxy,
      ex,
      req,
      target.origin,
      target.path,
      revalidationFields(target.cache, entry, now),
    );
  } catch (err) {
    if (err instanceof ProxyError && err.status >= 500 && staleOk(proxy, target, entry)) {
      fill.bypass(`stale-if-error:${err.status}`);
      cache.fills.remove(fill);
      return serveStale(proxy, ex, req, entry, err.status, why);
    }
    fill.fail(err);
    cache.fills.remove(fill);
    throw err;
  }
  if (res.head.status >= 500 && staleOk(proxy, target, entry)) {
    res.finish(false);
    fill.bypass(`stale-if-error:${res.head.status}`);
    cache.fills.remove(fill);
    return serveStale(proxy, ex, req, entry, res.head.status, why);
  }
  if (res.head.status !== 304) return lead(proxy, ex, req, target, fill, res, why, true);

  const clientValidators = req.head.fields.has("if-none-match") ||
    req.head.fields.has("if-modified-since");
  const renewed = refreshed(target.cache, entry, res.head.fields, clientValidators, now);
  const updated = renewed === undefined
    ? undefined
    : { ...entry, headers: renewed.headers, policy: renewed.policy.toObject(), storedAt: now };
  if (updated === undefined) {
    // The 304 answers a validator of the client's, not the stored response's.
    fill.bypass("validator mismatch");
    cache.fills.remove(fill);
    await relay(ex, res, `hoard; fwd=${why}; fwd-status=304`);
    return;
  }
  res.finish(true);
  await cache.update(updated);
  // Refreshed here, refreshed for the fleet.
  proxy.shared?.offer(updated);
  cache.counters.revalidated304++;
  fill.bypass("not-modified");
  cache.fills.remove(fill);
  const age = restorePolicy(updated.policy, Date.now()).age();
  if (!(await hit(proxy, ex, req, updated, age, `hoard; fwd=${why}; fwd-status=304`, false))) {
    await miss(proxy, ex, req, target, entry.id, why);
  }
}

function staleOk(proxy: ProxyContext, target: Target, entry: ResponseMeta): boolean {
  return staleIfError(target.cache, entry, Date.now(), proxy.options.staleIfError);
}

/**
 * Revalidates `entry` with no client waiting (stale-while-revalidate): at most
 * one refresh per entry at a time; the answer updates or replaces the entry.
 */
export function refreshInBackground(
  proxy: ProxyContext,
  req: ProxyRequest,
  target: Target,
  entry: ResponseMeta,
): void {
  const cache = proxy.cache;
  const { fill, leader } = cache.fills.join(fillKey(target, entry.id));
  if (!leader) return;
  cache.counters.revalidations++;
  cache.track((async () => {
    const now = Date.now();
    let res: OriginResponse;
    try {
      res = await forwardDetached(
        proxy,
        req,
        target.origin,
        target.path,
        revalidationFields(target.cache, entry, now),
      );
    } catch (err) {
      proxy.logger.log(
        "info",
        `background refresh of ${entry.key} failed: ${oneLine(String(err))}`,
      );
      fill.fail(err);
      cache.fills.remove(fill);
      return;
    }
    if (res.head.status === 304) {
      const renewed = refreshed(target.cache, entry, res.head.fields, false, now);
      res.finish(true);
      if (renewed !== undefined) {
        const updated = {
          ...entry,
          headers: renewed.headers,
          policy: renewed.policy.toObject(),
          storedAt: now,
        };
        await cache.update(updated);
        proxy.shared?.offer(updated);
        cache.counters.revalidated304++;
      }
      fill.bypass("not-modified");
      cache.fills.remove(fill);
      return;
    }
    if (res.head.status >= 500) {
      res.finish(false);
      fill.bypass(`stale-if-error:${res.head.status}`);
      cache.fills.remove(fill);
      return;
    }
    await storeDetached(proxy, req, target, fill, res);
  })());
}
