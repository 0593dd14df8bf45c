/**
 * Who may use the proxy and which origins it may reach: client networks,
 * proxy credentials, origin host patterns, and private addresses.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { ProxyError } from "./errors.ts";
import type { FieldList } from "./http1/fields.ts";
import { hostMatches } from "./tls/interception.ts";

/** An IPv4 or IPv6 network. */
export interface Cidr {
  /** The address bytes (4 or 16). */
  bytes: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
}

/**
 * Parses `10.0.0.0/8`, `::1/128`, or a single address (a full-length prefix).
 *
 * @throws {Error} with a one-line message.
 */
export function parseCidr(text: string): Cidr {
  const [addr = "", len] = text.trim().split("/");
  const bytes = parseIp(addr);
  if (bytes === undefined) throw new Error(`not an IP address or network: ${JSON.stringify(text)}`);
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= max)) {
    throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
  }
  return { bytes, prefix };
}

/** Whether `ip` is in `cidr` (IPv4-mapped IPv6 addresses count as IPv4). */
export function inCidr(ip: string, cidr: Cidr): boolean {
  let b = parseIp(ip);
  if (b === undefined) return false;
  if (b.length === 16 && cidr.bytes.length === 4 && isV4Mapped(b)) b = b.subarray(12);
  if (b.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3, rest = cidr.prefix & 7;
  for (let i = 0; i < full; i++) if (b[i] !== cidr.bytes[i]) return false;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (b[full]! & mask) === (cidr.bytes[full]! & mask);
}

/** Loopback, private, link-local, unique-local and unspecified networks. */
export const PRIVATE_NETWORKS: readonly Cidr[] = [
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "100.64.0.0/10",
  "0.0.0.0/8",
  "::1/128",
  "::/128",
  "fc00::/7",
  "fe80::/10",
].map(parseCidr);

/** Whether `ip` is loopback, private or link-local. */
export function isPrivateAddress(ip: string): boolean {
  return PRIVATE_NETWORKS.some((n) => inCidr(ip, n));
}

/** Whether a listen address keeps the proxy to this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || inCidr(host, PRIVATE_NETWORKS[0]!) ||
    inCidr(host, PRIVATE_NETWORKS[7]!);
}

/** The access rules of a running proxy. */
export class Access {
  #clients: Cidr[] | undefined;
  #credentials: Buffer | undefined;
  #allowHosts: readonly string[] | undefined;
  #denyHosts: readonly string[];

  /** Compiles the rules; every argument may be left out. */
  constructor(o: {
    allowClients?: readonly string[];
    auth?: string;
    allowHosts?: readonly string[];
    denyHosts?: readonly string[];
  }) {
    this.#clients = o.allowClients?.map(parseCidr);
    this.#credentials = o.auth === undefined ? undefined : Buffer.from(`Basic ${btoa(o.auth)}`);
    this.#allowHosts = o.allowHosts;
    this.#denyHosts = o.denyHosts ?? [];
  }

  /** Whether a client at `ip` may connect at all. */
  clientAllowed(ip: string): boolean {
    return this.#clients === undefined || this.#clients.some((c) => inCidr(ip, c));
  }

  /**
   * Checks a request's Proxy-Authorization.
   *
   * @throws {ProxyError} 407 when credentials are missing or wrong.
   */
  authenticate(fields: FieldList): void {
    const expected = this.#credentials;
    if (expected === undefined) return;
    const given = Buffer.from(fields.get("proxy-authorization") ?? "");
    // Constant time: compare equal lengths only, and always compare.
    const same = given.length === expected.length && timingSafeEqual(given, expected);
    if (!same) {
      throw new ProxyError(407, "http_request_denied", "proxy authentication required", {
        fields: [["Proxy-Authenticate", 'Basic realm="hoard"']],
      });
    }
  }

  /**
   * Checks an origin host against --allow-hosts / --deny-hosts.
   *
   * @throws {ProxyError} 403 naming the host.
   */
  checkHost(host: string): void {
    if (
      hostMatches(this.#denyHosts, host) ||
      (this.#allowHosts !== undefined && !hostMatches(this.#allowHosts, host))
    ) {
      throw new ProxyError(403, "http_request_denied", `requests to ${host} are not allowed`);
    }
  }
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The bytes of an IPv4 or IPv6 literal (brackets allowed), or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  const s = text.replace(/^\[|\]$/g, "");
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? Uint8Array.from(b) : undefined;
  }
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let head = s, tail = "";
  const dbl = s.indexOf("::");
  if (dbl !== -1) {
    if (s.indexOf("::", dbl + 1) !== -1) return undefined;
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const words = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes(".")) {
        const v = parseIp(p);
        if (v === undefined || v.length !== 4) return undefined;
        out.push((v[0]! << 8) | v[1]!, (v[2]! << 8) | v[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const h = words(head), t = words(tail);
  if (h === undefined || t === undefined) return undefined;
  const missing = 8 - h.length - t.length;
  if (dbl === -1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...h, ...new Array(dbl === -1 ? 0 : missing).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}
