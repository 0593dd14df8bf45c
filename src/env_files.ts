/**
 * The files `hoard env`'s variables point at, written next to the CA: the
 * bundle of system roots plus hoard's CA, the same as a Java trust store, a
 * wgetrc, a curlrc (in `curl/`, the directory CURL_HOME names) and a Maven settings.xml.
 * Each is written to a temp file and renamed, so a client reading
 * one while another `hoard env` runs never sees half of it.
 *
 * @module
 */

import { writeBundle } from "./tls/bundle.ts";
import { encodeJks, pemCertificates, TRUSTSTORE_PASSWORD } from "./tls/jks.ts";
import { curlrc, type EnvInputs, mavenSettings, wgetrc } from "./env.ts";

/** What {@linkcode writeEnvFiles} wrote, as {@linkcode EnvInputs} take it, and what it found. */
export interface EnvFiles extends Omit<EnvInputs, "proxyUrl" | "noProxy"> {
  /** The system root bundle used; undefined when none was found. */
  systemBundle?: string;
}

/**
 * Writes the bundle, trust store, wgetrc, curlrc and Maven settings into
 * `dir` for the CA at `caFile` (PEM `caPem`). `env` reads the caller's
 * environment (for the user's own wgetrc, curlrc and ~/.m2/settings.xml).
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
    curlHome: `${dir}/curl`,
    ...(bundle.system === undefined ? {} : { systemBundle: bundle.system }),
  };
  const bundlePem = await Deno.readTextFile(bundle.path);
  await replaceFile(files.trustStoreFile, encodeJks(pemCertificates(bundlePem)));
  await replaceFile(
    files.wgetrcFile,
    new TextEncoder().encode(
      wgetrc(await userWgetrc(files.wgetrcFile, env), { ...proxy, ...files }),
    ),
    0o600,
  );
  const home = env("HOME");
  const userSettings = home === undefined
    ? ""
    : await Deno.readTextFile(`${home}/.m2/settings.xml`).catch(() => "");
  // Copies of the user's own files may hold passwords (Maven's servers, wget's and curl's
  // credentials): theirs alone to read.
  await replaceFile(
    files.mavenSettingsFile,
    new TextEncoder().encode(mavenSettings(userSettings, { ...proxy, ...files })),
    0o600,
  );
  const poetrySources = await poetryPinnedSources(env, Deno.cwd());
  if (poetrySources.length > 0) files.poetrySources = poetrySources;
  await Deno.mkdir(files.curlHome, { recursive: true, mode: 0o700 });
  await replaceFile(
    `${files.curlHome}/.curlrc`,
    new TextEncoder().encode(
      curlrc(await userCurlrc(files.curlHome, env), { ...proxy, ...files }),
    ),
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

/**
 * The curlrc curl would read without hoard's CURL_HOME, without what an
 * earlier `hoard env` added: the first that exists, in the order of curl's
 * findfile() (7.88 looks for `.curlrc` in $XDG_CONFIG_HOME, later versions
 * for `curlrc`).
 */
async function userCurlrc(
  ours: string,
  env: (name: string) => string | undefined,
): Promise<string> {
  const [curlHome, xdg, home] = [env("CURL_HOME"), env("XDG_CONFIG_HOME"), env("HOME")];
  const candidates = [
    curlHome && `${curlHome}/.curlrc`,
    xdg && `${xdg}/.curlrc`,
    xdg && `${xdg}/curlrc`,
    home && `${home}/.curlrc`,
    curlHome && `${curlHome}/.config/curlrc`,
    home && `${home}/.config/curlrc`,
  ];
  for (const path of candidates) {
    if (!path) continue;
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text === undefined) continue;
    if (path !== `${ours}/.curlrc`) return text;
    const mark = text.indexOf("# hoard env\n");
    return mark < 0 ? text : text.slice(0, mark);
  }
  return "";
}

/**
 * The poetry sources whose CA the user's poetry config pins: the NAMEs of
 * `certificates.NAME.cert` in its config.toml and auth.toml (`poetry config
 * certificates.NAME.cert` writes the latter), in $POETRY_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/pypoetry, else ~/.config/pypoetry, and in the project's
 * poetry.toml when `cwd` is its directory. Names an environment variable
 * cannot carry are left out.
 */
export async function poetryPinnedSources(
  env: (name: string) => string | undefined,
  cwd: string,
): Promise<string[]> {
  const home = env("HOME");
  const xdg = env("XDG_CONFIG_HOME") ?? (home === undefined ? undefined : `${home}/.config`);
  const dir = env("POETRY_CONFIG_DIR") ?? (xdg === undefined ? undefined : `${xdg}/pypoetry`);
  const files = [`${cwd}/poetry.toml`];
  if (dir !== undefined) files.unshift(`${dir}/config.toml`, `${dir}/auth.toml`);
  const names = new Set<string>();
  for (const file of files) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const name of tomlCertificatePins(text)) names.add(name);
  }
  return [...names].filter((n) => /^[A-Za-z0-9_.-]+$/.test(n));
}

/**
 * The NAMEs of `certificates.NAME.cert` keys in a TOML text, in the forms
 * poetry and people write: `[certificates.NAME]` then `cert = …`, dotted
 * keys, an inline table. Enough TOML for that, not a parser.
 */
function tomlCertificatePins(text: string): string[] {
  const names: string[] = [];
  let table: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const header = /^\[([^\[\]]+)\]\s*(#.*)?$/.exec(line);
    if (header) {
      table = dottedKey(header[1]!);
      continue;
    }
    const pair = /^((?:"[^"]*"|'[^']*'|[^=#"'])+)=(.*)$/.exec(line);
    if (!pair) continue;
    const key = [...table, ...dottedKey(pair[1]!)];
    if (key[0] !== "certificates") continue;
    if (key.length === 3 && key[2] === "cert") names.push(key[1]!);
    if (key.length === 2 && /^\{.*\bcert\s*=/.test(pair[2]!.trim())) names.push(key[1]!);
  }
  return names;
}

/** A TOML dotted key's parts, quotes removed: `a."b.c".d` is a, b.c, d. */
function dottedKey(text: string): string[] {
  return [...text.matchAll(/\s*(?:"([^"]*)"|'([^']*)'|([^.\s]+))\s*(?:\.|$)/g)]
    .map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

async function replaceFile(path: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeFile(tmp, bytes, { mode });
  await Deno.rename(tmp, path);
}
