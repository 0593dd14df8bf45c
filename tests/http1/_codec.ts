/**
 * Small helpers shared by the codec tests: bytes from text, and one way to
 * assert that the codec refused input with a given status.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ChunkedDecoder } from "../../src/http1/chunked.ts";
import { HttpSyntaxError, type RefusalStatus } from "../../src/http1/syntax_error.ts";

import { concat } from "../_helpers/sockets.ts";

export { concat };
export { bytes as latin1, text } from "../_helpers/sockets.ts";

/**
 * Asserts that `fn` throws an `HttpSyntaxError` with `status`, and (when
 * given) a message matching `message`. Returns the error for further checks.
 */
export function assertRefused(
  fn: () => unknown,
  status: RefusalStatus,
  message?: RegExp,
): HttpSyntaxError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, "expected an HttpSyntaxError, but nothing was thrown");
  assert.ok(thrown instanceof HttpSyntaxError, `expected an HttpSyntaxError, got ${thrown}`);
  assert.equal(thrown.name, "HttpSyntaxError");
  assert.equal(thrown.status, status, `status for "${thrown.message}"`);
  if (message !== undefined) assert.match(thrown.message, message);
  return thrown;
}

/** Result of running a whole input through one `ChunkedDecoder`. */
export interface Decoded {
  /** The body data, joined. */
  data: Uint8Array;
  /** Bytes of the input the decoder consumed in total. */
  consumed: number;
  /** The decoder, for `done` and `trailers`. */
  decoder: ChunkedDecoder;
}

/**
 * Feeds `input` to a fresh decoder in pieces of the given sizes (cycling
 * through `sizes`), stopping once the decoder reports done.
 */
export function decodeInPieces(
  input: Uint8Array,
  sizes: readonly number[] = [input.length],
): Decoded {
  const decoder = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  let at = 0, k = 0;
  while (at < input.length && !decoder.done) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    const piece = input.subarray(at, Math.min(at + size, input.length));
    const used = decoder.decode(piece, out);
    assert.ok(used <= piece.length);
    if (!decoder.done) {
      assert.equal(used, piece.length, "a decoder that is not done takes all input");
    }
    at += used;
  }
  return { data: concat(out), consumed: at, decoder };
}
