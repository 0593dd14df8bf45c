/**
 * The intercept step: a CONNECT to a host hoard decrypts. hoard answers 200,
 * completes the TLS handshake itself with a leaf certificate for the name the
 * client asks for (SNI, else the CONNECT host), and then serves the requests
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
import { firstRecordLength, serverName } from "./tls/client_hello.ts";
import { terminateInPlace } from "./tls/in_place.ts";
import { terminateTls } from "./tls/loopback.ts";
import { TlsHandshakeError, type TlsSession } from "./tls/session.ts";

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
  timeout.catch(() => {});
  let shuttingDown!: (err: Error) => void;
  const aborted = new Promise<never>((_, reject) => shuttingDown = reject);
  aborted.catch(() => {});
  const onAbort = () => shuttingDown(new Error("hoard is shutting down"));
  ex.signal.addEventListener("abort", onAbort, { once: true });
  let session: TlsSession | undefined;
  try {
    session = await startTls(
      ex.io,
      origin.host,
      interception,
      timeout,
      (why) =>
        proxy.logger.log("debug", `TLS for ${authority} goes through a loopback relay: ${why}`),
    );
    await Promise.race([session.handshake(), timeout, aborted]);
  } catch (err) {
    ex.record.error = "tls_handshake";
    const noHello = err instanceof TlsHandshakeError ? err.noHello : !session?.helloSeen;
    const why = oneLine(err instanceof Error ? err.message : String(err));
    // A failure after the ClientHello is typically a client that does not
    // trust hoard's CA: it says so in its alert.
    proxy.logger.log(
      "warn",
      noHello
        ? `no TLS ClientHello from the client for ${authority}: ${why}`
        : `TLS handshake with the client for ${authority} failed: ${why}`,
    );
    if (session === undefined) ex.io.close();
    else {
      session.close();
      await session.done;
    }
    return;
  } finally {
    clearTimeout(timer);
    ex.signal.removeEventListener("abort", onAbort);
  }
  const tls = session;
  // A client that checks the certificate only once the handshake is over
  // (GnuTLS ones: git, wget, apt) and refuses it just closes: no alert, no
  // request. Nothing else would tell the log why that client failed.
  let spoke = false;
  const stream: ByteStream = {
    // Once the client spoke, a read is the session's own (no promise more per read).
    read: (p) =>
      spoke ? tls.read(p) : tls.read(p).then((n) => {
        if (n !== null && n > 0) spoke = true;
        return n;
      }),
    write: (p) => tls.write(p),
    closeWrite: () => tls.finish(),
    // What was written may still be on its way to the client: end it, not cut it.
    close: () => void tls.finish(),
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
    tls.close();
  };
  ex.signal.addEventListener("abort", cut);
  try {
    await proxy.serve(inner, { scheme: "https", host: origin.host, port: origin.port });
  } finally {
    await tls.finish();
    ex.signal.removeEventListener("abort", cut);
    tls.close();
    await tls.done;
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

/**
 * Starts the server side of the tunnel's TLS: on the client's socket itself
 * when the runtime allows it and the ClientHello is still unread, else
 * through a loopback relay, with the certificate for the name the
 * ClientHello asks for (SNI), else the CONNECT host.
 */
async function startTls(
  io: BufferedConn,
  host: string,
  interception: Interception,
  timeout: Promise<never>,
  relaying: (why: string) => void,
): Promise<TlsSession> {
  try {
    return terminateInPlace(io, (name) => interception.keyPair(name), host);
  } catch (err) {
    relaying(oneLine(err instanceof Error ? err.message : String(err)));
  }
  let name: string | undefined;
  try {
    name = await Promise.race([peekServerName(io), timeout]);
  } catch (err) {
    throw new TlsHandshakeError(err instanceof Error ? err.message : String(err), true);
  }
  return await terminateTls(io, await interception.keyPair(name ?? host));
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
