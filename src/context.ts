/**
 * State shared by every connection of one running proxy.
 *
 * @module
 */

import type { Cache } from "./cache/cache.ts";
import type { BufferedConn } from "./io/buffered_conn.ts";
import type { Origin } from "./origin/origin.ts";
import type { Interception } from "./tls/interception.ts";
import type { Rules } from "./rules.ts";
import type { RunReport } from "./observe/report.ts";
import type { Metrics } from "./observe/metrics.ts";
import type { Access } from "./access.ts";
import type { UpstreamChooser } from "./origin/upstream.ts";
import type { Logger } from "./observe/log.ts";
import type { ResolvedOptions } from "./options.ts";
import type { OriginClient } from "./origin/client.ts";
import type { SharedTier } from "./cache/shared/tier.ts";
import type { Threads } from "./cores/threads.ts";

/** What every step of a request's way may use. */
export interface ProxyContext {
  /** Options with defaults filled in. */
  options: ResolvedOptions;
  /** Where log lines go. */
  logger: Logger;
  /** The cache (possibly disabled, when its directory cannot be used). */
  cache: Cache;
  /** The shared tier behind the local cache (`--shared-cache`), when there is one. */
  shared?: SharedTier;
  /** The origin client (with its connection pool). */
  origin: OriginClient;
  /** The proxy's own address, to answer requests for it locally. */
  self: SelfAddress;
  /** Set once shutdown begins: connections finish their current request and close. */
  closing: boolean;
  /** Who may use the proxy and which origins it may reach. */
  access: Access;
  /** Picks the upstream proxy for an origin, when one is configured. */
  upstream?: UpstreamChooser;
  /** The live view's counters. */
  metrics: Metrics;
  /** Client connections open now. */
  openConnections(): number;
  /** The other threads serving with this one (src/cores), when there are any. */
  threads?: Threads;
  /** This run's report. */
  report: RunReport;
  /** Rules on freshness and cache keys (presets plus the config file's). */
  rules: Rules;
  /** TLS interception, when enabled. */
  interception?: Interception;
  /**
   * Serves a client connection until it ends, tracked for shutdown like every
   * other; `tunnel` is the origin of an intercepted tunnel, whose requests
   * come in origin-form.
   */
  serve(client: ClientConnection, tunnel?: Origin): Promise<void>;
}

/** A client connection as the accept loop tracks it for shutdown. */
export interface ClientConnection {
  /** The connection. */
  io: BufferedConn;
  /** The client's address, for the log. */
  peer?: string;
  /** Requests on it need no credentials (they came through an authenticated CONNECT). */
  trusted?: boolean;
  /** True from a request's first byte to its response's last: shutdown waits for it. */
  busy: boolean;
  /** Aborted when shutdown cuts the connection; steps close their origin side on it. */
  readonly abort: AbortController;
}

/** Where this proxy listens, to recognise requests addressed to itself. */
export interface SelfAddress {
  /** Host names and addresses that reach this proxy. */
  hosts: ReadonlySet<string>;
  /** The listening port. */
  port: number;
}
