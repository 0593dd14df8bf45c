import assert from "node:assert/strict";
import {
  CLIENT_NAMES,
  curlrc,
  ENV_FORMATS,
  type EnvInputs,
  envVariables,
  formatEnv,
  mavenSettings,
  parseClients,
  wgetrc,
} from "../src/env.ts";

const INPUTS: EnvInputs = {
  proxyUrl: "http://127.0.0.1:8080",
  noProxy: "localhost,127.0.0.1,::1",
  caFile: "/home/ci/.cache/hoard/ca/ca.pem",
  bundleFile: "/home/ci/.cache/hoard/ca/bundle.pem",
  trustStoreFile: "/home/ci/.cache/hoard/ca/truststore.jks",
  trustStorePassword: "changeit",
  wgetrcFile: "/home/ci/.cache/hoard/ca/wgetrc",
  mavenSettingsFile: "/home/ci/.cache/hoard/ca/maven-settings.xml",
  curlHome: "/home/ci/.cache/hoard/ca/curl",
};

// Values a shell must not touch: a single quote, spaces, $, backquotes, a backslash, double quotes.
const AWKWARD: EnvInputs = {
  proxyUrl: "http://127.0.0.1:3128",
  noProxy: `it's,$HOME,\`id\`,a b`,
  caFile: `/tmp/o'brien's "dir"/ca.pem`,
  bundleFile: "/tmp/back\\slash $(rm -rf x)/bundle.pem",
  trustStoreFile: "/tmp/a b/truststore.jks",
  trustStorePassword: "changeit",
  wgetrcFile: "/tmp/a'b/wgetrc",
  mavenSettingsFile: "/tmp/a'b/maven-settings.xml",
  curlHome: "/tmp/a'b/curl",
};

const NAMES = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "http_proxy",
  "https_proxy",
  "NO_PROXY",
  "no_proxy",
  "CURL_CA_BUNDLE",
  "CURL_HOME",
  "WGETRC",
  "GIT_SSL_CAINFO",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_KEY_0",
  "GIT_CONFIG_VALUE_0",
  "NODE_EXTRA_CA_CERTS",
  "NODE_USE_ENV_PROXY",
  "npm_config_proxy",
  "npm_config_https_proxy",
  "npm_config_noproxy",
  "npm_config_cafile",
  "pnpm_config_proxy",
  "pnpm_config_https_proxy",
  "pnpm_config_no_proxy",
  "YARN_HTTP_PROXY",
  "YARN_HTTPS_PROXY",
  "YARN_HTTPS_CA_FILE_PATH",
  "DENO_CERT",
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "PIP_PROXY",
  "PIP_CERT",
  "CARGO_HTTP_PROXY",
  "CARGO_HTTP_CAINFO",
  "BUNDLE_SSL_CA_CERT",
  "COMPOSER_CAFILE",
  "JAVA_TOOL_OPTIONS",
  "MAVEN_OPTS",
  "HOARD_MAVEN_SETTINGS",
  "HOARD_APT_OPTIONS",
];

Deno.test("envVariables: proxy variables, CA for clients that add it, bundle for those that replace roots", () => {
  const vars = envVariables(INPUTS);
  assert.deepEqual(vars.map(([n]) => n), NAMES);
  const v = Object.fromEntries(vars);
  for (const n of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]) {
    assert.equal(v[n], "http://127.0.0.1:8080", n);
  }
  assert.equal(v["NO_PROXY"], "localhost,127.0.0.1,::1");
  assert.equal(v["no_proxy"], "localhost,127.0.0.1,::1");
  // Node and Deno add these to their own roots: hoard's CA alone.
  assert.equal(v["NODE_EXTRA_CA_CERTS"], INPUTS.caFile);
  assert.equal(v["DENO_CERT"], INPUTS.caFile);
  // These replace the roots: the bundle.
  for (const n of ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE"]) {
    assert.equal(v[n], INPUTS.bundleFile, n);
  }
  assert.equal(v["GIT_SSL_CAINFO"], INPUTS.bundleFile);
  assert.equal(v["CARGO_HTTP_CAINFO"], INPUTS.bundleFile);
  assert.equal(v["BUNDLE_SSL_CA_CERT"], INPUTS.bundleFile);
  assert.equal(v["COMPOSER_CAFILE"], INPUTS.bundleFile);
  assert.equal(
    v["HOARD_APT_OPTIONS"],
    "-o Acquire::http::Proxy=http://127.0.0.1:8080 -o Acquire::https::Proxy=http://127.0.0.1:8080" +
      " -o Acquire::https::CAInfo=/home/ci/.cache/hoard/ca/bundle.pem",
  );
});

Deno.test("formatEnv: every format is known", () => {
  assert.deepEqual([...ENV_FORMATS], ["sh", "fish", "github", "json"]);
});

Deno.test("formatEnv sh: one export line per variable, single-quoted", () => {
  const out = formatEnv(envVariables(INPUTS), "sh");
  const lines = out.split("\n");
  assert.equal(lines.pop(), "", "ends with a newline");
  assert.equal(lines.length, NAMES.length);
  assert.equal(lines[0], "export HTTP_PROXY='http://127.0.0.1:8080'");
  assert.equal(lines[13], "export NODE_EXTRA_CA_CERTS='/home/ci/.cache/hoard/ca/ca.pem'");
  assert.equal(
    formatEnv([["X", "it's"]], "sh"),
    "export X='it'\\''s'\n",
  );
});

/** Evaluates `script` in a real bash with an empty environment and returns the values of `names`. */
async function evalInBash(script: string, names: string[]): Promise<Record<string, string>> {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      'eval "$1"; shift; for n in "$@"; do printf "%s\\0" "${!n}"; done',
      "_",
      script,
      ...names,
    ],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.equal(dec.decode(out.stderr), "");
  const values = dec.decode(out.stdout).split("\0");
  values.pop();
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

Deno.test("formatEnv sh: bash evaluates it back to exactly the values (quotes, $, backquotes)", async () => {
  for (const inputs of [INPUTS, AWKWARD]) {
    const vars = envVariables(inputs);
    const got = await evalInBash(formatEnv(vars, "sh"), NAMES);
    assert.deepEqual(got, Object.fromEntries(vars));
  }
  // And the variables are exported, so child processes see them.
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      `eval "$1"; bash -c 'printf %s "$NO_PROXY"'`,
      "_",
      formatEnv(envVariables(AWKWARD), "sh"),
    ],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin" },
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout), AWKWARD.noProxy);
});

function hasFish(): boolean {
  try {
    return new Deno.Command("fish", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false; // not installed
  }
}

Deno.test("formatEnv fish: set -gx lines, single-quoted", async () => {
  const out = formatEnv(envVariables(INPUTS), "fish");
  const lines = out.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, NAMES.length);
  assert.equal(lines[0], "set -gx HTTP_PROXY 'http://127.0.0.1:8080'");
  assert.equal(lines[4], "set -gx NO_PROXY 'localhost,127.0.0.1,::1'");
  assert.equal(lines[6], "set -gx CURL_CA_BUNDLE '/home/ci/.cache/hoard/ca/bundle.pem'");
  for (const [i, line] of lines.entries()) assert.ok(line.startsWith(`set -gx ${NAMES[i]} '`));
  assert.equal(formatEnv([["X", "it's"]], "fish"), "set -gx X 'it'\\''s'\n");
  // Where fish is installed, it reads the values back.
  if (hasFish()) {
    const vars: [string, string][] = [["A", "it's"], ["B", "$HOME a b"], ["C", INPUTS.caFile]];
    const r = await new Deno.Command("fish", {
      args: ["-c", `${formatEnv(vars, "fish")}printf '%s\\n' $A $B $C`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(r.stdout), "it's\n$HOME a b\n" + INPUTS.caFile + "\n");
  }
});

Deno.test("formatEnv github: NAME=value lines for $GITHUB_ENV", () => {
  const vars = envVariables(INPUTS);
  const out = formatEnv(vars, "github");
  assert.ok(out.endsWith("\n"));
  const lines = out.slice(0, -1).split("\n");
  assert.equal(lines.length, NAMES.length);
  assert.equal(lines[1], "HTTPS_PROXY=http://127.0.0.1:8080");
  assert.equal(
    lines[NAMES.indexOf("SSL_CERT_FILE")],
    "SSL_CERT_FILE=/home/ci/.cache/hoard/ca/bundle.pem",
  );
  // Parsed the way the runner does (split at the first "="), the values are exact.
  const parsed = lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
  assert.deepEqual(parsed, vars);
  // No quoting: the runner takes the rest of the line literally.
  assert.equal(formatEnv([["X", "it's a b"]], "github"), "X=it's a b\n");
});

Deno.test("formatEnv json: an object of every variable", () => {
  for (const inputs of [INPUTS, AWKWARD]) {
    const vars = envVariables(inputs);
    const out = formatEnv(vars, "json");
    assert.ok(out.endsWith("}\n"));
    const parsed = JSON.parse(out);
    assert.deepEqual(parsed, Object.fromEntries(vars));
    assert.deepEqual(Object.keys(parsed), NAMES, "in order");
  }
});

Deno.test("envVariables: clients whose config files pin a CA or proxy get the variables that beat them", () => {
  const v = Object.fromEntries(envVariables(INPUTS));
  // npm: npm_config_* beat every npmrc; cafile replaces the roots, so the bundle.
  assert.equal(v["npm_config_cafile"], INPUTS.bundleFile);
  assert.equal(v["npm_config_https_proxy"], INPUTS.proxyUrl);
  assert.equal(v["npm_config_noproxy"], INPUTS.noProxy);
  // pnpm 12: its own prefix for the proxy; hoard's CA added to an npmrc cafile.
  assert.equal(v["pnpm_config_https_proxy"], INPUTS.proxyUrl);
  assert.equal(v["pnpm_config_no_proxy"], INPUTS.noProxy);
  assert.equal(v["NODE_EXTRA_CA_CERTS"], INPUTS.caFile);
  assert.equal(v["YARN_HTTPS_CA_FILE_PATH"], INPUTS.bundleFile);
  // Yarn 4 refuses YARN_CAFILE and YARN_PROXY: Yarn 1's entry is left out of the default set.
  assert.equal(v["YARN_CAFILE"], undefined);
  assert.equal(v["YARN_PROXY"], undefined);
  assert.equal(v["PIP_PROXY"], INPUTS.proxyUrl);
  assert.equal(v["CARGO_HTTP_PROXY"], INPUTS.proxyUrl);
  assert.equal(v["WGETRC"], INPUTS.wgetrcFile);
  assert.equal(v["CURL_HOME"], INPUTS.curlHome);
  assert.deepEqual(
    [v["GIT_CONFIG_COUNT"], v["GIT_CONFIG_KEY_0"], v["GIT_CONFIG_VALUE_0"]],
    ["1", "http.proxy", INPUTS.proxyUrl],
  );
});

Deno.test("envVariables: the JVM gets proxy and trust-store properties, nonProxyHosts in its syntax", () => {
  const v = Object.fromEntries(
    envVariables({ ...INPUTS, noProxy: "localhost,.corp.example,::1" }, parseClients("gradle")),
  );
  assert.equal(
    v["JAVA_TOOL_OPTIONS"],
    "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=8080 -Dhttps.proxyHost=127.0.0.1 " +
      "-Dhttps.proxyPort=8080 -Dhttp.nonProxyHosts=localhost|*.corp.example|[::1] " +
      "-Djavax.net.ssl.trustStore=/home/ci/.cache/hoard/ca/truststore.jks " +
      "-Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=JKS",
  );
  // An empty NO_PROXY must not leave the JVM's default, which skips loopback.
  const empty = Object.fromEntries(envVariables({ ...INPUTS, noProxy: "" }, ["jvm"]));
  assert.match(empty["JAVA_TOOL_OPTIONS"]!, / -Dhttp\.nonProxyHosts=none\.invalid /);
});

Deno.test("envVariables: Maven gets the JVM's properties in MAVEN_OPTS too, and its settings copy", () => {
  const vars = envVariables(
    { ...INPUTS, existing: (n) => n === "MAVEN_OPTS" ? "-Xmx1g" : undefined },
    parseClients("mvn"),
  );
  assert.deepEqual(vars.map(([n]) => n).slice(6), [
    "JAVA_TOOL_OPTIONS",
    "MAVEN_OPTS",
    "HOARD_MAVEN_SETTINGS",
  ]);
  const v = Object.fromEntries(vars);
  // MAVEN_OPTS follows .mvn/jvm.config on java's command line: the same properties there win.
  assert.equal(v["MAVEN_OPTS"], `-Xmx1g ${v["JAVA_TOOL_OPTIONS"]}`);
  assert.equal(v["HOARD_MAVEN_SETTINGS"], INPUTS.mavenSettingsFile);
});

Deno.test("envVariables: JAVA_TOOL_OPTIONS and GIT_CONFIG_* keep the caller's own, ours last, once", () => {
  const existing: Record<string, string> = {
    JAVA_TOOL_OPTIONS: "-Xmx2g",
    GIT_CONFIG_COUNT: "2",
    GIT_CONFIG_KEY_0: "core.autocrlf",
    GIT_CONFIG_VALUE_0: "false",
    GIT_CONFIG_KEY_1: "user.name",
  };
  const first = Object.fromEntries(
    envVariables({ ...INPUTS, existing: (n) => existing[n] }, ["jvm", "git"]),
  );
  assert.match(first["JAVA_TOOL_OPTIONS"]!, /^-Xmx2g -Dhttp\.proxyHost=127\.0\.0\.1 /);
  assert.equal(first["GIT_CONFIG_COUNT"], "3");
  assert.equal(first["GIT_CONFIG_KEY_2"], "http.proxy");
  assert.equal(first["GIT_CONFIG_VALUE_2"], INPUTS.proxyUrl);
  // hoard env run again in the same shell: the same values, not a second copy.
  const again = Object.fromEntries(
    envVariables({ ...INPUTS, existing: (n) => ({ ...existing, ...first })[n] }, ["jvm", "git"]),
  );
  assert.deepEqual(again, first);
});

Deno.test("parseClients: names and aliases, table order, each once; unknown names listed", () => {
  assert.deepEqual(parseClients("maven, PNPM,npm,skopeo,sbt"), [
    "npm",
    "pnpm",
    "go",
    "jvm",
    "maven",
  ]);
  assert.deepEqual(parseClients("yarn-berry,poetry,gem"), ["yarn", "python", "ruby"]);
  assert.deepEqual(parseClients("bundle,bundler"), ["ruby"]);
  assert.deepEqual(parseClients("yarn1,yarnpkg,yarn-classic"), ["yarn-classic"]);
  assert.throws(() => parseClients("npm,gradel"), (err: Error) => {
    assert.ok(err instanceof SyntaxError);
    assert.match(err.message, /^unknown client "gradel"; known: apt, buildah, /);
    for (const n of ["npm", "maven", "cargo", "go", "pip"]) assert.ok(CLIENT_NAMES.includes(n));
    return true;
  });
  assert.throws(() => parseClients(" , "), /no client named/);
});

Deno.test("envVariables with clients: the proxy variables, then only what those clients need", () => {
  const names = envVariables(INPUTS, parseClients("cargo")).map(([n]) => n);
  assert.deepEqual(names, [...NAMES.slice(0, 6), "CARGO_HTTP_PROXY", "CARGO_HTTP_CAINFO"]);
  // go and python share SSL_CERT_FILE: once.
  const shared = envVariables(INPUTS, parseClients("go,poetry")).map(([n]) => n);
  assert.deepEqual(shared.slice(6), ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"]);
});

Deno.test("envVariables: pnpm gets npm's variables, its own proxy ones and NODE_EXTRA_CA_CERTS", () => {
  const names = envVariables(INPUTS, parseClients("pnpm")).map(([n]) => n);
  assert.deepEqual(names.slice(6), [
    "npm_config_proxy",
    "npm_config_https_proxy",
    "npm_config_noproxy",
    "npm_config_cafile",
    "pnpm_config_proxy",
    "pnpm_config_https_proxy",
    "pnpm_config_no_proxy",
    "NODE_EXTRA_CA_CERTS",
  ]);
});

Deno.test("envVariables: Yarn 1 only when named, with the variables that beat a .yarnrc", () => {
  const v = Object.fromEntries(envVariables(INPUTS, parseClients("yarn-classic")));
  assert.deepEqual(Object.keys(v).slice(6), ["YARN_PROXY", "YARN_HTTPS_PROXY", "YARN_CAFILE"]);
  assert.equal(v["YARN_CAFILE"], INPUTS.bundleFile);
  assert.equal(v["YARN_PROXY"], INPUTS.proxyUrl);
});

Deno.test("wgetrc: the user's own settings first, hoard's after them (wget takes the last)", () => {
  const rc = wgetrc("tries = 3\nca_certificate = /etc/own.pem", INPUTS);
  assert.equal(
    rc,
    "tries = 3\nca_certificate = /etc/own.pem\n# hoard env\nuse_proxy = on\n" +
      "http_proxy = http://127.0.0.1:8080\nhttps_proxy = http://127.0.0.1:8080\n" +
      "no_proxy = localhost,127.0.0.1,::1\nca_certificate = /home/ci/.cache/hoard/ca/bundle.pem\n",
  );
});

Deno.test("mavenSettings: the user's settings, comments dropped, their proxies replaced by hoard's", () => {
  const user = `<?xml version="1.0"?>
<settings>
  <!-- <proxies><proxy><host>commented.example</host></proxy></proxies> -->
  <mirrors><mirror><id>m</id><mirrorOf>*</mirrorOf><url>https://repo.example.test/</url></mirror></mirrors>
  <proxies>
    <proxy><id>corp</id><active>true</active><protocol>https</protocol><host>corp.example</host><port>3128</port></proxy>
  </proxies>
  <servers><server><id>m</id><password>\${env.REPO_TOKEN}</password></server></servers>
</settings>
`;
  const out = mavenSettings(user, { ...INPUTS, noProxy: "localhost,.corp.example,::1" });
  assert.doesNotMatch(out, /corp\.example<|commented|<!--/);
  assert.match(out, /<mirrorOf>\*<\/mirrorOf><url>https:\/\/repo\.example\.test\/<\/url>/);
  assert.match(out, /<password>\$\{env\.REPO_TOKEN\}<\/password>/);
  const proxies = [...out.matchAll(/<proxy>([\s\S]*?)<\/proxy>/g)].map((m) =>
    m[1]!.replace(/\s+/g, "")
  );
  assert.deepEqual(
    proxies,
    ["https", "http"].map((p) =>
      `<id>hoard-${p}</id><active>true</active><protocol>${p}</protocol><host>127.0.0.1</host>` +
      `<port>8080</port><nonProxyHosts>localhost|*.corp.example|[::1]</nonProxyHosts>`
    ),
  );
  // No <proxies> of the user's: ours go in before </settings>; an empty one is replaced.
  for (const given of ["<settings>\n</settings>\n", "<settings><proxies/></settings>"]) {
    const added = mavenSettings(given, INPUTS);
    assert.equal(added.match(/<proxy>/g)?.length, 2, given);
    assert.match(added, /<\/proxies>\s*<\/settings>\s*$/, given);
  }
  // No settings at all: a settings.xml of hoard's proxies alone.
  const alone = mavenSettings("", INPUTS);
  assert.match(alone, /^<\?xml [^\n]*\n[\s\S]*<settings [^>]*>\s*<proxies>[\s\S]*<\/settings>\n$/);
  assert.equal(alone.match(/<proxy>/g)?.length, 2);
});

Deno.test("curlrc: the user's own options first, then hoard's cacert (curl takes the last)", () => {
  assert.equal(
    curlrc("user-agent = lab/1\ncacert = /etc/own.pem", INPUTS),
    "user-agent = lab/1\ncacert = /etc/own.pem\n# hoard env\n" +
      `cacert = "/home/ci/.cache/hoard/ca/bundle.pem"\n`,
  );
  assert.equal(curlrc("", INPUTS), `# hoard env\ncacert = "/home/ci/.cache/hoard/ca/bundle.pem"\n`);
  // Quoted: curl reads backslash escapes inside double quotes, and a bare value ends at a space.
  assert.equal(
    curlrc("", AWKWARD),
    `# hoard env\ncacert = "/tmp/back\\\\slash $(rm -rf x)/bundle.pem"\n`,
  );
});

Deno.test("curlrc: proxy and noproxy only over a proxy the user's curlrc sets itself", () => {
  const ours = `proxy = "http://127.0.0.1:8080"\nnoproxy = "localhost,127.0.0.1,::1"\n`;
  for (
    const line of ["proxy = http://corp:3128", "--proxy corp:3128", "-x corp:3128", "  socks5: h"]
  ) {
    assert.ok(curlrc(`${line}\n`, INPUTS).endsWith(ours), line);
  }
  for (
    const line of ["# proxy = http://corp:3128", "proxy-user = a:b", "proxytunnel", "max-time 5"]
  ) {
    const added = curlrc(`${line}\n`, INPUTS).split("# hoard env\n")[1];
    assert.equal(added, `cacert = "/home/ci/.cache/hoard/ca/bundle.pem"\n`, line);
  }
});

Deno.test("envVariables: a poetry source whose certificate is pinned gets POETRY_CERTIFICATES_NAME_CERT", () => {
  const v = envVariables({ ...INPUTS, poetrySources: ["lab", "corp-mirror", "a.b"] }, ["python"]);
  assert.deepEqual(v.slice(6), [
    ["SSL_CERT_FILE", INPUTS.bundleFile],
    ["REQUESTS_CA_BUNDLE", INPUTS.bundleFile],
    ["POETRY_CERTIFICATES_LAB_CERT", INPUTS.bundleFile],
    ["POETRY_CERTIFICATES_CORP_MIRROR_CERT", INPUTS.bundleFile],
    ["POETRY_CERTIFICATES_A_B_CERT", INPUTS.bundleFile],
  ]);
});
