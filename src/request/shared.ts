/**
 * The shared step: a miss that the shared tier (--shared-cache) can answer.
 *
 * @module
 */

import type { FillHead } from "../cache/fill.ts";
import { currentAge, freshness } from "../cache/policy/freshness.ts";
import { FieldList } from "../http1/fields.ts";
import type { ProxyContext } from "../context.ts";
import { ageValue } from "../headers.ts";
import { type CacheStatus, cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import { askAbout, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";
import { runFill, startFillResponse, type Storing, tempFor } from "./lead.ts";

/**
 * The shared step: a miss that the shared tier can answer. A fresh entry
 * streams to the client while it fills the local store, under its stored
 * metadata (so its age and freshness are the writer's). A stale one is
 * revalidated with the origin first: a 304 serves the shared body under the
 * refreshed metadata, stores it and uploads it back (both tiers refreshed);
 * anything else replaces it like any revalidation.
 */
export async function fromShared(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, fill, found }: Extract<Step, { kind: "shared" }>,
): Promise<Step> {
  const cache = proxy.cache, shared = proxy.shared!;
  const now = Date.now();
  let meta = found.meta;
  const f = freshness(target.cache, meta, now);
  let status: CacheStatus;
  if (f.kind === "hit") {
    cache.counters.hits++;
    status = { hit: true, ttl: f.ttl, detail: "shared" };
  } else {
    cache.counters.revalidations++;
    let answer;
    try {
      answer = await askAbout(proxy, ex, req, target, meta, now);
    } catch (err) {
      found.cancel();
      fill.fail(err);
      cache.fills.remove(fill);
      throw err;
    }
    const { res, renewed } = answer;
    if (res.head.status !== 304) {
      found.cancel();
      return { kind: "lead", target, fill, res, fwd: "stale", fwdStatus: true };
    }
    if (renewed === undefined) {
      // The 304 answers a validator of the client's, not the stored response's.
      found.cancel();
      fill.bypass("validator mismatch");
      cache.fills.remove(fill);
      await relay(ex, res, cacheStatus({ fwd: "stale", fwdStatus: 304 }));
      return DONE;
    }
    res.finish(true);
    cache.counters.revalidated304++;
    meta = renewed;
    status = { fwd: "stale", fwdStatus: 304, detail: "shared" };
  }
  shared.counters.hits++;
  const { body: _b, size: _s, sha256: _h, ...stored } = { body: "", ...meta };
  const fields = new FieldList();
  for (const [name, value] of meta.headers) fields.add(name, value);
  const age = currentAge(meta, Date.now());
  fields.set("Age", ageValue(age));
  const head: FillHead = {
    status: meta.status,
    reason: meta.reason,
    fields,
    length: meta.size,
    vary: meta.vary ?? [],
    secondary: meta.secondary,
  };
  const storing: Extract<Storing, { kind: "store" }> = {
    kind: "store",
    head,
    temp: tempFor(proxy, meta.size),
    meta: () => stored,
    from: "shared",
    upload: f.kind !== "hit",
  };
  const source = {
    body: found.body,
    finish: (complete: boolean) => {
      if (!complete) found.cancel();
      return true;
    },
  };
  const sink = startFillResponse(ex, head, cacheStatus(status));
  const served = Promise.withResolvers<void>();
  cache.track(runFill(proxy, fill, source, storing, { sink, served }));
  try {
    await served.promise;
  } finally {
    ex.record.bytes = sink.bytes;
    cache.counters.bytesFromCache += sink.bytes;
  }
  return DONE;
}
