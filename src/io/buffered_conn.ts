/**
 * A connection with one reusable read buffer: heads are found in it, and body
 * bytes are handed out as views of it. This is the only place hoard reads
 * from a socket.
 *
 * @module
 */

import { findHeadEnd, leadingEmptyLines } from "../http1/head_end.ts";
import { encodeLatin1Into } from "../http1/serialize.ts";
import { HttpSyntaxError } from "../http1/syntax_error.ts";
import { borrowStreamBuffer, returnStreamBuffer } from "./buffer_pool.ts";

/** Largest message head accepted (request or response); larger is answered with 431. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Size of each connection's read buffer (heads and small bodies). */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Most bytes {@linkcode BufferedConn.writeJoined} writes (a small response's head and body). */
export const JOIN_BYTES = 16 * 1024;
/**
 * What hoard reads and writes: a Deno TCP or TLS connection, or the decrypted
 * side of an intercepted tunnel.
 */
export interface ByteStream {
  /** Reads into `p`; null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`; returns how many bytes were taken. */
  write(p: Uint8Array): Promise<number>;
  /** Ends the writing side (half-close). */
  closeWrite(): Promise<void>;
  /** Closes both sides. */
  close(): void;
}

/** The peer closed the connection in the middle of a message. */
export class UnexpectedEofError extends Error {
  /** @param what names the part of the message that was cut short. */
  constructor(what: string) {
    super(`connection closed in the middle of the ${what}`);
    this.name = "UnexpectedEofError";
  }
}

/**
 * A connection plus a read buffer.
 *
 * Views returned by {@linkcode BufferedConn.readHead} and
 * {@linkcode BufferedConn.buffered} stay valid only until the next
 * {@linkcode BufferedConn.fill}: consume them (parse, or write elsewhere)
 * before reading again. That contract is what lets bodies stream without
 * copies or allocation.
 */
export class BufferedConn {
  /** The underlying connection. */
  readonly conn: ByteStream;
  #small: Uint8Array;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #pending: Promise<boolean> | undefined;
  #closed = false;
  #join: Uint8Array | undefined;
  #joining = false;

  /** @param bufferBytes read buffer size; also the largest head accepted. */
  constructor(conn: ByteStream, bufferBytes: number = READ_BUFFER_BYTES) {
    this.conn = conn;
    this.#buf = this.#small = new Uint8Array(bufferBytes);
  }

  /**
   * Reads through a large borrowed buffer until {@linkcode BufferedConn.endStream},
   * for streaming a body. Views handed out before stay valid until the next fill.
   */
  beginStream(): void {
    if (this.#buf !== this.#small || this.#pending !== undefined) return;
    const big = borrowStreamBuffer();
    const unread = this.#end - this.#start;
    big.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = big;
    this.#start = 0;
    this.#end = unread;
  }

  /** Returns the borrowed buffer (when what is left unread fits the small one). */
  endStream(): void {
    const big = this.#buf;
    const unread = this.#end - this.#start;
    if (big === this.#small || unread > this.#small.length || this.#pending !== undefined) return;
    this.#small.set(big.subarray(this.#start, this.#end));
    this.#buf = this.#small;
    this.#start = 0;
    this.#end = unread;
    returnStreamBuffer(big);
  }

  /** Bytes read but not yet consumed. */
  get buffered(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** How many bytes are read but not yet consumed (without making a view of them). */
  get bufferedLength(): number {
    return this.#end - this.#start;
  }

  /** Whether a read started by {@linkcode BufferedConn.watchIdle} has not been taken over yet. */
  get reading(): boolean {
    return this.#pending !== undefined;
  }

  /** Whether {@linkcode BufferedConn.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Marks `n` buffered bytes as used. */
  consume(n: number): void {
    this.#start += n;
  }

  /**
   * Reads more bytes into the buffer.
   *
   * @returns false at end of stream.
   */
  fill(): Promise<boolean> {
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      return pending;
    }
    return this.#read();
  }

  /**
   * Starts a read now, for a connection about to sit idle: the returned promise
   * settles when the peer sends or closes, which tells a pool the connection
   * is no longer usable. The next {@linkcode BufferedConn.fill} takes over this
   * read instead of starting another.
   */
  watchIdle(): Promise<boolean> {
    this.#pending ??= this.#read();
    return this.#pending;
  }

  async #read(): Promise<boolean> {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    } else if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) throw new RangeError("read buffer full");
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /**
   * Reads up to the end of a message head, skipping empty lines before it.
   *
   * @param isStartByte says whether a head may start with this byte, so that
   *   bytes that are not HTTP at all (a TLS ClientHello sent to the plain port)
   *   are refused at once instead of after 64 KiB.
   * @returns a view of the head bytes including the final CRLFCRLF (already
   *   consumed), or null when the peer closed before sending anything.
   * @throws {HttpSyntaxError} 400 for bytes that cannot start a head or a bare
   *   LF, 431 when the head exceeds {@linkcode MAX_HEAD_BYTES}.
   * @throws {UnexpectedEofError} when the peer closes inside the head.
   */
  async readHead(isStartByte: (byte: number) => boolean): Promise<Uint8Array | null> {
    let scanFrom = 0;
    let started = false;
    for (;;) {
      if (!started) {
        this.consume(leadingEmptyLines(this.buffered));
        if (
          this.#end - this.#start >= 2 || (this.#end > this.#start && this.#buf[this.#start] !== 13)
        ) {
          started = true;
          if (!isStartByte(this.#buf[this.#start]!)) {
            throw new HttpSyntaxError("not an HTTP message");
          }
        }
      }
      if (started) {
        const view = this.buffered;
        const end = findHeadEnd(view, scanFrom);
        if (end !== -1) {
          this.#start += end;
          return view.subarray(0, end);
        }
        const limit = Math.min(MAX_HEAD_BYTES, this.#buf.length);
        if (view.length >= limit) {
          throw new HttpSyntaxError(`header section larger than ${limit / 1024} KiB`, 431);
        }
        scanFrom = view.length - 3;
      }
      if (!(await this.fill())) {
        if (this.#end === this.#start) return null;
        throw new UnexpectedEofError("message head");
      }
    }
  }

  /** Writes all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    let off = await this.conn.write(data);
    while (off < data.length) off += await this.conn.write(data.subarray(off));
  }

  /**
   * Writes `head` and `body` in one write (one syscall, one packet for a
   * small response) through a buffer this connection keeps for it, made on
   * its first use. A new buffer per response would be one more ArrayBuffer for
   * every scavenge to sweep: with one, the longest scavenges of a run of hits
   * were the sweeping of those. `head` may be text, one char per byte (a
   * response head, then not encoded on its own). Together they take at most
   * {@linkcode JOIN_BYTES}.
   */
  async writeJoined(head: Uint8Array | string, body: Uint8Array): Promise<void> {
    const n = head.length + body.length;
    if (n > JOIN_BYTES) throw new RangeError(`${n} bytes to join, over ${JOIN_BYTES}`);
    // Writes on one connection follow each other; one that did not gets a buffer of its own.
    const own = this.#joining;
    const buf = own
      ? new Uint8Array(n)
      : (this.#join ??= new Uint8Array(JOIN_BYTES)).subarray(0, n);
    // A head as text (one char per byte) is encoded in place: no buffer of its own either.
    if (typeof head === "string") encodeLatin1Into(head, buf);
    else buf.set(head);
    buf.set(body, head.length);
    if (own) return this.write(buf);
    this.#joining = true;
    try {
      await this.write(buf);
    } finally {
      this.#joining = false;
    }
  }

  /** Closes the connection; safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by the runtime (peer reset): nothing left to release.
    }
  }
}
