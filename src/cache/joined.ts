/**
 * A cache's side that only serving on several threads (src/cores) uses: what
 * the other threads serving its directory stored, removed and used, applied
 * to this thread's view; this thread's entries listed for them; and their
 * bodies being written, followed here. What this cache tells them is
 * peers.ts's. It is apart from cache.ts, which is the request's way.
 *
 * @module
 */

import type { BodyShare, BodyStore, ScannedEntry, SharedBody } from "./body_store.ts";
import { SharedInlineBody } from "./inline_body.ts";
import { type Meta, storedBytes } from "./meta.ts";
import type { MetaCache } from "./meta_cache.ts";
import type { DiskUsage } from "./usage.ts";

/** What {@linkcode Joined} shares of the cache it belongs to. */
export interface JoinedHost {
  /** The cache's store; undefined when it runs without one. */
  readonly store: BodyStore | undefined;
  /** The metadata the cache keeps in memory. */
  readonly metas: MetaCache;
  /** The cache's entries with their sizes and last uses. */
  readonly usage: DiskUsage;
  /** Forgets what the cache keeps about an entry's body (checked, or its bytes). */
  forgetBody(id: string): void;
  /** Refreshes an entry's last use on disk. */
  touch(id: string): void;
  /** Settles when the cache's start-up scan is done. */
  scanned(): Promise<void>;
  /** Starts an eviction if the cache is over its cap. */
  evictIfNeeded(): void;
}

/** One cache as the other threads serving its directory change it (src/cores). */
export class Joined {
  #host: JoinedHost;

  /** Applies the other threads' changes to `host`'s cache. */
  constructor(host: JoinedHost) {
    this.#host = host;
  }

  /** Another thread stored `meta` (`bytes` with its body): lookups here see it from now on. */
  learn(meta: Meta, bytes: number): void {
    const host = this.#host;
    host.metas.remember(meta);
    host.forgetBody(meta.id);
    host.usage.set(meta.id, bytes, Date.now());
    host.evictIfNeeded();
  }

  /** Reads the metadata of `ids` from the store again: another thread may have just written it. */
  async reread(...ids: string[]): Promise<void> {
    for (const id of ids) {
      const meta = await this.#host.store?.readMeta(id).catch(() => undefined);
      if (meta !== undefined) this.learn(meta, storedBytes(meta));
    }
  }

  /** Another thread removed entry `id`. */
  unlearn(id: string): void {
    const host = this.#host;
    host.metas.missing(id, Date.now());
    host.forgetBody(id);
    host.usage.delete(id);
  }

  /** Other threads used `ids` at `at`: the least recently used go first here too. */
  usedElsewhere(ids: string[], at: number): void {
    const { usage } = this.#host;
    for (const id of ids) if (usage.used(id, at)) this.#host.touch(id);
  }

  /** Every entry, once the start-up scan is done: the other threads' index. */
  async listed(): Promise<ScannedEntry[]> {
    await this.#host.scanned();
    return this.#host.usage.entries();
  }

  /** A body another thread is writing (its fill's `share`), to follow here. */
  followShared(share: BodyShare | undefined): SharedBody {
    return (share && this.#host.store?.follow?.(share)) ?? new SharedInlineBody();
  }
}
