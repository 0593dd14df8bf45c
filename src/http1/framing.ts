/**
 * How long is this body? (RFC 9112 §6.) One answer for requests, one for
 * responses; everything that decides where one message ends and the next one
 * begins lives here, because that is where request smuggling happens.
 *
 * @module
 */

import { type FieldList, listTokens, trimOws } from "./fields.ts";
import type { RequestHead, ResponseHead } from "./parse_head.ts";
import { HttpSyntaxError } from "./syntax_error.ts";

/** Where a message body ends. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** The framing of a message without a body. */
export const NO_BODY: BodyFraming = Object.freeze({ kind: "none" });
/** The framing of a chunked body. */
export const CHUNKED: BodyFraming = Object.freeze({ kind: "chunked" });
/** The framing of a body that ends when the connection closes. */
export const UNTIL_CLOSE: BodyFraming = Object.freeze({ kind: "close" });

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Framing of a request body (RFC 9112 §6.3, items 3–6), refusing every
 * ambiguous case instead of picking a winner: Content-Length together with
 * Transfer-Encoding, repeated or malformed Content-Length, a coding list that
 * does not end in exactly one `chunked`, and Transfer-Encoding in HTTP/1.0.
 *
 * @throws {HttpSyntaxError} 400, or 501 for a transfer coding other than chunked.
 */
export function requestFraming(head: RequestHead): BodyFraming {
  const { fields } = head;
  const te = fields.combined("transfer-encoding");
  if (te !== undefined) {
    if (head.minor === 0) throw new HttpSyntaxError("Transfer-Encoding in an HTTP/1.0 request");
    if (fields.has("content-length")) {
      throw new HttpSyntaxError("both Content-Length and Transfer-Encoding");
    }
    const codings = parseCodings(te);
    if (codings.at(-1) !== "chunked") {
      throw new HttpSyntaxError("Transfer-Encoding does not end in chunked");
    }
    const other = codings.find((c) => c !== "chunked");
    if (codings.indexOf("chunked") !== codings.length - 1) {
      throw new HttpSyntaxError("chunked applied more than once");
    }
    if (other !== undefined) {
      throw new HttpSyntaxError(`transfer coding ${other} not supported`, 501);
    }
    return CHUNKED;
  }
  const cl = fields.getAll("content-length");
  if (cl.length === 0) return NO_BODY;
  if (cl.length > 1) throw new HttpSyntaxError("more than one Content-Length");
  return { kind: "length", length: parseContentLength(cl[0]!) };
}

/**
 * Framing of a response to `method` (RFC 9112 §6.3, items 1–7). Identical
 * repeated Content-Length values are accepted from origins (§6.3 item 5 allows
 * it); a Transfer-Encoding whose last coding is not chunked means the body
 * runs until the connection closes.
 *
 * @throws {HttpSyntaxError} when the framing cannot be determined safely.
 */
export function responseFraming(method: string, head: ResponseHead): BodyFraming {
  const { status, fields } = head;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) return NO_BODY;
  const te = fields.combined("transfer-encoding");
  if (te !== undefined) {
    const codings = parseCodings(te);
    if (codings.at(-1) !== "chunked") return UNTIL_CLOSE;
    const other = codings.find((c) => c !== "chunked" && c !== "identity");
    if (other !== undefined || codings.indexOf("chunked") !== codings.length - 1) {
      throw new HttpSyntaxError(`unsupported Transfer-Encoding: ${te}`);
    }
    return CHUNKED;
  }
  const cl = fields.getAll("content-length");
  if (cl.length === 0) return UNTIL_CLOSE;
  // The usual case, one line of one value, without building the set below.
  if (cl.length === 1 && !cl[0]!.includes(",")) {
    return { kind: "length", length: parseContentLength(trimOws(cl[0]!)) };
  }
  const values = new Set(cl.flatMap((v) => v.split(",")).map(trimOws));
  if (values.size !== 1) throw new HttpSyntaxError("conflicting Content-Length values");
  return { kind: "length", length: parseContentLength([...values][0]!) };
}

/**
 * Whether a response must not be followed by another on the same connection:
 * it said `Connection: close`, is HTTP/1.0 without keep-alive, ends at close,
 * or carried both framings (RFC 9112 §6.3 item 3 says to close then), or is
 * HTTP/1.0 with Transfer-Encoding (§6.1: framing to treat as faulty).
 */
export function responseEndsConnection(head: ResponseHead, framing: BodyFraming): boolean {
  if (framing.kind === "close") return true;
  const conn = listTokens(head.fields.combined("connection"));
  if (conn.includes("close")) return true;
  if (head.minor === 0 && !conn.includes("keep-alive")) return true;
  return head.fields.has("transfer-encoding") &&
    (head.minor === 0 || head.fields.has("content-length"));
}

/**
 * Whether the client asked to keep the connection open after this request
 * (RFC 9112 §9.3): never with `Connection: close`; otherwise HTTP/1.1 always,
 * HTTP/1.0 only with `Connection: keep-alive`.
 */
export function wantsKeepAlive(minor: 0 | 1, fields: FieldList): boolean {
  const conn = listTokens(fields.combined("connection"));
  if (conn.includes("close")) return false;
  return minor === 1 || conn.includes("keep-alive");
}

/**
 * Parses a Content-Length value: digits only (no sign, no spaces, no list).
 *
 * @throws {HttpSyntaxError}
 */
export function parseContentLength(value: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw new HttpSyntaxError(
      /^\d+$/.test(value)
        ? "Content-Length too large"
        : `invalid Content-Length ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

function parseCodings(te: string): string[] {
  const codings = te.split(",").map((c) => trimOws(c).toLowerCase());
  if (codings.some((c) => !TOKEN.test(c))) {
    throw new HttpSyntaxError(`malformed Transfer-Encoding ${JSON.stringify(te)}`);
  }
  return codings;
}
