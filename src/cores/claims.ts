/**
 * Which thread leads the fill of each key, in memory every thread of the
 * process shares (a SharedArrayBuffer): claiming a key is one atomic step,
 * with no message and no wait for another thread — a miss costs no more on
 * N threads than on one. Only following a fill led elsewhere takes messages
 * (hub.ts).
 *
 * An open-addressing table of slots under one spin lock, keyed by 128 bits
 * of the key's SHA-256. A released slot stays as "done" for a moment: a
 * thread that claims the key then knows it was just stored — before the
 * message saying so may have reached it — and looks at the disk first.
 *
 * @module
 */

import { createHash } from "node:crypto";

// Int32s per slot: state, four of the digest, the leading thread, when it was released (s).
const SLOT = 7;
const EMPTY = 0, LEADING = 1, DONE = 2;
// How long a released key counts as "just stored".
const DONE_S = 2;
const SPINS = 64;

/** What a claim found. */
export type Claim =
  /** This thread leads; `slot` is its place (-1: the table is full, unregistered); `recent`: just stored elsewhere. */
  | { kind: "lead"; slot: number; recent: boolean }
  /** Thread `by` leads it. */
  | { kind: "led"; by: number };

/** The shared table of fills being led. */
export class ClaimTable {
  /** The shared memory, to hand to other threads (`new ClaimTable(buffer)` there). */
  readonly buffer: SharedArrayBuffer;
  #a: Int32Array;
  #slots: number;

  /** @param buffer made by {@linkcode ClaimTable.create} in the main thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#a = new Int32Array(buffer);
    this.#slots = (this.#a.length - 1) / SLOT;
  }

  /** A table of `slots` fills at once (more are led unregistered: a second origin request, at worst). */
  static create(slots = 1024): ClaimTable {
    return new ClaimTable(new SharedArrayBuffer((1 + slots * SLOT) * 4));
  }

  /** Claims `key` for `thread`: leads it, or learns who does. */
  claim(key: string, thread: number, nowS: number = seconds()): Claim {
    const d = digest(key);
    const a = this.#a;
    this.#lock();
    try {
      let free = -1;
      for (let i = 0, s = (d[0]! >>> 0) % this.#slots; i < this.#slots; i++) {
        const o = 1 + s * SLOT;
        const state = a[o]!;
        if (state === EMPTY) {
          if (free === -1) free = s;
          break; // the end of the probe: the key is not further on
        }
        const recent = state === DONE && nowS - a[o + 6]! <= DONE_S;
        if (a[o + 1] === d[0] && a[o + 2] === d[1] && a[o + 3] === d[2] && a[o + 4] === d[3]) {
          if (state === LEADING) return { kind: "led", by: a[o + 5]! };
          a[o] = LEADING;
          a[o + 5] = thread;
          return { kind: "lead", slot: s, recent };
        }
        if (state === DONE && !recent && free === -1) free = s;
        s = (s + 1) % this.#slots;
      }
      if (free === -1) return { kind: "lead", slot: -1, recent: false };
      const o = 1 + free * SLOT;
      a.set([LEADING, d[0]!, d[1]!, d[2]!, d[3]!, thread, 0], o);
      return { kind: "lead", slot: free, recent: false };
    } finally {
      this.#unlock();
    }
  }

  /** The fill in `slot` that `thread` led is over. */
  release(slot: number, thread: number, nowS: number = seconds()): void {
    if (slot < 0) return;
    const o = 1 + slot * SLOT;
    this.#lock();
    if (this.#a[o] === LEADING && this.#a[o + 5] === thread) {
      this.#a[o] = DONE;
      this.#a[o + 6] = nowS;
    }
    this.#unlock();
  }

  /** Every fill `thread` led is over (the thread is gone). */
  releaseAll(thread: number): void {
    for (let s = 0; s < this.#slots; s++) this.release(s, thread);
  }

  #lock(): void {
    const a = this.#a;
    for (let spins = 0; Atomics.compareExchange(a, 0, 0, 1) !== 0; spins++) {
      // The holder runs a few dozen instructions; if it was descheduled, sleep on it.
      if (spins > SPINS) Atomics.wait(a, 0, 1, 1);
    }
  }

  #unlock(): void {
    Atomics.store(this.#a, 0, 0);
    Atomics.notify(this.#a, 0, 1);
  }
}

function seconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** 128 bits of the key's SHA-256. */
function digest(key: string): Int32Array {
  // A copy: the hash's bytes may sit at any offset of a shared pool.
  const bytes = new Uint8Array(createHash("sha256").update(key).digest());
  return new Int32Array(bytes.buffer, 0, 4);
}
