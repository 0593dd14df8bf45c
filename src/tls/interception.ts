/**
 * Which CONNECT targets hoard decrypts, and the leaf certificate and key it
 * answers each host with (made on demand, kept per host name).
 *
 * @module
 */

import { type CaSource, type CertificateAuthority, loadOrCreateCa } from "./ca.ts";
import { LeafCertificates } from "./leaf.ts";
import type { KeyPair } from "./session.ts";

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

  /**
   * The leaf certificate (PEM) and its key for `host`: the same object as
   * long as the leaf is the same (TLS contexts are kept per pair).
   */
  keyPair(host: string): Promise<KeyPair> {
    return this.#leaves.forHost(host);
  }
}
