/**
 * Glue between hoard's streams and `node:tls`, which is the only TLS server
 * Deno offers that can take over an already accepted connection (Deno has no
 * server-side `startTls`): the client's raw bytes as a Node Duplex for the
 * TLS socket, and the decrypted TLS socket as a {@linkcode ByteStream} for
 * hoard's HTTP code.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import type { BufferedConn, ByteStream } from "../io/buffered_conn.ts";

const READ_BYTES = 64 * 1024;
const HIGH_WATER = 256 * 1024;

/**
 * The raw side of `io` as a Node Duplex: bytes already buffered after the
 * CONNECT head come first (a client may send its ClientHello right away).
 */
export function duplexOver(io: BufferedConn): Duplex {
  let reading = false;
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      (async () => {
        for (;;) {
          let chunk: Uint8Array;
          const buffered = io.buffered;
          if (buffered.length > 0) {
            chunk = Buffer.from(buffered); // a copy: the read buffer is reused
            io.consume(buffered.length);
          } else {
            const fresh = Buffer.allocUnsafe(READ_BYTES);
            const n = await io.conn.read(fresh);
            if (n === null) return this.push(null);
            chunk = fresh.subarray(0, n);
          }
          if (!this.push(chunk)) return;
        }
      })().catch((err) => this.destroy(err)).finally(() => reading = false);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      io.write(chunk).then(() => callback(), callback);
    },
    // TLS writes one record (16 KiB at most) at a time: what piles up while a
    // write is under way goes out in one write, not one syscall per record.
    writev(chunks: { chunk: Uint8Array }[], callback) {
      io.write(Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), callback);
    },
    final(callback) {
      io.conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(err, callback) {
      io.close();
      callback(err);
    },
  });
}

/** A Node stream socket (the decrypted side of a TLS socket) as a {@linkcode ByteStream}. */
export class SocketStream implements ByteStream {
  #socket: Duplex;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /** @param socket a readable and writable Node stream, in flowing mode from now on. */
  constructor(socket: Duplex) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      // Back-pressure: stop decrypting until hoard has read some of it.
      if (this.#buffered > HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err: Error) => {
      this.#error = err;
      this.#notify();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      const head = this.#chunks[0];
      if (head !== undefined) {
        const n = Math.min(head.length, p.length);
        p.set(head.subarray(0, n));
        if (n === head.length) this.#chunks.shift();
        else this.#chunks[0] = head.subarray(n);
        this.#buffered -= n;
        if (this.#buffered <= HIGH_WATER / 2 && this.#socket.isPaused()) this.#socket.resume();
        return n;
      }
      if (this.#error !== undefined) throw asDenoError(this.#error);
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error !== undefined) return Promise.reject(asDenoError(this.#error));
    // Resolved once the socket took the bytes: only then may the caller reuse `p`.
    return new Promise((resolve, reject) => {
      this.#socket.write(p, (err) => err ? reject(asDenoError(err)) : resolve(p.length));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Node stream errors as the Deno errors the rest of hoard recognises as a peer going away. */
function asDenoError(err: Error): Error {
  const code = (err as { code?: string }).code;
  if (
    code === "EPIPE" || code === "ERR_STREAM_DESTROYED" || code === "ERR_STREAM_WRITE_AFTER_END"
  ) {
    return new Deno.errors.BrokenPipe(err.message);
  }
  return new Deno.errors.ConnectionReset(err.message);
}
