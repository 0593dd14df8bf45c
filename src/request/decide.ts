/**
 * Step 2 of a request's way: what to do with it — tunnel, answer locally,
 * pass to the origin, or, for GET and HEAD, what the cache says: hit,
 * revalidate, miss, or (tenancy "shared") check the client's credentials
 * with the origin first. The only I/O is reading stored metadata; the
 * decision itself is the pure policy's (src/cache/policy/).
 *
 * @module
 */

import type { ProxyContext } from "../context.ts";
import type { Forwarded } from "./cache_status.ts";
import { primaryKey } from "../cache/key.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import { requestDirectives } from "../cache/policy/directives.ts";
import { timeToLive } from "../cache/policy/freshness.ts";
import { CACHEABLE_METHODS, type CacheRequest } from "../cache/policy/inputs.ts";
import { partUse, type StoredPartUse } from "../cache/policy/parts.ts";
import type { Origin } from "../origin/origin.ts";
import type { ProxyRequest } from "./read_request.ts";
import { keyPath } from "../key_path.ts";
import { decidingRules } from "../rules.ts";
import { ProxyError } from "../errors.ts";
import { createHash } from "node:crypto";

/** Where a proxied request goes, and its cache identity. */
export interface Target {
  /** The origin. */
  origin: Origin;
  /** Request-target in origin-form. */
  path: string;
  /** The request as the cache policy sees it. */
  cache: CacheRequest;
  /**
   * With tenancy "shared", a digest of the request's credentials (its
   * Authorization, its signed URL): requests collapse onto one origin
   * request only with those that carry the same.
   */
  credential?: string;
  /** The rules that decided something about the request, for its log line ({@linkcode decidingRules}). */
  rules?: readonly string[];
}

/** What to do with a request. */
export type Route =
  /** CONNECT: open a tunnel to `origin` and relay bytes. */
  | { kind: "tunnel"; origin: Origin }
  /** Answered by hoard itself (health check, a request for hoard's own address). */
  | { kind: "local"; path: string }
  /**
   * Forwarded and relayed unchanged; the cache is only invalidated — or, with
   * `storePost`, given a POST's answer that may answer later GETs.
   */
  | {
    kind: "pass";
    target: Target;
    why: "method" | "body" | "rule" | "no-cache-dir" | "credentials";
    storePost?: boolean;
  }
  /**
   * Answered from the store; `refresh` asks for a background revalidation
   * (stale-while-revalidate), `offline` marks a stale entry served offline.
   */
  | {
    kind: "hit";
    target: Target;
    entry: ResponseMeta;
    age: number;
    ttl: number;
    refresh: boolean;
    offline?: boolean;
  }
  /** A stored response that must be checked with the origin first. */
  | { kind: "revalidate"; target: Target; entry: ResponseMeta; why: "stale" | "request" }
  /**
   * A stored response fetched with someone else's credentials (tenancy
   * "shared"): served only if the origin accepts this request's own.
   */
  | { kind: "check"; target: Target; entry: ResponseMeta }
  /**
   * A stored part (206) that runs up to the bytes wanted: the origin is asked
   * for the rest, and the two are served and stored as one.
   */
  | {
    kind: "partial";
    target: Target;
    entry: ResponseMeta;
    use: Extract<StoredPartUse, { kind: "extend" }>;
  }
  /**
   * Nothing usable stored: fetch (collapsing with other requests for `id`) and
   * store; `partial` when a stored part did not hold what is wanted. A step
   * that falls back to a miss sets `fwd` (else it follows from `vary` and `partial`).
   */
  | {
    kind: "miss";
    target: Target;
    id: string;
    vary: boolean;
    partial?: boolean;
    fwd?: Forwarded;
  };

/** Decides the route of `req`. */
export async function decide(
  req: ProxyRequest,
  proxy: Pick<ProxyContext, "self" | "cache" | "rules" | "options" | "access">,
): Promise<Route> {
  const t = req.target;
  switch (t.form) {
    case "authority":
      proxy.access.checkHost(t.host);
      return { kind: "tunnel", origin: { scheme: "http", host: t.host, port: t.port } };
    case "origin":
      return { kind: "local", path: t.path };
    case "asterisk":
      return { kind: "local", path: "*" };
    case "absolute":
      break;
  }
  // A request for the proxy's own address would loop through it forever.
  if (t.port === proxy.self.port && proxy.self.hosts.has(t.host)) {
    return { kind: "local", path: t.path };
  }
  proxy.access.checkHost(t.host);
  const rule = proxy.rules.decide(t.host, t.path, req.head.fields);
  // The key leaves out what rules say is not part of the resource (signatures).
  const keyed = keyPath(t.path, rule.ignoreQuery);
  const signed = keyed !== t.path;
  const rules = decidingRules(rule, t.path, keyed);
  const cache: CacheRequest = {
    method: req.head.method,
    key: primaryKey(t.scheme, t.host, t.port, keyed),
    fields: req.head.fields,
  };
  // Set only when there is something to say (no spread of an empty object on every request).
  if (signed) cache.signed = signed;
  if (rule.forever || rule.ttl !== undefined || rule.public || rule.statuses.length > 0) {
    cache.override = {
      forever: rule.forever,
      ttl: rule.ttl,
      public: rule.public,
      statuses: rule.statuses,
    };
  }
  const target: Target = {
    origin: { scheme: t.scheme, host: t.host, port: t.port },
    path: t.path,
    cache,
  };
  if (rules.length > 0) target.rules = rules;
  // What the client proves access with: Authorization, or a signature in the URL.
  const authorization = req.head.fields.combined("authorization");
  const credentials = authorization !== undefined || signed;
  if (proxy.options.tenancy === "shared" && credentials) {
    target.credential = createHash("sha256").update(`${authorization ?? ""}\n${t.path}`)
      .digest("base64");
  }
  if (!CACHEABLE_METHODS.has(req.head.method)) {
    // A POST's answer may be stored for later GETs of its URL (RFC 9110 §9.3.3).
    const storePost = req.head.method === "POST" && rule.cache && proxy.cache.enabled;
    return { kind: "pass", target, why: "method", ...(storePost ? { storePost } : {}) };
  }
  if (!rule.cache) return { kind: "pass", target, why: "rule" };
  // A GET with a body is unusual and its meaning is undefined (RFC 9110 §9.3.1):
  // it is relayed as it is, body and all, rather than answered from the cache.
  if (req.framing.kind === "length" && req.framing.length > proxy.options.maxRequestBody) {
    throw new ProxyError(
      413,
      "http_request_error",
      `a ${req.head.method} body of ${req.framing.length} bytes is over the limit`,
    );
  }
  if (req.framing.kind !== "none") return { kind: "pass", target, why: "body" };
  if (!proxy.cache.enabled) return { kind: "pass", target, why: "no-cache-dir" };
  const found = await proxy.cache.find(target.cache, Date.now());
  if (found.kind === "none") return { kind: "miss", target, id: found.id, vary: found.vary };
  if (found.entry.credentialed && proxy.options.tenancy === "shared") {
    // Fetched with someone's credentials: never handed out on trust.
    if (!credentials) return { kind: "pass", target, why: "credentials" };
    if (proxy.options.offline) {
      throw new ProxyError(
        504,
        "http_request_error",
        `offline: ${target.cache.key} was stored for other credentials, which cannot be checked`,
      );
    }
    return { kind: "check", target, entry: found.entry };
  }
  if (found.entry.status === 206) {
    // A stored part answers what lies inside it; the rest is the origin's.
    const use = partUse(target.cache, found.entry);
    const originAllowed = !proxy.options.offline &&
      !requestDirectives(req.head.fields).onlyIfCached;
    if (use.kind === "extend" && originAllowed) {
      return { kind: "partial", target, entry: found.entry, use };
    }
    if (use.kind !== "inside") {
      const vary = found.entry.vary !== undefined;
      return { kind: "miss", target, id: found.entry.id, vary, partial: true };
    }
  }
  const f = found.freshness;
  if (f.kind === "hit") {
    return {
      kind: "hit",
      target,
      entry: found.entry,
      age: f.age,
      ttl: f.ttl,
      // Offline, nothing is refreshed: no origin is contacted.
      refresh: f.refresh === true && !proxy.options.offline,
    };
  }
  // Offline, a stored response is served whatever its age.
  if (proxy.options.offline) {
    const ttl = timeToLive(found.entry, f.age, Date.now());
    return {
      kind: "hit",
      target,
      entry: found.entry,
      age: f.age,
      ttl,
      refresh: false,
      offline: true,
    };
  }
  return { kind: "revalidate", target, entry: found.entry, why: f.reason };
}

/**
 * The key under which a request for store id `id` collapses with others onto
 * one origin request: the id, and with tenancy "shared" the request's
 * credentials too (one client's 200 or 304 says nothing about another's).
 */
export function fillKey(target: Target, id: string): string {
  return target.credential === undefined ? id : `${id} ${target.credential}`;
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
