/**
 * Which CONNECT targets hoard decrypts, and the TLS server contexts it
 * answers them with (a leaf certificate per host name, made on demand).
 *
 * @module
 */

import * as tls from "node:tls";
import { type CaSource, type CertificateAuthority, loadOrCreateCa } from "./ca.ts";
import { type Leaf, LeafCertificates } from "./leaf.ts";

/** Which hosts to intercept: `*` for all, exact names, or `*.example.com` for its subdomains. */
export type HostPatterns = readonly string[];

/** Whether `host` is one of `patterns`. */
export function hostMatches(patterns: HostPatterns, host: string): boolean {
  const h = host.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    if (q === "*") return true;
    if (q.startsWith("*.")) return h.endsWith(q.slice(1)) && h.length > q.length - 1;
    return h === q;
  });
}

/** Interception as a running proxy uses it. */
export class Interception {
  /** The CA clients must trust. */
  readonly ca: CertificateAuthority;
  #patterns: HostPatterns;
  #leaves: LeafCertificates;
  #contexts = new WeakMap<Leaf, tls.SecureContext>();

  private constructor(ca: CertificateAuthority, patterns: HostPatterns, leaves: LeafCertificates) {
    this.ca = ca;
    this.#patterns = patterns;
    this.#leaves = leaves;
  }

  /** Loads (or creates) the CA and prepares to intercept `patterns`. */
  static async create(patterns: HostPatterns, source: CaSource): Promise<Interception> {
    const ca = await loadOrCreateCa(source);
    return new Interception(ca, patterns, await LeafCertificates.create(ca));
  }

  /** Whether CONNECT to `host` is decrypted. */
  matches(host: string): boolean {
    return hostMatches(this.#patterns, host);
  }

  /** The TLS server context presenting a certificate for `host`. */
  async context(host: string): Promise<tls.SecureContext> {
    const leaf = await this.#leaves.forHost(host);
    const known = this.#contexts.get(leaf);
    if (known !== undefined) return known;
    // Keyed by the leaf itself: a renewed leaf gets a new context.
    const ctx = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
    this.#contexts.set(leaf, ctx);
    return ctx;
  }
}
