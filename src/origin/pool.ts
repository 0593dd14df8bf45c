/**
 * Keep-alive connections to origins, per `scheme://host:port`.
 *
 * An idle connection keeps a read pending, so an origin closing it is noticed
 * at once and it leaves the pool; that narrows the classic race (sending on a
 * connection the origin just closed) to the moment of reuse, which the client
 * covers by retrying idempotent requests once.
 *
 * @module
 */

import { BufferedConn } from "../io/buffered_conn.ts";
import { dial, type Dialed, type DialOptions } from "./dial.ts";
import type { Origin } from "./origin.ts";

/** Pool limits, on top of how to dial. */
export interface PoolOptions extends DialOptions {
  /** Idle connections kept per origin; the oldest beyond this are closed. */
  maxIdlePerOrigin: number;
  /** An idle connection older than this is closed instead of reused. */
  idleTimeoutMs: number;
}

interface IdleEntry {
  io: BufferedConn;
  since: number;
  idle: boolean;
}

/** A connection taken from the pool or freshly opened. */
export interface Lease {
  /** The connection. */
  io: BufferedConn;
  /** Whether it served an earlier request (and may have been closed by the origin meanwhile). */
  reused: boolean;
  /** It leads to an upstream proxy: requests go in absolute-form, with `proxyAuthorization`. */
  absoluteForm: boolean;
  /** Proxy-Authorization for that upstream proxy. */
  proxyAuthorization?: string;
}

/** Keep-alive pool of origin connections. */
export class OriginPool {
  #options: PoolOptions;
  #idle = new Map<string, IdleEntry[]>();
  #how = new WeakMap<BufferedConn, Omit<Dialed, "conn">>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** @param options dial options and limits. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Takes an idle connection to `origin`, or opens one (always, with `fresh`). */
  async acquire(origin: Origin, fresh = false): Promise<Lease> {
    const k = key(origin);
    const list = fresh ? undefined : this.#idle.get(k);
    const now = Date.now();
    while (list !== undefined && list.length > 0) {
      const entry = list.pop()!;
      if (list.length === 0) this.#idle.delete(k);
      entry.idle = false;
      if (!entry.io.closed && now - entry.since < this.#options.idleTimeoutMs) {
        return { ...this.#how.get(entry.io)!, io: entry.io, reused: true };
      }
      entry.io.close();
    }
    const { conn, ...how } = await dial(origin, this.#options);
    const io = new BufferedConn(conn);
    this.#how.set(io, how);
    return { ...how, io, reused: false };
  }

  /** Returns a connection whose last exchange ended cleanly; it will serve another request. */
  release(origin: Origin, io: BufferedConn): void {
    if (this.#closed || io.bufferedLength > 0) return io.close();
    const k = key(origin);
    let list = this.#idle.get(k);
    if (list === undefined) this.#idle.set(k, list = []);
    const entry: IdleEntry = { io, since: Date.now(), idle: true };
    list.push(entry);
    if (list.length > this.#options.maxIdlePerOrigin) this.#drop(k, list[0]!);
    // Whatever arrives on an idle connection (close, reset, stray bytes) ends it.
    const evict = () => {
      if (entry.idle) this.#drop(k, entry);
    };
    io.watchIdle().then(evict, evict);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(
        () => this.#sweep(),
        Math.max(this.#options.idleTimeoutMs / 2, 50),
      );
      Deno.unrefTimer(this.#sweeper);
    }
  }

  /** Closes every idle connection and stops pooling. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const e of list) e.io.close();
    this.#idle.clear();
    this.#stopSweeper();
  }

  #drop(k: string, entry: IdleEntry): void {
    entry.idle = false;
    entry.io.close();
    const list = this.#idle.get(k);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#idle.delete(k);
    if (this.#idle.size === 0) this.#stopSweeper();
  }

  #sweep(): void {
    const cutoff = Date.now() - this.#options.idleTimeoutMs;
    for (const [k, list] of this.#idle) {
      for (const e of list.filter((e) => e.since <= cutoff)) this.#drop(k, e);
    }
    if (this.#idle.size === 0) this.#stopSweeper();
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}

function key(origin: Origin): string {
  return `${origin.scheme}://${origin.host}:${origin.port}`;
}
