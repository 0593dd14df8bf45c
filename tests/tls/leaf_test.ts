import assert from "node:assert/strict";
import { X509Certificate as NodeX509 } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type CertificateAuthority, createCa, loadOrCreateCa } from "../../src/tls/ca.ts";
import { LeafCertificates } from "../../src/tls/leaf.ts";

const DAY = 86400_000;

/** A fresh CA in a temp directory, removed at the end of the test. */
async function tempCa(): Promise<AsyncDisposable & { ca: CertificateAuthority }> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-leaf-test-" });
  const ca = await loadOrCreateCa({ dir });
  return { ca, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0"));

/** The DER of the subjectAltName extension's value, hex bytes joined by spaces. */
function sanBytes(cert: x509.X509Certificate): string {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(san !== null, "subjectAltName present");
  return hex(san.value).join(" ");
}

Deno.test("LeafCertificates: a leaf for a name is signed by the CA and made for TLS servers", async () => {
  await using t = await tempCa();
  const leaves = await LeafCertificates.create(t.ca);
  const leaf = await leaves.forHost("registry.example.org");
  const cert = new x509.X509Certificate(leaf.cert);
  const caCert = new x509.X509Certificate(t.ca.certPem);

  // Signed by the CA's key, and a chain leaf -> CA can be built.
  assert.ok(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true }));
  assert.ok(await cert.verify({ publicKey: caCert.publicKey }), "signature and validity now");
  assert.equal(cert.issuer, caCert.subject);
  const chain = await new x509.X509ChainBuilder({ certificates: [caCert] }).build(cert);
  assert.deepEqual([...chain].map((c) => c.serialNumber), [cert.serialNumber, caCert.serialNumber]);
  // A different CA did not sign it.
  const other = new x509.X509Certificate((await createCa()).certPem);
  assert.equal(await cert.verify({ publicKey: other.publicKey, signatureOnly: true }), false);

  // Not a CA itself; a TLS server certificate.
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc !== null, "basicConstraints present");
  assert.equal(bc.ca, false);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(ku !== null && (ku.usages & x509.KeyUsageFlags.digitalSignature) !== 0);
  assert.equal(ku.usages & x509.KeyUsageFlags.keyCertSign, 0, "a leaf cannot sign certificates");
  // The authority key identifier names the CA's key.
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  assert.ok(aki?.keyId !== undefined && aki.keyId === ski?.keyId);

  // A DNS name in the SAN (tag 0x82), exactly the host.
  const dns = [...new TextEncoder().encode("registry.example.org")].map((b) =>
    b.toString(16).padStart(2, "0")
  );
  assert.equal(sanBytes(cert), ["30", "16", "82", "14", ...dns].join(" "));
  assert.equal(cert.subject, "CN=registry.example.org");
  // An independent parser agrees.
  const node = new NodeX509(leaf.cert);
  assert.equal(node.ca, false);
  assert.equal(node.checkHost("registry.example.org"), "registry.example.org");
  assert.equal(node.checkHost("other.example.org"), undefined);
  assert.ok(node.verify(new NodeX509(t.ca.certPem).publicKey));
  assert.ok(node.checkIssued(new NodeX509(t.ca.certPem)));

  // Valid from a day ago (clock skew) to at most 30 days on, within the CA's life.
  const now = Date.now();
  assert.ok(cert.notBefore.getTime() <= now - DAY + 60_000);
  assert.ok(cert.notAfter.getTime() > now + 29 * DAY);
  assert.ok(cert.notAfter.getTime() <= now + 30 * DAY + 60_000);
  assert.ok(cert.notAfter.getTime() <= caCert.notAfter.getTime());
  // notAfter in memory (ms) is what the certificate says (whole seconds).
  assert.ok(Math.abs(leaf.notAfter - cert.notAfter.getTime()) < 1000);
  assert.match(leaf.key, /^-----BEGIN PRIVATE KEY-----\n/);
});

Deno.test("LeafCertificates: IP addresses get an IP SAN (127.0.0.1, ::1), not a DNS one", async () => {
  await using t = await tempCa();
  const leaves = await LeafCertificates.create(t.ca);

  const v4 = new x509.X509Certificate((await leaves.forHost("127.0.0.1")).cert);
  // [7] iPAddress, 4 bytes 127.0.0.1
  assert.equal(sanBytes(v4), "30 06 87 04 7f 00 00 01");
  const v6 = new x509.X509Certificate((await leaves.forHost("::1")).cert);
  // [7] iPAddress, 16 bytes ::1
  assert.equal(sanBytes(v6), `30 12 87 10 ${"00 ".repeat(15)}01`);

  const node4 = new NodeX509(v4.toString("pem"));
  assert.equal(node4.checkIP("127.0.0.1"), "127.0.0.1");
  const node6 = new NodeX509(v6.toString("pem"));
  assert.equal(node6.checkIP("::1"), "::1");
  assert.equal(node6.checkIP("127.0.0.1"), undefined);

  const caCert = new x509.X509Certificate(t.ca.certPem);
  assert.ok(await v4.verify({ publicKey: caCert.publicKey }));
  assert.ok(await v6.verify({ publicKey: caCert.publicKey }));
});

Deno.test("LeafCertificates: one leaf per host, made once (case-insensitive), another per other host", async () => {
  await using t = await tempCa();
  const leaves = await LeafCertificates.create(t.ca);
  const a = await leaves.forHost("a.example");
  const again = await leaves.forHost("a.example");
  assert.equal(again, a, "the same object the second time");
  assert.equal(again.cert, a.cert);
  assert.equal(await leaves.forHost("A.Example"), a, "host names are case-insensitive");
  // Concurrent first requests share one signing.
  const [c1, c2] = await Promise.all([leaves.forHost("c.example"), leaves.forHost("c.example")]);
  assert.equal(c1, c2);

  const b = await leaves.forHost("b.example");
  assert.notEqual(b.cert, a.cert);
  const cb = new x509.X509Certificate(b.cert);
  assert.equal(cb.subject, "CN=b.example");
  assert.notEqual(cb.serialNumber, new x509.X509Certificate(a.cert).serialNumber);
  // One key pair serves every leaf of a process.
  assert.equal(b.key, a.key);
});

Deno.test("LeafCertificates: a leaf about to expire is made again", async () => {
  await using t = await tempCa();
  const leaves = await LeafCertificates.create(t.ca);
  const now = Date.now();
  const first = await leaves.forHost("renew.example", now);
  // Still more than a day left: kept.
  assert.equal(await leaves.forHost("renew.example", now + 28 * DAY), first);
  // Less than a day left: a new one, valid from around that time.
  const later = now + 29.5 * DAY;
  const renewed = await leaves.forHost("renew.example", later);
  assert.notEqual(renewed, first);
  assert.ok(renewed.notAfter > first.notAfter);
  const cert = new x509.X509Certificate(renewed.cert);
  assert.ok(await cert.verify({ publicKey: t.ca.cert.publicKey, date: new Date(later) }));
  // And the renewed one is what is kept.
  assert.equal(await leaves.forHost("renew.example", later), renewed);
});

Deno.test("LeafCertificates: a leaf never outlives its CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-leaf-test-" });
  try {
    // A CA made almost ten years ago: 10 days left.
    const made = Date.now() - 3650 * DAY + 10 * DAY;
    const { certPem, keyPem } = await createCa(made);
    await Deno.writeTextFile(`${dir}/ca.pem`, certPem);
    await Deno.writeTextFile(`${dir}/ca-key.pem`, keyPem);
    const ca = await loadOrCreateCa({
      dir,
      certFile: `${dir}/ca.pem`,
      keyFile: `${dir}/ca-key.pem`,
    });
    const leaves = await LeafCertificates.create(ca);
    const leaf = await leaves.forHost("short.example");
    const cert = new x509.X509Certificate(leaf.cert);
    assert.ok(cert.notAfter.getTime() <= ca.cert.notAfter.getTime());
    assert.ok(cert.notAfter.getTime() < Date.now() + 11 * DAY);
    assert.ok(await cert.verify({ publicKey: ca.cert.publicKey }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
