/**
 * Everything a running proxy can be told, with defaults in one place.
 *
 * @module
 */

import type { HostMapping } from "./origin/host_map.ts";
import type { LogFormat, LogLevel } from "./observe/log.ts";
import type { Presets, Rule } from "./rules.ts";

/** Who a hoard's clients are (see `ProxyOptions.tenancy`). */
export type Tenancy = "single" | "shared";

/** Options of {@linkcode startProxy}; every field is optional. */
export interface ProxyOptions {
  /** Address to listen on. Anything but loopback exposes the proxy to the network. @default {"127.0.0.1"} */
  host?: string;
  /** Port to listen on; 0 picks a free one (see the handle's `addr`). @default {8080} */
  port?: number;
  /** Cache directory. @default {`$HOARD_CACHE_DIR`, else the user cache directory + `/hoard`} */
  cacheDir?: string;
  /** Largest total size of the cache directory, in bytes; least recently used entries go first. @default {10 GiB} */
  maxSize?: number;
  /** Ports a CONNECT tunnel may reach. @default {[443]} */
  connectPorts?: number[];
  /** Lowest level logged. @default {"info"} */
  logLevel?: LogLevel;
  /** Request lines for people (`text`) or one JSON object per line (`json`). @default {"text"} */
  logFormat?: LogFormat;
  /** Receives each log line; by default lines go to stderr. */
  logSink?: (line: string) => void;
  /**
   * How long past its freshness a stored response may stand in for an origin
   * that is down, times out or answers 5xx (seconds). @default {604800} (7 days)
   */
  staleIfError?: number;
  /** Never contact an origin: serve what is stored, whatever its age; 504 for the rest. @default {false} */
  offline?: boolean;
  /** Appends the run summary there as Markdown at shutdown (the CLI passes `$GITHUB_STEP_SUMMARY`). */
  stepSummary?: string;
  /** Writes the run summary there as JSON at shutdown. */
  summaryJson?: string;
  /**
   * Hosts whose CONNECT tunnels are decrypted (and so cached): `["*"]` for all,
   * names, or `*.example.com` for subdomains. Others stay plain tunnels.
   * @default {[]}
   */
  intercept?: string[];
  /** Where hoard's CA lives (created on first use). @default {`<cacheDir>/ca`} */
  caDir?: string;
  /** An existing CA certificate (PEM) to sign with instead; needs `caKeyFile`. */
  caCertFile?: string;
  /** The private key (PKCS#8 PEM) of `caCertFile`. */
  caKeyFile?: string;
  /** Rules on freshness and cache keys, applied after the presets (see src/rules.ts). @default {[]} */
  rules?: Rule[];
  /** Which built-in rule presets are on. @default {{ artifacts: true, signedUrls: true }} */
  presets?: Presets;
  /**
   * Who the clients are, for responses a rule stored although their request
   * carried Authorization (image blobs and manifests, private tarballs).
   * `"single"`: one party (a CI job, one team's runners): every client is
   * served them. `"shared"`: clients who must not see each other's private
   * artifacts: such a response is served to a request only after the origin
   * accepted that request's own credentials for it (a conditional request
   * per use), never to a request without credentials, never while the origin
   * cannot be asked. @default {"single"}
   */
  tenancy?: Tenancy;
  /** Client networks (CIDR) allowed to use the proxy; others get 403. @default {all} */
  allowClients?: string[];
  /** `user:pass` every request must carry as Proxy-Authorization (Basic); others get 407. */
  auth?: string;
  /** Origin host patterns the proxy may reach (`*.example.com`); others get 403. @default {all} */
  allowHosts?: string[];
  /** Origin host patterns the proxy refuses (403). @default {[]} */
  denyHosts?: string[];
  /** Refuse origins on loopback, private and link-local addresses (shared deployments). @default {false} */
  denyPrivate?: boolean;
  /** Fixed addresses for origin hosts (`--resolve HOST=ADDRESS`), checked before DNS. @default {[]} */
  resolve?: HostMapping[];
  /** Client connections open at once; more get 503. @default {1024} */
  maxConnections?: number;
  /** Largest request body of a GET or HEAD (bytes); larger gets 413. @default {1 MiB} */
  maxRequestBody?: number;
  /** Reach origins through this proxy (`http://[user:pass@]host:port`). */
  upstreamProxy?: string;
  /** Reach origins through the proxies in hoard's own HTTP_PROXY / HTTPS_PROXY / NO_PROXY. @default {false} */
  useEnvProxy?: boolean;
  /** Extra CA certificates (PEM) trusted for https origins, besides the system's. @default {[]} */
  upstreamCaCerts?: string[];
  /** Time to open a connection to an origin (TCP + TLS). @default {10000} */
  connectTimeoutMs?: number;
  /** Time from sending a request to the first byte of the origin's response. @default {60000} */
  responseTimeoutMs?: number;
  /** Longest silence from an origin in the middle of a body. @default {60000} */
  originIdleTimeoutMs?: number;
  /** How long a client's idle keep-alive connection is kept. @default {60000} */
  keepAliveTimeoutMs?: number;
  /** Time a client has to send a complete request head once it started one. @default {30000} */
  headerTimeoutMs?: number;
  /** Idle connections kept per origin (a CI job often runs dozens of downloads at once). @default {128} */
  maxIdlePerOrigin?: number;
  /** Idle time after which a pooled origin connection is closed. @default {30000} */
  poolIdleTimeoutMs?: number;
  /** On close, how long in-flight requests may take to finish before they are cut. @default {10000} */
  shutdownGraceMs?: number;
  /**
   * A shared tier behind the local disk: `s3://BUCKET[/PREFIX]`. Endpoint,
   * region and credentials come from the standard AWS variables and files.
   */
  sharedCache?: string;
  /** Where the shared tier reads the AWS variables. @default {the process environment} */
  sharedEnv?: (name: string) => string | undefined;
  /** Time for the shared tier's first byte; later, the lookup counts as a miss. @default {300} */
  sharedTimeoutMs?: number;
  /** Shared-tier uploads in flight at once. @default {2} */
  sharedUploads?: number;
  /** Entries waiting for upload at most; more are dropped (counted). @default {256} */
  sharedQueue?: number;
  /** At shutdown, how long queued uploads may take before they are dropped. @default {30000} */
  sharedDrainMs?: number;
  /**
   * Threads serving connections, each on its own core (default 1; `--workers
   * auto`: one per core). They share the port and the cache directory: one
   * origin request per URL among all of them. Needs Deno's `--unstable-net`
   * (deno.json's `unstable`); without it hoard serves on one and says so.
   */
  workers?: number;
}

/** Options with every default filled in. */
type OptionalOptions =
  | "logSink"
  | "caCertFile"
  | "caKeyFile"
  | "stepSummary"
  | "summaryJson"
  | "upstreamProxy"
  | "allowClients"
  | "auth"
  | "allowHosts"
  | "sharedCache"
  | "sharedEnv";
/** Options with every default filled in. */
export type ResolvedOptions =
  & Required<Omit<ProxyOptions, OptionalOptions>>
  & Pick<ProxyOptions, OptionalOptions>;

/** Fills in defaults. */
export function resolveOptions(o: ProxyOptions): ResolvedOptions {
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  return {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 8080,
    cacheDir,
    intercept: o.intercept ?? [],
    staleIfError: o.staleIfError ?? 7 * 86400,
    offline: o.offline ?? false,
    rules: o.rules ?? [],
    presets: o.presets ?? {},
    tenancy: o.tenancy ?? "single",
    caDir: o.caDir ?? `${cacheDir}/ca`,
    caCertFile: o.caCertFile,
    caKeyFile: o.caKeyFile,
    stepSummary: o.stepSummary,
    upstreamProxy: o.upstreamProxy,
    allowClients: o.allowClients,
    auth: o.auth,
    allowHosts: o.allowHosts,
    denyHosts: o.denyHosts ?? [],
    denyPrivate: o.denyPrivate ?? false,
    resolve: o.resolve ?? [],
    maxConnections: o.maxConnections ?? 1024,
    maxRequestBody: o.maxRequestBody ?? 1024 * 1024,
    useEnvProxy: o.useEnvProxy ?? false,
    summaryJson: o.summaryJson,
    maxSize: o.maxSize ?? 10 * 1024 ** 3,
    connectPorts: o.connectPorts ?? [443],
    logLevel: o.logLevel ?? "info",
    logFormat: o.logFormat ?? "text",
    logSink: o.logSink,
    upstreamCaCerts: o.upstreamCaCerts ?? [],
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    responseTimeoutMs: o.responseTimeoutMs ?? 60_000,
    originIdleTimeoutMs: o.originIdleTimeoutMs ?? 60_000,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? 60_000,
    headerTimeoutMs: o.headerTimeoutMs ?? 30_000,
    maxIdlePerOrigin: o.maxIdlePerOrigin ?? 128,
    poolIdleTimeoutMs: o.poolIdleTimeoutMs ?? 30_000,
    shutdownGraceMs: o.shutdownGraceMs ?? 10_000,
    sharedCache: o.sharedCache,
    sharedEnv: o.sharedEnv,
    sharedTimeoutMs: o.sharedTimeoutMs ?? 300,
    sharedUploads: o.sharedUploads ?? 2,
    sharedQueue: o.sharedQueue ?? 256,
    sharedDrainMs: o.sharedDrainMs ?? 30_000,
    workers: o.workers ?? 1,
  };
}

/**
 * `$HOARD_CACHE_DIR`, else the platform's user cache directory plus `hoard`
 * (XDG on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
 */
export function defaultCacheDir(env: (name: string) => string | undefined = readEnv): string {
  const explicit = env("HOARD_CACHE_DIR");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  switch (Deno.build.os) {
    case "windows":
      return `${env("LOCALAPPDATA") ?? `${home}\\AppData\\Local`}\\hoard`;
    case "darwin":
      return `${home}/Library/Caches/hoard`;
    default:
      return `${env("XDG_CACHE_HOME") ?? `${home}/.cache`}/hoard`;
  }
}

/** The environment variable `name`, or undefined when it is unset or cannot be read. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // Without --allow-env the defaults still work.
    return undefined;
  }
}
