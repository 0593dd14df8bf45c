/**
 * Opening connections to origins: TCP, then TLS for https, each bounded by the
 * connect timeout.
 *
 * @module
 */

import { ProxyError, toProxyError } from "../errors.ts";
import { formatAuthority, type Scheme } from "../http1/target.ts";

/** Where requests go: scheme, host (lower-case, IPv6 without brackets) and port. */
export interface Origin {
  /** `https` origins are reached over TLS. */
  scheme: Scheme;
  /** Host name or IP literal. */
  host: string;
  /** TCP port. */
  port: number;
}

/** How to open origin connections. */
export interface DialOptions {
  /** Time allowed for TCP connect plus TLS handshake. */
  connectTimeoutMs: number;
  /** Extra trusted CA certificates (PEM) for https origins, besides the system's roots. */
  caCerts?: string[];
}

/** `host:port` of an origin, as named in errors and logs. */
export function originAuthority(origin: Origin): string {
  return formatAuthority(origin.host, origin.port);
}

/**
 * Connects to `origin`.
 *
 * @throws {ProxyError} 504 on timeout, 502 on refusal, DNS or TLS failure.
 */
export async function dial(origin: Origin, options: DialOptions): Promise<Deno.Conn> {
  const { host, port } = origin;
  const started = Date.now();
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({
      hostname: host,
      port,
      signal: AbortSignal.timeout(options.connectTimeoutMs),
    });
  } catch (err) {
    if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw connectTimeout(origin, options.connectTimeoutMs);
    }
    throw toProxyError(err, "origin", originAuthority(origin));
  }
  if (origin.scheme === "http") return conn;
  const left = options.connectTimeoutMs - (Date.now() - started);
  const tls = await Deno.startTls(conn as Deno.TcpConn, {
    hostname: host,
    caCerts: options.caCerts,
    alpnProtocols: ["http/1.1"],
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    tls.close();
  }, Math.max(left, 1));
  try {
    await tls.handshake();
    return tls;
  } catch (err) {
    if (!timedOut) tls.close();
    throw timedOut
      ? connectTimeout(origin, options.connectTimeoutMs)
      : toProxyError(err, "origin", originAuthority(origin));
  } finally {
    clearTimeout(timer);
  }
}

function connectTimeout(origin: Origin, ms: number): ProxyError {
  return new ProxyError(
    504,
    "connection_timeout",
    `cannot connect to ${originAuthority(origin)}: no answer within ${ms} ms`,
  );
}
