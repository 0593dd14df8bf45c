/**
 * Server-side TLS for an intercepted tunnel on Deno's native TLS (rustls),
 * through a relay: each tunnel gets a one-connection `Deno.listenTls` listener
 * on loopback with the leaf for its host, and the client's encrypted bytes
 * are relayed to it over a loopback connection. hoard terminates TLS on the
 * client's socket itself (in_place.ts) when it can; the relay serves when the
 * runtime does not allow that, or when the client sent its ClientHello before
 * hoard's 200 and hoard has already read it.
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
import type { KeyPair, TlsSession } from "./session.ts";

/** The relay's read size: large enough that a bulk transfer takes few reads. */
const RELAY_BYTES = 256 * 1024;

/** Connections to take from the listener before giving up on seeing our own. */
const MAX_STRANGERS = 8;

/**
 * Terminates the TLS the client of `io` sends with the certificate and key
 * given, on a fresh loopback listener. The session owns `io` from now on and
 * closes it; bytes it already buffered (the ClientHello) go first.
 */
export async function terminateTls(io: BufferedConn, keyPair: KeyPair): Promise<TlsSession> {
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
    done: relayed,
    // The caller read it to choose the certificate.
    helloSeen: true,
    handshake: () => tls.handshake().then(() => {}),
    read: (p) => tls.read(p),
    write: (p) => tls.write(p),
    finish() {
      finished ??= tls.closeWrite().then(() => down, () => {});
      return finished;
    },
    close() {
      closeQuietly(tls);
      closeQuietly(loop);
      io.close();
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
