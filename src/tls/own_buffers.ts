/**
 * The reads of an intercepted client's socket through two buffers hoard
 * keeps, instead of a new ArrayBuffer for each read.
 *
 * Deno's `node:tls` hands every read of the socket (encrypted) and every
 * decrypted chunk to JavaScript in an ArrayBuffer of its own, and V8 sweeps
 * each one in the next scavenge: in a run of 1 KiB hits over TLS those
 * sweeps were the long part of the pauses behind hoard's p99. Node's
 * streams can read into a buffer the caller gives (`useUserBuffer`, the
 * `onread` option), which `node:tls` offers only for a socket it opens
 * itself; this module sets it up on a socket hoard adopted (in_place.ts).
 *
 * The two buffers serve every session of the thread: each read is passed on
 * — decrypted, then copied out — before the callback that delivered it
 * returns, and one thread runs one callback at a time.
 *
 * Like in_place.ts this reaches past the public API (the socket's symbol
 * fields, `process.binding("stream_wrap")`), so it looks before it changes
 * anything: {@linkcode readThroughOwnBuffers} leaves the socket as it was
 * and returns false when this runtime lacks what it takes.
 *
 * @module
 */

import process from "node:process";
import type { TLSSocket } from "node:tls";

/** The client's socket under a `TLSSocket`, as far as this module uses it. */
export interface AdoptedSocket {
  onread?: (this: AdoptedSocket, buf?: ArrayBuffer) => unknown;
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** The `TLSSocket`'s handle, as far as this module uses it. */
interface TlsHandle {
  receive?: (encrypted: Uint8Array) => void;
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** Where Deno's node streams say how many bytes the read being reported holds. */
interface ReadState {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

/** Encrypted bytes one read of a socket takes at most (what `node:net` reads at once). */
const ENCRYPTED_BYTES = 64 * 1024;

/** Decrypted bytes one call hands on at most: a TLS record's plaintext. */
const DECRYPTED_BYTES = 16 * 1024;

let shared: { state: ReadState; encrypted: Uint8Array; decrypted: Uint8Array } | null | undefined;

function buffers(): typeof shared {
  if (shared !== undefined) return shared;
  try {
    const b = (process as unknown as { binding(name: string): Partial<ReadState> })
      .binding("stream_wrap");
    shared = b.streamBaseState instanceof Int32Array && typeof b.kReadBytesOrError === "number"
      ? {
        state: b as ReadState,
        encrypted: new Uint8Array(ENCRYPTED_BYTES),
        decrypted: new Uint8Array(DECRYPTED_BYTES),
      }
      : null;
  } catch {
    shared = null;
  }
  return shared;
}

/**
 * Has `tls`, just made on `socket`, read through the thread's two buffers:
 * the socket's reads go to the TLS side from one, and each decrypted chunk
 * comes to `onChunk` as a view of the other, valid only during the call.
 * The end of the stream and errors keep `node:tls`'s own way (its "end",
 * "error" and "close" events). Returns false, changing nothing, when this
 * runtime does not offer what that takes; "data" events come then.
 */
export function readThroughOwnBuffers(
  socket: AdoptedSocket,
  tls: TLSSocket,
  onChunk: (chunk: Uint8Array) => void,
): boolean {
  const own = buffers();
  const handle = (tls as unknown as { _handle?: TlsHandle })._handle;
  const forward = socket.onread;
  const fields = tls as unknown as Record<symbol, unknown>;
  const symbols = Object.getOwnPropertySymbols(tls);
  const field = (name: string) => symbols.find((s) => s.description === name);
  const userBuffer = field("kBuffer"), callback = field("kBufferCb"), gen = field("kBufferGen");
  if (
    own == null || typeof forward !== "function" || typeof socket.useUserBuffer !== "function" ||
    typeof handle?.receive !== "function" || typeof handle.useUserBuffer !== "function" ||
    userBuffer === undefined || callback === undefined || gen === undefined ||
    fields[userBuffer] !== null || fields[gen] !== null
  ) return false;
  const { state: { streamBaseState, kReadBytesOrError }, encrypted, decrypted } = own;
  const receive = handle.receive.bind(handle);
  // Decrypted: what Node's `onread: { buffer, callback }` sets up.
  fields[userBuffer] = decrypted;
  fields[callback] = (n: number) => {
    onChunk(decrypted.subarray(0, n));
    return true;
  };
  handle.useUserBuffer(decrypted);
  // Encrypted: the socket's reads land in `encrypted`, and its read callback
  // (node:tls's, which would get an ArrayBuffer) gets none for data.
  socket.onread = function (buf) {
    const n = streamBaseState[kReadBytesOrError]!;
    if (n <= 0) return forward.call(this, buf);
    receive(encrypted.subarray(0, n));
    return undefined;
  };
  socket.useUserBuffer(encrypted);
  return true;
}
