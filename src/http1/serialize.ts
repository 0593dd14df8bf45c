/**
 * Writing heads (RFC 9112 §3, §4, §5) and chunk frames (§7.1) as bytes.
 *
 * @module
 */

import { FieldList } from "./fields.ts";

/** `[name, value]` pairs in the order they go on the wire. */
export type FieldLines = Iterable<readonly [string, string]>;

const encoder = new TextEncoder();
const NON_ASCII = /[^\x00-\x7f]/;

/** A request head: request-line, fields, empty line. */
export function serializeRequestHead(
  method: string,
  target: string,
  fields: FieldLines,
): Uint8Array {
  return encodeLatin1(`${method} ${target} HTTP/1.1\r\n${fieldBlock(fields)}\r\n`);
}

/** A response head: status-line, fields, empty line. hoard always speaks HTTP/1.1. */
export function serializeResponseHead(
  status: number,
  reason: string,
  fields: FieldLines,
): Uint8Array {
  return encodeLatin1(responseHeadText(status, reason, fields));
}

/** {@linkcode serializeResponseHead} as text, one char per byte, to encode where it goes. */
export function responseHeadText(status: number, reason: string, fields: FieldLines): string {
  return `HTTP/1.1 ${status} ${reason}\r\n${fieldBlock(fields)}\r\n`;
}

/** Field lines, each ending in CRLF (also the body of a trailer section). */
export function fieldBlock(fields: FieldLines): string {
  if (fields instanceof FieldList) return fields.block();
  let s = "";
  for (const [name, value] of fields) s += `${name}: ${value}\r\n`;
  return s;
}

/**
 * One byte per char (ISO-8859-1), the inverse of `decodeLatin1`, so obs-text
 * received in a field goes out unchanged.
 */
export function encodeLatin1(s: string): Uint8Array {
  return NON_ASCII.test(s) ? latin1(s, new Uint8Array(s.length)) : encoder.encode(s);
}

/** {@linkcode encodeLatin1} into `out`, which has room for `s.length` bytes. */
export function encodeLatin1Into(s: string, out: Uint8Array): void {
  if (NON_ASCII.test(s)) latin1(s, out);
  else encoder.encodeInto(s, out);
}

function latin1(s: string, out: Uint8Array): Uint8Array {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Above U+00FF there is no byte; never let the low byte turn into a CR or LF.
    out[i] = c > 0xff ? 0x3f : c;
  }
  return out;
}

/**
 * `data` framed as one chunk, in one buffer: a view of `scratch` when it is
 * large enough (no allocation per chunk), else a new buffer. Empty data gives
 * an empty buffer: a zero-size chunk would be the last-chunk marker.
 */
export function chunkFrame(data: Uint8Array, scratch?: Uint8Array): Uint8Array {
  if (data.length === 0) return data;
  const size = data.length.toString(16);
  const total = size.length + data.length + 4;
  const out = scratch !== undefined && scratch.length >= total
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  encoder.encodeInto(size + "\r\n", out);
  out.set(data, size.length + 2);
  out[total - 2] = 13;
  out[total - 1] = 10;
  return out;
}
