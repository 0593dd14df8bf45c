/**
 * A self-signed certificate for test origins, made on the fly with WebCrypto.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** A certificate and its key, PEM. */
export interface TestCert {
  /** Certificate, PEM; also the CA a client must trust. */
  cert: string;
  /** PKCS#8 private key, PEM. */
  key: string;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Makes a self-signed ECDSA P-256 certificate for `localhost` and 127.0.0.1. */
export async function makeCert(): Promise<TestCert> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16),
    name: "CN=localhost",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      // Not a CA: rustls (Deno's fetch and startTls) refuses a CA certificate
      // used as a server's own certificate (CaUsedAsEndEntity).
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: cert.toString("pem"), key: pem("PRIVATE KEY", pkcs8) };
}

function pem(label: string, der: Uint8Array): string {
  let b64 = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    b64 += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  const body = btoa(b64).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** A test CA and a server certificate it signed. */
export interface TestPki {
  /** The CA certificate, PEM: what hoard's `--upstream-ca` trusts (clients never see it). */
  ca: string;
  /** The server's certificate, PEM, followed by nothing else. */
  cert: string;
  /** The server's PKCS#8 private key, PEM. */
  key: string;
}

/**
 * Makes a CA and a server certificate for `names` (DNS names, `*.x` allowed)
 * and 127.0.0.1, as real registries have: their clients see a chain from a
 * CA, not a self-signed leaf.
 */
export async function makePki(names: readonly string[]): Promise<TestPki> {
  const now = Date.now();
  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01" + now.toString(16),
    name: "CN=hoard test registries CA",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 7 * 86_400_000),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "02" + now.toString(16),
    subject: `CN=${names[0] ?? "localhost"}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 7 * 86_400_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      new x509.SubjectAlternativeNameExtension([
        ...names.map((value) => ({ type: "dns" as const, value })),
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { ca: caCert.toString("pem"), cert: cert.toString("pem"), key: pem("PRIVATE KEY", pkcs8) };
}
