/**
 * Step 1 of a request's way: a parsed head becomes a {@linkcode ProxyRequest},
 * or a refusal. Pure: every rule about what a client may send is here.
 *
 * @module
 */

import { listTokens } from "../http1/fields.ts";
import { type BodyFraming, requestFraming, wantsKeepAlive } from "../http1/framing.ts";
import type { RequestHead } from "../http1/parse_head.ts";
import { HttpSyntaxError } from "../http1/syntax_error.ts";
import {
  DEFAULT_PORT,
  formatAuthority,
  parseAuthority,
  parseRequestTarget,
  type RequestTarget,
  type Scheme,
} from "../http1/target.ts";

/** The origin an intercepted tunnel leads to. */
export interface TunnelOrigin {
  /** Always https for an intercepted CONNECT. */
  scheme: Scheme;
  /** CONNECT host. */
  host: string;
  /** CONNECT port. */
  port: number;
}

/** A request that passed every check and is ready to be routed. */
export interface ProxyRequest {
  /** The head as received. */
  head: RequestHead;
  /** The parsed request-target. */
  target: RequestTarget;
  /** How the request body is framed on the client connection. */
  framing: BodyFraming;
  /** Whether the client wants the connection kept after this request. */
  keepAlive: boolean;
  /** Whether the client sent `Expect: 100-continue` and waits before sending the body. */
  expectContinue: boolean;
  /** The URL as logged: absolute for proxied requests, `host:port` for CONNECT, the path otherwise. */
  url: string;
}

const TOKEN_BYTE = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TOKEN_BYTE[c.charCodeAt(0)] = 1;
}

/** Whether a request head may start with `byte` (a method is a token). */
export function isRequestStart(byte: number): boolean {
  return TOKEN_BYTE[byte] === 1;
}

/**
 * Checks a request head and works out everything later steps need.
 *
 * Refused (400): a malformed target, a missing Host in HTTP/1.1 (CONNECT
 * excepted, its target names the host), repeated or invalid Host, and
 * ambiguous body framing (see
 * `requestFraming`). An expectation other than 100-continue gets 417.
 *
 * @throws {HttpSyntaxError}
 */
export function interpretRequest(head: RequestHead, tunnel?: TunnelOrigin): ProxyRequest {
  let target = parseRequestTarget(head.method, head.target);
  // Inside an intercepted tunnel, origin-form requests are for the tunnel's origin.
  if (tunnel !== undefined && target.form === "origin") {
    target = {
      form: "absolute",
      scheme: tunnel.scheme,
      host: tunnel.host,
      port: tunnel.port,
      path: target.path,
    };
  }

  checkHost(head, target);
  const framing = requestFraming(head);
  let expectContinue = false;
  const expect = head.fields.combined("expect");
  // RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored.
  if (expect !== undefined && head.minor === 1) {
    const tokens = listTokens(expect);
    if (tokens.length !== 1 || tokens[0] !== "100-continue") {
      throw new HttpSyntaxError(`unsupported expectation ${JSON.stringify(expect)}`, 417);
    }
    expectContinue = framing.kind !== "none";
  }
  return {
    head,
    target,
    framing,
    keepAlive: wantsKeepAlive(head.minor, head.fields),
    expectContinue,
    url: targetUrl(target),
  };
}

function checkHost(head: RequestHead, target: RequestTarget): void {
  const hosts = head.fields.getAll("host");
  if (hosts.length > 1) throw new HttpSyntaxError("more than one Host header");
  const host = hosts[0];
  if (host === undefined) {
    if (head.minor === 1 && target.form !== "authority") {
      throw new HttpSyntaxError("missing Host header");
    }
    return;
  }
  // With an absolute-form target the URL decides where the request goes and
  // Host is replaced from it when forwarding (RFC 9112 §3.2.2): plain Node
  // clients send the proxy's own address here. Whatever it says, it must still
  // be a well-formed authority (RFC 9112 §3.2: invalid Host gets 400).
  if (host !== "") parseAuthority(host, 80);
}

function targetUrl(t: RequestTarget): string {
  switch (t.form) {
    case "absolute":
      return `${t.scheme}://${formatAuthority(t.host, t.port, DEFAULT_PORT[t.scheme])}${t.path}`;
    case "authority":
      return formatAuthority(t.host, t.port);
    case "origin":
      return t.path;
    case "asterisk":
      return "*";
  }
}
