/**
 * The hub: the one place, in the main thread, where the threads serving one
 * cache directory learn of each other's fills and changes. Which thread
 * leads a fill is in shared memory (claims.ts); the hub relays a leader's
 * events to the threads that follow it — asking the leader for them when
 * the first one comes, replaying them to those that come later — and passes
 * every change of the directory on to every other thread.
 *
 * Messages from one thread are handled in the order it sent them, and the
 * hub's to one thread arrive in the order they were sent: a thread that
 * hears "the fill of K is over" has heard of the entry it stored before.
 *
 * @module
 */

import type { FromHub, Port, ToHub, WireFillEvent } from "./messages.ts";

/**
 * One fill being led by a thread, and what its followers must hear. The
 * leader tells of its fill only once another thread follows it (most fills
 * have no follower elsewhere): from then on, from the start.
 */
interface Led {
  leader: number;
  followers: Set<number>;
  /** Whether the leader was asked to tell of its fill. */
  watched: boolean;
  head?: WireFillEvent;
  /** The bytes so far, for a body in memory (at most 64 KiB). */
  data: Uint8Array[];
  written: number;
  /** end, fail, bypass or stale-if-error: the events after the body's growth. */
  last: WireFillEvent[];
}

/** The main thread's relay between the threads serving one cache directory. */
export class Hub {
  #threads = new Map<number, Port>();
  #next = 0;
  #fills = new Map<string, Led>();

  /** Adds a thread talking through `port`; its number (the first one added is 0, the evicting one). */
  join(port: Port): number {
    const id = this.#next++;
    this.#threads.set(id, port);
    port.onmessage = (e: MessageEvent<ToHub>) => this.#on(id, e.data);
    return id;
  }

  /**
   * Thread `id` is gone (it failed, or shut down): fills it led fail for
   * their followers, who must not wait for them forever (its claims are
   * released by cores.ts).
   */
  leave(id: number): void {
    this.#threads.delete(id);
    for (const [key, led] of this.#fills) {
      led.followers.delete(id);
      if (led.leader !== id) continue;
      this.#fills.delete(key);
      const gone: WireFillEvent[] = [
        { t: "fail", message: "the thread serving it stopped" },
        { t: "settled" },
      ];
      for (const ev of gone) for (const f of led.followers) this.send(f, { t: "fill", key, ev });
    }
  }

  /** Sends `m` to thread `id`. */
  send(id: number, m: FromHub): void {
    this.#threads.get(id)?.postMessage(m);
  }

  #on(from: number, m: ToHub): void {
    switch (m.t) {
      case "follow":
        return this.#follow(from, m.key, m.leader);
      case "fill":
        return this.#event(from, m.key, m.ev);
      case "used":
        // Only the first thread evicts: only it needs the others' uses.
        if (from !== 0) this.send(0, m);
        return;
      default:
        // A change of the directory: every other thread applies it.
        for (const id of this.#threads.keys()) if (id !== from) this.send(id, m);
        return;
    }
  }

  #follow(from: number, key: string, leader: number): void {
    let led = this.#fills.get(key);
    if (led === undefined) {
      led = { leader, followers: new Set(), watched: false, data: [], written: 0, last: [] };
      this.#fills.set(key, led);
    }
    led.followers.add(from);
    if (!led.watched) {
      // The first follower: the leader tells of its fill from now on, from the start.
      led.watched = true;
      return this.send(led.leader, { t: "watched", key });
    }
    // What it told before this thread came, in order.
    const replay = (ev: WireFillEvent) => this.send(from, { t: "fill", key, ev });
    if (led.head !== undefined) replay(led.head);
    if (led.data.length > 0) {
      let written = 0;
      for (const data of led.data) replay({ t: "wrote", written: written += data.length, data });
    } else if (led.written > 0) {
      replay({ t: "wrote", written: led.written });
    }
    for (const ev of led.last) replay(ev);
  }

  #event(from: number, key: string, ev: WireFillEvent): void {
    const led = this.#fills.get(key);
    if (led === undefined || led.leader !== from) return;
    if (ev.t === "head") led.head = ev;
    else if (ev.t === "wrote") {
      led.written = ev.written;
      if (ev.data !== undefined) led.data.push(ev.data);
    } else if (ev.t === "settled") this.#fills.delete(key);
    else led.last.push(ev);
    for (const f of led.followers) this.send(f, { t: "fill", key, ev });
  }
}
