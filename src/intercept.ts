/**
 * The intercept step: a CONNECT to a host hoard decrypts. hoard answers 200,
 * completes the TLS handshake itself with a leaf certificate for the name the
 * client asked for (SNI, else the CONNECT host), and then serves the requests
 * inside like any others — same cache (keyed `https://host/...`), same
 * policy, same logs, keep-alive included — sending them on over TLS that
 * verifies the origin's certificate.
 *
 * @module
 */

import type { ClientConnection, ProxyContext } from "./context.ts";
import { oneLine } from "./errors.ts";
import { formatAuthority } from "./http1/target.ts";
import { BufferedConn, type ByteStream } from "./io/buffered_conn.ts";
import type { Origin } from "./origin/origin.ts";
import { ESTABLISHED, type Exchange } from "./request/respond.ts";
import type { Interception } from "./tls/interception.ts";
import { type LoopbackTls, terminateTls } from "./tls/loopback.ts";
import { firstRecordLength, serverName } from "./tls/client_hello.ts";

/** Decrypts the tunnel `ex` asked for and serves the requests inside it. */
export async function intercept(
  proxy: ProxyContext,
  ex: Exchange,
  origin: Origin,
  interception: Interception,
): Promise<void> {
  ex.keepAlive = false;
  ex.record.status = 200;
  ex.record.route = "intercept";
  ex.headSent = true;
  const authority = formatAuthority(origin.host, origin.port);
  await ex.io.write(ESTABLISHED);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("handshake timed out")),
      proxy.options.headerTimeoutMs,
    );
  });
  // The certificate is for the name the client asks for (SNI), else the CONNECT host.
  let name: string | undefined;
  try {
    name = await Promise.race([peekServerName(ex.io), timeout]);
  } catch (err) {
    clearTimeout(timer);
    ex.record.error = "tls_handshake";
    proxy.logger.log(
      "warn",
      `no TLS ClientHello from the client for ${authority}: ${oneLine(String(err))}`,
    );
    ex.io.close();
    return;
  }
  let tls: LoopbackTls | undefined;
  let shuttingDown!: (err: Error) => void;
  const aborted = new Promise<never>((_, reject) => shuttingDown = reject);
  aborted.catch(() => {});
  const onAbort = () => shuttingDown(new Error("hoard is shutting down"));
  ex.signal.addEventListener("abort", onAbort, { once: true });
  try {
    tls = await terminateTls(ex.io, await interception.keyPair(name ?? origin.host));
    await Promise.race([tls.conn.handshake(), timeout, aborted]);
  } catch (err) {
    // Typically a client that does not trust hoard's CA: it says so in its alert.
    ex.record.error = "tls_handshake";
    proxy.logger.log(
      "warn",
      `TLS handshake with the client for ${authority} failed: ${oneLine(String(err))}`,
    );
    tls?.close();
    ex.io.close();
    return;
  } finally {
    clearTimeout(timer);
    ex.signal.removeEventListener("abort", onAbort);
  }
  const session = tls;
  // A client that checks the certificate only once the handshake is over
  // (GnuTLS ones: git, wget, apt) and refuses it just closes: no alert, no
  // request. Nothing else would tell the log why that client failed.
  let spoke = false;
  const conn = session.conn;
  const stream: ByteStream = {
    read: async (p) => {
      const n = await conn.read(p);
      if (n !== null && n > 0) spoke = true;
      return n;
    },
    write: (p) => conn.write(p),
    closeWrite: () => session.finish(),
    // What was written may still be on its way through the relay: end it, not cut it.
    close: () => void session.finish(),
  };
  const inner: ClientConnection = {
    io: new BufferedConn(stream),
    busy: false,
    abort: new AbortController(),
    peer: ex.record.client,
    // The CONNECT was authenticated; the requests inside carry no credentials.
    trusted: true,
  };
  // Shutdown cuts the tunnel's requests with the tunnel.
  const cut = () => {
    inner.abort.abort();
    session.close();
  };
  ex.signal.addEventListener("abort", cut);
  try {
    await proxy.serve(inner, { scheme: "https", host: origin.host, port: origin.port });
  } finally {
    await session.finish();
    ex.signal.removeEventListener("abort", cut);
    session.close();
    ex.io.close();
    await session.relayed;
  }
  if (!spoke && !ex.signal.aborted) {
    ex.record.error = "tls_no_request";
    proxy.logger.log(
      "warn",
      `the client closed the TLS tunnel for ${authority} without a request: ` +
        `a client that refuses hoard's certificate after the handshake does that (GnuTLS ones: ` +
        `git, wget, apt); does it trust hoard's CA?`,
    );
  }
}

/** Reads until the client's first TLS record is buffered and returns the SNI name in it. */
async function peekServerName(io: BufferedConn): Promise<string | undefined> {
  for (;;) {
    const need = firstRecordLength(io.buffered);
    if (need === -1) throw new Error("the client did not start TLS");
    if (io.bufferedLength >= need) return serverName(io.buffered.subarray(0, need));
    if (!(await io.fill())) throw new Error("the client closed the tunnel");
  }
}
