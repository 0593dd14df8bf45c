/**
 * A Java KeyStore (JKS) of trusted certificates: what the JVM takes as
 * `-Djavax.net.ssl.trustStore`. Java 17 still reads JKS as any keystore type
 * it is told, and the format is small enough to write here (a PKCS#12 trust
 * store would need Oracle's private trusted-key-usage attribute on each bag).
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The password hoard's trust stores use; it only guards the file's integrity, not secrecy. */
export const TRUSTSTORE_PASSWORD = "changeit";

const MAGIC = 0xfeedfeed;
const VERSION = 2;
const TRUSTED_CERT = 2;

/** The DER certificates of a PEM text, in order (anything between them is skipped). */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) {
    const bin = atob(m[1]!.replace(/\s+/g, ""));
    out.push(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  }
  return out;
}

/**
 * A JKS file holding `certs` as trusted-certificate entries (aliases
 * `cert0`, `cert1`, …), sealed with `password` as `keytool` does: SHA-1 over
 * the password's UTF-16BE bytes, the words "Mighty Aphrodite" and the body.
 */
export function encodeJks(
  certs: readonly Uint8Array[],
  password: string = TRUSTSTORE_PASSWORD,
  now: number = Date.now(),
): Uint8Array {
  const parts: Uint8Array[] = [];
  const int = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    parts.push(b);
  };
  const utf = (s: string) => {
    const bytes = new TextEncoder().encode(s); // aliases and "X.509" are ASCII
    const b = new Uint8Array(2 + bytes.length);
    new DataView(b.buffer).setUint16(0, bytes.length);
    b.set(bytes, 2);
    parts.push(b);
  };
  int(MAGIC);
  int(VERSION);
  int(certs.length);
  certs.forEach((der, i) => {
    int(TRUSTED_CERT);
    utf(`cert${i}`);
    const ts = new Uint8Array(8);
    new DataView(ts.buffer).setBigUint64(0, BigInt(now));
    parts.push(ts);
    utf("X.509");
    int(der.length);
    parts.push(der);
  });
  const body = concat(parts);
  const pw = new Uint8Array(password.length * 2);
  for (let i = 0; i < password.length; i++) {
    pw[2 * i] = password.charCodeAt(i) >> 8;
    pw[2 * i + 1] = password.charCodeAt(i) & 0xff;
  }
  const digest = createHash("sha1").update(pw).update("Mighty Aphrodite").update(body).digest();
  return concat([body, new Uint8Array(digest)]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
