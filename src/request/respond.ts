/**
 * The last step of a request's way: writing the response to the client, with
 * the connection fields that match how the client connection continues.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import { oneLine, type ProxyError } from "../errors.ts";
import { fieldsOf, httpDate } from "../headers.ts";
import type { FieldList } from "../http1/fields.ts";
import type { BodyFraming } from "../http1/framing.ts";
import { responseHeadText } from "../http1/serialize.ts";
import { type BodySink, bodySink } from "../io/body.ts";
import type { BufferedConn } from "../io/buffered_conn.ts";
import type { RequestRecord } from "../observe/log.ts";

/** One request on a client connection, as it moves through the steps. */
export interface Exchange {
  /** The client connection. */
  io: BufferedConn;
  /** Aborted when the proxy cuts this connection at shutdown: close the origin side too. */
  signal: AbortSignal;
  /** Request method ("" when the head could not be parsed). */
  method: string;
  /** HTTP minor version of the request (1 when unknown). */
  minor: 0 | 1;
  /** Its log record, filled in as it goes. */
  record: RequestRecord;
  /** Whether a final response head has been written (after that, errors can only close). */
  headSent: boolean;
  /** Whether the connection may serve another request after this one. */
  keepAlive: boolean;
}

/** The standard reason phrase of `status`. */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? "Unknown";
}

/**
 * The answer to a CONNECT that opened its tunnel (RFC 9110 §9.3.6).
 */
export const ESTABLISHED: Uint8Array = new TextEncoder().encode(
  "HTTP/1.1 200 Connection established\r\n\r\n",
);

/** `100 Continue`, sent when a client waiting on `Expect: 100-continue` may send its body. */
export const CONTINUE: Uint8Array = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/**
 * Starts the final response: completes `fields` with the connection fields and
 * returns the sink for the body (the head goes out with the first body bytes).
 * With framing `close`, the connection ends after this response.
 */
export function startResponse(
  ex: Exchange,
  status: number,
  reason: string,
  fields: FieldList,
  framing: BodyFraming,
): BodySink {
  if (framing.kind === "close") ex.keepAlive = false;
  if (!ex.keepAlive) fields.set("Connection", "close");
  else if (ex.minor === 0) fields.set("Connection", "keep-alive");
  if (framing.kind === "chunked") fields.set("Transfer-Encoding", "chunked");
  ex.record.status = status;
  ex.record.cacheStatus = fields.get("cache-status");
  // The head as text: a small response's is encoded straight into the connection's join buffer.
  const sink = bodySink(ex.io, framing, responseHeadText(status, reason, fields));
  ex.headSent = true;
  return sink;
}

/** Sends a complete response with a short text body (nothing for HEAD). */
export async function sendText(
  ex: Exchange,
  status: number,
  text: string,
  extra: [string, string][] = [],
): Promise<void> {
  const body = new TextEncoder().encode(text);
  const fields = fieldsOf(
    ["Date", httpDate()],
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
    ["Cache-Control", "no-store"],
  );
  for (const [name, value] of extra) fields.set(name, value);
  const sink = startResponse(ex, status, reasonPhrase(status), fields, {
    kind: "length",
    length: body.length,
  });
  if (ex.method !== "HEAD") await sink.write(body);
  await sink.end();
  ex.record.bytes = sink.bytes;
}

/**
 * Sends the response for a failure: its status, a Proxy-Status field (RFC 9209)
 * and a one-line body saying what went wrong.
 */
export function sendError(ex: Exchange, err: ProxyError): Promise<void> {
  ex.record.error = err.type;
  const detail = oneLine(err.message);
  ex.record.detail = detail;
  return sendText(ex, err.status, `${err.status} ${reasonPhrase(err.status)}: ${detail}\n`, [
    ["Proxy-Status", `hoard; error=${err.type}; details=${quoteString(detail)}`],
    ...err.fields,
  ]);
}

/** A quoted-string (RFC 9110 §5.6.4) holding `s`, with non-printable characters dropped. */
function quoteString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, "").replace(/["\\]/g, "\\$&")}"`;
}
