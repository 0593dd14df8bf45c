/**
 * The revalidate step: a stored response that may not be used as it is goes
 * to the origin with its validators (If-None-Match / If-Modified-Since). A 304
 * refreshes the stored headers and the stored body is served; any other
 * response replaces the entry like a miss. Concurrent revalidations of one
 * entry are collapsed into one.
 *
 * @module
 */

import { currentAge, staleIfError } from "../cache/policy/freshness.ts";
import { renewedEntry, revalidationFields } from "../cache/policy/revalidation.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import type { ProxyContext } from "../context.ts";
import { fillKey, type Target } from "./decide.ts";
import { storeDetached } from "./lead.ts";
import { cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import { oneLine, ProxyError } from "../errors.ts";
import type { OriginResponse } from "../origin/client.ts";
import { askAbout, forwardDetached, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";

/** The revalidate step: asks the origin about `entry` for `req`. */
export async function revalidate(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, entry, why }: Extract<Step, { kind: "revalidate" }>,
): Promise<Step> {
  const cache = proxy.cache;
  const { fill, leader } = cache.fills.join(fillKey(target, entry.id));
  // Someone is already asking the origin about this entry: wait for its answer.
  if (!leader) return { kind: "follow", target, fill, fwd: why };
  cache.counters.revalidations++;
  const now = Date.now();
  let res: OriginResponse, updated: ResponseMeta | undefined;
  try {
    ({ res, renewed: updated } = await askAbout(proxy, ex, req, target, entry, now));
  } catch (err) {
    if (err instanceof ProxyError && err.status >= 500 && staleOk(proxy, target, entry)) {
      fill.staleIfError(err.status);
      cache.fills.remove(fill);
      return { kind: "stale", entry, status: err.status, fwd: why };
    }
    fill.fail(err);
    cache.fills.remove(fill);
    throw err;
  }
  if (res.head.status >= 500 && staleOk(proxy, target, entry)) {
    res.finish(false);
    fill.staleIfError(res.head.status);
    cache.fills.remove(fill);
    return { kind: "stale", entry, status: res.head.status, fwd: why };
  }
  if (res.head.status !== 304) {
    return { kind: "lead", target, fill, res, fwd: why, fwdStatus: true };
  }
  if (updated === undefined) {
    // The 304 answers a validator of the client's, not the stored response's.
    fill.bypass("validator mismatch");
    cache.fills.remove(fill);
    await relay(ex, res, cacheStatus({ fwd: why, fwdStatus: 304 }));
    return DONE;
  }
  res.finish(true);
  await stored304(proxy, updated);
  fill.bypass("not-modified");
  cache.fills.remove(fill);
  return {
    kind: "deliver",
    entry: updated,
    age: currentAge(updated, Date.now()),
    status: { fwd: why, fwdStatus: 304 },
    count: false,
    otherwise: { kind: "miss", target, id: entry.id, vary: false, fwd: why },
  };
}

/** Keeps an entry a 304 refreshed: here, and for the fleet. */
async function stored304(proxy: ProxyContext, updated: ResponseMeta): Promise<void> {
  await proxy.cache.update(updated);
  proxy.shared?.offer(updated);
  proxy.cache.counters.revalidated304++;
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
      res.finish(true);
      const updated = renewedEntry(target.cache, entry, res.head.fields, false, now);
      if (updated !== undefined) await stored304(proxy, updated);
      fill.bypass("not-modified");
      cache.fills.remove(fill);
      return;
    }
    if (res.head.status >= 500) {
      res.finish(false);
      fill.staleIfError(res.head.status);
      cache.fills.remove(fill);
      return;
    }
    await storeDetached(proxy, req, target, fill, res);
  })());
}
