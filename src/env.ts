/**
 * `hoard env`: the environment that makes clients use hoard and trust its CA,
 * in the syntax of a shell or of CI.
 *
 * Clients are configured the way their users already configure them, often
 * with a config file that pins its own CA file or proxy. Where a client lets
 * the environment override its config files, the variables here are the ones
 * that do (npm's `npm_config_*` beat every npmrc, `PIP_*` beat pip.conf,
 * `CARGO_HTTP_*` beat config.toml, `YARN_*` beat .yarnrc.yml, …). Where a
 * client reads no environment at all, the variables carry what it needs in
 * its own terms (the JVM's system properties, apt's options, a wgetrc).
 *
 * @module
 */

/** Output syntaxes of `hoard env`. */
export const ENV_FORMATS = ["sh", "fish", "github", "json"] as const;
/** One of {@linkcode ENV_FORMATS}. */
export type EnvFormat = typeof ENV_FORMATS[number];

/** What the variables point at. */
export interface EnvInputs {
  /** The proxy URL, `http://host:port`. */
  proxyUrl: string;
  /** Hosts that bypass the proxy (comma-separated, as NO_PROXY takes them). */
  noProxy: string;
  /** hoard's CA certificate (PEM): for clients that add it to their roots. */
  caFile: string;
  /** System roots plus hoard's CA: for clients whose variable replaces their roots. */
  bundleFile: string;
  /** The same as a Java KeyStore (JKS), for the JVM. */
  trustStoreFile: string;
  /** Its password. */
  trustStorePassword: string;
  /** A wgetrc: the user's own, then hoard's proxy and CA lines. */
  wgetrcFile: string;
  /**
   * The caller's environment, for variables hoard adds to rather than
   * replaces (JAVA_TOOL_OPTIONS, GIT_CONFIG_*). @default {none}
   */
  existing?: (name: string) => string | undefined;
}

type Vars = [string, string][];

/**
 * Every client `hoard env --for` knows, with the variables it needs beyond
 * the common proxy ones, in output order.
 */
const CLIENT_VARS = {
  curl: (i) => [["CURL_CA_BUNDLE", i.bundleFile]],
  // GnuTLS builds of wget read no CA variable; WGETRC replaces ~/.wgetrc with a copy plus ours.
  wget: (i) => [["WGETRC", i.wgetrcFile]],
  git: (i) => [["GIT_SSL_CAINFO", i.bundleFile], ...gitProxy(i)],
  node: (i) => [["NODE_EXTRA_CA_CERTS", i.caFile], ["NODE_USE_ENV_PROXY", "1"]],
  // npm_config_* beat every npmrc. A `cafile` there makes npm ignore NODE_EXTRA_CA_CERTS
  // and replaces the roots, so the bundle.
  npm: npmVars,
  // pnpm 12 (a native binary) reads pnpm_config_*, never npm_config_*, and no CA file from
  // the environment; it adds NODE_EXTRA_CA_CERTS to an npmrc `cafile`. pnpm 10 is npm's case.
  pnpm: (i) => [
    ...npmVars(i),
    ["pnpm_config_proxy", i.proxyUrl],
    ["pnpm_config_https_proxy", i.proxyUrl],
    ["pnpm_config_no_proxy", i.noProxy],
    ["NODE_EXTRA_CA_CERTS", i.caFile],
  ],
  // Yarn 4 (berry): YARN_* beat .yarnrc.yml. (Yarn 1 reads YARN_HTTPS_PROXY too, above its .yarnrc.)
  yarn: (i) => [
    ["YARN_HTTP_PROXY", i.proxyUrl],
    ["YARN_HTTPS_PROXY", i.proxyUrl],
    ["YARN_HTTPS_CA_FILE_PATH", i.bundleFile],
  ],
  // Yarn 1 (classic), by name only: a .yarnrc `cafile` yields to YARN_CAFILE alone, and
  // Yarn 4 refuses to start when it sees YARN_CAFILE or YARN_PROXY (not settings of its own).
  "yarn-classic": (i) => [
    ["YARN_PROXY", i.proxyUrl],
    ["YARN_HTTPS_PROXY", i.proxyUrl],
    ["YARN_CAFILE", i.bundleFile],
  ],
  deno: (i) => [["DENO_CERT", i.caFile]],
  python: (i) => [["SSL_CERT_FILE", i.bundleFile], ["REQUESTS_CA_BUNDLE", i.bundleFile]],
  pip: (i) => [["PIP_PROXY", i.proxyUrl], ["PIP_CERT", i.bundleFile]],
  cargo: (i) => [["CARGO_HTTP_PROXY", i.proxyUrl], ["CARGO_HTTP_CAINFO", i.bundleFile]],
  go: (i) => [["SSL_CERT_FILE", i.bundleFile]],
  ruby: (i) => [["SSL_CERT_FILE", i.bundleFile], ["BUNDLE_SSL_CA_CERT", i.bundleFile]],
  composer: (i) => [["SSL_CERT_FILE", i.bundleFile]],
  // The JVM reads no proxy or CA variable: system properties, for every JVM the job starts.
  jvm: (
    i,
  ) => [["JAVA_TOOL_OPTIONS", appendOptions(i.existing?.("JAVA_TOOL_OPTIONS"), jvmOptions(i))]],
  // apt reads no environment for https: pass these as `apt-get $HOARD_APT_OPTIONS ...`.
  apt: (i) => [[
    "HOARD_APT_OPTIONS",
    `-o Acquire::http::Proxy=${i.proxyUrl} -o Acquire::https::Proxy=${i.proxyUrl} -o Acquire::https::CAInfo=${i.bundleFile}`,
  ]],
} satisfies Record<string, (i: EnvInputs) => Vars>;

/** A client `hoard env --for` knows. */
export type Client = keyof typeof CLIENT_VARS;

/**
 * Clients whose variables break another client's: printed only when named,
 * never in the default set of every client.
 */
const BY_NAME_ONLY: ReadonlySet<Client> = new Set<Client>(["yarn-classic"]);

/** Other names of clients, by the tool people type. */
const ALIASES: Record<string, Client> = {
  "yarn-berry": "yarn",
  yarn1: "yarn-classic",
  yarnpkg: "yarn-classic",
  poetry: "python",
  requests: "python",
  uv: "python",
  skopeo: "go",
  podman: "go",
  buildah: "go",
  crane: "go",
  maven: "jvm",
  mvn: "jvm",
  gradle: "jvm",
  sbt: "jvm",
  java: "jvm",
  gem: "ruby",
  bundler: "ruby",
};

/** Every name `--for` takes, sorted. */
export const CLIENT_NAMES: readonly string[] = [
  ...Object.keys(CLIENT_VARS),
  ...Object.keys(ALIASES),
]
  .sort();

/**
 * The clients named in `text` (comma-separated, aliases allowed), in table order.
 *
 * @throws {SyntaxError} naming the first unknown client and listing the known ones.
 */
export function parseClients(text: string): Client[] {
  const wanted = new Set<Client>();
  for (const raw of text.split(",")) {
    const name = raw.trim().toLowerCase();
    if (name === "") continue;
    const client = name in CLIENT_VARS ? name as Client : ALIASES[name];
    if (client === undefined) {
      throw new SyntaxError(
        `unknown client ${JSON.stringify(name)}; known: ${CLIENT_NAMES.join(", ")}`,
      );
    }
    wanted.add(client);
  }
  if (wanted.size === 0) throw new SyntaxError("no client named");
  return (Object.keys(CLIENT_VARS) as Client[]).filter((c) => wanted.has(c));
}

/**
 * The variables, in order: the proxy ones every client reads, then those of
 * `clients` (when undefined, every client but those printed by name only),
 * each name once.
 */
export function envVariables(i: EnvInputs, clients?: readonly Client[]): Vars {
  const vars: Vars = [
    ["HTTP_PROXY", i.proxyUrl],
    ["HTTPS_PROXY", i.proxyUrl],
    ["http_proxy", i.proxyUrl],
    ["https_proxy", i.proxyUrl],
    ["NO_PROXY", i.noProxy],
    ["no_proxy", i.noProxy],
  ];
  const seen = new Set(vars.map(([n]) => n));
  const all = (Object.keys(CLIENT_VARS) as Client[]).filter((c) => !BY_NAME_ONLY.has(c));
  for (const client of clients ?? all) {
    for (const [name, value] of CLIENT_VARS[client](i)) {
      if (!seen.has(name)) vars.push([name, value]);
      seen.add(name);
    }
  }
  return vars;
}

/** npm's variables (also pnpm 10's). */
function npmVars(i: EnvInputs): Vars {
  return [
    ["npm_config_proxy", i.proxyUrl],
    ["npm_config_https_proxy", i.proxyUrl],
    ["npm_config_noproxy", i.noProxy],
    ["npm_config_cafile", i.bundleFile],
  ];
}

/**
 * The JVM's proxy and trust-store properties. `http.nonProxyHosts` is always
 * set: its default skips loopback, which NO_PROXY may not want.
 */
function jvmOptions(i: EnvInputs): string {
  const { hostname, port } = new URL(i.proxyUrl);
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  const nonProxy = i.noProxy.split(",").map((h) => h.trim()).filter((h) => h !== "")
    .map((h) => h.startsWith(".") ? `*${h}` : h.includes(":") ? `[${h}]` : h).join("|");
  return [
    `-Dhttp.proxyHost=${host}`,
    `-Dhttp.proxyPort=${port}`,
    `-Dhttps.proxyHost=${host}`,
    `-Dhttps.proxyPort=${port}`,
    `-Dhttp.nonProxyHosts=${nonProxy || "none.invalid"}`,
    `-Djavax.net.ssl.trustStore=${i.trustStoreFile}`,
    `-Djavax.net.ssl.trustStorePassword=${i.trustStorePassword}`,
    "-Djavax.net.ssl.trustStoreType=JKS",
  ].join(" ");
}

/**
 * `http.proxy` in a gitconfig beats https_proxy; a GIT_CONFIG_KEY_n beats
 * every gitconfig. Keys the caller already passes this way are kept, ours
 * after them (one of ours already there is replaced, so `hoard env` can run twice).
 */
function gitProxy(i: EnvInputs): Vars {
  const given = Number(i.existing?.("GIT_CONFIG_COUNT") ?? 0);
  const count = Number.isSafeInteger(given) && given > 0 ? given : 0;
  let at = count;
  for (let k = count - 1; k >= 0; k--) {
    if (i.existing?.(`GIT_CONFIG_KEY_${k}`)?.toLowerCase() === "http.proxy") at = k;
  }
  return [
    ["GIT_CONFIG_COUNT", String(Math.max(count, at + 1))],
    [`GIT_CONFIG_KEY_${at}`, "http.proxy"],
    [`GIT_CONFIG_VALUE_${at}`, i.proxyUrl],
  ];
}

/**
 * JVM options after the caller's own (the last `-D` of a name wins); an
 * earlier `hoard env`'s block is replaced, not repeated.
 */
function appendOptions(existing: string | undefined, ours: string): string {
  const mine = existing?.replace(/\s*-Dhttp\.proxyHost=.*-Djavax\.net\.ssl\.trustStoreType=JKS/, "")
    .trim();
  return mine ? `${mine} ${ours}` : ours;
}

/**
 * A wgetrc: `userRc` (the user's own, kept whole), then hoard's lines, which
 * win because wget takes the last value of each setting.
 */
export function wgetrc(userRc: string, i: EnvInputs): string {
  const sep = userRc === "" || userRc.endsWith("\n") ? "" : "\n";
  return `${userRc}${sep}# hoard env\nuse_proxy = on\nhttp_proxy = ${i.proxyUrl}\n` +
    `https_proxy = ${i.proxyUrl}\nno_proxy = ${i.noProxy}\nca_certificate = ${i.bundleFile}\n`;
}

/** The variables in `format`. */
export function formatEnv(vars: Vars, format: EnvFormat): string {
  switch (format) {
    case "sh":
      return vars.map(([n, v]) => `export ${n}=${shellQuote(v)}\n`).join("");
    case "fish":
      return vars.map(([n, v]) => `set -gx ${n} ${shellQuote(v)}\n`).join("");
    case "github":
      // $GITHUB_ENV lines: NAME=value (values here never hold a newline).
      return vars.map(([n, v]) => `${n}=${v}\n`).join("");
    case "json":
      return JSON.stringify(Object.fromEntries(vars), null, 2) + "\n";
  }
}

function shellQuote(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}
