/**
 * The composition root: startProxy() builds every part of a running proxy
 * from its options — the cache and its tiers, the origin client, access,
 * rules, interception — and hands them to the accept loop (accept.ts) and,
 * at the end, to the shutdown (shutdown.ts).
 *
 * @module
 */

import { hostResolver } from "./origin/host_map.ts";
import type { ProxyContext } from "./context.ts";
import { selfHosts } from "./request/decide.ts";
import { errorLine, oneLine } from "./errors.ts";
import { formatAuthority } from "./http1/target.ts";
import { Cache } from "./cache/cache.ts";
import { type DirLock, lockCacheDir } from "./cache/dir_lock.ts";
import { RunReport, type Summary } from "./observe/report.ts";
import { inPlaceTlsSupported } from "./tls/in_place.ts";
import { Interception } from "./tls/interception.ts";
import { Rules } from "./rules.ts";
import { Metrics } from "./observe/metrics.ts";
import { Access, isLoopbackHost } from "./access.ts";
import { type ProxyEnv, type UpstreamChooser, upstreamChooser } from "./origin/upstream.ts";
import { Logger } from "./observe/log.ts";
import { type ProxyOptions, readEnv, resolveOptions } from "./options.ts";
import { OriginClient } from "./origin/client.ts";
import { OriginPool } from "./origin/pool.ts";
import { SharedTier } from "./cache/shared/tier.ts";
import { parseS3Url } from "./cache/shared/s3_settings.ts";
import { accept, Connections } from "./accept.ts";
import { shutDown } from "./shutdown.ts";
import { Cores } from "./cores/cores.ts";
import { Member } from "./cores/member.ts";
import { ClaimTable } from "./cores/claims.ts";
import { type ThreadStats, threadStats } from "./cores/stats.ts";
import type { Joined } from "./cores/threads.ts";

/** A running proxy. */
export interface ProxyHandle {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** `http://host:port`, ready for `HTTP_PROXY`. */
  readonly url: string;
  /** Settles once the proxy has shut down. */
  readonly finished: Promise<void>;
  /** This run's report so far (this thread's, when hoard serves on several). */
  summary(): Summary;
  /** This thread's counters so far, as plain data (for the main thread, src/cores). */
  stats(): ThreadStats;
  /** Threads serving connections: 1, or 1 + the workers that started (`workers`). */
  readonly threads: number;
  /**
   * Stops accepting, closes idle connections, lets in-flight requests finish
   * (up to `shutdownGraceMs`), then cuts the rest. Safe to call more than once.
   */
  close(): Promise<void>;
  /** Same as {@linkcode ProxyHandle.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a proxy.
 *
 * @example
 * ```ts
 * await using proxy = await startProxy({ port: 0 });
 * console.log(proxy.url); // http://127.0.0.1:PORT
 * ```
 * @throws with a one-line message when the address cannot be bound or the CA
 *   cannot be loaded.
 */
export async function startProxy(
  options: ProxyOptions = {},
  joined?: Joined,
): Promise<ProxyHandle> {
  const opts = resolveOptions(options);
  if (!isLoopbackHost(opts.host) && !opts.allowClients && !opts.auth) {
    throw new Error(
      `listening on ${opts.host} exposes hoard to the network: set allowClients or auth`,
    );
  }
  const logger = new Logger(opts.logLevel, opts.logSink, opts.logFormat);
  let listener: Deno.TcpListener;
  let workers = joined === undefined ? opts.workers - 1 : 0;
  try {
    listener = listen(opts.host, opts.port, joined !== undefined || workers > 0);
  } catch (err) {
    if (!(err instanceof UnstableNet)) {
      throw new Error(
        `cannot listen on ${formatAuthority(opts.host, opts.port)}: ${oneLine(String(err))}`,
        { cause: err },
      );
    }
    logger.log("warn", `serving on one core: ${err.message}`);
    workers = 0;
    listener = listen(opts.host, opts.port, false);
  }
  let opened: Cache | undefined;
  let interception: Interception | undefined;
  let dirLock: DirLock | undefined;
  // What start-up took so far, given back when a later part of it fails.
  const abandon = () => {
    listener.close();
    opened?.stopScan();
    dirLock?.release();
  };
  // A worker's hub link: what the other threads do waits in it until the cache is open.
  const member = joined && new Member(joined.hub, new ClaimTable(joined.claims), joined.thread);
  try {
    // The directory is locked by the main thread for all of its workers.
    if (joined === undefined) dirLock = await lockCacheDir(opts.cacheDir);
    opened = await Cache.open(opts.cacheDir, opts.maxSize, logger, { joined: member?.index });
    member?.attach(opened);
    if (opts.intercept.length > 0) {
      interception = await Interception.create(opts.intercept, {
        dir: opts.caDir,
        certFile: opts.caCertFile,
        keyFile: opts.caKeyFile,
      }).catch((err) => {
        throw new Error(`cannot load or create the CA: ${oneLine(String(err))}`, { cause: err });
      });
      if (!inPlaceTlsSupported()) {
        logger.log(
          "warn",
          `this Deno (${Deno.version.deno}) cannot run TLS on a client's own socket: intercepted ` +
            `tunnels go through a loopback relay, which is slower (hoard is built for Deno 2.9.6)`,
        );
      }
    }
  } catch (err) {
    abandon();
    throw err;
  }
  const cache = opened;
  const addr = listener.addr as Deno.NetAddr;
  const self = { hosts: selfHosts(addr.hostname), port: addr.port };
  let upstream: UpstreamChooser | undefined;
  try {
    upstream = upstreamChooser(
      opts.upstreamProxy,
      opts.useEnvProxy ? proxyEnv() : undefined,
      (host, port) => port === self.port && self.hosts.has(host.toLowerCase()),
    );
  } catch (err) {
    abandon();
    throw new Error(`upstream proxy: ${errorLine(err)}`);
  }
  const pool = new OriginPool({
    upstream,
    denyPrivate: opts.denyPrivate,
    resolve: hostResolver(opts.resolve),
    connectTimeoutMs: opts.connectTimeoutMs,
    caCerts: opts.upstreamCaCerts,
    maxIdlePerOrigin: opts.maxIdlePerOrigin,
    idleTimeoutMs: opts.poolIdleTimeoutMs,
  });
  let shared: SharedTier | undefined;
  if (opts.sharedCache !== undefined) {
    try {
      shared = new SharedTier(parseS3Url(opts.sharedCache), {
        env: opts.sharedEnv ?? readEnv,
        logger,
        source: (entry) => cache.openStream(entry),
        options: {
          firstByteMs: opts.sharedTimeoutMs,
          uploadConcurrency: opts.sharedUploads,
          uploadQueue: opts.sharedQueue,
          credentialed: opts.tenancy !== "shared",
        },
      });
    } catch (err) {
      abandon();
      throw new Error(`shared cache: ${errorLine(err)}`);
    }
  }
  const report = new RunReport();
  report.shared = shared?.counters;
  const access = new Access(opts);
  const proxy: ProxyContext = {
    options: opts,
    logger,
    cache,
    shared,
    origin: new OriginClient(pool, {
      responseTimeoutMs: opts.responseTimeoutMs,
      idleTimeoutMs: opts.originIdleTimeoutMs,
      continueTimeoutMs: 1000,
    }),
    self,
    upstream,
    closing: false,
    interception,
    report,
    access,
    metrics: new Metrics(),
    openConnections: () => connections.clients.size,
    rules: new Rules(opts.rules, opts.presets),
    serve: (client, tunnelOrigin) => connections.serve(proxy, client, tunnelOrigin),
  };

  // The main thread's claims are shared before it serves anything: no fill of
  // its own goes unclaimed when the workers begin.
  const cores = workers > 0 ? new Cores(cache, proxy, logger) : undefined;
  proxy.threads = cores ?? joined;
  const connections = new Connections(logger);
  const acceptLoop = accept(listener, proxy, connections);
  // Port 0 was resolved: the workers listen where the main thread does.
  await cores?.start(workers, { ...opts, port: addr.port });

  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => resolveFinished = r);
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= shutDown({
      proxy,
      listener,
      acceptLoop,
      connections,
      pool,
      dirLock,
      cores,
      worker: member,
    }).then(resolveFinished);

  const url = `http://${formatAuthority(addr.hostname, addr.port)}`;
  const summary = () => report.summary(cache.counters);
  const stats = () => threadStats(proxy);
  const threads = 1 + (cores?.workers ?? 0);
  return { addr, url, finished, close, summary, stats, threads, [Symbol.asyncDispose]: close };
}

/** `--workers` needs an API Deno 2.9 keeps behind `--unstable-net`. */
class UnstableNet extends Error {}

/** Listens on `host:port`; `reusePort` lets the threads serving on every core share it. */
function listen(host: string, port: number, reusePort: boolean): Deno.TcpListener {
  if (!reusePort) return Deno.listen({ hostname: host, port });
  // Without the flag Deno exits at the first use of the option, so look first:
  // the namespace has its other unstable network APIs exactly when it is on.
  if (!("listenDatagram" in Deno)) {
    throw new UnstableNet("--workers needs Deno's --unstable-net (deno.json's \"unstable\")");
  }
  return Deno.listen({ hostname: host, port, reusePort: true });
}

function proxyEnv(): ProxyEnv {
  const get = (name: string) => readEnv(name) ?? readEnv(name.toLowerCase());
  return { http: get("HTTP_PROXY"), https: get("HTTPS_PROXY"), noProxy: get("NO_PROXY") };
}
