/**
 * The follow step: requests for a key that another request is already
 * fetching wait for its fill and serve what it got (request collapsing), or
 * ask the origin themselves when it cannot be shared.
 *
 * @module
 */

import { type Fill, type FillHead, type FillStart, followFill } from "../cache/fill.ts";
import { secondaryKey } from "../cache/key.ts";
import { staleIfError } from "../cache/policy/freshness.ts";
import type { ProxyContext } from "../context.ts";
import { type CacheStatus, cacheStatus } from "./cache_status.ts";
import type { Target } from "./decide.ts";
import { DONE, type Step } from "./step.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";
import { missed } from "./miss.ts";
import { startFillResponse } from "./lead.ts";

/**
 * The follow step: a request that joined someone else's fill follows it, or
 * goes to the origin itself when the fill's response cannot be shared.
 */
export async function follow(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  step: Extract<Step, { kind: "follow" }>,
): Promise<Step> {
  const { target, fill, fwd } = step;
  const start = await fill.started;
  const counters = proxy.cache.counters;
  // The body is all there, being committed (once it is, this is a plain hit),
  // or another thread has just stored it (src/cores).
  const stored = start.kind === "bypass" && start.reason === "stored";
  if (
    !step.retried && (stored || start.kind === "follow" && fill.done && fill.error === undefined)
  ) {
    await fill.settled;
    const hit = await deliverIfFresh(proxy, target, (ttl) => ({ hit: true, ttl }), {
      ...step,
      retried: true,
    });
    if (hit !== undefined) return hit;
  }
  if (fwd === "stale" || fwd === "request") counters.revalidations++;
  else missed(proxy, target);
  const shared = start.kind === "follow" &&
    (start.head.secondary === undefined ||
      start.head.secondary === secondaryKey(start.head.vary, req.head.fields)) &&
    (start.head.range === undefined || start.head.range === req.head.fields.get("range"));
  if (start.kind === "follow" && shared) {
    const status = cacheStatus({ fwd, stored: true, collapsed: true });
    await serveFill(ex, fill, start.head, status);
    return DONE;
  }
  const relayed: Step = { kind: "fetch", target, status: { fwd, detail: bypassDetail(start) } };
  if (start.kind === "bypass" && start.reason === "not-modified") {
    // The leader revalidated the stored response: it is fresh again.
    const hit = await deliverIfFresh(
      proxy,
      target,
      () => ({ hit: true, collapsed: true }),
      relayed,
    );
    if (hit !== undefined) return hit;
  }
  if (start.kind === "stale-if-error") {
    // The leader found the origin failing and served the stored response: so does this one.
    const found = await proxy.cache.find(target.cache, Date.now());
    if (
      found.kind === "entry" &&
      staleIfError(target.cache, found.entry, Date.now(), proxy.options.staleIfError)
    ) {
      return {
        kind: "stale",
        entry: found.entry,
        status: start.status,
        fwd: fwd === "request" ? "request" : "stale",
      };
    }
  }
  return relayed;
}

/** The Cache-Status detail of a follower that asks the origin itself. */
function bypassDetail(start: FillStart): string {
  switch (start.kind) {
    case "follow":
      return "vary";
    case "bypass":
      return start.reason;
    case "stale-if-error":
      return `stale-if-error:${start.status}`;
  }
}

/** Sends a fill's response to a follower, reading the body as it grows. */
async function serveFill(
  ex: Exchange,
  fill: Fill,
  head: FillHead,
  cacheStatus: string,
): Promise<void> {
  const sink = startFillResponse(ex, head, cacheStatus);
  try {
    if (ex.method !== "HEAD") {
      for await (const chunk of followFill(fill)) await sink.write(chunk);
    }
    await sink.end();
  } finally {
    ex.record.bytes = sink.bytes;
  }
}

/**
 * A deliver step for the entry stored for `target` when it is fresh now
 * (`status` from its time to live), `otherwise` the step if its body is gone.
 */
async function deliverIfFresh(
  proxy: ProxyContext,
  target: Target,
  status: (ttl: number) => CacheStatus,
  otherwise: Step,
): Promise<Step | undefined> {
  const found = await proxy.cache.find(target.cache, Date.now());
  if (found.kind !== "entry" || found.freshness.kind !== "hit") return undefined;
  const { age, ttl } = found.freshness;
  return { kind: "deliver", entry: found.entry, age, status: status(ttl), count: true, otherwise };
}
