/**
 * The two halves every step that asks an origin uses: `forward` sends the
 * request (or a revalidation of it) and returns once the response head is in;
 * `relay` streams a response to the client unchanged. `askAbout` is the
 * revalidation of a stored entry that the revalidate and shared steps share.
 *
 * @module
 */

import type { CacheRequest, StoredResponse } from "../cache/policy/inputs.ts";
import { renewedEntry, revalidationFields } from "../cache/policy/revalidation.ts";
import type { ProxyContext } from "../context.ts";
import { appendVia, endToEndFields, httpDate } from "../headers.ts";
import { FieldList } from "../http1/fields.ts";
import { type BodyFraming, CHUNKED, UNTIL_CLOSE } from "../http1/framing.ts";
import { serializeResponseHead } from "../http1/serialize.ts";
import { DEFAULT_PORT, formatAuthority } from "../http1/target.ts";
import { pipeBody, readBody } from "../io/body.ts";
import type { OriginResponse } from "../origin/client.ts";
import type { Origin } from "../origin/origin.ts";
import type { ProxyRequest } from "./read_request.ts";
import { CONTINUE, type Exchange, startResponse } from "./respond.ts";

// Set again from the request's own framing and target.
const REPLACED_ON_FORWARD: ReadonlySet<string> = new Set(["host", "content-length", "expect"]);
// Replaced by hoard's own conditional fields when it revalidates.
const CONDITIONALS: ReadonlySet<string> = new Set(["if-none-match", "if-modified-since"]);

/** What the origin said about a stored entry. */
export interface Answer<T> {
  /** Its response (head read; the body still to finish or relay). */
  res: OriginResponse;
  /** On a 304 that selects the entry, the entry renewed with its fields; else undefined. */
  renewed?: T;
}

/**
 * Asks the origin about the stored `entry` with `req`, the entry's validators
 * in place of the client's (RFC 9111 §4.3.1). A 304 that answers validators
 * of the client's own rather than the entry's renews nothing.
 */
export async function askAbout<T extends StoredResponse & { storedAt: number }>(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  target: { origin: Origin; path: string; cache: CacheRequest },
  entry: T,
  now: number,
): Promise<Answer<T>> {
  const conditional = revalidationFields(target.cache, entry, now);
  const res = await forward(proxy, ex, req, target.origin, target.path, conditional);
  if (res.head.status !== 304) return { res };
  const clientValidators = req.head.fields.has("if-none-match") ||
    req.head.fields.has("if-modified-since");
  const renewed = renewedEntry(target.cache, entry, res.head.fields, clientValidators, now);
  return renewed === undefined ? { res } : { res, renewed };
}

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
