/**
 * The partial step: a stored part of a response (a 206, or a body cut short)
 * runs up to the bytes a request wants. The origin is asked for the bytes
 * after it, with Range and the part's strong validator as If-Range; when it
 * sends exactly those bytes of the same representation, the client gets the
 * stored bytes followed by the origin's while both go into one new entry —
 * the whole response, or a longer part (RFC 9111 §3.4). Any other answer is
 * handled as a miss would handle it.
 *
 * @module
 */

import type { Body } from "../cache/bodies.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import { partHeaders, sameRepresentation, type StoredPartUse } from "../cache/policy/parts.ts";
import { mergeHeaders } from "../cache/policy/revalidation.ts";
import { storability } from "../cache/policy/storability.ts";
import { formatContentRange, parseContentRange, type Part } from "../cache/range.ts";
import type { BodyWriter } from "../cache/body_store.ts";
import type { ProxyContext } from "../context.ts";
import type { Target } from "./decide.ts";
import { ProxyError } from "../errors.ts";
import { appendVia } from "../headers.ts";
import { FieldList } from "../http1/fields.ts";
import type { BodySink } from "../io/body.ts";
import { missed } from "./miss.ts";
import { cacheStatus } from "./cache_status.ts";
import { DONE, type Step } from "./step.ts";
import type { OriginResponse } from "../origin/client.ts";
import { forward } from "./forward.ts";
import type { ProxyRequest } from "./read_request.ts";
import { type Exchange, startResponse } from "./respond.ts";

type Extension = Extract<StoredPartUse, { kind: "extend" }>;

/** The partial step: extends the stored part `entry` to what `req` wants, as `use` says. */
export async function partial(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { target, entry, use }: Extract<Step, { kind: "partial" }>,
): Promise<Step> {
  const cache = proxy.cache;
  const stored = parseContentRange(entry.headers.find(([n]) => /^content-range$/i.test(n))?.[1]);
  const { fill, leader } = cache.fills.join(entry.id);
  if (!leader) return { kind: "follow", target, fill, fwd: "partial" };
  const body = stored === undefined
    ? undefined
    : await cache.body(entry, { checkWhileSending: true });
  if (stored === undefined || body === undefined) {
    // Gone or corrupt (and now deleted): a plain miss.
    fill.bypass("partial gone");
    cache.fills.remove(fill);
    return { kind: "miss", target, id: entry.id, vary: false, fwd: "partial" };
  }
  missed(proxy, target);
  const asked = askForRest(req, use);
  let res: OriginResponse;
  try {
    res = await forward(proxy, ex, asked, target.origin, target.path);
  } catch (err) {
    if ("source" in body) body.source.close();
    fill.fail(err);
    cache.fills.remove(fill);
    throw err;
  }
  const rest: Part = { start: use.from, end: use.to, length: stored.length };
  if (res.head.status !== 206) {
    // The representation changed (If-Range failed: a 200), or an error.
    if ("source" in body) body.source.close();
    return { kind: "lead", target, fill, res, fwd: "partial", fwdStatus: true };
  }
  const got = parseContentRange(res.head.fields.get("content-range"));
  const length = res.framing.kind === "length" ? res.framing.length : undefined;
  if (
    got === undefined || formatContentRange(got) !== formatContentRange(rest) ||
    (length !== undefined && length !== rest.end - rest.start + 1) ||
    !sameRepresentation(use.ifRange, res.head.fields)
  ) {
    // Not the bytes asked for, or not of the same representation: nothing to combine.
    if ("source" in body) body.source.close();
    res.finish(false);
    fill.bypass("partial mismatch");
    cache.fills.remove(fill);
    return { kind: "miss", target, id: entry.id, vary: false, fwd: "partial" };
  }
  // Requests arriving meanwhile ask the origin themselves.
  fill.bypass("partial");
  cache.fills.remove(fill);
  await combine(proxy, ex, { entry, stored, body, use, res, asked, target });
  return DONE;
}

/** What {@linkcode combine} joins. */
interface Combination {
  /** The stored part… */
  entry: ResponseMeta;
  /** …where it sits… */
  stored: Part;
  /** …and its body. */
  body: Body;
  /** What the client wants and what was asked of the origin. */
  use: Extension;
  /** The origin's 206 with the bytes after the part. */
  res: OriginResponse;
  /** The request sent to the origin, for… */
  asked: ProxyRequest;
  /** …the cache's view of the client's request. */
  target: Target;
}

/**
 * Sends the client the stored bytes it wants, then the origin's, and writes
 * all of them to one temp body, committed as the entry's new version: whole,
 * or the part that arrived when the origin's body was cut short.
 */
async function combine(proxy: ProxyContext, ex: Exchange, c: Combination): Promise<void> {
  const { entry, stored, body, use, res } = c;
  const cache = proxy.cache;
  const now = Date.now();
  // The new response's fields replace the stored ones, as a 304's would (§3.4).
  const headers = mergeHeaders(entry.headers, res.head.fields);
  const st = storability(
    { ...c.target.cache, fields: c.asked.head.fields },
    206,
    res.head.fields,
    now,
  );
  const size = use.to - stored.start + 1;
  let temp: BodyWriter | undefined;
  if (st.storable && cache.writable) {
    temp = await cache.beginBody(size);
  }

  const fields = new FieldList();
  for (const [n, v] of headers) if (!/^content-(range|length)$/i.test(n)) fields.add(n, v);
  if (!use.whole) {
    fields.add(
      "Content-Range",
      formatContentRange({ start: use.start, end: use.to, length: stored.length }),
    );
  }
  fields.add("Content-Length", String(use.to - use.start + 1));
  appendVia(fields);
  fields.add(
    "Cache-Status",
    cacheStatus(
      temp === undefined
        ? { fwd: "partial", detail: "not stored" }
        : { fwd: "partial", stored: true },
    ),
  );
  const sink = startResponse(
    ex,
    use.whole ? 200 : 206,
    use.whole ? "OK" : "Partial Content",
    fields,
    { kind: "length", length: use.to - use.start + 1 },
  );

  // Each side failing alone does not stop the other: a client that leaves
  // detaches, a disk that fails stops storing.
  let client: BodySink | undefined = sink, clientError: unknown;
  const toClient = async (piece: Uint8Array) => {
    await client?.write(piece).catch((err) => {
      clientError = err;
      client = undefined;
    });
  };
  const toStore = async (piece: Uint8Array) => {
    await temp?.write(piece).catch((err) => {
      cache.writeFailed(err);
      void temp?.discard();
      temp = undefined;
    });
  };
  let fromStore = 0, fromOrigin = 0, failure: unknown;
  try {
    for await (const piece of storedPieces(body, entry.key)) {
      // The client may want fewer stored bytes than the part holds.
      const skip = Math.max(0, use.start - stored.start - fromStore);
      fromStore += piece.length;
      await toStore(piece);
      if (skip < piece.length) await toClient(piece.subarray(skip));
    }
    for (;;) {
      if (client === undefined && temp === undefined) break; // nobody needs the rest
      const step = await res.body.next();
      if (step.done) break;
      fromOrigin += step.value.length;
      if (fromOrigin > use.to - use.from + 1) {
        throw new ProxyError(
          502,
          "http_response_incomplete",
          `origin sent more than bytes ${use.from}-${use.to}`,
        );
      }
      await Promise.all([toStore(step.value), toClient(step.value)]);
    }
  } catch (err) {
    failure = err;
  }
  const complete = failure === undefined && fromOrigin === use.to - use.from + 1;
  res.finish(complete);
  cache.counters.bytesFromOrigin += fromOrigin;
  cache.counters.bytesFromCache += Math.max(0, stored.end - use.start + 1);
  ex.record.bytes = sink.bytes;

  // Whatever arrived after a whole stored part makes the new entry.
  if (temp !== undefined && st.storable && fromStore === entry.size && fromOrigin > 0) {
    const part = { ...stored, end: use.from + fromOrigin - 1 };
    const whole = part.start === 0 && part.end === part.length - 1;
    await cache.commit(temp, {
      v: 1,
      kind: "response",
      id: entry.id,
      key: entry.key,
      ...(entry.vary !== undefined ? { vary: entry.vary, secondary: entry.secondary } : {}),
      status: whole ? 200 : 206,
      reason: whole ? "OK" : "Partial Content",
      headers: partHeaders(headers, part),
      policy: st.policy.toObject(),
      storedAt: now,
    });
  } else {
    await temp?.discard();
  }
  if (failure !== undefined) throw failure;
  if (client === undefined) throw clientError;
  await sink.end();
}

/** The stored bytes; the last one is followed by the SHA-256 check, which throws when it fails. */
async function* storedPieces(
  body: Combination["body"],
  key: string,
): AsyncGenerator<Uint8Array, void, void> {
  if ("bytes" in body) return yield body.bytes;
  const { source, check } = body;
  for await (const piece of source) {
    check?.update(piece);
    yield piece;
  }
  // The origin's bytes follow: the response's last byte never goes out unchecked.
  if (check !== undefined && !(await check.passes())) {
    throw new ProxyError(
      502,
      "http_response_incomplete",
      `cache body of ${key} failed its checksum`,
    );
  }
}

/** The request for the bytes after the stored part: Range and If-Range replaced. */
function askForRest(req: ProxyRequest, use: Extension): ProxyRequest {
  const fields = req.head.fields.filter((n) => n !== "range" && n !== "if-range");
  fields.add("Range", `bytes=${use.from}-${use.to}`);
  fields.add("If-Range", use.ifRange);
  return { ...req, head: { ...req.head, fields } };
}
