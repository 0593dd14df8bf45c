/**
 * hoard's certificate authority: created on first use (ECDSA P-256), kept as
 * `ca.pem` and `ca-key.pem` (mode 0600) in the CA directory, or loaded from
 * files the user names. It signs the leaf certificates of intercepted hosts.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** File names in the CA directory. */
export const CA_CERT_FILE = "ca.pem";
/** The private key's file name in the CA directory. */
export const CA_KEY_FILE = "ca-key.pem";

/** A CA ready to sign. */
export interface CertificateAuthority {
  /** The CA certificate, PEM: what clients must trust. */
  certPem: string;
  /** Where the certificate file is. */
  certPath: string;
  /** The parsed certificate. */
  cert: x509.X509Certificate;
  /** Its private key (WebCrypto, not extractable). */
  key: CryptoKey;
}

/** Where the CA comes from. */
export interface CaSource {
  /** Directory holding (or to hold) ca.pem and ca-key.pem. */
  dir: string;
  /** Existing CA certificate file; with `keyFile`, used instead of `dir`. */
  certFile?: string;
  /** Existing CA private key file (PKCS#8 PEM). */
  keyFile?: string;
}

/**
 * Loads the CA, creating it in `source.dir` on first use.
 *
 * @throws with a one-line message when given files cannot be read or parsed.
 */
export async function loadOrCreateCa(source: CaSource): Promise<CertificateAuthority> {
  if (source.certFile !== undefined || source.keyFile !== undefined) {
    if (source.certFile === undefined || source.keyFile === undefined) {
      throw new Error("--ca-cert and --ca-key go together");
    }
    return await loadCa(source.certFile, source.keyFile);
  }
  const certPath = `${source.dir}/${CA_CERT_FILE}`, keyPath = `${source.dir}/${CA_KEY_FILE}`;
  const existing = await loadIfPresent(certPath, keyPath);
  if (existing !== undefined) return existing;
  await Deno.mkdir(source.dir, { recursive: true, mode: 0o700 });
  // `hoard serve` and `hoard env` often start together in CI: one creates the
  // CA under a lock file, the other waits for it and loads it.
  const lock = `${source.dir}/ca.lock`;
  for (let waited = 0;; waited += LOCK_POLL_MS) {
    try {
      (await Deno.open(lock, { write: true, createNew: true, mode: 0o600 })).close();
      break;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    const made = await loadIfPresent(certPath, keyPath);
    if (made !== undefined) return made;
    const st = await Deno.stat(lock).catch(() => undefined);
    // A lock this old belongs to a process that died while creating the CA.
    if (st !== undefined && Date.now() - (st.mtime?.getTime() ?? 0) > STALE_LOCK_MS) {
      await Deno.remove(lock).catch(() => {});
    } else if (waited > STALE_LOCK_MS) {
      throw new Error(`gave up waiting for ${lock}`);
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
  try {
    const made = await loadIfPresent(certPath, keyPath);
    if (made !== undefined) return made;
    if (await exists(certPath)) {
      throw new Error(
        `${certPath} has no ${CA_KEY_FILE} beside it: remove it to have a new CA made`,
      );
    }
    // A key without its certificate is what a crash between the two writes leaves: replaced.
    const { certPem, keyPem } = await createCa();
    // Key first, created 0600 and never readable by others, even for a moment.
    await writeFile(keyPath, keyPem, 0o600);
    await writeFile(certPath, certPem, 0o644);
    return await loadCa(certPath, keyPath);
  } finally {
    await Deno.remove(lock).catch(() => {});
  }
}

const LOCK_POLL_MS = 50;
const STALE_LOCK_MS = 30_000;

/** The CA in these files, or undefined when either file is missing. */
async function loadIfPresent(
  certPath: string,
  keyPath: string,
): Promise<CertificateAuthority | undefined> {
  try {
    return await loadCa(certPath, keyPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Makes a new CA certificate and key, PEM. */
export async function createCa(now = Date.now()): Promise<{ certPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=hoard CA ${new Date(now).toISOString().slice(0, 10)}, O=hoard`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: cert.toString("pem") + "\n", keyPem: toPem("PRIVATE KEY", pkcs8) };
}

async function loadCa(certPath: string, keyPath: string): Promise<CertificateAuthority> {
  const certPem = await Deno.readTextFile(certPath);
  const keyPem = await Deno.readTextFile(keyPath);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch {
    throw new Error(`${certPath} is not a PEM certificate`);
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", fromPem(keyPem), ALG, false, ["sign"]);
  } catch {
    throw new Error(`${keyPath} is not a PKCS#8 ECDSA P-256 private key (PEM)`);
  }
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca !== true) {
    throw new Error(`${certPath} is not a CA certificate (basicConstraints cA is not set)`);
  }
  // The key must be the certificate's: otherwise every leaf it signs is refused by every client.
  const probe = new TextEncoder().encode("hoard CA key check");
  const signature = await crypto.subtle.sign(ALG, key, probe);
  const publicKey = await cert.publicKey.export(ALG, ["verify"]);
  if (!(await crypto.subtle.verify(ALG, publicKey, signature, probe))) {
    throw new Error(`${keyPath} does not match ${certPath} (it is not its private key)`);
  }
  return { certPem, certPath, cert, key };
}

async function writeFile(path: string, text: string, mode: number): Promise<void> {
  await Deno.writeTextFile(path, text, { mode });
  // The umask may have narrowed the mode; make sure it is exactly this.
  if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
}

/**
 * A positive random serial number, hex, always 16 bytes: a leading zero byte
 * would be dropped in DER, leaving a shorter serial whose top bit may be set.
 */
export function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x3f) | 0x40;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** DER bytes as PEM. */
export function toPem(label: string, der: Uint8Array): string {
  let b = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    b += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  const body = btoa(b).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function fromPem(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
