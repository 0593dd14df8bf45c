/**
 * Opening connections to origins: TCP, then TLS for https, each bounded by the
 * connect timeout.
 *
 * @module
 */

import { ProxyError, toProxyError } from "../errors.ts";
import { formatAuthority } from "../http1/target.ts";
import type { Origin } from "./origin.ts";
import { connectThrough, type UpstreamChooser } from "./upstream.ts";
import { isPrivateAddress, parseIp } from "../access.ts";

/** How to open origin connections. */
export interface DialOptions {
  /** Time allowed for TCP connect plus TLS handshake. */
  connectTimeoutMs: number;
  /** Extra trusted CA certificates (PEM) for https origins, besides the system's roots. */
  caCerts?: string[];
  /** Picks the upstream proxy to go through, per origin; none: go direct. */
  upstream?: UpstreamChooser;
  /** Refuse origins whose addresses are loopback, private or link-local. */
  denyPrivate?: boolean;
  /** The address to connect to for a host, instead of its DNS answer (`--resolve`). */
  resolve?: (host: string) => string | undefined;
}

/** `host:port` of an origin, as named in errors and logs. */
export function originAuthority(origin: Origin): string {
  return formatAuthority(origin.host, origin.port);
}

/** An open connection to an origin, and how to talk on it. */
export interface Dialed {
  /** The connection (TLS for https origins). */
  conn: Deno.Conn;
  /** The connection leads to an upstream proxy that wants absolute-form request-targets. */
  absoluteForm: boolean;
  /** Proxy-Authorization to send with each request, for that upstream proxy. */
  proxyAuthorization?: string;
}

/**
 * Connects to `origin` — directly, or through the upstream proxy chosen for
 * it. For `"tunnel"`, the result carries raw bytes to the origin (CONNECT
 * through an upstream proxy, whatever the scheme) and is never TLS.
 *
 * @throws {ProxyError} 504 on timeout, 502 on refusal, DNS or TLS failure.
 */
export async function dial(
  origin: Origin,
  options: DialOptions,
  purpose: "request" | "tunnel" = "request",
): Promise<Dialed> {
  const started = Date.now();
  const up = options.upstream?.(origin);
  // TLS still names and verifies origin.host; only the TCP address changes.
  const mapped = up === undefined ? options.resolve?.(origin.host) : undefined;
  let target: { host: string; port: number } = up ??
    (mapped === undefined ? origin : { host: mapped, port: origin.port });
  if (up === undefined && options.denyPrivate) {
    target = { host: await publicAddress(origin, mapped), port: origin.port };
  }
  const signal = AbortSignal.timeout(options.connectTimeoutMs);
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: target.host, port: target.port, signal });
  } catch (err) {
    if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw connectTimeout(origin, options.connectTimeoutMs);
    }
    throw toProxyError(
      err,
      "origin",
      up === undefined ? originAuthority(origin) : `upstream proxy ${up.host}:${up.port}`,
    );
  }
  if (up !== undefined && origin.scheme === "http" && purpose === "request") {
    return {
      conn,
      absoluteForm: true,
      ...(up.authorization ? { proxyAuthorization: up.authorization } : {}),
    };
  }
  if (up !== undefined) {
    const abort = () => conn.close();
    signal.addEventListener("abort", abort);
    try {
      await connectThrough(conn, up, origin);
    } catch (err) {
      conn.close();
      throw signal.aborted ? connectTimeout(origin, options.connectTimeoutMs) : err;
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }
  if (origin.scheme === "http" || purpose === "tunnel") return { conn, absoluteForm: false };
  const left = options.connectTimeoutMs - (Date.now() - started);
  const tls = await Deno.startTls(conn as Deno.TcpConn, {
    hostname: origin.host,
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
    return { conn: tls, absoluteForm: false };
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

/**
 * The address to connect to for `origin`, resolved here so that the check and
 * the connection use the same one (no DNS rebinding in between).
 *
 * @throws {ProxyError} 403 when any address of the host is private or loopback.
 */
async function publicAddress(origin: Origin, mapped: string | undefined): Promise<string> {
  let addresses: string[];
  if (mapped !== undefined) {
    addresses = [mapped];
  } else if (parseIp(origin.host) !== undefined) {
    addresses = [origin.host];
  } else {
    const found = await Promise.allSettled([
      Deno.resolveDns(origin.host, "A"),
      Deno.resolveDns(origin.host, "AAAA"),
    ]);
    addresses = found.flatMap((r) => r.status === "fulfilled" ? r.value : []);
    if (addresses.length === 0) {
      throw new ProxyError(
        502,
        "dns_error",
        `cannot resolve ${originAuthority(origin)}: DNS lookup failed`,
      );
    }
  }
  const bad = addresses.find(isPrivateAddress);
  if (bad !== undefined) {
    throw new ProxyError(
      403,
      "destination_ip_prohibited",
      `${origin.host} is at a private address (${bad})`,
    );
  }
  return addresses[0]!;
}
