/**
 * What the main thread and a worker say to each other besides the hub's
 * business (messages.ts): start, log lines, counters, shutdown.
 *
 * @module
 */

import type { ResolvedOptions } from "../options.ts";
import type { ThreadStats } from "./stats.ts";

/** Options a worker starts with: the main thread's, less what cannot cross threads. */
export type WorkerOptions = Omit<ResolvedOptions, "logSink" | "sharedEnv"> & {
  /** The shared tier's variables as the main thread read them. */
  sharedVars: Record<string, string>;
};

/** The main thread to a worker. */
export type ToWorker =
  | {
    t: "start";
    options: WorkerOptions;
    hub: MessagePort;
    /** The claim table's memory (claims.ts). */
    claims: SharedArrayBuffer;
    /** The worker's number at the hub. */
    thread: number;
  }
  /** What have you counted so far? */
  | { t: "stats"; ask: number }
  /** The answer to the worker's "others": every other thread's counters. */
  | { t: "others"; ask: number; stats: ThreadStats[] }
  | { t: "close" };

/** A worker to the main thread. */
export type FromWorker =
  | { t: "ready" }
  | { t: "failed"; message: string }
  /** Log lines, each ending in a newline (a LineBatch's). */
  | { t: "log"; lines: string }
  | { t: "stats"; ask: number; stats: ThreadStats }
  /** What have the other threads counted so far (for the worker's metrics page)? */
  | { t: "others"; ask: number }
  /** Shut down: its final counters, for the run's summary. */
  | { t: "closed"; stats: ThreadStats };

/** A thread's view of the others serving with it. */
export interface Threads {
  /** What every other thread counted so far (those that answer within a second). */
  others(): Promise<ThreadStats[]>;
}

/** How a worker's hoard joins the main thread's (startProxy's second argument). */
export interface Joined extends Threads {
  /** The worker's end of its channel to the hub. */
  hub: MessagePort;
  /** The claim table's memory (claims.ts). */
  claims: SharedArrayBuffer;
  /** The worker's number at the hub. */
  thread: number;
}

/**
 * Questions sent to another thread, each answered by number — or, when no
 * answer comes in time (the thread is busy or gone), by `fallback`.
 */
export class Asks<T> {
  #next = 0;
  #waiting = new Map<number, (answer: T) => void>();

  /** Sends a question through `send` (its number); the answer, or `fallback` after `ms`. */
  ask(send: (ask: number) => void, fallback: T, ms: number): Promise<T> {
    const ask = this.#next++;
    const { promise, resolve } = Promise.withResolvers<T>();
    const timer = setTimeout(() => this.answer(ask, fallback), ms);
    this.#waiting.set(ask, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
    send(ask);
    return promise;
  }

  /** Question `ask` is answered (a late or unknown answer is dropped). */
  answer(ask: number, answer: T): void {
    this.#waiting.get(ask)?.(answer);
    this.#waiting.delete(ask);
  }
}
