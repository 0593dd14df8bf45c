/**
 * Server-side TLS on the client's own socket, for an intercepted tunnel.
 *
 * Deno has no public server-side `startTls`, but its `node:tls` terminates
 * TLS natively (rustls) on a `node:net` socket, and a `node:net` socket can be
 * opened on the resource of a connection `Deno.listen` accepted. That takes
 * the loopback relay (loopback.ts) out of every intercepted byte's way: one
 * socket write per response instead of three: twice the relay's 1 KiB
 * request rate in a bare session, 1.6× through hoard (the README has the
 * figures).
 *
 * Both steps reach past Deno's public API — `process.binding("tcp_wrap")`
 * and the connection's resource id — so {@linkcode inPlaceTls} says whether
 * this runtime offers them, and the caller falls back to the relay when not.
 *
 * @module
 */

import process from "node:process";
import { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type { BufferedConn } from "../io/buffered_conn.ts";
import { type AdoptedSocket, readThroughOwnBuffers } from "./own_buffers.ts";
import { type KeyPair, TlsHandshakeError, type TlsSession } from "./session.ts";

/**
 * Decrypted bytes read ahead of the reader before reading from the client
 * stops (an upload faster than its origin takes it).
 */
const READ_AHEAD_BYTES = 256 * 1024;

/**
 * The most bytes handed to `node:tls` in one write. Deno's `node:tls` copies
 * each write into a buffer of its own that it frees once the write is sent;
 * 256 KiB ones came from fresh pages each time (20,000 page faults per
 * 100 MiB hit, and a quarter more of hoard's CPU than in 128 KiB writes).
 */
const WRITE_BYTES = 128 * 1024;

/**
 * How Deno's `node:tls` says the client's first bytes were not TLS: with a
 * code once a certificate is set, only in the message while SNI is pending.
 */
function notTls(err: Error & { code?: string }): boolean {
  return err.code === "ERR_SSL_WRONG_VERSION_NUMBER" || /InvalidContentType/.test(err.message);
}

interface TcpHandle extends AdoptedSocket {
  openFromRid(rid: number): number;
  readStart(): number;
  readStop(): number;
}
interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number };
}

let binding: TcpBinding | null | undefined;

/** Deno's node TCP handle class, when this runtime has one that can adopt a resource. */
function tcpBinding(): TcpBinding | null {
  if (binding !== undefined) return binding;
  try {
    const b = (process as unknown as { binding(name: string): Partial<TcpBinding> })
      .binding("tcp_wrap");
    const methods = b.TCP?.prototype;
    binding = typeof methods?.openFromRid === "function" &&
        typeof methods.readStart === "function" && typeof methods.readStop === "function" &&
        typeof b.constants?.SOCKET === "number"
      ? b as TcpBinding
      : null;
  } catch {
    binding = null;
  }
  return binding;
}

/** The resource id behind a Deno connection, if it exposes one. */
function resourceId(conn: object): number | undefined {
  for (const symbol of Object.getOwnPropertySymbols(conn)) {
    if (symbol.description !== "Deno.internal.rid") continue;
    const rid = (conn as Record<symbol, unknown>)[symbol];
    return typeof rid === "number" ? rid : undefined;
  }
  return undefined;
}

/** Whether this runtime lets `node:tls` adopt a socket `Deno.listen` accepted. */
export function inPlaceTlsSupported(): boolean {
  return tcpBinding() !== null;
}

/**
 * What adopting the socket of `io` takes, or why it cannot be: this runtime
 * must let `node:tls` adopt it, and nothing may be buffered or being read
 * (the ClientHello must reach the TLS side untouched).
 */
function adoptable(io: BufferedConn): { binding: TcpBinding; rid: number } | string {
  const binding = tcpBinding();
  const rid = resourceId(io.conn);
  if (binding === null || rid === undefined) {
    return "this runtime cannot terminate TLS on the client's socket";
  }
  if (io.bufferedLength > 0 || io.reading) return "the client sent bytes hoard has read already";
  return { binding, rid };
}

/** Whether TLS can be terminated on the socket of `io` itself (see {@linkcode terminateInPlace}). */
export function inPlaceTls(io: BufferedConn): boolean {
  return typeof adoptable(io) !== "string";
}

/**
 * Terminates the TLS the client of `io` starts, answering with the leaf
 * `keyFor` gives for the name the client asks for (SNI; `fallbackName` when it
 * sends none); give the same object for the same leaf, so that its key is
 * parsed once. The session owns `io` from now on and closes it.
 *
 * @throws when {@linkcode inPlaceTls} is false for `io`, saying why.
 */
export function terminateInPlace(
  io: BufferedConn,
  keyFor: (name: string) => Promise<KeyPair>,
  fallbackName: string,
): TlsSession {
  const socketOf = adoptable(io);
  if (typeof socketOf === "string") throw new Error(socketOf);
  const { binding, rid } = socketOf;
  const handle = new binding.TCP(binding.constants.SOCKET);
  const status = handle.openFromRid(rid);
  if (status !== 0) throw new Error(`cannot adopt the client's socket (${status})`);
  const socket = new Socket({ handle } as ConstructorParameters<typeof Socket>[0]);
  socket.setNoDelay(true);
  const tls = new TLSSocket(socket, {
    isServer: true,
    ALPNProtocols: ["http/1.1"],
    // Called for every ClientHello, with "" when it names no server.
    SNICallback: (name, answer) => {
      session.helloSeen = true;
      keyFor(name === "" ? fallbackName : name).then(
        (pair) => answer(null, secureContext(pair)),
        (err) => answer(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  const session = new InPlaceSession(tls, handle, io);
  return session;
}

/**
 * One context per key pair: making one parses the private key, which was a
 * quarter of hoard's CPU time in a run of new connections.
 */
const contexts = new WeakMap<KeyPair, SecureContext>();

function secureContext(pair: KeyPair): SecureContext {
  let context = contexts.get(pair);
  if (context === undefined) {
    context = createSecureContext(pair);
    contexts.set(pair, context);
  }
  return context;
}

/** A `TLSSocket` as hoard's promise-based reads and writes. */
export class InPlaceSession implements TlsSession {
  readonly done: Promise<void>;
  helloSeen = false;
  /** Whether its reads go through the thread's own buffers (own_buffers.ts). */
  readonly ownBuffers: boolean;
  #tls: TLSSocket;
  #tcp: TcpHandle;
  #paused = false;
  #handshake: Promise<void>;
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** The buffer of a read waiting for bytes, and how many it got. */
  #into: Uint8Array | undefined;
  #got = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #finished: Promise<void> | undefined;

  /**
   * @param tcp the socket under `tls`: reading stops there, not on `tls`,
   *   because Deno 2.9.6 loses an end of stream that arrives while a
   *   `node:tls` socket is paused (no "end", no "close" after the resume).
   *   Stopped at the socket, the end waits in the kernel with the bytes.
   */
  constructor(tls: TLSSocket, tcp: TcpHandle, io: BufferedConn) {
    this.#tls = tls;
    this.#tcp = tcp;
    let closed!: () => void;
    this.done = new Promise((resolve) => closed = resolve);
    this.#handshake = new Promise((resolve, reject) => {
      let secure = false;
      tls.once("secure", () => {
        secure = true;
        resolve();
      });
      const fail = (err?: Error & { code?: string }) => {
        if (secure) return;
        if (err === undefined) {
          reject(new TlsHandshakeError("the client closed the tunnel", !this.helloSeen));
        } else if (notTls(err)) {
          reject(new TlsHandshakeError("the client did not start TLS", true));
        } else reject(new TlsHandshakeError(err.message, !this.helloSeen));
      };
      tls.once("error", fail);
      tls.once("close", () => fail());
    });
    this.#handshake.catch(() => {});
    this.ownBuffers = readThroughOwnBuffers(tcp, tls, (chunk) => this.#take(chunk, false));
    // Without them, each chunk comes in a new Buffer that stays the session's.
    if (!this.ownBuffers) tls.on("data", (chunk: Uint8Array) => this.#take(chunk, true));
    tls.on("end", () => {
      this.#ended = true;
      this.#wakeReader();
    });
    tls.on("error", (err: Error) => {
      this.#error ??= err;
      this.#wakeReader();
    });
    tls.on("close", () => {
      this.#ended = true;
      this.#wakeReader();
      // Only now: the TLS side no longer reads or writes the socket, and
      // closing it does not release the connection.
      io.close();
      closed();
    });
  }

  handshake(): Promise<void> {
    return this.#handshake;
  }

  /**
   * Decrypted bytes: straight into the buffer of a read that waits for them,
   * else queued — copied first unless `owned` (a chunk in the thread's read
   * buffer is gone with the next read of any session).
   */
  #take(chunk: Uint8Array, owned: boolean): void {
    const into = this.#into;
    let rest = chunk;
    if (into !== undefined) {
      this.#into = undefined;
      this.#got = Math.min(into.length, chunk.length);
      into.set(this.#got === chunk.length ? chunk : chunk.subarray(0, this.#got));
      rest = chunk.subarray(this.#got);
    }
    if (rest.length > 0) {
      this.#queue.push(owned ? rest : rest.slice());
      this.#queued += rest.length;
      if (this.#queued >= READ_AHEAD_BYTES && !this.#paused) {
        this.#paused = true;
        this.#tcp.readStop();
      }
    }
    this.#wakeReader();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return null;
      this.#into = p;
      this.#got = 0;
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#into = undefined;
      if (this.#got > 0) return this.#got;
    }
    const chunk = this.#queue[0]!;
    const n = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#queue.shift();
    else this.#queue[0] = chunk.subarray(n);
    this.#queued -= n;
    if (this.#queued < READ_AHEAD_BYTES && this.#paused) {
      this.#paused = false;
      this.#tcp.readStart();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return p.length <= WRITE_BYTES ? this.#write(p) : this.#writeInParts(p);
  }

  async #writeInParts(p: Uint8Array): Promise<number> {
    for (let off = 0; off < p.length; off += WRITE_BYTES) {
      await this.#write(p.subarray(off, off + WRITE_BYTES));
    }
    return p.length;
  }

  #write(p: Uint8Array): Promise<number> {
    if (this.#tls.destroyed) return Promise.reject(this.#error ?? new Error("tunnel closed"));
    // Resolved by the write's callback, only then is `p` free to reuse; a
    // destroyed socket calls back every pending write with an error.
    return new Promise((resolve, reject) => {
      this.#tls.write(p, (err) => err ? reject(err) : resolve(p.length));
    });
  }

  finish(): Promise<void> {
    this.#finished ??= new Promise<void>((resolve) => {
      if (this.#tls.destroyed || this.#tls.writableFinished) return resolve();
      this.#tls.once("close", resolve);
      this.#tls.end(resolve);
    });
    return this.#finished;
  }

  close(): void {
    this.#tls.destroy();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
