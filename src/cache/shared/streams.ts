/**
 * Small byte-stream helpers of the shared tier.
 *
 * @module
 */

/** Reads all `size` bytes of `body` into one array. */
export async function readAll(
  body: AsyncGenerator<Uint8Array, undefined, void>,
  size: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let off = 0;
  for await (const piece of body) {
    out.set(piece, off);
    off += piece.length;
  }
  return out;
}

/** `bytes` as a body of one piece (none when empty). */
export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array, undefined, void> {
  if (bytes.length > 0) yield bytes;
  return undefined;
}

/** `rest` with `head` sent first. */
export function prepend(
  head: Uint8Array,
  rest: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const reader = rest.getReader();
  let sentHead = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentHead) {
        sentHead = true;
        controller.enqueue(head);
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
