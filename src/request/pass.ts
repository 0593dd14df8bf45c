/**
 * The pass step: forward a request to its origin and stream the response back,
 * both bodies with back-pressure, bytes unchanged (src/request/forward.ts).
 *
 * @module
 */

import type { ProxyContext } from "../context.ts";
import { ProxyError } from "../errors.ts";
import { parseRequestTarget } from "../http1/target.ts";
import { forward, relay } from "./forward.ts";
import type { Origin } from "../origin/origin.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";
import { primaryKey, storeId } from "../cache/key.ts";
import { storability } from "../cache/policy/storability.ts";
import { cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";

/** Unsafe methods: a success invalidates what is stored for the URL (RFC 9111 §4.4). */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Forwards `req` and relays the response. A successful unsafe method
 * invalidates the stored responses for its URL and for the Location and
 * Content-Location it names on the same origin (RFC 9111 §4.4); a POST's
 * answer that may answer later GETs of its URL is then stored as one.
 */
export async function pass(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  route: Extract<Step, { kind: "pass" }>,
): Promise<Step> {
  const { target, why } = route;
  const { origin, path } = target;
  if (proxy.options.offline) {
    throw new ProxyError(
      504,
      "http_request_error",
      `offline: ${req.head.method} ${req.url} needs the origin`,
    );
  }
  const res = await forward(proxy, ex, req, origin, path);
  const method = req.head.method;
  if (!SAFE_METHODS.has(method) && res.head.status < 400 && proxy.cache.enabled) {
    const keys = new Set([primaryKey(origin.scheme, origin.host, origin.port, path)]);
    for (const name of ["location", "content-location"]) {
      const key = sameOriginKey(origin, path, res.head.fields.get(name));
      if (key !== undefined) keys.add(key);
    }
    for (const key of keys) await proxy.cache.invalidate(key);
  }
  if (
    route.storePost &&
    storability(target.cache, res.head.status, res.head.fields, Date.now()).storable
  ) {
    const { fill, leader } = proxy.cache.fills.join(storeId(target.cache.key));
    if (leader) {
      // As relay() does: a request body the origin never took leaves the connection unusable.
      const finish = res.finish;
      res.finish = (complete) => {
        const sent = finish(complete);
        if (!sent) ex.keepAlive = false;
        return sent;
      };
      return { kind: "lead", target, fill, res, fwd: "method" };
    }
  }
  await relay(
    ex,
    res,
    cacheStatus(why === "method" ? { fwd: why } : { fwd: "bypass", detail: why }),
  );
  return DONE;
}

/**
 * The fetch step: a cacheable request that asks the origin itself (its fill
 * could not be shared) and relays the answer, storing nothing.
 */
export async function fetchUnshared(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, status }: Extract<Step, { kind: "fetch" }>,
): Promise<Step> {
  const res = await forward(proxy, ex, req, target.origin, target.path);
  proxy.cache.counters.bytesFromOrigin += await relay(ex, res, cacheStatus(status));
  return DONE;
}

/** The cache key a Location-like value names, when it is on `origin`. */
function sameOriginKey(
  origin: Origin,
  path: string,
  value: string | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value, primaryKey(origin.scheme, origin.host, origin.port, path));
  } catch {
    return undefined;
  }
  try {
    const t = parseRequestTarget("GET", url.href);
    if (t.form !== "absolute") return undefined;
    if (t.scheme !== origin.scheme || t.host !== origin.host || t.port !== origin.port) {
      return undefined;
    }
    return primaryKey(t.scheme, t.host, t.port, t.path);
  } catch {
    return undefined;
  }
}
