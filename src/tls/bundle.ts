/**
 * A CA bundle of the system's roots plus hoard's CA, for clients whose CA
 * variable replaces their roots (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, …): with
 * hoard's CA alone they could no longer reach hosts hoard does not intercept.
 *
 * @module
 */

/** Where Linux distributions and macOS keep their root bundle. */
export const SYSTEM_BUNDLES: readonly string[] = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL
  "/etc/ssl/ca-bundle.pem", // openSUSE
  "/etc/ssl/cert.pem", // macOS, Alpine
];

/**
 * Writes `<dir>/bundle.pem`: the first system bundle found, then `caPem`.
 * @returns its path, and the system bundle used (undefined when none was found).
 */
export async function writeBundle(
  dir: string,
  caPem: string,
  candidates: readonly string[] = SYSTEM_BUNDLES,
): Promise<{ path: string; system?: string }> {
  let system: string | undefined, roots = "";
  for (const candidate of candidates) {
    try {
      roots = await Deno.readTextFile(candidate);
      system = candidate;
      break;
    } catch {
      // not on this system
    }
  }
  const path = `${dir}/bundle.pem`;
  const text = `${roots}${roots.endsWith("\n") || roots === "" ? "" : "\n"}# hoard CA\n${caPem}`;
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(tmp, text, { mode: 0o644 });
  await Deno.rename(tmp, path);
  return system === undefined ? { path } : { path, system };
}
