/**
 * An upstream proxy (a CI runner behind a corporate proxy): plain-HTTP
 * requests go to it in absolute-form; TLS origins and tunnels go through a
 * CONNECT to it.
 *
 * @module
 */

import { HttpSyntaxError } from "../http1/syntax_error.ts";
import { parseResponseHead } from "../http1/parse_head.ts";
import { BufferedConn } from "../io/buffered_conn.ts";
import { formatAuthority } from "../http1/target.ts";
import { ProxyError } from "../errors.ts";
import type { Origin } from "./origin.ts";

/** A proxy to reach origins through. */
export interface UpstreamProxy {
  /** Its host. */
  host: string;
  /** Its port. */
  port: number;
  /** `Basic …` credentials from the URL's userinfo, sent as Proxy-Authorization. */
  authorization?: string;
}

/** Picks the upstream proxy for an origin, or none (go direct). */
export type UpstreamChooser = (origin: Origin) => UpstreamProxy | undefined;

/**
 * Parses `http://[user:pass@]host:port` (the scheme may be left out).
 *
 * @throws {Error} with a one-line message for anything else.
 */
export function parseProxyUrl(text: string): UpstreamProxy {
  let url: URL;
  try {
    url = new URL(text.includes("://") ? text : `http://${text}`);
  } catch {
    throw new Error(`not a proxy URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:") {
    throw new Error(`only http:// upstream proxies are supported, got ${url.protocol}`);
  }
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new Error(`a proxy URL has no path: ${JSON.stringify(text)}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const proxy: UpstreamProxy = { host, port: url.port === "" ? 80 : Number(url.port) };
  if (url.username !== "") {
    const user = decodeURIComponent(url.username), pass = decodeURIComponent(url.password);
    proxy.authorization = `Basic ${
      btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)))
    }`;
  }
  return proxy;
}

/** Environment variables of hoard's own process that name proxies. */
export interface ProxyEnv {
  /** HTTP_PROXY / http_proxy. */
  http?: string;
  /** HTTPS_PROXY / https_proxy. */
  https?: string;
  /** NO_PROXY / no_proxy: comma-separated hosts, `.domain` suffixes, `*`. */
  noProxy?: string;
}

/**
 * The chooser for a fixed upstream proxy, or for the environment's proxies
 * (minus NO_PROXY). A proxy that is hoard itself (`self`) is never used: a CI
 * job that exported HTTP_PROXY before starting hoard would loop otherwise.
 *
 * @throws {Error} when a proxy URL cannot be parsed.
 */
export function upstreamChooser(
  fixed: string | undefined,
  env: ProxyEnv | undefined,
  isSelf: (host: string, port: number) => boolean,
): UpstreamChooser | undefined {
  const usable = (p: UpstreamProxy | undefined) =>
    p !== undefined && !isSelf(p.host, p.port) ? p : undefined;
  if (fixed !== undefined) {
    const p = usable(parseProxyUrl(fixed));
    return p === undefined ? undefined : () => p;
  }
  if (env === undefined) return undefined;
  const http = env.http ? usable(parseProxyUrl(env.http)) : undefined;
  const https = env.https ? usable(parseProxyUrl(env.https)) : undefined;
  if (http === undefined && https === undefined) return undefined;
  const bypass = (env.noProxy ?? "").split(",").map((s) => s.trim().toLowerCase()).filter((s) =>
    s !== ""
  );
  return (origin) => {
    if (bypassed(bypass, origin.host, origin.port)) return undefined;
    return origin.scheme === "https" ? https : http;
  };
}

function bypassed(list: string[], host: string, port: number): boolean {
  const h = host.toLowerCase();
  return list.some((entry) => {
    if (entry === "*") return true;
    // [v6]:port, a bare IPv6 address (several colons, no port), or name[:port].
    const [name, p] = entry.startsWith("[")
      ? [entry.slice(1, entry.indexOf("]")), entry.split("]:")[1]]
      : entry.indexOf(":") !== entry.lastIndexOf(":")
      ? [entry, undefined]
      : entry.split(":");
    if (p !== undefined && Number(p) !== port) return false;
    const n = name!.replace(/^\*?\./, ".");
    return n.startsWith(".") ? h.endsWith(n) || h === n.slice(1) : h === n;
  });
}

/**
 * Opens a tunnel to `origin` through `proxy` on `conn` (already connected to
 * the proxy): CONNECT, then the 2xx head. Nothing after the head is read.
 *
 * @throws {ProxyError} 502 when the proxy refuses.
 */
export async function connectThrough(
  conn: Deno.Conn,
  proxy: UpstreamProxy,
  origin: Origin,
): Promise<void> {
  const authority = formatAuthority(origin.host, origin.port);
  const auth = proxy.authorization === undefined
    ? ""
    : `Proxy-Authorization: ${proxy.authorization}\r\n`;
  const head = new TextEncoder().encode(
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`,
  );
  let off = 0;
  while (off < head.length) off += await conn.write(head.subarray(off));
  // A reader that never takes more than the head: the bytes after it are the tunnel's.
  const io = new BufferedConn({
    read: (p) => conn.read(p.subarray(0, 1)),
    write: (p) => conn.write(p),
    closeWrite: () => conn.closeWrite(),
    close: () => conn.close(),
  }, 16 * 1024);
  let bytes: Uint8Array | null;
  try {
    bytes = await io.readHead((b) => b === 0x48);
  } catch (err) {
    if (err instanceof HttpSyntaxError) {
      throw new ProxyError(
        502,
        "http_protocol_error",
        `upstream proxy ${proxy.host}:${proxy.port} sent a bad answer to CONNECT`,
      );
    }
    throw err;
  }
  if (bytes === null) {
    throw new ProxyError(
      502,
      "connection_terminated",
      `upstream proxy ${proxy.host}:${proxy.port} closed the connection`,
    );
  }
  const res = parseResponseHead(bytes);
  if (res.status < 200 || res.status > 299) {
    throw new ProxyError(
      502,
      "destination_unavailable",
      `upstream proxy ${proxy.host}:${proxy.port} answered CONNECT ${authority} with ${res.status} ${res.reason}`
        .trim(),
    );
  }
}
