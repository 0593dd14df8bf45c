/**
 * Parsing request and response heads (RFC 9112 §3, §4, §5). Pure functions over
 * the bytes `findHeadEnd` delimited; no I/O.
 *
 * @module
 */

import { FieldList, trimOws } from "./fields.ts";
import { HttpSyntaxError } from "./syntax_error.ts";

/** Most field lines a head may carry; more is answered with 431. */
export const MAX_FIELDS = 100;

/** The request-line and fields of a request. */
export interface RequestHead {
  /** Method token, case kept (methods are case-sensitive). */
  method: string;
  /** The request-target exactly as received. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x, which we answer as 1.1). */
  minor: 0 | 1;
  /** Header fields in wire order. */
  fields: FieldList;
}

/** The status-line and fields of a response. */
export interface ResponseHead {
  /** Three-digit status code. */
  status: number;
  /** Reason phrase, possibly empty. */
  reason: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Header fields in wire order. */
  fields: FieldList;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) ([1-9]\d\d)(?: (.*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value = *( VCHAR / obs-text / SP / HTAB ): anything else (NUL, CR, LF, DEL) is refused.
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Parses a request head: `bytes` runs from the request-line through the
 * terminating empty line (leading empty lines already skipped).
 *
 * @throws {HttpSyntaxError} 400 for malformed input, 431 for too many fields,
 *   505 for an HTTP major version other than 1.
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  const lines = splitHead(bytes);
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) throw new HttpSyntaxError(requestLineProblem(lines[0]!));
  if (m[3] !== "1") throw new HttpSyntaxError(`HTTP/${m[3]}.${m[4]} is not supported`, 505);
  return {
    method: m[1]!,
    target: m[2]!,
    minor: m[4] === "0" ? 0 : 1,
    fields: parseFieldLines(lines, 1),
  };
}

/**
 * Parses a response head from an origin. Reason phrases are taken as they
 * come (some servers omit the space before an empty one); everything that
 * decides framing is as strict as for requests.
 *
 * @throws {HttpSyntaxError} on a malformed status-line or field.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  const lines = splitHead(bytes);
  const m = STATUS_LINE.exec(lines[0]!);
  if (m === null || m[1] !== "1") throw new HttpSyntaxError("malformed status-line");
  const reason = m[4] ?? "";
  if (BAD_VALUE_CHAR.test(reason)) throw new HttpSyntaxError("control character in reason phrase");
  return {
    status: Number(m[3]),
    reason,
    minor: m[2] === "0" ? 0 : 1,
    fields: parseFieldLines(lines, 1),
  };
}

/**
 * Parses field lines (a head's, from `start`, or a trailer section's).
 * Refuses obs-fold, whitespace before the colon (RFC 9112 §5.1, §5.2), empty
 * names and control characters in values.
 *
 * @throws {HttpSyntaxError}
 */
export function parseFieldLines(lines: string[], start = 0): FieldList {
  const fields = new FieldList();
  if (lines.length - start > MAX_FIELDS) {
    throw new HttpSyntaxError(`more than ${MAX_FIELDS} header fields`, 431);
  }
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) throw new HttpSyntaxError("obs-fold (line folding) in header");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpSyntaxError("header line without a field name and colon");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new HttpSyntaxError(`invalid header field name ${JSON.stringify(name)}`);
    }
    const value = trimOws(line.slice(colon + 1));
    if (BAD_VALUE_CHAR.test(value)) {
      throw new HttpSyntaxError(`control character in header field ${name}`);
    }
    fields.add(name, value);
  }
  return fields;
}

/**
 * Splits head bytes (ending in CRLFCRLF) into lines. A CR left inside a line
 * is a bare CR and fails the later character checks.
 */
export function splitHead(bytes: Uint8Array): string[] {
  const text = decodeLatin1(bytes);
  // The head ends in CRLFCRLF: drop it, so the last line is the last field.
  const lines = text.slice(0, text.length - 4).split("\r\n");
  if (lines[0] === "") throw new HttpSyntaxError("empty start line");
  return lines;
}

const utf8 = new TextDecoder();

/**
 * Bytes to a string with one char per byte (ISO-8859-1), so that obs-text in
 * field values survives a round trip. WHATWG's "latin1" label is really
 * windows-1252 and would remap 0x80–0x9F, so it cannot be used.
 */
export function decodeLatin1(bytes: Uint8Array): string {
  const s = utf8.decode(bytes);
  // Pure ASCII decodes to the same length with no replacement characters.
  if (s.length === bytes.length && !s.includes("\uFFFD")) return s;
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

function requestLineProblem(line: string): string {
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return "control character in request-line";
  if (!/ HTTP\/\d\.\d$/.test(line)) return "request-line does not end in an HTTP version";
  return "malformed request-line";
}
