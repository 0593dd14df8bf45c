/**
 * The pass step: forward a request to its origin and stream the response back,
 * both bodies with back-pressure, bytes unchanged. The cache steps use the
 * same two halves (`forward`, `relay`) for what they send to origins.
 *
 * @module
 */

import type { ProxyContext } from "./context.ts";
import { ProxyError } from "./errors.ts";
import { appendVia, endToEndFields, httpDate } from "./headers.ts";
import { FieldList } from "./http1/fields.ts";
import { type BodyFraming, CHUNKED, UNTIL_CLOSE } from "./http1/framing.ts";
import { serializeResponseHead } from "./http1/serialize.ts";
import { DEFAULT_PORT, formatAuthority, parseRequestTarget } from "./http1/target.ts";
import { pipeBody, readBody } from "./io/body.ts";
import type { OriginResponse } from "./origin/client.ts";
import type { Origin } from "./origin/dial.ts";
import type { ProxyRequest } from "./read_request.ts";
import { CONTINUE, type Exchange, startResponse } from "./respond.ts";
import { primaryKey, storeId } from "./cache/key.ts";
import { storability } from "./cache/policy.ts";
import type { Route } from "./decide.ts";
import { lead } from "./miss.ts";

// Set again from the request's own framing and target.
const REPLACED_ON_FORWARD: ReadonlySet<string> = new Set(["host", "content-length", "expect"]);
// Replaced by hoard's own conditional fields when it revalidates.
const CONDITIONALS: ReadonlySet<string> = new Set(["if-none-match", "if-modified-since"]);

/** Unsafe methods: a success invalidates what is stored for the URL (RFC 9111 §4.4). */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Forwards `req` to `origin`, streaming its body, and returns once the
 * response head is in. `conditional` replaces the client's If-None-Match /
 * If-Modified-Since (a revalidation).
 */
export async function forward(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  origin: Origin,
  path: string,
  conditional?: [string, string][],
): Promise<OriginResponse> {
  const started = performance.now();
  const res = await proxy.origin.exchange({
    origin,
    method: req.head.method,
    target: path,
    signal: ex.signal,
    fields: forwardedRequestFields(req, origin, conditional),
    body: req.framing.kind === "none"
      ? undefined
      : { framing: req.framing, reader: readBody(ex.io, req.framing) },
    onContinue: req.expectContinue ? () => ex.io.write(CONTINUE) : undefined,
    onInterim: ex.minor === 1
      ? (h) => ex.io.write(serializeResponseHead(h.status, h.reason, endToEndFields(h.fields)))
      : undefined,
  });
  ex.record.originMs = performance.now() - started;
  proxy.metrics.originLatency(ex.record.originMs);
  return res;
}

/** Forwards a bodyless GET with no client attached (a background refresh). */
export function forwardDetached(
  proxy: ProxyContext,
  req: ProxyRequest,
  origin: Origin,
  path: string,
  conditional?: [string, string][],
): Promise<OriginResponse> {
  return proxy.origin.exchange({
    origin,
    method: "GET",
    target: path,
    fields: forwardedRequestFields(req, origin, conditional),
  });
}

/**
 * The fields and framing of a response as this client gets it: end-to-end
 * fields, Date when the origin sent none, Via, and a body framed for the
 * client's HTTP version (chunked for 1.1, until-close for 1.0, when the
 * length is not known).
 */
export function clientResponse(
  ex: Exchange,
  fields: FieldList,
  length: number | undefined,
  hasBody: boolean,
): { fields: FieldList; framing: BodyFraming } {
  const out = endToEndFields(fields);
  let framing: BodyFraming;
  if (!hasBody) framing = { kind: "none" };
  else if (length !== undefined) framing = { kind: "length", length };
  else {
    out.delete("content-length");
    framing = ex.minor === 1 ? CHUNKED : UNTIL_CLOSE;
  }
  // An origin may repeat an identical Content-Length; the client gets it once.
  if (length !== undefined && out.getAll("content-length").length > 1) {
    out.set("Content-Length", String(length));
  }
  if (!out.has("date")) out.add("Date", httpDate());
  appendVia(out);
  return { fields: out, framing };
}

/** Relays an origin response to the client, with `cacheStatus` when the cache was involved. */
export async function relay(
  ex: Exchange,
  res: OriginResponse,
  cacheStatus?: string,
): Promise<number> {
  const { fields, framing } = clientResponse(
    ex,
    res.head.fields,
    res.framing.kind === "length" ? res.framing.length : undefined,
    res.framing.kind !== "none",
  );
  if (cacheStatus !== undefined) fields.add("Cache-Status", cacheStatus);
  const sink = startResponse(ex, res.head.status, res.head.reason, fields, framing);
  let complete = false;
  try {
    await pipeBody(res.body, sink);
    complete = true;
  } finally {
    ex.record.bytes = sink.bytes;
    // A request body the origin never took is still on the client connection, unread.
    if (!res.finish(complete)) ex.keepAlive = false;
  }
  return sink.bytes;
}

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
  route: Extract<Route, { kind: "pass" }>,
): Promise<void> {
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
      return lead(proxy, ex, req, target, fill, res, "method");
    }
  }
  await relay(ex, res, why === "method" ? "hoard; fwd=method" : `hoard; fwd=bypass; detail=${why}`);
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

/** The request fields sent to the origin: end-to-end fields, Host first, framing, Via. */
function forwardedRequestFields(
  req: ProxyRequest,
  origin: Origin,
  conditional?: [string, string][],
): FieldList {
  const out = new FieldList();
  out.add("Host", formatAuthority(origin.host, origin.port, DEFAULT_PORT[origin.scheme]));
  for (const [name, value] of endToEndFields(req.head.fields, REPLACED_ON_FORWARD)) {
    if (conditional === undefined || !CONDITIONALS.has(name.toLowerCase())) out.add(name, value);
  }
  if (conditional !== undefined) { for (const [name, value] of conditional) out.add(name, value); }
  if (req.framing.kind === "length") out.add("Content-Length", String(req.framing.length));
  else if (req.framing.kind === "chunked") out.add("Transfer-Encoding", "chunked");
  if (req.expectContinue) out.add("Expect", "100-continue");
  appendVia(out);
  return out;
}
