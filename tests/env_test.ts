import assert from "node:assert/strict";
import { ENV_FORMATS, type EnvInputs, envVariables, formatEnv } from "../src/env.ts";

const INPUTS: EnvInputs = {
  proxyUrl: "http://127.0.0.1:8080",
  noProxy: "localhost,127.0.0.1,::1",
  caFile: "/home/ci/.cache/hoard/ca/ca.pem",
  bundleFile: "/home/ci/.cache/hoard/ca/bundle.pem",
};

// Values a shell must not touch: a single quote, spaces, $, backquotes, a backslash, double quotes.
const AWKWARD: EnvInputs = {
  proxyUrl: "http://127.0.0.1:3128",
  noProxy: `it's,$HOME,\`id\`,a b`,
  caFile: `/tmp/o'brien's "dir"/ca.pem`,
  bundleFile: "/tmp/back\\slash $(rm -rf x)/bundle.pem",
};

const NAMES = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "http_proxy",
  "https_proxy",
  "NO_PROXY",
  "no_proxy",
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "PIP_CERT",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "CARGO_HTTP_CAINFO",
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
  assert.equal(lines[6], "export NODE_EXTRA_CA_CERTS='/home/ci/.cache/hoard/ca/ca.pem'");
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
  assert.equal(lines[11], "set -gx CURL_CA_BUNDLE '/home/ci/.cache/hoard/ca/bundle.pem'");
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
  assert.equal(lines[8], "SSL_CERT_FILE=/home/ci/.cache/hoard/ca/bundle.pem");
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
