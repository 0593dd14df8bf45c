/**
 * The pass step: forward a request to its origin and stream the response back,
 * both bodies with back-pressure, bytes unchanged.
 *
 * @module
 */

import type { ProxyContext } from "./context.ts";
import { appendVia, endToEndFields, httpDate } from "./headers.ts";
import { FieldList } from "./http1/fields.ts";
import { CHUNKED, UNTIL_CLOSE } from "./http1/framing.ts";
import { serializeResponseHead } from "./http1/serialize.ts";
import { DEFAULT_PORT, formatAuthority } from "./http1/target.ts";
import { pipeBody, readBody } from "./io/body.ts";
import type { Origin } from "./origin/dial.ts";
import type { ProxyRequest } from "./read_request.ts";
import { CONTINUE, type Exchange, startResponse } from "./respond.ts";

// Set again below from the request's own framing and target.
const REPLACED_ON_FORWARD: ReadonlySet<string> = new Set(["host", "content-length", "expect"]);

/** Forwards `req` to `origin` and relays the response to the client. */
export async function pass(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  origin: Origin,
  path: string,
): Promise<void> {
  const res = await proxy.origin.exchange({
    origin,
    method: req.head.method,
    target: path,
    signal: ex.signal,
    fields: forwardedRequestFields(req, origin),
    body: req.framing.kind === "none"
      ? undefined
      : { framing: req.framing, reader: readBody(ex.io, req.framing) },
    onContinue: req.expectContinue ? () => ex.io.write(CONTINUE) : undefined,
    onInterim: ex.minor === 1
      ? (h) => ex.io.write(serializeResponseHead(h.status, h.reason, endToEndFields(h.fields)))
      : undefined,
  });

  const fields = endToEndFields(res.head.fields);
  let framing = res.framing;
  // An origin may repeat an identical Content-Length; the client gets it once.
  if (framing.kind === "length" && res.head.fields.getAll("content-length").length !== 1) {
    fields.set("Content-Length", String(framing.length));
  }
  if (framing.kind === "chunked" || framing.kind === "close") {
    // Re-framed for this client: chunked for HTTP/1.1, until-close for HTTP/1.0.
    fields.delete("content-length");
    framing = ex.minor === 1 ? CHUNKED : UNTIL_CLOSE;
  }
  if (!fields.has("date")) fields.add("Date", httpDate());
  appendVia(fields);

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
}

/** The request fields sent to the origin: end-to-end fields, Host first, framing, Via. */
function forwardedRequestFields(req: ProxyRequest, origin: Origin): FieldList {
  const out = new FieldList();
  out.add("Host", formatAuthority(origin.host, origin.port, DEFAULT_PORT[origin.scheme]));
  for (const [name, value] of endToEndFields(req.head.fields, REPLACED_ON_FORWARD)) {
    out.add(name, value);
  }
  if (req.framing.kind === "length") out.add("Content-Length", String(req.framing.length));
  else if (req.framing.kind === "chunked") out.add("Transfer-Encoding", "chunked");
  if (req.expectContinue) out.add("Expect", "100-continue");
  appendVia(out);
  return out;
}
