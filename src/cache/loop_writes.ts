/**
 * Where a small file-system operation runs (a metadata file's write and
 * rename, a shard directory's creation): on the event loop while the file
 * system answers in microseconds, in the runtime's thread pool while it
 * does not.
 *
 * On a local disk such an operation takes tens of microseconds, less than
 * handing it to the pool costs (a round trip: two thread wake-ups and
 * switches). On a busy core that was a tenth of a small miss (three
 * alternating pairs of 2,000 sequential intercepted misses, pinned to one
 * core, cache on tmpfs: CPU per miss 575–610 → 515–555 µs, the commit
 * 107–123 → 63–80 µs). Squid and nginx write their small files from the
 * event loop too. But a slow disk (one busy flushing) would stall every
 * connection while it waits: when the operations on the loop take longer
 * than `slowMs` on average (a moving one, each weighing a quarter: a few
 * slow ones, or one very slow), the ones after them go to the pool for
 * `coolOffMs`, then the loop is tried again. One slowed by a cold start or
 * a preempted thread does not move them. On a network file system they
 * never run on the loop (`loop: false`): a server that stops answering
 * would stop every connection until it did.
 *
 * @module
 */

import type { Logger } from "../observe/log.ts";
import { isRemote } from "./file_system.ts";

/** How {@linkcode LoopWrites} decides, and whom it tells. */
export interface LoopWritesOptions {
  /** Whether writes may run on the loop at all (false: a network file system). Default true. */
  loop?: boolean;
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
    {
      loop = true,
      slowMs = 1,
      coolOffMs = 30_000,
      onSlow = () => {},
      now = () => performance.now(),
    }: LoopWritesOptions = {},
  ) {
    if (!loop) this.#poolUntil = Infinity;
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

/**
 * How a cache directory on a file system of `type` writes: never on the
 * loop on a network file system (said once, when `announce`), and each move
 * to the pool logged.
 */
export function cacheWrites(
  type: string | undefined,
  logger: Logger,
  announce: boolean,
): LoopWritesOptions {
  const remote = isRemote(type);
  if (remote && announce) {
    logger.log("info", `the cache directory is on ${type}: its writes go to the thread pool`);
  }
  return {
    loop: !remote,
    onSlow: (average, pool) =>
      logger.log(
        "info",
        `cache writes took ${average.toFixed(1)} ms on the event loop on average: ` +
          `the next ${pool / 1000} s of them go to the thread pool`,
      ),
  };
}
