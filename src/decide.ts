/**
 * Step 2 of a request's way: what to do with it. Pure; the cache adds its
 * hit / revalidate / miss decisions here, beside tunnel, local and pass.
 *
 * @module
 */

import type { Origin } from "./origin/dial.ts";
import type { ProxyRequest } from "./read_request.ts";

/** What to do with a request. */
export type Route =
  /** CONNECT: open a tunnel to `origin` and relay bytes. */
  | { kind: "tunnel"; origin: Origin }
  /** Answered by hoard itself (health check, a request for hoard's own address). */
  | { kind: "local"; path: string }
  /** Forwarded to `origin` and relayed back unchanged. */
  | { kind: "pass"; origin: Origin; path: string };

/** Where this proxy listens, to recognise requests addressed to itself. */
export interface SelfAddress {
  /** Host names and addresses that reach this proxy. */
  hosts: ReadonlySet<string>;
  /** The listening port. */
  port: number;
}

/** Decides the route of `req`. */
export function decide(req: ProxyRequest, self: SelfAddress): Route {
  const t = req.target;
  switch (t.form) {
    case "authority":
      return { kind: "tunnel", origin: { scheme: "http", host: t.host, port: t.port } };
    case "origin":
      return { kind: "local", path: t.path };
    case "asterisk":
      return { kind: "local", path: "*" };
    case "absolute":
      // A request for the proxy's own address would loop through it forever.
      if (t.port === self.port && self.hosts.has(t.host)) return { kind: "local", path: t.path };
      return {
        kind: "pass",
        origin: { scheme: t.scheme, host: t.host, port: t.port },
        path: t.path,
      };
  }
}

/** The names a listener on `host` can be reached by, for {@linkcode SelfAddress}. */
export function selfHosts(host: string): Set<string> {
  const hosts = new Set([host.toLowerCase()]);
  const wildcard = host === "0.0.0.0" || host === "::";
  if (wildcard || host.startsWith("127.") || host === "::1" || host === "localhost") {
    for (const h of ["localhost", "127.0.0.1", "::1"]) hosts.add(h);
  }
  return hosts;
}
