/**
 * The command line as a value: flags and commands checked, nothing run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "../observe/log.ts";
import { defaultCacheDir, type ProxyOptions } from "../options.ts";
import type { CaSource } from "../tls/ca.ts";
import { type Client, ENV_FORMATS, type EnvFormat } from "../env.ts";
import { formatAuthority } from "../http1/target.ts";
import { parseProxyUrl } from "../origin/upstream.ts";
import { parseHostMapping } from "../origin/host_map.ts";
import { isLoopbackHost, parseCidr } from "../access.ts";
import { UsageError } from "./usage.ts";
import { errorLine } from "../errors.ts";
import {
  checkS3Url,
  hostPatterns,
  list,
  parseClientList,
  parseDuration,
  parseHost,
  parsePort,
  parseSeconds,
  parseSize,
} from "./values.ts";

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
        workers: { type: "string" },
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
  if (v.workers !== undefined) {
    const n = v.workers === "auto"
      ? navigator.hardwareConcurrency
      : /^\d{1,3}$/.test(v.workers)
      ? Number(v.workers)
      : 0;
    if (n < 1) {
      throw new UsageError(
        `--workers: expected a number above 0 or "auto", got ${JSON.stringify(v.workers)}`,
      );
    }
    options.workers = n;
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
