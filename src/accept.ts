/**
 * The start of a request's way: the listening socket, one async task per
 * connection, and an orderly shutdown.
 *
 * @module
 */

import { hostResolver } from "./origin/host_map.ts";
import { serveConnection } from "./connection.ts";
import type { ClientConnection } from "./context.ts";
import type { ProxyContext } from "./context.ts";
import { selfHosts } from "./decide.ts";
import { errorLine, oneLine } from "./errors.ts";
import { formatAuthority } from "./http1/target.ts";
import { BufferedConn } from "./io/buffered_conn.ts";
import { Cache } from "./cache/cache.ts";
import { type DirLock, lockCacheDir } from "./cache/dir_lock.ts";
import { publishSummary, RunReport, type Summary } from "./report.ts";
import { Interception } from "./tls/interception.ts";
import { Rules } from "./rules.ts";
import { Metrics } from "./metrics.ts";
import { Access, isLoopbackHost } from "./access.ts";
import { type ProxyEnv, type UpstreamChooser, upstreamChooser } from "./origin/upstream.ts";
import { Logger } from "./log.ts";
import { type ProxyOptions, resolveOptions } from "./options.ts";
import { OriginClient } from "./origin/client.ts";
import { OriginPool } from "./origin/pool.ts";
import { SharedTier } from "./cache/shared/tier.ts";
import { parseS3Url } from "./cache/shared/s3.ts";

/** A running proxy. */
export interface ProxyHandle {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** `http://host:port`, ready for `HTTP_PROXY`. */
  readonly url: string;
  /** Settles once the proxy has shut down. */
  readonly finished: Promise<void>;
  /** This run's report so far. */
  summary(): Summary;
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
export async function startProxy(options: ProxyOptions = {}): Promise<ProxyHandle> {
  const opts = resolveOptions(options);
  if (!isLoopbackHost(opts.host) && !opts.allowClients && !opts.auth) {
    throw new Error(
      `listening on ${opts.host} exposes hoard to the network: set allowClients or auth`,
    );
  }
  const logger = new Logger(opts.logLevel, opts.logSink, opts.logFormat);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: opts.host, port: opts.port });
  } catch (err) {
    throw new Error(
      `cannot listen on ${formatAuthority(opts.host, opts.port)}: ${oneLine(String(err))}`,
      { cause: err },
    );
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
  try {
    dirLock = await lockCacheDir(opts.cacheDir);
    opened = await Cache.open(opts.cacheDir, opts.maxSize, logger);
    if (opts.intercept.length > 0) {
      interception = await Interception.create(opts.intercept, {
        dir: opts.caDir,
        certFile: opts.caCertFile,
        keyFile: opts.caKeyFile,
      }).catch((err) => {
        throw new Error(`cannot load or create the CA: ${oneLine(String(err))}`, { cause: err });
      });
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
    openConnections: () => clients.size,
    rules: new Rules(opts.rules, opts.presets),
    serve(client, tunnelOrigin) {
      clients.add(client);
      const task = serveConnection(proxy, client, tunnelOrigin)
        .catch((err) => logger.log("error", `connection failed: ${oneLine(String(err))}`))
        .finally(() => {
          clients.delete(client);
          tasks.delete(task);
        });
      tasks.add(task);
      return task;
    },
  };

  const clients = new Set<ClientConnection>();
  const tasks = new Set<Promise<void>>();
  const acceptLoop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (proxy.closing) return;
        // Out of file descriptors and the like: say so, breathe, go on.
        logger.log("error", `accept failed: ${oneLine(String(err))}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      conn.setNoDelay(true);
      const ip = conn.remoteAddr.hostname;
      if (!access.clientAllowed(ip) || clients.size >= opts.maxConnections) {
        refuse(conn, access.clientAllowed(ip) ? 503 : 403, logger);
        continue;
      }
      proxy.serve({
        io: new BufferedConn(conn),
        busy: false,
        abort: new AbortController(),
        peer: formatAuthority(conn.remoteAddr.hostname, conn.remoteAddr.port),
      });
    }
  })();

  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => resolveFinished = r);
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      proxy.closing = true;
      listener.close();
      cache.stopScan();
      await acceptLoop;
      for (const c of clients) if (!c.busy) c.io.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise((r) => timer = setTimeout(r, opts.shutdownGraceMs));
      await Promise.race([Promise.allSettled([...tasks]), grace]);
      clearTimeout(timer);
      for (const c of clients) {
        c.io.close();
        c.abort.abort();
      }
      await Promise.allSettled([...tasks]);
      // Fills whose clients were cut end as their origin sockets close.
      await cache.settled();
      // Uploads behind the last clients: what this job fetched is worth the wait.
      await shared?.close(opts.sharedDrainMs);
      const failures = await publishSummary(report.summary(cache.counters), {
        log: (s) => logger.summary(s),
        stepSummary: opts.stepSummary,
        json: opts.summaryJson,
        cacheDir: cache.enabled ? opts.cacheDir : undefined,
      });
      for (const f of failures) logger.log("warn", oneLine(f));
      dirLock?.release();
      pool.close();
      resolveFinished();
    })();

  const url = `http://${formatAuthority(addr.hostname, addr.port)}`;
  const summary = () => report.summary(cache.counters);
  return { addr, url, finished, close, summary, [Symbol.asyncDispose]: close };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function proxyEnv(): ProxyEnv {
  const get = (name: string) => readEnv(name) ?? readEnv(name.toLowerCase());
  return { http: get("HTTP_PROXY"), https: get("HTTPS_PROXY"), noProxy: get("NO_PROXY") };
}

/**
 * Answers a connection hoard will not serve — a client outside --allow-clients
 * (403) or one too many (503) — with one response, then closes it.
 */
function refuse(conn: Deno.TcpConn, status: 403 | 503, logger: Logger): void {
  const why = status === 403 ? "client not allowed" : "too many connections";
  const body = `${status} ${status === 403 ? "Forbidden" : "Service Unavailable"}: ${why}\n`;
  const retry = status === 503 ? "Retry-After: 1\r\n" : "";
  const head = `HTTP/1.1 ${status} ${status === 403 ? "Forbidden" : "Service Unavailable"}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n${retry}Connection: close\r\n\r\n`;
  logger.log(
    "warn",
    `refused ${formatAuthority(conn.remoteAddr.hostname, conn.remoteAddr.port)}: ${why}`,
  );
  // Half-close and drain a little before closing: closing with the client's
  // request unread would reset the connection and lose the answer.
  (async () => {
    await conn.write(new TextEncoder().encode(head + body));
    await conn.closeWrite();
    const sink = new Uint8Array(16 * 1024);
    const timer = setTimeout(() => conn.close(), 1000);
    try {
      for (let read = 0; read < 1024 * 1024;) {
        const n = await conn.read(sink);
        if (n === null) break;
        read += n;
      }
    } finally {
      clearTimeout(timer);
    }
  })().catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  });
}
