import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  createCa,
  loadOrCreateCa,
  randomSerial,
  toPem,
} from "../../src/tls/ca.ts";
import { makeCert } from "../_helpers/tls.ts";

/** A temp directory removed at the end of the test. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "hoard-ca-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Signs a few bytes with `key` and checks them with `cert`'s public key. */
async function keyMatches(key: CryptoKey, cert: x509.X509Certificate): Promise<boolean> {
  const alg = { name: "ECDSA", hash: "SHA-256" };
  const data = new TextEncoder().encode("hoard");
  const sig = await crypto.subtle.sign(alg, key, data);
  const pub = await cert.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  return await crypto.subtle.verify(alg, pub, sig, data);
}

/** Asserts that `p` rejects with a one-line message matching `re`. */
async function rejectsOneLine(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof Error, `not an Error: ${String(err)}`);
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n/, "the message must be one line");
    return true;
  });
}

Deno.test("loadOrCreateCa: first use creates ca.pem and ca-key.pem (0600) in a new directory", async () => {
  await using tmp = await tempDir();
  const dir = `${tmp.path}/nested/ca`;
  const ca = await loadOrCreateCa({ dir });

  assert.equal(ca.certPath, `${dir}/${CA_CERT_FILE}`);
  assert.equal(await Deno.readTextFile(`${dir}/${CA_CERT_FILE}`), ca.certPem);
  const keyPem = await Deno.readTextFile(`${dir}/${CA_KEY_FILE}`);
  assert.match(
    keyPem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/,
  );
  assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);

  // The key is readable by its owner only; the directory too.
  assert.equal((await Deno.stat(`${dir}/${CA_KEY_FILE}`)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${dir}/${CA_CERT_FILE}`)).mode! & 0o777, 0o644);
  assert.equal((await Deno.stat(dir)).mode! & 0o077, 0);

  // A self-signed CA certificate whose key is the one returned.
  const cert = new x509.X509Certificate(ca.certPem);
  assert.equal(cert.serialNumber, ca.cert.serialNumber);
  assert.equal(cert.subject, cert.issuer);
  assert.match(cert.subject, /CN=hoard CA/);
  assert.ok(await cert.verify({ publicKey: cert.publicKey }), "self-signed");
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc?.ca, "basicConstraints cA must be true");
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0, "keyCertSign");
  assert.ok(cert.notBefore.getTime() <= Date.now() && cert.notAfter.getTime() > Date.now());
  assert.ok(await keyMatches(ca.key, cert), "the returned key signs for the certificate");
  assert.equal(ca.key.extractable, false);
});

Deno.test("loadOrCreateCa: a second call loads the same CA and leaves the files alone", async () => {
  await using tmp = await tempDir();
  const first = await loadOrCreateCa({ dir: tmp.path });
  const keyBefore = await Deno.readTextFile(`${tmp.path}/${CA_KEY_FILE}`);
  const mtimeBefore = (await Deno.stat(`${tmp.path}/${CA_KEY_FILE}`)).mtime;

  const second = await loadOrCreateCa({ dir: tmp.path });
  assert.equal(second.certPem, first.certPem);
  assert.equal(second.cert.serialNumber, first.cert.serialNumber);
  assert.equal(second.certPath, first.certPath);
  assert.equal(await Deno.readTextFile(`${tmp.path}/${CA_KEY_FILE}`), keyBefore);
  assert.deepEqual((await Deno.stat(`${tmp.path}/${CA_KEY_FILE}`)).mtime, mtimeBefore);
  // The key loaded the second time is the same key.
  assert.ok(await keyMatches(second.key, first.cert));
});

Deno.test({
  name: "loadOrCreateCa: two concurrent first uses agree on one CA",
  async fn() {
    await using tmp = await tempDir();
    const [a, b] = await Promise.all([
      loadOrCreateCa({ dir: tmp.path }),
      loadOrCreateCa({ dir: tmp.path }),
    ]);
    assert.equal(a.certPem, b.certPem);
    assert.equal(await Deno.readTextFile(`${tmp.path}/${CA_CERT_FILE}`), a.certPem);
  },
});

Deno.test({
  name: "loadOrCreateCa: a certificate without its key is reported, never paired with a new key",
  async fn() {
    await using tmp = await tempDir();
    const { certPem } = await loadOrCreateCa({ dir: tmp.path });
    await Deno.remove(`${tmp.path}/${CA_KEY_FILE}`);
    await rejectsOneLine(loadOrCreateCa({ dir: tmp.path }), /ca-key\.pem/);
    await rejectsOneLine(loadOrCreateCa({ dir: tmp.path }), /ca-key\.pem/);
    assert.equal(await Deno.readTextFile(`${tmp.path}/${CA_CERT_FILE}`), certPem);
  },
});

Deno.test({
  name: "loadOrCreateCa: a key left without its certificate (crash mid-creation) is not a dead end",
  async fn() {
    await using tmp = await tempDir();
    await Deno.writeTextFile(`${tmp.path}/${CA_KEY_FILE}`, (await createCa()).keyPem, {
      mode: 0o600,
    });
    const ca = await loadOrCreateCa({ dir: tmp.path });
    assert.ok(await keyMatches(ca.key, ca.cert));
    assert.equal(await Deno.readTextFile(`${tmp.path}/${CA_CERT_FILE}`), ca.certPem);
  },
});

Deno.test("loadOrCreateCa: --ca-cert/--ca-key are used instead of the directory", async () => {
  await using tmp = await tempDir();
  const { certPem, keyPem } = await createCa();
  const certFile = `${tmp.path}/my-ca.crt`, keyFile = `${tmp.path}/my-ca.key`;
  await Deno.writeTextFile(certFile, certPem);
  await Deno.writeTextFile(keyFile, keyPem);
  const dir = `${tmp.path}/unused`;

  const ca = await loadOrCreateCa({ dir, certFile, keyFile });
  assert.equal(ca.certPem, certPem);
  assert.equal(ca.certPath, certFile);
  assert.ok(await keyMatches(ca.key, ca.cert));
  // Nothing was created in the CA directory.
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});

Deno.test("loadOrCreateCa: --ca-cert without --ca-key (and the reverse) is an error", async () => {
  await using tmp = await tempDir();
  const { certPem, keyPem } = await createCa();
  await Deno.writeTextFile(`${tmp.path}/c.pem`, certPem);
  await Deno.writeTextFile(`${tmp.path}/k.pem`, keyPem);
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: `${tmp.path}/c.pem` }),
    /--ca-cert and --ca-key go together/,
  );
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, keyFile: `${tmp.path}/k.pem` }),
    /--ca-cert and --ca-key go together/,
  );
  // Neither made a CA in the directory.
  await assert.rejects(Deno.stat(`${tmp.path}/${CA_CERT_FILE}`), Deno.errors.NotFound);
});

Deno.test("loadOrCreateCa: invalid files give a one-line error naming the file", async () => {
  await using tmp = await tempDir();
  const { certPem, keyPem } = await createCa();
  const good = { cert: `${tmp.path}/good.pem`, key: `${tmp.path}/good-key.pem` };
  await Deno.writeTextFile(good.cert, certPem);
  await Deno.writeTextFile(good.key, keyPem);
  const junk = `${tmp.path}/junk.pem`;
  await Deno.writeTextFile(junk, "not a pem\nat all\n");

  // A certificate file that is no certificate.
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: junk, keyFile: good.key }),
    new RegExp(`${junk.replaceAll(".", "\\.")} is not a PEM certificate`),
  );
  // The key in the certificate's place and the reverse.
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: good.key, keyFile: good.key }),
    /good-key\.pem is not a PEM certificate/,
  );
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: good.cert, keyFile: good.cert }),
    /good\.pem is not a PKCS#8 ECDSA P-256 private key/,
  );
  // A key of another curve.
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  const p384File = `${tmp.path}/p384.pem`;
  await Deno.writeTextFile(
    p384File,
    toPem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", p384.privateKey))),
  );
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: good.cert, keyFile: p384File }),
    /p384\.pem is not a PKCS#8 ECDSA P-256 private key/,
  );
  // A file that does not exist.
  await rejectsOneLine(
    loadOrCreateCa({ dir: tmp.path, certFile: `${tmp.path}/missing.pem`, keyFile: good.key }),
    /missing\.pem/,
  );
  // A broken ca.pem in the CA directory is reported, not silently replaced.
  const dir = `${tmp.path}/dir`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/${CA_CERT_FILE}`, "garbage\n");
  await Deno.writeTextFile(`${dir}/${CA_KEY_FILE}`, keyPem);
  await rejectsOneLine(loadOrCreateCa({ dir }), /ca\.pem is not a PEM certificate/);
  assert.equal(await Deno.readTextFile(`${dir}/${CA_CERT_FILE}`), "garbage\n");
});

Deno.test({
  name: "loadOrCreateCa: a key that does not belong to the certificate is a one-line error",
  async fn() {
    await using tmp = await tempDir();
    const a = await createCa(), b = await createCa();
    await Deno.writeTextFile(`${tmp.path}/a.pem`, a.certPem);
    await Deno.writeTextFile(`${tmp.path}/b-key.pem`, b.keyPem);
    await rejectsOneLine(
      loadOrCreateCa({
        dir: tmp.path,
        certFile: `${tmp.path}/a.pem`,
        keyFile: `${tmp.path}/b-key.pem`,
      }),
      /b-key\.pem.*(does not match|not the key)|match/i,
    );
  },
});

Deno.test({
  name: "loadOrCreateCa: a certificate that is not a CA is a one-line error",
  async fn() {
    await using tmp = await tempDir();
    const leaf = await makeCert(); // basicConstraints cA=false, with its own key
    await Deno.writeTextFile(`${tmp.path}/leaf.pem`, leaf.cert);
    await Deno.writeTextFile(`${tmp.path}/leaf-key.pem`, leaf.key);
    await rejectsOneLine(
      loadOrCreateCa({
        dir: tmp.path,
        certFile: `${tmp.path}/leaf.pem`,
        keyFile: `${tmp.path}/leaf-key.pem`,
      }),
      /leaf\.pem.*\bCA\b/,
    );
  },
});

Deno.test("createCa: each call makes a new CA with a positive random serial", async () => {
  const a = await createCa(), b = await createCa();
  const ca = new x509.X509Certificate(a.certPem), cb = new x509.X509Certificate(b.certPem);
  assert.notEqual(ca.serialNumber, cb.serialNumber);
  assert.notEqual(a.keyPem, b.keyPem);
  // DER INTEGER serials must be positive and keep all 16 bytes: the first hex
  // digit is 4 to 7, never 0 (dropped in DER) nor 8 or more (negative).
  for (let i = 0; i < 300; i++) assert.match(randomSerial(), /^[4-7][0-9a-f]{31}$/);
  assert.match(ca.serialNumber, /^[4-7][0-9a-f]{31}$/);
  const now = Date.parse("2030-01-02T00:00:00Z");
  const dated = new x509.X509Certificate((await createCa(now)).certPem);
  assert.match(dated.subject, /CN=hoard CA 2030-01-02/);
  assert.ok(dated.notBefore.getTime() <= now && dated.notAfter.getTime() > now + 365 * 86400_000);
});
