/**
 * Server-side TLS for an intercepted tunnel on Deno's native TLS (rustls),
 * which only terminates TLS on connections a `Deno.listenTls` listener
 * accepted: there is no server-side `startTls` for an already accepted
 * connection. So each intercepted tunnel gets a one-connection TLS listener
 * on loopback with the leaf for its host, and the client's encrypted bytes
 * are relayed to it over a loopback connection.
 *
 * Why not node:tls, as before: over a Duplex adapter its TLS is a JavaScript
 * stream pump around the encryption (Node stream events, a copy into and out
 * of every record, a write per record); measured on an intercepted 100 MiB
 * hit it ran at a fifth of plain HTTP. The relay here is the same two
 * read/write loops as a plain tunnel, which runs at several GB/s, and the
 * encryption stays in Rust.
 *
 * @module
 */

import type { BufferedConn } from "../io/buffered_conn.ts";

/** The relay's read size: large enough that a bulk transfer takes few reads. */
const RELAY_BYTES = 256 * 1024;

/** Connections to take from the listener before giving up on seeing our own. */
const MAX_STRANGERS = 8;

/** A tunnel's decrypted side and the relay that carries its encrypted bytes. */
export interface LoopbackTls {
  /** The TLS server side: read requests from it, write responses to it. */
  conn: Deno.TlsConn;
  /**
   * Ends the TLS side (close_notify, then FIN) and resolves once the relay
   * has carried everything written to it on to the client: closing before
   * that would cut off the end of the last response.
   */
  finish(): Promise<void>;
  /** Closes the TLS side and the relay's loopback connection at once. */
  close(): void;
  /** Settles when both directions of the relay have ended. */
  relayed: Promise<void>;
}

/**
 * Terminates the TLS the client of `io` sends with the certificate and key
 * given, on a fresh loopback listener. `io` keeps belonging to the caller
 * (close it when done); bytes it already buffered (the ClientHello) go first.
 */
export async function terminateTls(
  io: BufferedConn,
  keyPair: { cert: string; key: string },
): Promise<LoopbackTls> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    alpnProtocols: ["http/1.1"],
    cert: keyPair.cert,
    key: keyPair.key,
  });
  let raw: Deno.TcpConn | undefined;
  let conn: Deno.TlsConn | undefined;
  try {
    const accepted = acceptFrom(listener);
    raw = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    raw.setNoDelay(true);
    conn = await accepted(raw.localAddr.port);
  } catch (err) {
    raw?.close();
    throw err;
  } finally {
    listener.close();
  }
  const loop = raw;
  const tls = conn;
  const down = fromLoopback(loop, io);
  const relayed = Promise.allSettled([toLoopback(io, loop), down]).then(() => {});
  let finished: Promise<void> | undefined;
  return {
    conn: tls,
    relayed,
    finish() {
      finished ??= tls.closeWrite().then(() => down, () => {});
      return finished;
    },
    close() {
      closeQuietly(tls);
      closeQuietly(loop);
    },
  };
}

/**
 * Returns a function that waits for the connection from local port `port`.
 * Another local process could connect first; its connection is closed (it
 * would only ever see our leaf certificate).
 */
function acceptFrom(listener: Deno.TlsListener): (port: number) => Promise<Deno.TlsConn> {
  const first = listener.accept();
  return async (port) => {
    let next = first;
    for (let i = 0; i < MAX_STRANGERS; i++) {
      const conn = await next;
      if (conn.remoteAddr.port === port) return conn;
      closeQuietly(conn);
      next = listener.accept();
    }
    throw new Error("the loopback TLS listener saw only other connections");
  };
}

/** Client → TLS side: what `io` buffered first, then its reads; EOF half-closes. */
async function toLoopback(io: BufferedConn, loop: Deno.TcpConn): Promise<void> {
  try {
    for (;;) {
      const view = io.buffered;
      if (view.length > 0) {
        await writeAll(loop, view);
        io.consume(view.length);
      }
      if (!(await io.fill())) break;
    }
    await loop.closeWrite();
  } catch {
    // The client went away or the TLS side closed: end both directions.
    closeQuietly(loop);
  }
}

/** TLS side → client, in large reads. */
async function fromLoopback(loop: Deno.TcpConn, io: BufferedConn): Promise<void> {
  const buf = new Uint8Array(RELAY_BYTES);
  try {
    for (;;) {
      const n = await loop.read(buf);
      if (n === null) break;
      await io.write(buf.subarray(0, n));
    }
    await io.conn.closeWrite();
  } catch {
    closeQuietly(loop);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // Already closed.
  }
}
