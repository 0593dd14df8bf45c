/**
 * `hoard env`: the environment that makes common clients use hoard and trust
 * its CA, in the syntax of a shell or of CI.
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
}

/** The variables, in order. */
export function envVariables(i: EnvInputs): [string, string][] {
  return [
    ["HTTP_PROXY", i.proxyUrl],
    ["HTTPS_PROXY", i.proxyUrl],
    ["http_proxy", i.proxyUrl],
    ["https_proxy", i.proxyUrl],
    ["NO_PROXY", i.noProxy],
    ["no_proxy", i.noProxy],
    // These add to the client's own roots.
    ["NODE_EXTRA_CA_CERTS", i.caFile],
    ["DENO_CERT", i.caFile],
    // These replace the client's roots, so they get the system roots too.
    ["SSL_CERT_FILE", i.bundleFile],
    ["REQUESTS_CA_BUNDLE", i.bundleFile],
    ["PIP_CERT", i.bundleFile],
    ["CURL_CA_BUNDLE", i.bundleFile],
    ["GIT_SSL_CAINFO", i.bundleFile],
    ["CARGO_HTTP_CAINFO", i.bundleFile],
    // apt reads no environment for https: pass these as `apt-get $HOARD_APT_OPTIONS ...`.
    [
      "HOARD_APT_OPTIONS",
      `-o Acquire::http::Proxy=${i.proxyUrl} -o Acquire::https::Proxy=${i.proxyUrl} -o Acquire::https::CAInfo=${i.bundleFile}`,
    ],
  ];
}

/** The variables in `format`. */
export function formatEnv(vars: [string, string][], format: EnvFormat): string {
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
