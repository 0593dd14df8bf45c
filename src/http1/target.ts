/**
 * The four forms of request-target (RFC 9112 §3.2). The path is kept byte for
 * byte: `new URL()` would normalise dot segments and percent-encoding, and a
 * proxy must not change what the origin sees.
 *
 * @module
 */

import { HttpSyntaxError } from "./syntax_error.ts";

/** Schemes hoard can reach an origin with. */
export type Scheme = "http" | "https";

/** A request-target, by form. Hosts are lower-case and IPv6 literals carry no brackets. */
export type RequestTarget =
  | { form: "origin"; path: string }
  | { form: "absolute"; scheme: Scheme; host: string; port: number; path: string }
  | { form: "authority"; host: string; port: number }
  | { form: "asterisk" };

/** Default port of each scheme. */
export const DEFAULT_PORT: Readonly<Record<Scheme, number>> = { http: 80, https: 443 };

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.\-]*):\/\/([^/?#]*)([^#]*)/;
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=%]+$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

/**
 * Parses a request-target for `method`.
 *
 * @throws {HttpSyntaxError} 400 when the target is malformed or its form does
 *   not fit the method.
 */
export function parseRequestTarget(method: string, raw: string): RequestTarget {
  if (!VISIBLE_ASCII.test(raw)) throw new HttpSyntaxError("invalid character in request-target");
  if (method === "CONNECT") {
    const { host, port } = parseAuthority(raw, undefined);
    return { form: "authority", host, port };
  }
  if (raw.charCodeAt(0) === 0x2f /* / */) return { form: "origin", path: raw };
  if (raw === "*") {
    if (method !== "OPTIONS") {
      throw new HttpSyntaxError("asterisk-form is only allowed for OPTIONS");
    }
    return { form: "asterisk" };
  }
  const m = ABSOLUTE.exec(raw);
  if (m === null) throw new HttpSyntaxError("malformed request-target");
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "http" && scheme !== "https") {
    throw new HttpSyntaxError(`unsupported URL scheme ${scheme}`);
  }
  const { host, port } = parseAuthority(m[2]!, DEFAULT_PORT[scheme]);
  let path = m[3]!;
  // RFC 9112 §3.2.4: a server-wide OPTIONS is sent on as "*".
  if (path === "" && method === "OPTIONS") path = "*";
  else if (path === "") path = "/";
  else if (path.charCodeAt(0) === 0x3f /* ? */) path = "/" + path;
  return { form: "absolute", scheme, host, port, path };
}

/**
 * Parses `host[:port]` (RFC 3986 authority without userinfo). Without
 * `defaultPort` the port is required, as in CONNECT's authority-form.
 *
 * @throws {HttpSyntaxError}
 */
export function parseAuthority(
  authority: string,
  defaultPort: number | undefined,
): { host: string; port: number } {
  if (authority.includes("@")) {
    throw new HttpSyntaxError("userinfo in request-target is not allowed");
  }
  let host: string, portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) throw new HttpSyntaxError("unterminated IPv6 literal");
    host = authority.slice(1, close);
    if (!IPV6.test(host) || !host.includes(":")) throw new HttpSyntaxError("invalid IPv6 literal");
    const rest = authority.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new HttpSyntaxError("malformed authority");
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    if (!REG_NAME.test(host)) throw new HttpSyntaxError("invalid host in request-target");
  }
  let port: number;
  if (portText === undefined || portText === "") {
    if (defaultPort === undefined) throw new HttpSyntaxError("CONNECT target needs host:port");
    port = defaultPort;
  } else {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) throw new HttpSyntaxError("invalid port in request-target");
  }
  return { host: host.toLowerCase(), port };
}

/** `host:port` with IPv6 literals bracketed; the port is left out when it is `defaultPort`. */
export function formatAuthority(host: string, port: number, defaultPort?: number): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}
