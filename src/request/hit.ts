/**
 * Answering from the store. The hit step (as decided) and the stale step
 * (stale-if-error) each name the stored response; the deliver step sends it —
 * with Age, Via and Cache-Status, a 304 for a client that already has it, 206
 * for a byte range, headers only for HEAD — or, when its body is gone, says
 * what comes instead.
 *
 * @module
 */

import { currentAge } from "../cache/policy/freshness.ts";
import { notModified, storedLastModified } from "../cache/conditional.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import { chooseRange, formatContentRange, parseContentRange, usePart } from "../cache/range.ts";
import type { ProxyContext } from "../context.ts";
import { ageValue, appendVia, fieldsOf } from "../headers.ts";
import type { FieldList } from "../http1/fields.ts";
import { NO_BODY } from "../http1/framing.ts";
import type { ProxyRequest } from "./read_request.ts";
import { type Exchange, startResponse } from "./respond.ts";
import type { BodySink } from "../io/body.ts";
import type { BodyCheck } from "../cache/integrity.ts";
import type { ByteSource } from "../cache/body_store.ts";
import { ProxyError } from "../errors.ts";
import { cacheStatus } from "./cache_status.ts";
import { refreshInBackground } from "./revalidate.ts";
import { DONE, type Step } from "./step.ts";

/**
 * The hit step, as decided: asks for a background refresh when the entry is
 * in its stale-while-revalidate window, then delivers it; a body found gone
 * makes it a miss.
 */
export function hit(
  proxy: ProxyContext,
  _ex: Exchange,
  req: ProxyRequest,
  route: Extract<Step, { kind: "hit" }>,
): Promise<Step> {
  if (route.refresh) refreshInBackground(proxy, req, route.target, route.entry);
  const detail = route.offline ? "offline" : route.refresh ? "stale-while-revalidate" : undefined;
  return Promise.resolve({
    kind: "deliver",
    entry: route.entry,
    age: route.age,
    status: { hit: true, ttl: route.ttl, ...(detail !== undefined ? { detail } : {}) },
    count: true,
    otherwise: {
      kind: "miss",
      target: route.target,
      id: route.entry.id,
      vary: false,
      fwd: "uri-miss",
    },
  });
}

/**
 * The deliver step: serves the stored `entry` (whose current age is `age`
 * seconds) to the client. When the entry turned out to be gone or corrupt (it
 * was deleted), or is a part that does not hold what the request wants,
 * nothing is sent and `otherwise` is next.
 */
export async function deliver(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  step: Extract<Step, { kind: "deliver" }>,
): Promise<Step> {
  if (await send(proxy, ex, req, step)) return DONE;
  // A hit that found its body gone is logged as the miss it becomes.
  if (ex.record.route === "hit" && step.otherwise.kind === "miss") ex.record.route = "miss";
  return step.otherwise;
}

async function send(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { entry, age, status: cacheStatusOf, count: countAsHit }: Extract<Step, { kind: "deliver" }>,
): Promise<boolean> {
  const fields = storedFields(entry).clone();
  fields.set("Age", ageValue(age)); // in place of the one the stored list holds
  fields.add("Cache-Status", cacheStatus(cacheStatusOf));
  const counters = proxy.cache.counters;
  const etag = fields.get("etag"), lastModified = fields.get("last-modified");

  const modified = req.head.fields.has("if-modified-since")
    ? storedLastModified(lastModified, fields.get("date"), entry.storedAt)
    : lastModified;
  if (entry.status >= 200 && entry.status < 300 && notModified(req.head.fields, etag, modified)) {
    fields.delete("content-length");
    await startResponse(ex, 304, "Not Modified", fields, NO_BODY).end();
    if (countAsHit) hitCounted(proxy, entry);
    return true;
  }

  // A stored 206 is a part of the representation: it answers what lies inside it.
  const part = entry.status === 206 ? parseContentRange(fields.get("content-range")) : undefined;
  if (entry.status === 206 && part === undefined) return false;
  let status = entry.status, reason = entry.reason, start = 0, length = entry.size;
  if (part !== undefined || (entry.status === 200 && req.head.method === "GET")) {
    const total = part?.length ?? entry.size;
    const choice = req.head.method === "GET"
      ? chooseRange(
        req.head.fields.get("range"),
        req.head.fields.get("if-range"),
        total,
        etag,
        lastModified,
      )
      : { kind: "full" as const };
    // The route was chosen for what the part holds; a request that found it
    // another way (collapsed, revalidated) and wants more is answered elsewhere.
    if (part !== undefined && usePart(part, choice).kind !== "inside") return false;
    const first = part?.start ?? 0;
    fields.delete("content-range");
    if (choice.kind === "full") {
      [status, reason, start, length] = [200, part === undefined ? reason : "OK", 0, total];
    } else if (choice.kind === "partial") {
      [status, reason, start, length] = [
        206,
        "Partial Content",
        choice.start - first,
        choice.end - choice.start + 1,
      ];
      fields.set("Content-Range", formatContentRange({ ...choice, length: total }));
    } else {
      [status, reason, length] = [416, "Range Not Satisfiable", 0];
      fields.set("Content-Range", `bytes */${total}`);
    }
  }
  if (entry.status !== 204 && entry.status !== 304) fields.set("Content-Length", String(length));

  const wantsBody = req.head.method !== "HEAD" && length > 0;
  const whole = start === 0 && length === entry.size;
  const body = wantsBody
    ? await proxy.cache.body(
      entry,
      whole ? { checkWhileSending: true } : { range: { start, length } },
    )
    : undefined;
  if (wantsBody && body === undefined) return false;

  const sink = startResponse(
    ex,
    status,
    reason,
    fields,
    wantsBody ? { kind: "length", length } : NO_BODY,
  );
  if (countAsHit) hitCounted(proxy, entry);
  if (body === undefined) {
    await sink.end();
  } else if ("bytes" in body) {
    await sink.write(body.bytes.subarray(start, start + length));
    await sink.end();
  } else {
    try {
      await sendSource(body.source, sink, entry.key, body.check);
      await sink.end();
    } finally {
      body.source.close();
    }
  }
  ex.record.bytes = sink.bytes;
  counters.bytesFromCache += sink.bytes;
  return true;
}

/**
 * Whether `entry` may be served without the origin's word on this client:
 * not one stored for other credentials, with tenancy "shared".
 */
function servableUnchecked(proxy: ProxyContext, entry: ResponseMeta): boolean {
  return !(entry.credentialed && proxy.options.tenancy === "shared");
}

/**
 * The stale step: serves a stored entry in place of an origin that failed
 * (stale-if-error).
 */
export function stale(
  proxy: ProxyContext,
  _ex: Exchange,
  _req: ProxyRequest,
  { entry, status, fwd }: Extract<Step, { kind: "stale" }>,
): Promise<Step> {
  if (!servableUnchecked(proxy, entry)) {
    return Promise.reject(
      new ProxyError(
        502,
        "destination_unavailable",
        `origin failed with ${status}; the stored ${entry.key} is for other credentials`,
      ),
    );
  }
  proxy.cache.counters.staleServed++;
  return Promise.resolve({
    kind: "deliver",
    entry,
    age: currentAge(entry, Date.now()),
    status: { fwd, fwdStatus: status, detail: "stale-if-error" },
    count: false,
    otherwise: {
      kind: "synth",
      error: new ProxyError(
        502,
        "destination_unavailable",
        `origin failed and the stored ${entry.key} is gone`,
      ),
    },
  });
}

// A stored entry's fields as a list, with its Via and a line for Age, made on
// its first hit and copied for each one after: no lower-casing of every name
// and no Via to work out on every hit. An entry's headers are never changed in
// place (a refresh makes new metadata).
const fieldsOfEntry = new WeakMap<ResponseMeta["headers"], FieldList>();

function storedFields(entry: ResponseMeta): FieldList {
  let fields = fieldsOfEntry.get(entry.headers);
  if (fields === undefined) {
    fields = fieldsOf(...entry.headers);
    fields.set("Age", "0");
    appendVia(fields);
    fieldsOfEntry.set(entry.headers, fields);
  }
  return fields;
}

function hitCounted(proxy: ProxyContext, entry: ResponseMeta): void {
  proxy.cache.counters.hits++;
  proxy.report.hit(entry.key);
}

/**
 * Sends what `source` yields (the store reads its next piece while the last
 * one is written). With `check`, the last piece goes out only if the whole
 * body matched its SHA-256; otherwise the response is cut (the client sees
 * it incomplete) and the entry was deleted.
 */
async function sendSource(
  source: ByteSource,
  sink: BodySink,
  key: string,
  check?: BodyCheck,
): Promise<void> {
  let left = source.length;
  for await (const piece of source) {
    left -= piece.length;
    check?.update(piece);
    if (left === 0 && check !== undefined && !(await check.passes())) {
      throw new ProxyError(
        502,
        "http_response_incomplete",
        `cache body of ${key} failed its checksum`,
      );
    }
    await sink.write(piece);
  }
  if (left !== 0) throw new Error(`cache body of ${key} ended early`);
}
