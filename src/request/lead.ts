/**
 * The lead step: the request that leads a fill serves the origin's response
 * and stores it through the fill at once — its client fed chunk by chunk as
 * the origin sends, the body written behind it to a temp body that followers
 * read, committed when complete (or kept as a part when cut short).
 *
 * @module
 */

import type { Fill, FillHead } from "../cache/fill.ts";
import { secondaryKey, variantId, varyNames } from "../cache/key.ts";
import { partHeaders, strongValidator } from "../cache/policy/parts.ts";
import { storability, storedHeaders } from "../cache/policy/storability.ts";
import { parseContentRange, type Part } from "../cache/range.ts";
import type { FieldList } from "../http1/fields.ts";
import type { ProxyContext } from "../context.ts";
import type { Target } from "./decide.ts";
import { errorLine } from "../errors.ts";
import { endToEndFields } from "../headers.ts";
import { cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import type { OriginResponse } from "../origin/client.ts";
import { clientResponse, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import { type Exchange, startResponse } from "./respond.ts";
import type { BodyWriter, PendingMeta } from "../cache/body_store.ts";
import type { BodySink } from "../io/body.ts";
import { WriteBehind } from "../cache/write_behind.ts";

/**
 * The lead step: handles an origin response for a cacheable request — stores
 * it through `fill` when it can be stored, and serves it to the client either way.
 */
export async function lead(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, fill, res, fwd, fwdStatus }: Extract<Step, { kind: "lead" }>,
): Promise<Step> {
  const cache = proxy.cache;
  const status = { fwd, ...(fwdStatus ? { fwdStatus: res.head.status } : {}) };
  const storing = startStoring(proxy, req, target, fill, res);
  if (storing.kind === "bypass") {
    const bytes = await relay(ex, res, cacheStatus({ ...status, detail: storing.reason }));
    cache.counters.bytesFromOrigin += bytes;
    return DONE;
  }
  // The leader's client is fed by the fill itself, chunk by chunk as the origin
  // sends it (no read back from the file). The fill runs on its own: when this
  // client leaves, it goes on for the followers and the store.
  const sink = startFillResponse(ex, storing.head, cacheStatus({ ...status, stored: true }));
  const served = Promise.withResolvers<void>();
  cache.track(runFill(proxy, fill, res, storing, { sink, served }));
  try {
    await served.promise;
  } finally {
    ex.record.bytes = sink.bytes;
  }
  return DONE;
}

/** A response about to be stored through a fill, or why it will not be. */
export type Storing =
  | {
    kind: "store";
    head: FillHead;
    /** Where the body goes: memory for a small one, else a temp file being opened (undefined if it cannot be). */
    temp: Promise<BodyWriter | undefined>;
    /**
     * The entry's metadata, built when first wanted (then kept): after the
     * leader's client has its answer, none of it is on the client's way.
     */
    meta: () => PendingMeta;
    /** Where the body sits in the whole representation, when known (for a body cut short). */
    part?: Part;
    /** Where the body comes from: the origin, or the shared tier. */
    from: "origin" | "shared";
    /** Whether the committed entry goes up to the shared tier (it is new there). */
    upload: boolean;
  }
  | { kind: "bypass"; reason: string };

/**
 * Decides whether `res` is stored; if so, starts opening its temp file, else
 * tells the fill's followers to ask the origin themselves.
 */
function startStoring(
  proxy: ProxyContext,
  req: ProxyRequest,
  target: Target,
  fill: Fill,
  res: OriginResponse,
): Storing {
  const now = Date.now();
  const { status, reason, fields } = res.head;
  const st = storability(target.cache, status, fields, now);
  const length = res.framing.kind === "length"
    ? res.framing.length
    : res.framing.kind === "none"
    ? 0
    : undefined;
  const part = bodyPart(status, fields, length);
  let why = st.storable ? undefined : st.reason;
  // A body that ends at close cannot be told apart from a cut one: never stored.
  if (why === undefined && res.framing.kind === "close") why = "unframed";
  // A stored part must hold the bytes its Content-Range names.
  if (why === undefined && status === 206 && length !== part!.end - part!.start + 1) {
    why = "partial length";
  }
  if (why === undefined && !proxy.cache.writable) why = "cache-unavailable";
  if (why !== undefined || !st.storable) {
    fill.bypass(why ?? "not stored");
    proxy.cache.fills.remove(fill);
    return { kind: "bypass", reason: why ?? "not stored" };
  }
  // A part (206) is stored where the whole response would be: it answers the
  // ranges inside it, and is completed there (src/request/partial.ts).
  const vary = varyNames(fields.combined("vary"));
  const head: FillHead = {
    status,
    reason,
    fields: endToEndFields(fields),
    length,
    vary,
    secondary: vary.length > 0 ? secondaryKey(vary, req.head.fields) : undefined,
    ...(status === 206 ? { range: req.head.fields.get("range") } : {}),
  };
  let built: PendingMeta | undefined;
  const meta = (): PendingMeta => (built ??= {
    v: 1,
    kind: "response",
    id: variantId(target.cache.key, vary, req.head.fields),
    key: target.cache.key,
    ...(head.secondary !== undefined ? { secondary: head.secondary, vary } : {}),
    status,
    reason,
    headers: storedHeaders(fields),
    ...(st.credentialed ? { credentialed: true } : {}),
    policy: st.policy.toObject(),
    storedAt: now,
  });
  return {
    kind: "store",
    head,
    temp: tempFor(proxy, head.length),
    meta,
    from: "origin",
    upload: true,
    ...(part !== undefined ? { part } : {}),
  };
}

/**
 * Where a response's body sits in the whole representation, when that is
 * known: a 206's Content-Range, or all of a 200 of known length. A body cut
 * short is stored as the part of it that arrived (RFC 9111 §3.3).
 */
function bodyPart(status: number, fields: FieldList, length: number | undefined): Part | undefined {
  if (status === 206) return parseContentRange(fields.get("content-range"));
  return status === 200 && length !== undefined && length > 0
    ? { start: 0, end: length - 1, length }
    : undefined;
}

/**
 * Where a fill's body goes: a body known to be small stays in memory and is
 * stored inside its metadata (see `Cache.beginBody`); for a larger one the
 * leader's client is answered while the store begins it, followers wait.
 */
export function tempFor(
  proxy: ProxyContext,
  length: number | undefined,
): Promise<BodyWriter | undefined> {
  return proxy.cache.beginBody(length);
}

/**
 * Stores `res` through `fill` with no client waiting on it (a background
 * refresh); a response that is not stored is read and dropped.
 */
export function storeDetached(
  proxy: ProxyContext,
  req: ProxyRequest,
  target: Target,
  fill: Fill,
  res: OriginResponse,
): Promise<void> {
  const storing = startStoring(proxy, req, target, fill, res);
  if (storing.kind === "store") return runFill(proxy, fill, res, storing, undefined);
  res.finish(false);
  return Promise.resolve();
}

/** The leader's client, while the fill writes to it. */
interface Leader {
  sink: BodySink;
  served: PromiseWithResolvers<void>;
}

/**
 * Copies the origin body to the leader's client and into the fill's temp file
 * (where followers read it), then commits the entry — or discards it, if the
 * body was cut or the disk failed. Each side failing alone does not stop the
 * other: a leader that leaves detaches, a disk that fails stops storing.
 */
export async function runFill(
  proxy: ProxyContext,
  fill: Fill,
  res: Pick<OriginResponse, "body" | "finish">,
  storing: Extract<Storing, { kind: "store" }>,
  leader: Leader | undefined,
): Promise<void> {
  const cache = proxy.cache;
  const { head } = storing;
  let bodyRead = false, stored = true;
  let trailers: FieldList | undefined;
  let temp: BodyWriter | undefined;
  // The disk runs behind the client: a file write can wait behind another
  // entry's fsync (the file system's journal), and the client must not.
  const opened = storing.temp.then((t) => {
    temp = t;
    if (t !== undefined) return fill.follow(head, t);
    stored = false;
    fill.bypass("cache-unavailable");
  });
  const disk = new WriteBehind(async (piece) => {
    if (!stored) return;
    await fill.write(piece).catch((err) => {
      stored = false;
      fill.fail(err);
      cache.writeFailed(err);
    });
  }, opened);
  let fromOrigin = 0;
  try {
    for (;;) {
      const step = await res.body.next();
      if (step.done) {
        trailers = step.value;
        bodyRead = true;
        break;
      }
      // `data` is a view of the read buffer, valid until the next read: the
      // disk gets a copy, the client the original — first, as the client waits.
      const data = step.value;
      fromOrigin += data.length;
      await Promise.all([
        leader?.sink.write(data).catch((err) => {
          leader!.served.reject(err);
          leader = undefined;
        }),
        stored && disk.add(data),
      ]);
      if (!stored && leader === undefined) break; // nobody needs the rest
    }
  } catch (err) {
    fill.fail(err);
    leader?.served.reject(err);
    leader = undefined;
    proxy.logger.log("info", `fill of ${storing.meta().key} failed: ${errorLine(err)}`);
  }
  // Back to the pool before the leader's client is answered: its next request may want it.
  res.finish(bodyRead);
  if (leader !== undefined) {
    // The leader got every byte (also when storing failed half-way).
    await leader.sink.end(trailers).then(
      () => leader!.served.resolve(),
      (err) => leader!.served.reject(err),
    );
  }
  await disk.drain();
  const meta = storing.meta();
  if (storing.from === "origin") cache.counters.bytesFromOrigin += fromOrigin;
  const part = storing.part;
  // A part never takes the place of a whole stored response: a request for the
  // whole, or stale-if-error, may still need that one.
  const nothingWhole = async () => ((await cache.entry(meta.id))?.status ?? 206) === 206;
  if (bodyRead && temp !== undefined && stored) {
    fill.end();
    if (storing.from === "origin") {
      proxy.report.fetched(performance.now() - fill.startedAt, fill.written);
    }
    if (meta.status !== 206 || await nothingWhole()) {
      // Followers that are still reading read on from the committed body.
      const full = await cache.commit(temp, meta);
      // Parts stay local: the shared tier holds whole responses only.
      if (full !== undefined && storing.upload && meta.status !== 206) proxy.shared?.offer(full);
    } else {
      await temp.discard();
    }
  } else if (
    temp !== undefined && stored && part !== undefined && temp.size > 0 &&
    temp.size < part.end - part.start + 1 && strongValidator(meta.headers) !== undefined &&
    await nothingWhole()
  ) {
    // Cut short: what arrived is kept as a part (RFC 9111 §3.3), when a strong
    // validator lets a later request complete it (src/request/partial.ts).
    const got = { ...part, end: part.start + temp.size - 1 };
    const headers = partHeaders(meta.headers, got);
    await cache.commit(temp, { ...meta, status: 206, reason: "Partial Content", headers });
  } else {
    await temp?.discard();
  }
  cache.fills.remove(fill);
}

/** Starts the response to one client of a fill: head fields as the fill announced them. */
export function startFillResponse(ex: Exchange, head: FillHead, cacheStatus: string): BodySink {
  // A HEAD collapsed onto a GET's fill gets the head only.
  const hasBody = head.status !== 204 && head.status !== 304 && ex.method !== "HEAD";
  const { fields, framing } = clientResponse(ex, head.fields, head.length, hasBody);
  fields.add("Cache-Status", cacheStatus);
  return startResponse(ex, head.status, head.reason, fields, framing);
}
