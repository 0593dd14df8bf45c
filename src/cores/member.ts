/**
 * One thread's side of the hub (hub.ts): it claims fills for this thread's
 * cache, tells the hub of every fill it leads and every change it makes to
 * the cache directory, and applies what the other threads did — their
 * fills followed here as local fills, their entries learnt by this thread's
 * cache.
 *
 * @module
 */

import type { ScannedEntry, SharedBody } from "../cache/body_store.ts";
import type { Cache } from "../cache/cache.ts";
import type { Fill, FillEvent, FillPeers } from "../cache/fill.ts";
import type { Meta } from "../cache/meta.ts";
import type { CachePeers } from "../cache/peers.ts";
import { type FromHub, fromWire, type ToHub, toWire } from "./messages.ts";

// Uses are sent in batches: they only order eviction, which needs no more.
const USED_EVERY_MS = 1000;

/** A fill another thread leads, followed by a local one. */
interface Followed {
  fill: Fill;
  body?: SharedBody;
}

/** This thread's link to the hub. */
export class Member implements FillPeers, CachePeers {
  #port: MessagePort;
  #cache!: Cache;
  #claims = new Map<string, { fill: Fill; lead: (yes: boolean) => void }>();
  #followed = new Map<string, Followed>();
  #used = new Set<string>();
  #usedTimer: ReturnType<typeof setTimeout> | undefined;
  #index = Promise.withResolvers<ScannedEntry[]>();

  /**
   * @param port this thread's end of its channel to the hub; what comes
   *   before {@linkcode Member.attach} waits in it.
   */
  constructor(port: MessagePort) {
    this.#port = port;
  }

  /** Becomes `cache`'s peers and starts hearing the hub (the index first, when it is there). */
  attach(cache: Cache): void {
    this.#cache = cache;
    cache.peers = this;
    cache.fills.peers = this;
    this.#port.onmessage = (e: MessageEvent<FromHub>) => this.#on(e.data);
  }

  /** Every entry in the directory, once the hub sends the first thread's scan. */
  get index(): Promise<ScannedEntry[]> {
    return this.#index.promise;
  }

  /** Asks the hub whether this thread leads `fill`; when not, the leader's events drive it. */
  claim(fill: Fill): Promise<boolean> {
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#claims.set(fill.key, { fill, lead: resolve });
    this.#post({ t: "claim", key: fill.key });
    return promise;
  }

  /** Tells the other threads of an entry written here. */
  stored(meta: Meta, bytes: number): void {
    this.#post({ t: "stored", meta, bytes });
  }

  /** Tells the other threads of an entry removed here. */
  gone(id: string): void {
    this.#post({ t: "gone", id });
  }

  /** Notes a use, sent with the next batch. */
  used(id: string): void {
    this.#used.add(id);
    if (this.#usedTimer !== undefined) return;
    const timer = setTimeout(() => this.flush(), USED_EVERY_MS);
    Deno.unrefTimer(timer);
    this.#usedTimer = timer;
  }

  /** Sends the uses noted so far (at shutdown, and every second). */
  flush(): void {
    clearTimeout(this.#usedTimer);
    this.#usedTimer = undefined;
    if (this.#used.size === 0) return;
    this.#post({ t: "used", ids: [...this.#used], at: Date.now() });
    this.#used.clear();
  }

  /** Stops listening (the thread is shutting down). */
  close(): void {
    this.flush();
    this.#port.close();
  }

  #on(m: FromHub): void {
    switch (m.t) {
      case "claimed":
        return this.#claimed(m.key, m.lead);
      case "fill":
        return this.#event(m.key, fromWire(m.ev));
      case "stored":
        return this.#cache.learn(m.meta, m.bytes);
      case "gone":
        return this.#cache.unlearn(m.id);
      case "used":
        return this.#cache.usedElsewhere(m.ids, m.at);
      case "index":
        return this.#index.resolve(m.entries);
    }
  }

  #claimed(key: string, lead: boolean): void {
    const claim = this.#claims.get(key);
    if (claim === undefined) return;
    this.#claims.delete(key);
    const { fill } = claim;
    if (lead) fill.watch((ev) => this.#post({ t: "fill", key, ev: toWire(ev) }));
    else this.#followed.set(key, { fill });
    claim.lead(lead);
  }

  #event(key: string, ev: FillEvent): void {
    const followed = this.#followed.get(key);
    if (followed === undefined) return;
    const { fill } = followed;
    switch (ev.t) {
      case "head":
        followed.body = this.#cache.followShared(ev.share);
        return fill.follow(ev.head, followed.body);
      case "wrote":
        // A file holds the bytes already; in memory they come along.
        if (ev.data === undefined || followed.body === undefined) return fill.grew(ev.written);
        followed.body.write(ev.data).then(() => fill.grew(ev.written), (err) => fill.fail(err));
        return;
      case "end":
        return fill.end();
      case "fail":
        return fill.fail(new Error(ev.message));
      case "bypass":
        return fill.bypass(ev.reason);
      case "stale-if-error":
        return fill.staleIfError(ev.status);
      case "settled":
        followed.body?.settled(ev.share);
        this.#followed.delete(key);
        return this.#cache.fills.remove(fill);
    }
  }

  #post(m: ToHub): void {
    this.#port.postMessage(m);
  }
}
