/**
 * The files `hoard env`'s variables point at, written next to the CA: the
 * bundle of system roots plus hoard's CA, the same as a Java trust store, a
 * wgetrc and a Maven settings.xml. Each is written to a temp file and renamed, so a client reading
 * one while another `hoard env` runs never sees half of it.
 *
 * @module
 */

import { writeBundle } from "./tls/bundle.ts";
import { encodeJks, pemCertificates, TRUSTSTORE_PASSWORD } from "./tls/jks.ts";
import { type EnvInputs, mavenSettings, wgetrc } from "./env.ts";

/** What {@linkcode writeEnvFiles} wrote, as {@linkcode EnvInputs} take it, and what it found. */
export interface EnvFiles extends Omit<EnvInputs, "proxyUrl" | "noProxy"> {
  /** The system root bundle used; undefined when none was found. */
  systemBundle?: string;
}

/**
 * Writes the bundle, trust store, wgetrc and Maven settings into `dir` for
 * the CA at `caFile` (PEM `caPem`). `env` reads the caller's environment (for
 * the user's own wgetrc and ~/.m2/settings.xml).
 */
export async function writeEnvFiles(
  dir: string,
  caFile: string,
  caPem: string,
  proxy: Pick<EnvInputs, "proxyUrl" | "noProxy">,
  env: (name: string) => string | undefined,
): Promise<EnvFiles> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const bundle = await writeBundle(dir, caPem);
  const files: EnvFiles = {
    caFile,
    bundleFile: bundle.path,
    trustStoreFile: `${dir}/truststore.jks`,
    trustStorePassword: TRUSTSTORE_PASSWORD,
    wgetrcFile: `${dir}/wgetrc`,
    mavenSettingsFile: `${dir}/maven-settings.xml`,
    ...(bundle.system === undefined ? {} : { systemBundle: bundle.system }),
  };
  const bundlePem = await Deno.readTextFile(bundle.path);
  await replaceFile(files.trustStoreFile, encodeJks(pemCertificates(bundlePem)));
  await replaceFile(
    files.wgetrcFile,
    new TextEncoder().encode(
      wgetrc(await userWgetrc(files.wgetrcFile, env), { ...proxy, ...files }),
    ),
  );
  const home = env("HOME");
  const userSettings = home === undefined
    ? ""
    : await Deno.readTextFile(`${home}/.m2/settings.xml`).catch(() => "");
  // A copy of the user's settings may hold their servers' passwords: theirs alone to read.
  await replaceFile(
    files.mavenSettingsFile,
    new TextEncoder().encode(mavenSettings(userSettings, { ...proxy, ...files })),
    0o600,
  );
  return files;
}

/** The user's own wgetrc ($WGETRC, else ~/.wgetrc), without what an earlier `hoard env` added. */
async function userWgetrc(
  ours: string,
  env: (name: string) => string | undefined,
): Promise<string> {
  const home = env("HOME");
  const path = env("WGETRC") ?? (home === undefined ? undefined : `${home}/.wgetrc`);
  if (path === undefined) return "";
  const text = await Deno.readTextFile(path).catch(() => "");
  if (path !== ours) return text;
  const mark = text.indexOf("# hoard env\n");
  return mark < 0 ? text : text.slice(0, mark);
}

async function replaceFile(path: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeFile(tmp, bytes, { mode });
  await Deno.rename(tmp, path);
}
