/**
 * The cache as the request's way uses it: finds entries for a request,
 * commits fills, invalidates, keeps the size under its cap, and counts. It
 * joins the pure policy to a dumb store (any {@link BodyStore}: the disk, or
 * memory in tests); reading and checking bodies is `bodies.ts`'s, and
 * applying what other threads serving the directory did is `joined.ts`'s. A
 * store that fails (full, removed, unwritable) never fails a request: the
 * operation is skipped, the request goes to the origin, and each kind of
 * failure is logged once.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import type { Logger } from "../observe/log.ts";
import { type CacheCounters, newCounters } from "./counters.ts";
import { Fills } from "./fill.ts";
import { storeId } from "./key.ts";
import { type Meta, type ResponseMeta, storedBytes, varyIndexWith } from "./meta.ts";
import { OnceEach } from "./failures.ts";
import type { CacheRequest } from "./policy/inputs.ts";
import { Bodies, type Body, type ReadOptions } from "./bodies.ts";
import {
  type BodyStore,
  type BodyWriter,
  type CommitOptions,
  type PendingMeta,
  type ScannedEntry,
  SMALL_BODY_BYTES,
} from "./body_store.ts";
import { DiskStore } from "./disk_store.ts";
import { fileSystemType } from "./file_system.ts";
import { cacheWrites } from "./loop_writes.ts";
import { InlineBody } from "./inline_body.ts";
import { MetaCache } from "./meta_cache.ts";
import { DiskUsage } from "./usage.ts";
import { type Found, lookUp } from "./lookup.ts";
import type { CachePeers } from "./peers.ts";
import { Joined } from "./joined.ts";

export type { Found };

const WRITE_PAUSE_MS = 30_000;

/** A store in use by one proxy. */
export class Cache {
  /** Fills in progress (request collapsing). */
  readonly fills: Fills = new Fills();
  /** Counters of this run. */
  readonly counters: CacheCounters = newCounters();
  /** The other threads serving this directory, when there are any. */
  peers: CachePeers | undefined;
  /** What the other threads serving this directory change here (src/cores). */
  readonly joined: Joined;
  #store: BodyStore | undefined;
  #bodies: Bodies | undefined;
  #logger: Logger;
  #maxBytes: number;
  #metas = new MetaCache();
  #usage = new DiskUsage();
  #scanned: Promise<void> = Promise.resolve();
  /** Whether #usage lists every entry on disk (the start-up scan ran to its end). */
  #indexed = false;
  #closing = new AbortController();
  #evicting: Promise<void> | undefined;
  #tasks = new Set<Promise<unknown>>();
  #writesPausedUntil = 0;
  #warnings: OnceEach;
  /** How a commit lets the store write metadata later (not with threads: they read it from disk). */
  #later: CommitOptions = {
    later: (meta, err) => {
      this.#warnings.failed("write", err);
      // The entry never reached the disk: it is not served from memory either.
      if (this.#metas.get(meta.id, Date.now()) === meta) void this.remove(meta.id);
    },
  };

  private constructor(store: BodyStore | undefined, logger: Logger, maxBytes: number) {
    this.#store = store;
    this.#logger = logger;
    this.#maxBytes = maxBytes;
    this.#warnings = new OnceEach(logger);
    this.#bodies = store && new Bodies(store, {
      remove: (id) => this.remove(id),
      used: (id) => this.#used(id),
      failed: (op, err) => this.#warnings.failed(op, err),
      warn: (line) => this.#logger.log("warn", line),
    });
    this.joined = new Joined({
      store,
      metas: this.#metas,
      usage: this.#usage,
      forgetBody: (id) => this.#bodies?.forget(id),
      touch: (id) => this.#touch(id),
      scanned: () => this.#scanned,
      evictIfNeeded: () => this.#evictIfNeeded(),
    });
  }

  /**
   * Opens the cache on `store`: a cache directory (the disk store in it), or
   * any other store. When the directory cannot be used, hoard runs without a
   * cache and says so once. `readOnly` is for looking at a directory another
   * process uses: nothing on disk is changed by opening and scanning.
   * `joined`: another thread of this process opened the directory first
   * and lists its entries (src/cores), so this one does not scan it.
   */
  static async open(
    store: string | BodyStore,
    maxBytes: number,
    logger: Logger,
    { readOnly = false, joined }: { readOnly?: boolean; joined?: Promise<ScannedEntry[]> } = {},
  ): Promise<Cache> {
    if (typeof store === "string") {
      const dir = store;
      try {
        store = await DiskStore.open(dir, {
          readOnly,
          joined: joined !== undefined,
          writes: cacheWrites(fileSystemType(dir), logger, !readOnly && joined === undefined),
        });
      } catch (err) {
        logger.log("warn", `cache disabled: cannot use ${dir}: ${errorLine(err)}`);
        return new Cache(undefined, logger, maxBytes);
      }
    }
    const cache = new Cache(store, logger, maxBytes);
    cache.#usage.scanStarted();
    cache.#scanned = cache.#scan(store, joined);
    return cache;
  }

  /** Keeps track of background work (fills) that shutdown waits for. */
  track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  /** Stops the start-up scan early (shutdown need not wait for it). */
  stopScan(): void {
    this.#closing.abort();
  }

  /** Waits for background work, and for eviction and the start-up scan. */
  async settled(): Promise<void> {
    await this.#scanned; // whose end may touch entries
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    await this.#store?.flush?.();
    await this.#evicting;
  }

  /** Whether a store is in use. */
  get enabled(): boolean {
    return this.#store !== undefined;
  }

  /** Bytes the entries take in the store (once the start-up scan is done). */
  get usedBytes(): number {
    return this.#usage.bytes;
  }

  /** Number of entries known (once the start-up scan is done). */
  get entryCount(): number {
    return this.#usage.count;
  }

  /** Settles when the start-up scan of the store is done. */
  get ready(): Promise<void> {
    return this.#scanned;
  }

  /**
   * Finds what is stored for `req` (following a vary index to the variant
   * matching the request) and asks the policy about it; see {@linkcode lookUp}.
   */
  find(req: CacheRequest, now: number): Promise<Found> {
    return lookUp(req, now, (id) => this.#meta(id), (id) => this.#used(id));
  }

  /** The response stored under `id`, if any. */
  async entry(id: string): Promise<ResponseMeta | undefined> {
    const meta = await this.#meta(id);
    return meta?.kind === "response" ? meta : undefined;
  }

  /** Entries already checked against their SHA-256 by this process. */
  get verified(): Set<string> {
    return this.#bodies?.verified ?? new Set();
  }

  /**
   * The body of a stored response: small ones as bytes (kept in memory after
   * the first read), larger ones as a byte source (`range` of it, when
   * asked). See {@linkcode Bodies.read} for how they are checked; a body
   * that is gone or corrupt is deleted with its entry (undefined).
   */
  body(entry: ResponseMeta, opts: ReadOptions = {}): Promise<Body | undefined> {
    return this.#bodies?.read(entry, opts) ?? Promise.resolve(undefined);
  }

  /**
   * The body of a committed entry as a byte stream, for another tier to copy
   * (not checked here: the shared tier's readers check every object);
   * undefined when the entry is gone.
   */
  openStream(entry: ResponseMeta): Promise<ReadableStream<Uint8Array> | undefined> {
    return this.#bodies?.stream(entry) ?? Promise.resolve(undefined);
  }

  /**
   * A fill could not write its body (disk full, directory removed): new fills
   * are not started for a while, so requests are relayed instead of failing
   * the same way again.
   */
  writeFailed(err: unknown): void {
    this.#writesPausedUntil = Date.now() + WRITE_PAUSE_MS;
    this.#warnings.failed("write", err);
  }

  /** Whether fills may be stored now (a cache directory, and writes not paused after a failure). */
  get writable(): boolean {
    return this.#store !== undefined && Date.now() >= this.#writesPausedUntil;
  }

  /**
   * Begins a body for a fill; undefined when the cache cannot write. A body
   * whose `length` is known to be small stays in memory and is stored inside
   * its metadata (one record per entry). Beginning a body in a file can take
   * most of a millisecond here (the file system's journal, its inode
   * allocator): for a larger body the leader's client is answered meanwhile,
   * followers wait.
   */
  async beginBody(length?: number): Promise<BodyWriter | undefined> {
    if (!this.writable) return undefined;
    if (length !== undefined && length <= SMALL_BODY_BYTES) return new InlineBody();
    try {
      return await this.#store!.beginBody();
    } catch (err) {
      this.writeFailed(err);
      return undefined;
    }
  }

  /**
   * Commits a complete fill as entry `meta.id`; for a response that varies,
   * also records the variant in the URL's vary index.
   */
  async commit(body: BodyWriter, meta: PendingMeta): Promise<ResponseMeta | undefined> {
    const store = this.#store;
    if (store === undefined) return undefined;
    try {
      if (meta.vary !== undefined && meta.vary.length > 0) {
        const primary = storeId(meta.key);
        const top = await this.#meta(primary);
        if (top?.kind === "response") await this.remove(primary);
        const index = varyIndexWith(top, primary, meta, meta.vary);
        await store.writeMeta(index);
        this.#metas.remember(index);
        this.#usage.set(index.id, storedBytes(index), Date.now());
        this.peers?.stored(index, storedBytes(index));
      }
      const previous = (await this.#meta(meta.id)) ?? null;
      const full = await store.commit(
        body,
        meta,
        previous,
        this.peers === undefined ? this.#later : undefined,
      );
      this.#bodies!.committed(full, body.bytes);
      this.#metas.remember(full);
      this.#usage.set(full.id, storedBytes(full), Date.now());
      this.peers?.stored(full, storedBytes(full));
      this.counters.stored++;
      this.#evictIfNeeded();
      return full;
    } catch (err) {
      await body.discard();
      this.#warnings.failed("write", err);
      return undefined;
    }
  }

  /** Replaces an entry's metadata (after a 304 refreshed it). */
  async update(entry: ResponseMeta): Promise<void> {
    try {
      await this.#store?.writeMeta(entry);
      this.#metas.remember(entry);
      if (this.#usage.has(entry.id)) this.#usage.set(entry.id, storedBytes(entry), Date.now());
      this.peers?.stored(entry, storedBytes(entry));
    } catch (err) {
      this.#warnings.failed("write", err);
    }
  }

  /**
   * Invalidates what is stored for a URL (RFC 9111 §4.4): the entry, or the
   * vary index and every variant it lists.
   */
  async invalidate(key: string): Promise<void> {
    const primary = storeId(key);
    const top = await this.#meta(primary);
    if (top?.kind === "vary") { for (const v of top.variants) await this.remove(v); }
    if (top !== undefined) await this.remove(primary);
  }

  /** Deletes one entry. */
  async remove(id: string): Promise<void> {
    this.#metas.missing(id, Date.now());
    this.#bodies?.forget(id);
    if (this.#usage.delete(id)) this.counters.removed++;
    this.peers?.gone(id);
    try {
      await this.#store?.remove(id);
    } catch (err) {
      this.#warnings.failed("delete", err);
    }
  }

  /**
   * Evicts least recently used entries until the cache takes at most
   * `targetBytes` (after the start-up scan); returns how many were removed.
   */
  async shrinkTo(targetBytes: number): Promise<number> {
    await this.#scanned;
    if (this.#usage.bytes <= targetBytes) return 0;
    let removed = 0;
    for (const id of this.#usage.leastRecentlyUsed()) {
      if (this.#usage.bytes <= targetBytes) break;
      await this.remove(id);
      removed++;
    }
    return removed;
  }

  /**
   * Deletes the entries last used before `cutoff` (ms since the epoch; the
   * last use is the metadata's modification time, refreshed by hits at most
   * hourly, so it is exact to within an hour); returns how many were removed.
   */
  async dropUnusedSince(cutoff: number): Promise<number> {
    await this.#scanned;
    const unused = this.#usage.unusedSince(cutoff);
    for (const id of unused) await this.remove(id);
    return unused.length;
  }

  async #meta(id: string): Promise<Meta | undefined> {
    const known = this.#metas.get(id, Date.now());
    if (known === "missing") return undefined;
    if (known !== undefined) return known;
    // Once the scan is done, every entry on disk is known: an unknown id is a
    // miss without a file system round trip (0.17 ms of every miss, measured).
    if (this.#indexed && !this.#usage.has(id)) return undefined;
    if (this.#store === undefined) return undefined;
    let meta: Meta | undefined;
    try {
      meta = await this.#store.readMeta(id);
    } catch (err) {
      this.#warnings.failed("read", err);
      return undefined;
    }
    if (meta === undefined) this.#metas.missing(id, Date.now());
    else this.#metas.remember(meta);
    return meta;
  }

  #used(id: string): void {
    this.peers?.used(id);
    if (this.#usage.used(id, Date.now())) this.#touch(id);
  }

  /** Refreshes `id`'s last use on disk, as background work: stopping waits for it. */
  #touch(id: string): void {
    if (this.#store !== undefined) this.track(this.#store.touch(id).catch(() => {}));
  }

  #evictIfNeeded(): void {
    if (this.#usage.bytes <= this.#maxBytes || this.#evicting !== undefined) return;
    this.#evicting = this.shrinkTo(Math.floor(this.#maxBytes * 0.9))
      .then((n) =>
        this.#logger.log("info", `cache over its cap: evicted ${n} least recently used entries`)
      )
      .finally(() => this.#evicting = undefined);
  }

  async #scan(store: BodyStore, listed?: Promise<ScannedEntry[]>): Promise<void> {
    try {
      const entries = await (listed ?? store.scan(this.#closing.signal));
      for (const id of this.#usage.addScanned(entries)) this.#touch(id);
      this.#indexed = !this.#closing.signal.aborted;
      this.#evictIfNeeded();
    } catch (err) {
      this.#warnings.failed("scan", err);
    } finally {
      for (const id of this.#usage.scanEnded()) this.#touch(id);
    }
  }
}
