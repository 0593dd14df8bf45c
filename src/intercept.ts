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

import { TLSSocket } from "node:tls";
import type { ClientConnection, ProxyContext } from "./context.ts";
import { oneLine } from "./errors.ts";
import { formatAuthority } from "./http1/target.ts";
import { BufferedConn } from "./io/buffered_conn.ts";
import type { Origin } from "./origin/origin.ts";
import type { Exchange } from "./request/respond.ts";
import type { Interception } from "./tls/interception.ts";
import { duplexOver, SocketStream } from "./tls/node_streams.ts";
import { firstRecordLength, serverName } from "./tls/client_hello.ts";

const ESTABLISHED = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");

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
  const socket = new TLSSocket(duplexOver(ex.io), {
    isServer: true,
    secureContext: await interception.context(name ?? origin.host),
    ALPNProtocols: ["http/1.1"],
  });
  const handshake = new Promise<void>((resolve, reject) => {
    socket.once("secure", () => resolve());
    socket.once("error", reject);
    // A client that refuses the certificate may just close, without an alert.
    for (const event of ["end", "close"]) {
      socket.once(event, () => reject(new Error("the client closed during the handshake")));
    }
    ex.signal.addEventListener("abort", () => reject(new Error("hoard is shutting down")), {
      once: true,
    });
  });
  try {
    await Promise.race([handshake, timeout]);
  } catch (err) {
    // Typically a client that does not trust hoard's CA: it says so in its alert.
    ex.record.error = "tls_handshake";
    proxy.logger.log(
      "warn",
      `TLS handshake with the client for ${authority} failed: ${oneLine(String(err))}`,
    );
    socket.destroy();
    ex.io.close();
    return;
  } finally {
    clearTimeout(timer);
  }
  const stream = new SocketStream(socket);
  // A client that checks the certificate only once the handshake is over
  // (GnuTLS ones: git, wget, apt) and refuses it just closes: no alert, no
  // request. Nothing else would tell the log why that client failed.
  let spoke = false;
  socket.once("data", () => spoke = true);
  const inner: ClientConnection = {
    io: new BufferedConn(stream),
    busy: false,
    abort: new AbortController(),
    peer: ex.record.client,
    // The CONNECT was authenticated; the requests inside carry no credentials.
    trusted: true,
  };
  // Shutdown cuts the tunnel's requests with the tunnel.
  const cut = () => inner.abort.abort();
  ex.signal.addEventListener("abort", cut);
  try {
    await proxy.serve(inner, { scheme: "https", host: origin.host, port: origin.port });
  } finally {
    ex.signal.removeEventListener("abort", cut);
    socket.destroy();
    ex.io.close();
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
