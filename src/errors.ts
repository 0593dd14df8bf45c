/**
 * The one place failures become responses. Anything thrown on a request's way
 * ends here, is classified, and leaves as a status, a Proxy-Status error type
 * (RFC 9209) and one line a person can act on.
 *
 * @module
 */

import { HttpSyntaxError } from "./http1/syntax_error.ts";
import { UnexpectedEofError } from "./io/buffered_conn.ts";

/** Proxy-Status error types (RFC 9209 §2.3) hoard reports. */
export type ProxyErrorType =
  | "dns_error"
  | "destination_unavailable"
  | "connection_refused"
  | "connection_terminated"
  | "connection_timeout"
  | "connection_read_timeout"
  | "tls_protocol_error"
  | "tls_certificate_error"
  | "http_request_error"
  | "http_request_denied"
  | "destination_ip_prohibited"
  | "http_response_incomplete"
  | "http_response_header_section_size"
  | "http_protocol_error"
  | "proxy_internal_error";

/** A failure with the response it deserves. */
export class ProxyError extends Error {
  /** HTTP status to answer with. */
  readonly status: number;
  /** Proxy-Status error type, for the header and the log. */
  readonly type: ProxyErrorType;
  /** Fields the response needs besides the usual ones (Proxy-Authenticate with a 407). */
  readonly fields: [string, string][];

  /** @param message one line, naming the host and the cause where there is one. */
  constructor(
    status: number,
    type: ProxyErrorType,
    message: string,
    options?: ErrorOptions & { fields?: [string, string][] },
  ) {
    super(message, options);
    this.name = "ProxyError";
    this.status = status;
    this.type = type;
    this.fields = options?.fields ?? [];
  }
}

/** Which side of the proxy an error came from; decides 4xx (client) or 5xx (origin). */
export type ErrorSide = "client" | "origin";

/**
 * Classifies anything thrown into a {@linkcode ProxyError}.
 *
 * @param side whose bytes or connection failed.
 * @param host the origin's `host:port`, named in origin errors.
 */
export function toProxyError(err: unknown, side: ErrorSide, host = ""): ProxyError {
  if (err instanceof ProxyError) return err;
  const at = host === "" ? "" : ` ${host}`;
  if (err instanceof HttpSyntaxError) {
    if (side === "client") return new ProxyError(err.status, "http_request_error", err.message);
    return new ProxyError(502, "http_protocol_error", `bad response from${at}: ${err.message}`);
  }
  if (err instanceof UnexpectedEofError) {
    if (side === "client") return new ProxyError(400, "http_request_error", err.message);
    return new ProxyError(502, "http_response_incomplete", `origin${at} ${err.message}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Deno.errors.ConnectionRefused) {
    return new ProxyError(502, "connection_refused", `cannot connect to${at}: connection refused`);
  }
  if (err instanceof Deno.errors.TimedOut) {
    return new ProxyError(504, "connection_timeout", `cannot connect to${at}: timed out`);
  }
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.UnexpectedEof
  ) {
    return new ProxyError(502, "connection_terminated", `connection to${at} was reset`);
  }
  if (/dns error|failed to lookup|Name or service not known|No address associated/i.test(message)) {
    return new ProxyError(502, "dns_error", `cannot resolve${at}: DNS lookup failed`);
  }
  if (/certificate|UnknownIssuer|NotValidForName|Expired/i.test(message)) {
    return new ProxyError(
      502,
      "tls_certificate_error",
      `TLS certificate of${at} rejected: ${oneLine(message)}`,
    );
  }
  if (/tls|handshake|alert/i.test(message)) {
    return new ProxyError(502, "tls_protocol_error", `TLS with${at} failed: ${oneLine(message)}`);
  }
  if (
    err instanceof Deno.errors.NetworkUnreachable || err instanceof Deno.errors.AddrNotAvailable
  ) {
    return new ProxyError(502, "destination_unavailable", `cannot reach${at}: ${oneLine(message)}`);
  }
  return new ProxyError(
    502,
    "proxy_internal_error",
    `${side === "origin" ? `origin${at}: ` : ""}${oneLine(message)}`,
  );
}

/** The first line of what an error says, whatever was thrown. */
export function errorLine(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err));
}

/** Keeps the first line of a message, so every error body and log entry is one line. */
export function oneLine(message: string): string {
  const nl = message.indexOf("\n");
  return (nl === -1 ? message : message.slice(0, nl)).trim();
}

/** Whether an error only means the peer went away (nothing to answer, nothing to log loudly). */
export function isDisconnect(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.NotConnected ||
    err instanceof UnexpectedEofError;
}
