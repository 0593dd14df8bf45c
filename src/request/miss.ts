/**
 * The miss step: nothing usable is stored. The first request for a key leads a
 * fill — one origin request, its body written to a temp file and committed
 * when complete — and every concurrent request for the key follows that file
 * as it grows (request collapsing). A response that cannot be stored or shared
 * is relayed to the leader, and the followers ask the origin themselves.
 *
 * @module
 */

import { type Fill, type FillHead, type FillStart, followFill } from "../cache/fill.ts";
import { secondaryKey, variantId, varyNames } from "../cache/key.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import {
  currentAge,
  freshness,
  partHeaders,
  renewedEntry,
  requestDirectives,
  revalidationFields,
  staleIfError,
  storability,
  storedHeaders,
  strongValidator,
} from "../cache/policy.ts";
import { parseContentRange, type Part } from "../cache/range.ts";
import { FieldList } from "../http1/fields.ts";
import type { ProxyContext } from "../context.ts";
import { fillKey, type Target } from "./decide.ts";
import { errorLine, ProxyError } from "../errors.ts";
import { ageValue, endToEndFields } from "../headers.ts";
import { type CacheStatus, cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import type { OriginResponse } from "../origin/client.ts";
import { clientResponse, forward, relay } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import { type Exchange, startResponse } from "./respond.ts";
import { SMALL_BODY_BYTES, type TempBody } from "../cache/store.ts";
import type { BodySink } from "../io/body.ts";
import { WriteBehind } from "../cache/write_behind.ts";

/** The miss step: serves a miss for `target`, collapsing with other requests for store id `id`. */
export async function miss(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  route: Extract<Step, { kind: "miss" }>,
): Promise<Step> {
  const { target, id } = route;
  const fwd = route.fwd ?? (route.partial ? "partial" : route.vary ? "vary-miss" : "uri-miss");
  const cache = proxy.cache;
  if (proxy.options.offline) {
    proxy.report.offlineMiss(target.cache.key);
    cache.counters.misses++;
    throw new ProxyError(
      504,
      "http_request_error",
      `offline: ${target.cache.key} is not in the cache`,
    );
  }
  if (requestDirectives(req.head.fields).onlyIfCached) {
    throw new ProxyError(
      504,
      "http_request_error",
      `only-if-cached: ${target.cache.key} is not in the cache`,
    );
  }
  // HEAD is not stored (no body to store): it goes to the origin as it is.
  if (req.head.method === "HEAD") {
    missed(proxy, target);
    const res = await forward(proxy, ex, req, target.origin, target.path);
    await relay(ex, res, cacheStatus({ fwd }));
    return DONE;
  }
  const { fill, leader } = cache.fills.join(fillKey(target, id));
  if (!leader) return { kind: "follow", target, fill, fwd };
  // The shared tier comes before the origin (a stored range is never there).
  if (proxy.shared !== undefined && !req.head.fields.has("range")) {
    const found = await proxy.shared.lookup(target.cache.key, id, req.head.fields);
    if (found !== undefined) return { kind: "shared", target, fill, found };
  }
  missed(proxy, target);
  try {
    const res = await forward(proxy, ex, req, target.origin, target.path);
    return { kind: "lead", target, fill, res, fwd };
  } catch (err) {
    fill.fail(err);
    cache.fills.remove(fill);
    throw err;
  }
}

/** Counts a request that goes to the origin because nothing usable is stored. */
export function missed(proxy: ProxyContext, target: Target): void {
  proxy.cache.counters.misses++;
  proxy.report.missed(target.origin.host);
}

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
type Storing =
  | {
    kind: "store";
    head: FillHead;
    /** Where the body goes: memory for a small one, else a temp file being opened (undefined if it cannot be). */
    temp: Promise<TempBody | undefined>;
    meta: Omit<ResponseMeta, "body" | "size" | "sha256">;
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
  const id = variantId(target.cache.key, vary, req.head.fields);
  const head: FillHead = {
    status,
    reason,
    fields: endToEndFields(fields),
    length,
    vary,
    secondary: vary.length > 0 ? secondaryKey(vary, req.head.fields) : undefined,
    ...(status === 206 ? { range: req.head.fields.get("range") } : {}),
  };
  const meta: Omit<ResponseMeta, "body" | "size" | "sha256"> = {
    v: 1,
    kind: "response",
    id,
    key: target.cache.key,
    ...(head.secondary !== undefined ? { secondary: head.secondary, vary } : {}),
    status,
    reason,
    headers: storedHeaders(fields),
    ...(st.credentialed ? { credentialed: true } : {}),
    policy: st.policy.toObject(),
    storedAt: now,
  };
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
 * stored inside its metadata (one file per entry). Creating a file can take
 * most of a millisecond here (the file system's journal, its inode
 * allocator): for a larger body the leader's client is answered meanwhile,
 * followers wait.
 */
function tempFor(proxy: ProxyContext, length: number | undefined): Promise<TempBody | undefined> {
  const small = length !== undefined && length <= SMALL_BODY_BYTES;
  return small ? Promise.resolve(proxy.cache.memoryTemp()) : proxy.cache.createTemp();
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
async function runFill(
  proxy: ProxyContext,
  fill: Fill,
  res: Pick<OriginResponse, "body" | "finish">,
  storing: Extract<Storing, { kind: "store" }>,
  leader: Leader | undefined,
): Promise<void> {
  const cache = proxy.cache;
  const { head, meta } = storing;
  let bodyRead = false, stored = true;
  let trailers: FieldList | undefined;
  let temp: TempBody | undefined;
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
      // disk gets a copy, the client the original.
      const data = step.value;
      fromOrigin += data.length;
      await Promise.all([
        stored && disk.add(data),
        leader?.sink.write(data).catch((err) => {
          leader!.served.reject(err);
          leader = undefined;
        }),
      ]);
      if (!stored && leader === undefined) break; // nobody needs the rest
    }
  } catch (err) {
    fill.fail(err);
    leader?.served.reject(err);
    leader = undefined;
    proxy.logger.log("info", `fill of ${meta.key} failed: ${errorLine(err)}`);
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
      const full = await cache.commit(temp, meta, (path) => fill.moved(path));
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
    let res: OriginResponse;
    try {
      res = await forward(
        proxy,
        ex,
        req,
        target.origin,
        target.path,
        revalidationFields(target.cache, meta, now),
      );
    } catch (err) {
      found.cancel();
      fill.fail(err);
      cache.fills.remove(fill);
      throw err;
    }
    if (res.head.status !== 304) {
      found.cancel();
      return { kind: "lead", target, fill, res, fwd: "stale", fwdStatus: true };
    }
    const clientValidators = req.head.fields.has("if-none-match") ||
      req.head.fields.has("if-modified-since");
    const renewed = renewedEntry(target.cache, meta, res.head.fields, clientValidators, now);
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
    meta: stored,
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
  if (!step.retried && start.kind === "follow" && fill.done && fill.error === undefined) {
    // The body is all there, being committed: once it is, this is a plain hit.
    await fill.settled;
    const found = await proxy.cache.find(target.cache, Date.now());
    if (found.kind === "entry" && found.freshness.kind === "hit") {
      return {
        kind: "deliver",
        entry: found.entry,
        age: found.freshness.age,
        status: { hit: true, ttl: found.freshness.ttl },
        count: true,
        otherwise: { ...step, retried: true },
      };
    }
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
    const found = await proxy.cache.find(target.cache, Date.now());
    if (found.kind === "entry" && found.freshness.kind === "hit") {
      return {
        kind: "deliver",
        entry: found.entry,
        age: found.freshness.age,
        status: { hit: true, collapsed: true },
        count: true,
        otherwise: relayed,
      };
    }
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

/** Starts the response to one client of a fill: head fields as the fill announced them. */
function startFillResponse(ex: Exchange, head: FillHead, cacheStatus: string): BodySink {
  // A HEAD collapsed onto a GET's fill gets the head only.
  const hasBody = head.status !== 204 && head.status !== 304 && ex.method !== "HEAD";
  const { fields, framing } = clientResponse(ex, head.fields, head.length, hasBody);
  fields.add("Cache-Status", cacheStatus);
  return startResponse(ex, head.status, head.reason, fields, framing);
}

/** Sends a fill's response to a follower, reading the temp file as it grows. */
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
