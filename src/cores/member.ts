/**
 * One thread's side of the hub (hub.ts): it claims this thread's fills in the
 * shared table (claims.ts), tells the hub of every fill it leads that another
 * thread follows and of every change it makes to the cache directory, and
 * applies what the other threads did — their fills followed here as local
 * fills, their entries learnt by this thread's cache.
 *
 * @module
 */

import type { ScannedEntry, SharedBody } from "../cache/body_store.ts";
import type { Cache } from "../cache/cache.ts";
import type { Fill, FillEvent, FillPeers } from "../cache/fill.ts";
import type { Meta } from "../cache/meta.ts";
import type { CachePeers } from "../cache/peers.ts";
import type { ClaimTable } from "./claims.ts";
import { type FromHub, fromWire, type Port, type ToHub, toWire } from "./messages.ts";

// Uses are sent in batches: they only order eviction, which needs no more.
const USED_EVERY_MS = 1000;
// Entries stored go out in batches too: each message wakes the other threads,
// which on a small machine takes a core from the requests being answered. A
// claim of a key stored less than 2 s ago reads the store first (claims.ts),
// so a thread that has not heard yet does not fetch it again.
const STORED_EVERY_MS = 10;

/** A fill another thread leads, followed by a local one. */
interface Followed {
  fill: Fill;
  body?: SharedBody;
}

/** This thread's link to the hub. */
export class Member implements FillPeers, CachePeers {
  #port: Port;
  #cache!: Cache;
  #followed = new Map<string, Followed>();
  /** Fills this thread leads, and whether another thread follows them (then their events go out). */
  #led = new Map<string, { fill: Fill; watched: boolean }>();
  #claims: ClaimTable;
  #thread: number;
  #used = new Batch<string>(USED_EVERY_MS, (ids) => this.#post({ t: "used", ids, at: Date.now() }));
  #stored = new Batch<{ meta: Meta; bytes: number }>(
    STORED_EVERY_MS,
    (entries) => this.#port.postMessage({ t: "stored", entries } satisfies ToHub),
  );
  #index = Promise.withResolvers<ScannedEntry[]>();

  /**
   * @param port this thread's end of its channel to the hub; what comes
   *   before {@linkcode Member.attach} waits in it.
   * @param claims the table of fills being led, shared by every thread.
   * @param thread this thread's number at the hub.
   */
  constructor(port: Port, claims: ClaimTable, thread: number) {
    this.#port = port;
    this.#claims = claims;
    this.#thread = thread;
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

  /**
   * Claims `fill`'s key in the shared table: this thread leads it (its
   * events go out once another thread follows), or follows the thread that
   * does, whose events drive `fill` from now on.
   */
  claim(fill: Fill): "lead" | "recheck" | "follow" {
    const key = fill.key;
    const claim = this.#claims.claim(key, this.#thread);
    if (claim.kind === "led") {
      this.#followed.set(key, { fill });
      this.#post({ t: "follow", key, leader: claim.by });
      return "follow";
    }
    const led = { fill, watched: false };
    this.#led.set(key, led);
    fill.watch((ev) => {
      if (ev.t === "settled") {
        this.#led.delete(key);
        this.#claims.release(claim.slot, this.#thread);
      }
      if (led.watched) this.#post({ t: "fill", key, ev: toWire(ev) });
    });
    return claim.recent ? "recheck" : "lead";
  }

  /** Tells the other threads of an entry written here (with the next batch). */
  stored(meta: Meta, bytes: number): void {
    this.#stored.add({ meta, bytes });
  }

  /** Tells the other threads of an entry removed here. */
  gone(id: string): void {
    this.#post({ t: "gone", id });
  }

  /** Notes a use, sent with the next batch. */
  used(id: string): void {
    this.#used.add(id);
  }

  /**
   * The thread is shutting down before the index came: its cache stops
   * waiting for it (an empty one), as the main thread's stops its scan.
   */
  abandonIndex(): void {
    this.#index.resolve([]);
  }

  /** Stops listening (the thread is shutting down). */
  close(): void {
    this.#stored.flush();
    this.#used.flush();
    this.#port.close();
  }

  #on(m: FromHub): void {
    switch (m.t) {
      case "watched": {
        const led = this.#led.get(m.key);
        // Over already: so say, and the follower looks in the store.
        if (led === undefined) return this.#post({ t: "fill", key: m.key, ev: { t: "settled" } });
        led.watched = true;
        return led.fill.replay();
      }
      case "fill":
        return this.#event(m.key, fromWire(m.ev));
      case "stored":
        for (const { meta, bytes } of m.entries) this.#cache.joined.learn(meta, bytes);
        return;
      case "gone":
        return this.#cache.joined.unlearn(m.id);
      case "used":
        return this.#cache.joined.usedElsewhere(m.ids, m.at);
      case "index":
        return this.#index.resolve(m.entries);
    }
  }

  #event(key: string, ev: FillEvent): void {
    const followed = this.#followed.get(key);
    if (followed === undefined) return;
    const { fill } = followed;
    switch (ev.t) {
      case "head":
        followed.body = this.#cache.joined.followShared(ev.share);
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
        // Over before it told of itself: what it stored, if anything, is in the store now.
        if (!fill.announced) fill.bypass("stored");
        return this.#cache.fills.remove(fill);
    }
  }

  /** Sends `m`, after the entries stored so far: the others hear in the order things happened. */
  #post(m: ToHub): void {
    this.#stored.flush();
    this.#port.postMessage(m);
  }
}

/** Items sent together, `ms` after the first of them, or sooner when flushed. */
class Batch<T> {
  #items = new Set<T>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ms: number;
  #send: (items: T[]) => void;

  constructor(ms: number, send: (items: T[]) => void) {
    this.#ms = ms;
    this.#send = send;
  }

  add(item: T): void {
    this.#items.add(item);
    if (this.#timer !== undefined) return;
    const timer = setTimeout(() => this.flush(), this.#ms);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  flush(): void {
    if (this.#items.size === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = [...this.#items];
    this.#items.clear();
    this.#send(items);
  }
}
