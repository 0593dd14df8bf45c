/**
 * The command line. The only module that prints usage or exits the process.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startProxy } from "./accept.ts";
import { errorLine, oneLine } from "./errors.ts";
import { flushStderr, LOG_LEVELS, type LogLevel } from "./log.ts";
import type { ProxyOptions } from "./options.ts";
import { VERSION } from "./version.ts";
import { type CaSource, loadOrCreateCa } from "./tls/ca.ts";
import {
  type Client,
  ENV_FORMATS,
  type EnvFormat,
  envVariables,
  formatEnv,
  parseClients,
} from "./env.ts";
import { type EnvFiles, writeEnvFiles } from "./env_files.ts";
import { formatAuthority } from "./http1/target.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { parseProxyUrl } from "./origin/upstream.ts";
import { parseHostMapping } from "./origin/host_map.ts";
import { isLoopbackHost, parseCidr } from "./access.ts";
import { Cache } from "./cache/cache.ts";
import { formatBytes, readRunStats, summaryText } from "./report.ts";
import { defaultCacheDir, readEnv } from "./options.ts";
import { Logger } from "./log.ts";
import { type DirLock, lockCacheDir } from "./cache/dir_lock.ts";
import { parseS3Url, S3Store } from "./cache/shared/s3.ts";
import { pruneShared, sharedStats } from "./cache/shared/admin.ts";

/** Usage text, printed by `--help` and after a usage error. */
export const USAGE = `hoard ${VERSION}: a caching HTTP/HTTPS forward proxy for CI

Usage: hoard [serve] [options]        run the proxy
       hoard env [--for CLIENTS] [--format sh|fish|github|json] [--no-proxy LIST]
                                      print the variables that make clients use
                                      hoard and trust its CA (all clients, or
                                      CLIENTS: npm,pip,cargo,go,maven,...)
       hoard ca [--pem]               print the CA certificate's path (or PEM)
       hoard stats                    entries, bytes and the last run's counters
       hoard prune [--max-size SIZE] [--unused-for DURATION]
                                      evict least recently used entries down to
                                      SIZE; drop those no run used for DURATION
       hoard stats --shared           what the shared cache's bucket holds
       hoard prune --shared --older-than DURATION
                                      delete shared objects uploaded longer ago
  env and ca take --host, --port, --cache-dir, --ca-dir, --ca-cert, --ca-key as
  serve does, so that all three agree; stats and prune take --cache-dir, and with
  --shared, --shared-cache (or $HOARD_SHARED_CACHE).

Options:
  --host HOST               address to listen on (default 127.0.0.1)
  --port PORT               port to listen on; 0 picks a free one (default 8080)
  --cache-dir DIR           cache directory (default $HOARD_CACHE_DIR, else the
                            user cache directory + /hoard)
  --max-size SIZE           cache size cap, e.g. 500M, 5G (default 10G); least
                            recently used entries are evicted beyond it
  --shared-cache s3://BUCKET[/PREFIX]
                            a second tier shared by a fleet (default
                            $HOARD_SHARED_CACHE): read after the local cache,
                            written behind clients; credentials, region and
                            endpoint from the AWS variables and ~/.aws files
  --shared-timeout SECS     time for the shared tier's first byte (default 0.3)
  --shared-uploads N        shared-tier uploads at once (default 2)
  --intercept[=HOSTS]       decrypt (and so cache) CONNECT tunnels: to every host,
                            or to HOSTS (comma-separated, *.example.com for
                            subdomains); others stay plain tunnels
  --ca-dir DIR              where hoard's CA is kept (default CACHE_DIR/ca); it is
                            created on first use
  --ca-cert FILE, --ca-key FILE
                            sign with this CA instead (PEM; key in PKCS#8)
  --config FILE             rules (JSON or JSONC): immutable artifacts, TTLs, cache
                            keys without signatures; see README
  --tenancy single|shared   who may be served what a rule stored although its
                            request carried credentials (image blobs, private
                            tarballs): single (default) every client; shared
                            only a client whose own credentials the origin
                            accepts for it, checked with a conditional request
  --allow-clients CIDRS     client networks allowed (e.g. 10.0.0.0/8,192.168.1.7);
                            others get 403
  --auth USER:PASS          require these proxy credentials (Basic); others get 407
                            (binding anything but loopback needs one of these two)
  --allow-hosts HOSTS       origins the proxy may reach (names, *.example.com)
  --deny-hosts HOSTS        origins the proxy refuses
  --deny-private            refuse origins on loopback, private, link-local addresses
  --resolve HOST=ADDR,...   connect to ADDR for HOST (a name or *.domain) instead of
                            asking DNS; TLS still checks HOST (a mirror, a registry
                            on this machine under its real name)
  --max-connections N       client connections at once; more get 503 (default 1024)
  --max-request-body SIZE   largest body of a GET or HEAD (default 1M)
  --offline                 never contact an origin: serve what is stored, whatever
                            its age; 504 for the rest (listed at exit)
  --stale-if-error DURATION how long past its freshness a stored response stands in
                            for an origin that fails (default 7d)
  --summary-json FILE       write the run summary there as JSON at exit (it is also
                            logged, and appended to $GITHUB_STEP_SUMMARY when set)
  --upstream-proxy URL      reach origins through this proxy (http://[user:pass@]host:port)
  --use-env-proxy           reach origins through hoard's own HTTP_PROXY / HTTPS_PROXY
                            (minus NO_PROXY)
  --upstream-ca FILE        extra CA certificate(s), PEM, trusted for https origins
  --connect-ports LIST      ports CONNECT tunnels may reach, comma-separated
                            (default 443)
  --connect-timeout SECS    time to connect to an origin (default 10)
  --response-timeout SECS   time for an origin to start answering (default 60)
  --idle-timeout SECS       longest silence of an origin inside a body (default 60)
  --header-timeout SECS     time a client has to send a whole request head (default 30)
  --keep-alive-timeout SECS how long an idle client connection is kept (default 60)
  --shutdown-grace SECS     on SIGINT/SIGTERM, time left for requests in flight (default 10)
  --log-level LEVEL         debug | info | warn | error | silent (default info)
  --log-format FORMAT       text (one line per request for people) or json (one
                            object per request)
  -q, --quiet               log warnings and errors only (--log-level warn)
  -h, --help                show this help
  -V, --version             print the version

Point clients at it: eval "$(hoard env)", or HTTP_PROXY / HTTPS_PROXY by hand.
`;

/** A command line that cannot be run as given; exit code 2. */
export class UsageError extends Error {
  /** @param message one line naming the bad flag or value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "serve"; options: ProxyOptions; upstreamCaFiles: string[]; configFile?: string }
  | { kind: "prune"; cacheDir?: string; maxSize?: number; unusedFor?: number }
  /** `prune --shared`: the bucket (`url`, else $HOARD_SHARED_CACHE), objects older than `olderThan` seconds. */
  | { kind: "prune-shared"; url?: string; olderThan: number }
  | { kind: "stats"; cacheDir?: string }
  /** `stats --shared`: what the bucket (`url`, else $HOARD_SHARED_CACHE) holds. */
  | { kind: "stats-shared"; url?: string }
  | { kind: "ca"; ca: CaSource; pem: boolean }
  | {
    kind: "env";
    ca: CaSource;
    proxyUrl: string;
    noProxy: string;
    format: EnvFormat;
    /** Only what these clients need; every client's when undefined. */
    clients?: Client[];
  };

const CA_FLAGS = ["host", "port", "cache-dir", "ca-dir", "ca-cert", "ca-key"];
// The flags of each command but serve, which takes all the others.
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  prune: ["cache-dir", "max-size", "unused-for", "shared", "shared-cache", "older-than"],
  stats: ["cache-dir", "shared", "shared-cache"],
  ca: [...CA_FLAGS, "pem"],
  env: [...CA_FLAGS, "format", "no-proxy", "for"],
};
const NOT_FOR_SERVE = ["pem", "format", "no-proxy", "for", "shared", "older-than"];

/** Hosts that skip the proxy in `hoard env` unless `--no-proxy` says otherwise. */
export const DEFAULT_NO_PROXY = "localhost,127.0.0.1,::1";

/**
 * Parses command-line arguments.
 *
 * @throws {UsageError} for an unknown flag, a missing or bad value, or an unknown command.
 */
export function parseCommandLine(args: string[]): Command {
  // `--intercept` alone means every host (parseArgs wants a value for it).
  args = args.map((a, i) =>
    a === "--intercept" && (i + 1 >= args.length || args[i + 1]!.startsWith("-"))
      ? "--intercept=*"
      : a
  );
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        "cache-dir": { type: "string" },
        "max-size": { type: "string" },
        "unused-for": { type: "string" },
        "shared-cache": { type: "string" },
        "shared-timeout": { type: "string" },
        "shared-uploads": { type: "string" },
        shared: { type: "boolean" },
        "older-than": { type: "string" },
        config: { type: "string" },
        offline: { type: "boolean" },
        tenancy: { type: "string" },
        "allow-clients": { type: "string" },
        auth: { type: "string" },
        "allow-hosts": { type: "string" },
        "deny-hosts": { type: "string" },
        "deny-private": { type: "boolean" },
        resolve: { type: "string", multiple: true },
        "max-connections": { type: "string" },
        "max-request-body": { type: "string" },
        "upstream-proxy": { type: "string" },
        "use-env-proxy": { type: "boolean" },
        "stale-if-error": { type: "string" },
        "summary-json": { type: "string" },
        "connect-ports": { type: "string" },
        intercept: { type: "string" },
        "ca-dir": { type: "string" },
        "ca-cert": { type: "string" },
        "ca-key": { type: "string" },
        pem: { type: "boolean" },
        format: { type: "string" },
        "no-proxy": { type: "string" },
        for: { type: "string" },
        "upstream-ca": { type: "string", multiple: true },
        "connect-timeout": { type: "string" },
        "response-timeout": { type: "string" },
        "idle-timeout": { type: "string" },
        "header-timeout": { type: "string" },
        "keep-alive-timeout": { type: "string" },
        "shutdown-grace": { type: "string" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (err) {
    throw new UsageError(errorLine(err));
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { kind: "help" };
  if (v.version) return { kind: "version" };
  const [command = "serve", ...rest] = positionals;
  if (command !== "serve" && !(command in COMMAND_FLAGS)) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const allowed = COMMAND_FLAGS[command];
  const extra = Object.keys(v).find((k) =>
    allowed === undefined ? NOT_FOR_SERVE.includes(k) : !allowed.includes(k)
  );
  if (extra !== undefined) throw new UsageError(`--${extra} is not an option of hoard ${command}`);
  for (const flag of ["ca-dir", "ca-cert", "ca-key"] as const) {
    if (v[flag] === "") throw new UsageError(`--${flag}: empty path`);
  }
  if ((v["ca-cert"] === undefined) !== (v["ca-key"] === undefined)) {
    throw new UsageError("--ca-cert and --ca-key go together");
  }
  if (v["cache-dir"] === "") throw new UsageError("--cache-dir: empty path");
  const maxSize = v["max-size"] === undefined ? undefined : parseSize("--max-size", v["max-size"]);
  const sharedUrl = v["shared-cache"];
  if (sharedUrl !== undefined) checkS3Url(sharedUrl);
  if (v["shared-cache"] !== undefined && !v.shared && command !== "serve") {
    throw new UsageError(`--shared-cache goes with --shared in hoard ${command}`);
  }
  if (command === "stats") {
    return v.shared ? { kind: "stats-shared", url: sharedUrl } : {
      kind: "stats",
      cacheDir: v["cache-dir"],
    };
  }
  if (command === "ca" || command === "env") {
    const cacheDir = v["cache-dir"] ?? defaultCacheDir();
    const ca: CaSource = { dir: v["ca-dir"] ?? `${cacheDir}/ca` };
    if (v["ca-cert"] !== undefined) ca.certFile = v["ca-cert"];
    if (v["ca-key"] !== undefined) ca.keyFile = v["ca-key"];
    if (command === "ca") return { kind: "ca", ca, pem: v.pem === true };
    const format = v.format ?? "sh";
    if (!(ENV_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(
        `--format: expected one of ${ENV_FORMATS.join(", ")}, got ${JSON.stringify(format)}`,
      );
    }
    const host = v.host === undefined ? "127.0.0.1" : parseHost(v.host);
    const port = v.port === undefined ? 8080 : parsePort("--port", v.port, false);
    // A proxy listening on every address is reached on loopback from the same machine.
    const clientHost = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
    return {
      kind: "env",
      ca,
      proxyUrl: `http://${formatAuthority(clientHost, port)}`,
      noProxy: v["no-proxy"] ?? DEFAULT_NO_PROXY,
      format: format as EnvFormat,
      ...(v.for === undefined ? {} : { clients: parseClientList(v.for) }),
    };
  }
  if (command === "prune" && v.shared) {
    if (v["older-than"] === undefined) {
      throw new UsageError("hoard prune --shared needs --older-than");
    }
    if (maxSize !== undefined) {
      throw new UsageError("hoard prune --shared takes --older-than, not --max-size");
    }
    return {
      kind: "prune-shared",
      url: sharedUrl,
      olderThan: parseDuration("--older-than", v["older-than"]),
    };
  }
  if (v["older-than"] !== undefined) throw new UsageError("--older-than goes with --shared");
  if (command === "prune") {
    const unusedFor = v["unused-for"] === undefined
      ? undefined
      : parseDuration("--unused-for", v["unused-for"]);
    if (maxSize === undefined && unusedFor === undefined) {
      throw new UsageError("hoard prune needs --max-size or --unused-for");
    }
    return { kind: "prune", cacheDir: v["cache-dir"], maxSize, unusedFor };
  }

  const options: ProxyOptions = {};
  if (v.host !== undefined) options.host = parseHost(v.host);
  if (v.intercept !== undefined) {
    options.intercept = hostPatterns("--intercept", v.intercept);
  }
  if (v.offline) options.offline = true;
  if (v.tenancy !== undefined) {
    if (v.tenancy !== "single" && v.tenancy !== "shared") {
      throw new UsageError(
        `--tenancy: expected single or shared, got ${JSON.stringify(v.tenancy)}`,
      );
    }
    options.tenancy = v.tenancy;
  }
  if (v["allow-clients"] !== undefined) {
    const nets = list(v["allow-clients"]);
    for (const n of nets) {
      try {
        parseCidr(n);
      } catch (err) {
        throw new UsageError(`--allow-clients: ${errorLine(err)}`);
      }
    }
    if (nets.length === 0) throw new UsageError("--allow-clients: empty list");
    options.allowClients = nets;
  }
  if (v.auth !== undefined) {
    if (!/^[^:]+:.+$/.test(v.auth)) throw new UsageError("--auth: expected user:password");
    options.auth = v.auth;
  }
  if (v["allow-hosts"] !== undefined) {
    options.allowHosts = hostPatterns("--allow-hosts", v["allow-hosts"]);
  }
  if (v["deny-hosts"] !== undefined) {
    options.denyHosts = hostPatterns("--deny-hosts", v["deny-hosts"]);
  }
  if (v["deny-private"]) options.denyPrivate = true;
  if (v.resolve !== undefined) {
    try {
      options.resolve = v.resolve.flatMap(list).map(parseHostMapping);
    } catch (err) {
      throw new UsageError(`--resolve: ${errorLine(err)}`);
    }
  }
  if (v["max-connections"] !== undefined) {
    const n = /^\d{1,6}$/.test(v["max-connections"]) ? Number(v["max-connections"]) : 0;
    if (n < 1) {
      throw new UsageError(
        `--max-connections: expected a number above 0, got ${JSON.stringify(v["max-connections"])}`,
      );
    }
    options.maxConnections = n;
  }
  if (v["max-request-body"] !== undefined) {
    options.maxRequestBody = parseSize("--max-request-body", v["max-request-body"]);
  }
  // A proxy that anyone can use is a bug: off loopback it needs an allow-list or credentials.
  if (
    options.host !== undefined && !isLoopbackHost(options.host) && !options.allowClients &&
    !options.auth
  ) {
    throw new UsageError(
      `--host ${options.host} exposes hoard to the network: give --allow-clients CIDR,... or --auth user:pass`,
    );
  }
  if (v["upstream-proxy"] !== undefined) {
    try {
      parseProxyUrl(v["upstream-proxy"]);
    } catch (err) {
      throw new UsageError(`--upstream-proxy: ${errorLine(err)}`);
    }
    options.upstreamProxy = v["upstream-proxy"];
  }
  if (v["use-env-proxy"]) options.useEnvProxy = true;
  if (sharedUrl !== undefined) options.sharedCache = sharedUrl;
  if (v["shared-timeout"] !== undefined) {
    options.sharedTimeoutMs = parseSeconds("--shared-timeout", v["shared-timeout"]);
  }
  if (v["shared-uploads"] !== undefined) {
    const n = /^\d{1,3}$/.test(v["shared-uploads"]) ? Number(v["shared-uploads"]) : 0;
    if (n < 1) {
      throw new UsageError(
        `--shared-uploads: expected a number above 0, got ${JSON.stringify(v["shared-uploads"])}`,
      );
    }
    options.sharedUploads = n;
  }
  if (v["log-format"] !== undefined) {
    if (v["log-format"] !== "text" && v["log-format"] !== "json") {
      throw new UsageError(
        `--log-format: expected text or json, got ${JSON.stringify(v["log-format"])}`,
      );
    }
    options.logFormat = v["log-format"];
  }
  if (v["stale-if-error"] !== undefined) {
    options.staleIfError = parseDuration("--stale-if-error", v["stale-if-error"]);
  }
  if (v["summary-json"] !== undefined) {
    if (v["summary-json"] === "") throw new UsageError("--summary-json: empty path");
    options.summaryJson = v["summary-json"];
  }
  if (v["ca-dir"] !== undefined) options.caDir = v["ca-dir"];
  if (v["ca-cert"] !== undefined) options.caCertFile = v["ca-cert"];
  if (v["ca-key"] !== undefined) options.caKeyFile = v["ca-key"];
  if (v.port !== undefined) options.port = parsePort("--port", v.port, true);
  if (v["cache-dir"] !== undefined) options.cacheDir = v["cache-dir"];
  if (maxSize !== undefined) options.maxSize = maxSize;
  if (v["connect-ports"] !== undefined) {
    options.connectPorts = v["connect-ports"].split(",").map((p) =>
      parsePort("--connect-ports", p.trim(), false)
    );
  }
  if (v["connect-timeout"] !== undefined) {
    options.connectTimeoutMs = parseSeconds("--connect-timeout", v["connect-timeout"]);
  }
  for (
    const [flag, key] of [
      ["idle-timeout", "originIdleTimeoutMs"],
      ["header-timeout", "headerTimeoutMs"],
      ["keep-alive-timeout", "keepAliveTimeoutMs"],
      ["shutdown-grace", "shutdownGraceMs"],
    ] as const
  ) {
    if (v[flag] !== undefined) options[key] = parseSeconds(`--${flag}`, v[flag]);
  }
  if (v["response-timeout"] !== undefined) {
    options.responseTimeoutMs = parseSeconds("--response-timeout", v["response-timeout"]);
  }
  if (v.quiet) options.logLevel = "warn";
  if (v["log-level"] !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(v["log-level"])) {
      throw new UsageError(
        `--log-level: expected one of ${LOG_LEVELS.join(", ")}, got ${
          JSON.stringify(v["log-level"])
        }`,
      );
    }
    options.logLevel = v["log-level"] as LogLevel;
  }
  if (v.config === "") throw new UsageError("--config: empty path");
  return {
    kind: "serve",
    options,
    upstreamCaFiles: v["upstream-ca"] ?? [],
    ...(v.config !== undefined ? { configFile: v.config } : {}),
  };
}

const DURATION_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses a duration like 7d, 12h, 30m, 45s or plain seconds (0 allowed), in seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/i.exec(text.trim());
  if (m === null) {
    throw new UsageError(
      `${flag}: expected a duration such as 7d, 12h, 30m or 45s, got ${JSON.stringify(text)}`,
    );
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
}

function checkS3Url(url: string): void {
  try {
    parseS3Url(url);
  } catch (err) {
    throw new UsageError(`--shared-cache: ${errorLine(err)}`);
  }
}

function parseClientList(text: string): Client[] {
  try {
    return parseClients(text);
  } catch (err) {
    throw new UsageError(`--for: ${errorLine(err)}`);
  }
}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function hostPatterns(flag: string, text: string): string[] {
  const hosts = list(text);
  const bad = hosts.find((h) => !/^(\*|(\*\.)?[a-z0-9.:\-]+)$/i.test(h));
  if (hosts.length === 0 || bad !== undefined) {
    throw new UsageError(
      `${flag}: expected * or host names like example.com,*.example.org, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return hosts;
}

function parseHost(text: string): string {
  if (text === "" || /[\s/]/.test(text)) {
    throw new UsageError(`--host: invalid address ${JSON.stringify(text)}`);
  }
  return text;
}

function parsePort(flag: string, text: string, zeroOk: boolean): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (zeroOk ? 0 : 1) && n <= 65535)) {
    throw new UsageError(
      `${flag}: expected a port number${zeroOk ? " (0-65535)" : " (1-65535)"}, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** Parses a size like 500M, 5G, 2GiB, 1.5T or plain bytes (units are powers of 1024). */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const n = m === null ? NaN : Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  if (!(n > 0) || !Number.isSafeInteger(n)) {
    throw new UsageError(
      `${flag}: expected a size such as 500M, 5G or 10GiB, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

function parseSeconds(flag: string, text: string): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= 86400)) {
    throw new UsageError(`${flag}: expected seconds (e.g. 10 or 0.5), got ${JSON.stringify(text)}`);
  }
  return Math.round(n * 1000);
}

const encoder = new TextEncoder();

function print(text: string, to: "stdout" | "stderr" = "stdout"): void {
  // Log lines still waiting go first, so that stderr keeps its order.
  flushStderr();
  const bytes = encoder.encode(text.endsWith("\n") ? text : text + "\n");
  let off = 0;
  const stream = to === "stdout" ? Deno.stdout : Deno.stderr;
  while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
}

/**
 * Runs hoard with `args` and returns the exit code: 0 after a clean shutdown,
 * 1 when the proxy cannot start, 2 for a usage error.
 */
export async function run(args: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    print(`hoard: ${err.message}\n\n${USAGE}`, "stderr");
    return 2;
  }
  if (command.kind === "help") {
    print(USAGE);
    return 0;
  }
  if (command.kind === "version") {
    print(`hoard ${VERSION}`);
    return 0;
  }
  if (command.kind === "stats") return await stats(command.cacheDir ?? defaultCacheDir());
  if (command.kind === "stats-shared" || command.kind === "prune-shared") {
    const url = command.url ?? readEnv("HOARD_SHARED_CACHE");
    if (url === undefined || url === "") {
      print(
        "hoard: --shared needs --shared-cache s3://BUCKET[/PREFIX] or $HOARD_SHARED_CACHE",
        "stderr",
      );
      return 2;
    }
    return await sharedCommand(command, url);
  }
  if (command.kind === "ca") return await printCa(command.ca, command.pem);
  if (command.kind === "env") return await printEnv(command);
  if (command.kind === "prune") {
    return await prune(command.cacheDir ?? defaultCacheDir(), command);
  }
  if (command.configFile !== undefined) {
    try {
      const config = await loadConfig(command.configFile);
      command.options.rules = config.rules;
      command.options.presets = config.presets;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      print(`hoard: ${err.message}`, "stderr");
      return 2;
    }
  }
  if (command.options.sharedCache === undefined) {
    const url = readEnv("HOARD_SHARED_CACHE");
    if (url) {
      try {
        parseS3Url(url);
      } catch (err) {
        print(`hoard: HOARD_SHARED_CACHE: ${errorLine(err)}`, "stderr");
        return 2;
      }
      command.options.sharedCache = url;
    }
  }
  const stepSummary = readEnv("GITHUB_STEP_SUMMARY");
  if (stepSummary) command.options.stepSummary = stepSummary;
  return await serve(command.options, command.upstreamCaFiles);
}

async function printCa(source: CaSource, pem: boolean): Promise<number> {
  let ca;
  try {
    ca = await loadOrCreateCa(source);
  } catch (err) {
    print(
      `hoard: cannot load or create the CA: ${errorLine(err)}`,
      "stderr",
    );
    return 1;
  }
  print(pem ? ca.certPem : ca.certPath);
  return 0;
}

async function printEnv(command: Extract<Command, { kind: "env" }>): Promise<number> {
  let files: EnvFiles;
  try {
    const ca = await loadOrCreateCa(command.ca);
    files = await writeEnvFiles(command.ca.dir, ca.certPath, ca.certPem, command, readEnv);
  } catch (err) {
    print(`hoard: cannot load or create the CA: ${errorLine(err)}`, "stderr");
    return 1;
  }
  if (files.systemBundle === undefined) {
    print("hoard: no system CA bundle found; the bundle holds hoard's CA only", "stderr");
  }
  print(
    formatEnv(
      envVariables({ ...command, ...files, existing: readEnv }, command.clients),
      command.format,
    ),
  );
  return 0;
}

async function stats(dir: string): Promise<number> {
  // A directory in use is read as it is: its temp files are the running hoard's fills.
  const opened = await openExisting(dir, { inUse: "read" });
  if (opened === undefined) return 1;
  const { cache, release, note } = opened;
  try {
    await cache.ready;
    const last = await readRunStats(dir);
    print(`cache ${dir}: ${cache.entryCount} entries, ${formatBytes(cache.usedBytes)}${note}`);
    if (last === undefined) print("last run: no record");
    else {print(
        `last run, ended ${new Date(last.endedAt).toISOString()}:\n${summaryText(last.summary)}`,
      );}
    return 0;
  } finally {
    release();
  }
}

async function sharedCommand(
  command: Extract<Command, { kind: "stats-shared" | "prune-shared" }>,
  url: string,
): Promise<number> {
  let store: S3Store;
  try {
    store = await S3Store.open(parseS3Url(url), readEnv, { firstByteMs: 10_000 });
  } catch (err) {
    print(`hoard: ${url}: ${errorLine(err)}`, "stderr");
    return 2;
  }
  try {
    if (command.kind === "stats-shared") {
      const s = await sharedStats(store);
      const when = (t?: number) => t === undefined ? "-" : new Date(t).toISOString();
      print(
        `shared cache ${url}: ${s.objects} objects, ${formatBytes(s.bytes)}` +
          `${s.foreign > 0 ? ` (and ${s.foreign} objects that are not hoard's)` : ""}\n` +
          `uploaded: oldest ${when(s.oldest)}, newest ${when(s.newest)}\n` +
          `by age: ${s.byAge.day} within a day, ${s.byAge.week} within a week, ` +
          `${s.byAge.month} within 30 days, ${s.byAge.older} older`,
      );
    } else {
      const r = await pruneShared(store, command.olderThan * 1000);
      print(
        `pruned ${r.deleted} objects (${formatBytes(r.bytes)}) uploaded more than ${
          formatDuration(command.olderThan)
        } ago from ${url}; ${r.kept} kept`,
      );
    }
    return 0;
  } catch (err) {
    print(`hoard: ${url}: ${errorLine(err)}`, "stderr");
    return 1;
  } finally {
    store.close();
  }
}

function formatDuration(seconds: number): string {
  return seconds % 86400 === 0 ? `${seconds / 86400}d` : `${seconds}s`;
}

async function prune(
  dir: string,
  { maxSize, unusedFor }: { maxSize?: number; unusedFor?: number },
): Promise<number> {
  const opened = await openExisting(dir, { inUse: "refuse" });
  if (opened === undefined) return 1;
  const { cache, release } = opened;
  try {
    const before = (await cache.ready, cache.usedBytes);
    // Unused entries go first: the size cap then evicts fewer of those in use.
    const unused = unusedFor === undefined
      ? 0
      : await cache.dropUnusedSince(Date.now() - unusedFor * 1000);
    const evicted = maxSize === undefined ? 0 : await cache.shrinkTo(maxSize);
    const age = unusedFor === undefined
      ? ""
      : unusedFor % 86400 === 0
      ? `${unusedFor / 86400} days`
      : `${unusedFor} s`;
    const why = [
      ...(unusedFor === undefined ? [] : [`${unused} unused for ${age}`]),
      ...(maxSize === undefined ? [] : [`${evicted} over the cap of ${formatBytes(maxSize)}`]),
    ];
    print(
      `pruned ${unused + evicted} entries: ${formatBytes(before)} -> ${
        formatBytes(cache.usedBytes)
      } (${why.join(", ")})`,
    );
    return 0;
  } finally {
    release();
  }
}

/**
 * Opens an existing cache directory for a command, holding its lock; one a
 * running hoard uses is opened read-only (`inUse: "read"`) or refused.
 */
async function openExisting(
  dir: string,
  { inUse }: { inUse: "read" | "refuse" },
): Promise<{ cache: Cache; release: () => void; note: string } | undefined> {
  try {
    await Deno.stat(`${dir}/hoard-cache.json`);
  } catch {
    print(`hoard: ${dir} is not a hoard cache directory`, "stderr");
    return undefined;
  }
  let lock: DirLock | undefined;
  try {
    lock = await lockCacheDir(dir);
  } catch (err) {
    if (inUse === "refuse") {
      print(`hoard: ${errorLine(err)}`, "stderr");
      return undefined;
    }
    const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("warn"), {
      readOnly: true,
    });
    return { cache, release: () => {}, note: " (in use by a running hoard)" };
  }
  const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("warn"));
  return { cache, release: () => lock?.release(), note: "" };
}

async function serve(options: ProxyOptions, upstreamCaFiles: string[]): Promise<number> {
  const upstreamCaCerts: string[] = [];
  for (const file of upstreamCaFiles) {
    try {
      upstreamCaCerts.push(await Deno.readTextFile(file));
    } catch (err) {
      print(`hoard: --upstream-ca: cannot read ${file}: ${oneLine(String(err))}`, "stderr");
      return 2;
    }
  }
  let proxy;
  try {
    proxy = await startProxy({ ...options, upstreamCaCerts });
  } catch (err) {
    print(`hoard: ${errorLine(err)}`, "stderr");
    return 1;
  }
  let signals = 0;
  const onSignal = () => {
    // A second signal means "now": skip the grace period.
    if (++signals > 1) Deno.exit(130);
    print("hoard: shutting down (finishing requests in flight)", "stderr");
    proxy.close();
  };
  const watched: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of watched) Deno.addSignalListener(s, onSignal);
  // Announced only once a signal is sure to shut hoard down cleanly.
  print(`hoard ${VERSION} listening on ${proxy.url}`, "stderr");
  await proxy.finished;
  for (const s of watched) Deno.removeSignalListener(s, onSignal);
  return 0;
}

/** Entry point: runs the command line and exits with its code. */
export async function main(): Promise<never> {
  Deno.exit(await run(Deno.args));
}
