/**
 * The buffers that streams borrow: client and origin connections while they
 * carry a large body, the store while it reads or hashes one.
 *
 * @module
 */

/**
 * Size of the buffer a connection borrows while it streams a large body: four
 * times fewer reads and writes than with the head buffer, for one buffer per
 * active stream rather than per connection.
 */
export const STREAM_BUFFER_BYTES = 256 * 1024;

// Spare buffers by size, so that streaming allocates (and zeroes) nothing per request.
const spareBuffers = new Map<number, Uint8Array[]>();
const MAX_SPARE_BUFFERS = 16;

/**
 * Lends a buffer of `size` bytes (default {@linkcode STREAM_BUFFER_BYTES});
 * give it back with {@linkcode returnStreamBuffer}.
 */
export function borrowStreamBuffer(size: number = STREAM_BUFFER_BYTES): Uint8Array {
  return spareBuffers.get(size)?.pop() ?? new Uint8Array(size);
}

/** Takes back a buffer lent by {@linkcode borrowStreamBuffer}. */
export function returnStreamBuffer(buf: Uint8Array): void {
  let spares = spareBuffers.get(buf.length);
  if (spares === undefined) spareBuffers.set(buf.length, spares = []);
  if (spares.length < MAX_SPARE_BUFFERS) spares.push(buf);
}
