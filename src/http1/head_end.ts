/**
 * Finding where a message head ends (RFC 9112 §2.1), by scanning bytes.
 *
 * @module
 */

import { HttpSyntaxError } from "./syntax_error.ts";

const CR = 13, LF = 10;

/**
 * Index just past the CRLFCRLF that ends the head in `buf`, or -1 when the
 * head is not complete yet. Scanning resumes at `from` (a previous -1 call may
 * pass `buf.length - 3`) so a head arriving in pieces is scanned once.
 *
 * A bare LF is refused rather than accepted as a line end (RFC 9112 §2.2
 * allows either): peers that disagree on line ends are how requests get
 * smuggled.
 *
 * @throws {HttpSyntaxError} on a bare LF.
 */
export function findHeadEnd(buf: Uint8Array, from = 0): number {
  let i = buf.indexOf(LF, Math.max(from, 0));
  while (i !== -1) {
    if (i === 0 || buf[i - 1] !== CR) throw new HttpSyntaxError("bare LF in message head");
    if (i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
    i = buf.indexOf(LF, i + 1);
  }
  return -1;
}

/** Bytes of leading CRLF pairs, which a server skips before a request-line (RFC 9112 §2.2). */
export function leadingEmptyLines(buf: Uint8Array): number {
  let i = 0;
  while (i + 1 < buf.length && buf[i] === CR && buf[i + 1] === LF) i += 2;
  return i;
}
