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
  /** A Maven settings.xml: the user's own, its proxies replaced by hoard's. */
  mavenSettingsFile: string;
  /** A directory holding a `.curlrc`: the user's own, then hoard's CA (and proxy) lines. */
  curlHome: string;
  /**
   * Poetry sources whose CA the user's poetry config pins
   * (`certificates.NAME.cert`): each gets the variable that beats it.
   * @default {none}
   */
  poetrySources?: readonly string[];
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
  // A curlrc's `cacert` (and `proxy`) beat CURL_CA_BUNDLE (and https_proxy); curl reads
  // $CURL_HOME/.curlrc before any other, so CURL_HOME names a copy of it plus ours.
  // CURL_CA_BUNDLE stays for `curl -q`, which reads no curlrc.
  curl: (i) => [["CURL_CA_BUNDLE", i.bundleFile], ["CURL_HOME", i.curlHome]],
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
  // requests (poetry) reads REQUESTS_CA_BUNDLE, but a source's pinned `certificates.NAME.cert`
  // beats it; POETRY_CERTIFICATES_NAME_CERT beats that, one variable per source name.
  python: (i) => [
    ["SSL_CERT_FILE", i.bundleFile],
    ["REQUESTS_CA_BUNDLE", i.bundleFile],
    ...(i.poetrySources ?? []).map((name): [string, string] => [
      `POETRY_CERTIFICATES_${name.toUpperCase().replaceAll(/[-.]/g, "_")}_CERT`,
      i.bundleFile,
    ]),
  ],
  pip: (i) => [["PIP_PROXY", i.proxyUrl], ["PIP_CERT", i.bundleFile]],
  cargo: (i) => [["CARGO_HTTP_PROXY", i.proxyUrl], ["CARGO_HTTP_CAINFO", i.bundleFile]],
  go: (i) => [["SSL_CERT_FILE", i.bundleFile]],
  ruby: (i) => [["SSL_CERT_FILE", i.bundleFile], ["BUNDLE_SSL_CA_CERT", i.bundleFile]],
  // Composer reads SSL_CERT_FILE only when no `cafile` is configured; COMPOSER_CAFILE beats
  // `cafile` in the global config.json and in the project's composer.json.
  composer: (i) => [["SSL_CERT_FILE", i.bundleFile], ["COMPOSER_CAFILE", i.bundleFile]],
  // The JVM reads no proxy or CA variable: system properties, for every JVM the job starts.
  jvm: jvmVars,
  // Maven 3.8 (tested with 3.8.7): with no <proxy> in settings.xml, its transport (wagon) takes
  // the JVM's proxy and trust-store properties. A project's .mvn/jvm.config comes after
  // JAVA_TOOL_OPTIONS on java's command line and wins; MAVEN_OPTS comes after it, so ours
  // there win. A <proxy> in settings.xml beats every property, and Maven 3.8 reads its
  // settings' path from no variable: HOARD_MAVEN_SETTINGS is the user's settings.xml with
  // hoard's proxies, for `mvn -s "$HOARD_MAVEN_SETTINGS"`.
  maven: (i) => [
    ...jvmVars(i),
    ["MAVEN_OPTS", appendOptions(i.existing?.("MAVEN_OPTS"), jvmOptions(i))],
    ["HOARD_MAVEN_SETTINGS", i.mavenSettingsFile],
  ],
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
  mvn: "maven",
  gradle: "jvm",
  sbt: "jvm",
  java: "jvm",
  gem: "ruby",
  bundle: "ruby",
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

/** JAVA_TOOL_OPTIONS: the caller's own, then {@linkcode jvmOptions}. */
function jvmVars(i: EnvInputs): Vars {
  return [["JAVA_TOOL_OPTIONS", appendOptions(i.existing?.("JAVA_TOOL_OPTIONS"), jvmOptions(i))]];
}

/** The proxy's host (IPv6 without brackets) and port, as the JVM and Maven take them. */
function proxyHostPort(i: EnvInputs): { host: string; port: string } {
  const { hostname, port } = new URL(i.proxyUrl);
  return { host: hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * NO_PROXY in the syntax of the JVM's `http.nonProxyHosts` (and Maven's
 * `nonProxyHosts`). Never empty: the JVM's default skips loopback, which
 * NO_PROXY may not want.
 */
function nonProxyHosts(i: EnvInputs): string {
  const hosts = i.noProxy.split(",").map((h) => h.trim()).filter((h) => h !== "")
    .map((h) => h.startsWith(".") ? `*${h}` : h.includes(":") ? `[${h}]` : h).join("|");
  return hosts || "none.invalid";
}

/** The JVM's proxy and trust-store properties. */
function jvmOptions(i: EnvInputs): string {
  const { host, port } = proxyHostPort(i);
  return [
    `-Dhttp.proxyHost=${host}`,
    `-Dhttp.proxyPort=${port}`,
    `-Dhttps.proxyHost=${host}`,
    `-Dhttps.proxyPort=${port}`,
    `-Dhttp.nonProxyHosts=${nonProxyHosts(i)}`,
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

/**
 * A Maven settings.xml: `userXml` (the user's own, comments dropped) with its
 * `<proxies>` replaced by hoard's, one for http and one for https; without a
 * `</settings>` to put them in, a settings.xml of hoard's proxies alone.
 * Maven takes the first active proxy for a repository's protocol, the user
 * settings' before the global ones': ours replace the user's rather than join them.
 */
export function mavenSettings(userXml: string, i: EnvInputs): string {
  const { host, port } = proxyHostPort(i);
  const proxy = (protocol: string) =>
    `    <proxy>\n      <id>hoard-${protocol}</id>\n      <active>true</active>\n` +
    `      <protocol>${protocol}</protocol>\n      <host>${xmlText(host)}</host>\n` +
    `      <port>${port}</port>\n` +
    `      <nonProxyHosts>${xmlText(nonProxyHosts(i))}</nonProxyHosts>\n    </proxy>\n`;
  const proxies = `<proxies>\n${proxy("https")}${proxy("http")}  </proxies>`;
  // Comments go first: the settings.xml Maven ships holds a commented-out <proxies> example.
  const xml = userXml.replace(/<!--[\s\S]*?-->/g, "");
  const own = /<proxies\s*\/>|<proxies(?:\s[^>]*)?>[\s\S]*?<\/proxies\s*>/;
  if (own.test(xml)) return xml.replace(own, () => proxies);
  const end = xml.lastIndexOf("</settings");
  if (end >= 0) return `${xml.slice(0, end)}  ${proxies}\n${xml.slice(end)}`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!-- hoard env -->\n` +
    `<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">\n  ${proxies}\n</settings>\n`;
}

function xmlText(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** A curlrc line setting a proxy: a long option name (dashes optional) or `-x`. */
const CURLRC_PROXY =
  /^\s*(?:-x|(?:--)?(?:proxy|proxy1\.0|socks4a?|socks5(?:-hostname)?|noproxy)(?=[\s=:]|$))/m;

/**
 * A curlrc: `userRc` (the user's own, kept whole), then hoard's lines, which
 * win because curl takes the last value of each option. `cacert` always;
 * `proxy` and `noproxy` only when the user's file sets a proxy itself:
 * otherwise the proxy variables already apply, scheme by scheme, and a
 * curlrc `proxy` would also send ftp:// and other schemes to hoard.
 */
export function curlrc(userRc: string, i: EnvInputs): string {
  const sep = userRc === "" || userRc.endsWith("\n") ? "" : "\n";
  // A quoted value takes backslash escapes; a bare one ends at a space.
  const q = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  const proxy = CURLRC_PROXY.test(userRc)
    ? `proxy = ${q(i.proxyUrl)}\nnoproxy = ${q(i.noProxy)}\n`
    : "";
  return `${userRc}${sep}# hoard env\ncacert = ${q(i.bundleFile)}\n${proxy}`;
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
