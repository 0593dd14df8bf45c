/**
 * Leaf certificates for intercepted hosts, signed by hoard's CA. One key pair
 * serves every leaf (generated once per process), so a new host costs one
 * signature; each host's certificate is made once and kept in memory.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type CertificateAuthority, randomSerial, toPem } from "./ca.ts";
import type { KeyPair } from "./session.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86400_000;
/** Leaves are valid this long (and made again before they expire). */
const LEAF_DAYS = 30;
const MAX_CACHED = 10_000;

/**
 * A leaf certificate and its key (PKCS#8), PEM: the key pair a TLS server
 * takes, one object per leaf (TLS contexts are kept per pair).
 */
export interface Leaf extends KeyPair {
  /** When it stops being valid (ms). */
  notAfter: number;
}

/** Makes and keeps leaf certificates. */
export class LeafCertificates {
  #ca: CertificateAuthority;
  #keys: CryptoKeyPair;
  #keyPem: string;
  #made = new Map<string, Promise<Leaf>>();

  private constructor(ca: CertificateAuthority, keys: CryptoKeyPair, keyPem: string) {
    this.#ca = ca;
    this.#keys = keys;
    this.#keyPem = keyPem;
  }

  /** Prepares to sign leaves with `ca`. */
  static async create(ca: CertificateAuthority): Promise<LeafCertificates> {
    const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return new LeafCertificates(ca, keys, toPem("PRIVATE KEY", pkcs8));
  }

  /** The leaf for `host` (a name, or an IP literal without brackets). */
  forHost(host: string, now = Date.now()): Promise<Leaf> {
    const name = host.toLowerCase();
    const known = this.#made.get(name);
    if (known !== undefined) {
      // Refresh its place (least recently used go first) unless it is about to expire.
      this.#made.delete(name);
      this.#made.set(name, known);
      return known.then((leaf) => leaf.notAfter - now > DAY ? leaf : this.#make(name, now));
    }
    return this.#make(name, now);
  }

  #make(name: string, now: number): Promise<Leaf> {
    const leaf = this.#sign(name, now);
    this.#made.set(name, leaf);
    leaf.catch(() => this.#made.delete(name));
    if (this.#made.size > MAX_CACHED) this.#made.delete(this.#made.keys().next().value!);
    return leaf;
  }

  async #sign(name: string, now: number): Promise<Leaf> {
    const ca = this.#ca;
    const notAfter = Math.min(now + LEAF_DAYS * DAY, ca.cert.notAfter.getTime());
    const isIp = /^[\d.]+$/.test(name) || name.includes(":");
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${isIp ? name : name.replace(/[,+="<>#;\\]/g, "")}`,
      issuer: ca.cert.subject,
      // A day back: clients with a clock a little behind must accept it too.
      notBefore: new Date(now - DAY),
      notAfter: new Date(notAfter),
      signingAlgorithm: ALG,
      publicKey: this.#keys.publicKey,
      signingKey: ca.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: isIp ? "ip" : "dns", value: name }]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
    return { cert: cert.toString("pem") + "\n", key: this.#keyPem, notAfter };
  }
}
