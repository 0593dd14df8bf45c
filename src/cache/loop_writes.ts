/**
 * Where a metadata write runs: on the event loop while the file system
 * answers in microseconds, in the runtime's thread pool while it does not.
 *
 * A metadata file is a few KiB. On a local disk its create, write and
 * rename take tens of microseconds, less than handing each of them to the
 * pool costs (a round trip: two thread wake-ups and switches each). On a
 * busy core that was a tenth of a small miss (three alternating pairs of
 * 2,000 sequential intercepted misses, pinned to one core, cache on tmpfs:
 * CPU per miss 575–610 → 515–555 µs, the commit 107–123 → 63–80 µs).
 * Squid and nginx write their small files from the event loop too. But a
 * slow file system (a network one, a disk busy flushing) would stall every
 * connection while it waits:
 * when the writes on the loop take longer than `slowMs` on average (a moving
 * one, each write weighing a quarter: a few slow writes, or one very slow),
 * the writes after them go to the pool for `coolOffMs`, then the loop is
 * tried again. One write slowed by a cold start or a preempted thread does
 * not move them.
 *
 * @module
 */

/** How {@linkcode LoopWrites} decides, and whom it tells. */
export interface LoopWritesOptions {
  /** Writes on the loop slower than this (ms) on average move writes to the pool. Default 1. */
  slowMs?: number;
  /** For how long (ms) writes stay in the pool after a slow one. Default 30,000. */
  coolOffMs?: number;
  /** Told when slow writes moved writes to the pool: their average, for how long (ms). */
  onSlow?: (averageMs: number, poolMs: number) => void;
  /** The clock (ms), for tests. */
  now?: () => number;
}

/** Runs writes on the event loop while they are quick (see the module's comment). */
export class LoopWrites {
  /** Writes run on the event loop so far. */
  onLoop = 0;
  /** Writes run in the thread pool so far. */
  inPool = 0;
  #slowMs: number;
  #coolOffMs: number;
  #onSlow: (averageMs: number, poolMs: number) => void;
  #now: () => number;
  #poolUntil = -Infinity;
  #average = 0;

  constructor(
    { slowMs = 1, coolOffMs = 30_000, onSlow = () => {}, now = () => performance.now() }:
      LoopWritesOptions = {},
  ) {
    this.#slowMs = slowMs;
    this.#coolOffMs = coolOffMs;
    this.#onSlow = onSlow;
    this.#now = now;
  }

  /**
   * Runs one write: `onLoop` (synchronous) while writes are quick, else
   * `inPool` (the same write, asynchronous). Either one's error rejects.
   */
  async run(onLoop: () => void, inPool: () => Promise<void>): Promise<void> {
    const start = this.#now();
    if (start < this.#poolUntil) {
      this.inPool++;
      return await inPool();
    }
    this.onLoop++;
    try {
      onLoop();
    } finally {
      const end = this.#now();
      this.#average += (end - start - this.#average) / 4;
      if (this.#average > this.#slowMs) {
        this.#poolUntil = end + this.#coolOffMs;
        this.#onSlow(this.#average, this.#coolOffMs);
        this.#average = 0; // back on the loop, the writes are judged afresh
      }
    }
  }
}
