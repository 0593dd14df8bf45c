/**
 * Serving on every core: the main thread starts workers, each a whole hoard
 * on the same port (`reusePort`: the kernel spreads new connections) and the
 * same cache directory, joined through the hub (hub.ts) so that all of them
 * see one cache — one leader per fill, every entry stored by one seen by all,
 * one thread (the main one) evicting — and counted as one at the end.
 *
 * @module
 */

import type { ScannedEntry } from "../cache/body_store.ts";
import type { Cache } from "../cache/cache.ts";
import { errorLine } from "../errors.ts";
import type { Logger } from "../observe/log.ts";
import type { ResolvedOptions } from "../options.ts";
import { Hub } from "./hub.ts";
import { Member } from "./member.ts";
import { ClaimTable } from "./claims.ts";
import { localChannel } from "./local_port.ts";
import { type Counting, type ThreadStats, threadStats } from "./stats.ts";
import {
  Asks,
  type FromWorker,
  type Threads,
  type ToWorker,
  type WorkerOptions,
} from "./threads.ts";
import { S3_VARIABLES } from "../cache/shared/s3_settings.ts";
import { readEnv } from "../options.ts";
import { WORKER_PREFIX } from "./worker_name.ts";

// From the source tree a worker starts at worker.ts; in a bundle (this
// module is not a file of its own there) the bundle is the entry, and the
// worker's code in it starts because the thread is named as hoard's.
const WORKER_ENTRY = import.meta.url.endsWith("/cores/cores.ts")
  ? new URL("./worker.ts", import.meta.url)
  : new URL(import.meta.url);
const ANSWER_MS = 1000;
const START_MS = 30_000;
// A worker that fails is replaced after a pause; one that fails this many
// times within the window is a crash loop, and its place stays empty.
const RESPAWN_MS = 1000;
const CRASH_WINDOW_MS = 60_000;
const CRASHES_ALLOWED = 3;

/** How {@linkcode Cores} starts and replaces workers (tests change them). */
export interface CoresOptions {
  /** The module a worker runs. @default worker.ts, or the bundle it is in */
  entry?: URL;
  /** Pause before a failed worker is replaced, ms. @default 1000 */
  respawnMs?: number;
}

/** One worker, as the main thread holds it. */
interface Running {
  worker: Worker;
  /** Its number at the hub. */
  id: number;
  closed?: PromiseWithResolvers<ThreadStats | undefined>;
}

/** The workers serving with the main thread. */
export class Cores implements Threads {
  #hub = new Hub();
  #claims = ClaimTable.create();
  #member: Member;
  #workers = new Set<Running>();
  #asks = new Asks<ThreadStats | undefined>();
  #cache: Cache;
  #main: Counting;
  #logger: Logger;
  #entry: URL;
  #respawnMs: number;
  /** What every worker starts with, the replacements too (set by {@linkcode Cores.start}). */
  #options!: WorkerOptions;
  #closing = false;
  /** When each worker's place (by number) lost its worker, within the crash window. */
  #failures = new Map<number, number[]>();
  #respawns = new Set<ReturnType<typeof setTimeout>>();

  /**
   * Joins the main thread (`main`, whose cache is `cache`) to a new hub and
   * claim table; {@linkcode Cores.start} then starts the workers.
   */
  constructor(cache: Cache, main: Counting, logger: Logger, options: CoresOptions = {}) {
    const { port1, port2 } = localChannel();
    this.#member = new Member(port2, this.#claims, this.#hub.join(port1));
    this.#member.attach(cache);
    this.#cache = cache;
    this.#main = main;
    this.#logger = logger;
    this.#entry = options.entry ?? WORKER_ENTRY;
    this.#respawnMs = options.respawnMs ?? RESPAWN_MS;
  }

  /** Starts `count` workers with `options`; those that cannot start are logged and left out. */
  async start(count: number, options: ResolvedOptions): Promise<void> {
    const { logSink: _, sharedEnv, ...rest } = options;
    const env = sharedEnv ?? readEnv;
    const sharedVars: Record<string, string> = {};
    for (const name of S3_VARIABLES) {
      const value = env(name);
      if (value !== undefined) sharedVars[name] = value;
    }
    // Workers never evict: the main thread does, for all (it hears of every entry).
    this.#options = { ...rest, maxSize: Infinity, sharedVars };
    const index = this.#cache.joined.listed();
    await Promise.all(Array.from({ length: count }, (_, i) => this.#spawn(i + 1, index)));
  }

  /** How many workers serve with the main thread. */
  get workers(): number {
    return this.#workers.size;
  }

  /** What every worker counted so far. */
  async others(): Promise<ThreadStats[]> {
    const all = await Promise.all([...this.#workers].map((w) => this.#ask(w)));
    return all.filter((s) => s !== undefined);
  }

  /**
   * Shuts every worker down (each finishes its requests in flight, as the
   * main thread does) and returns their final counters. The main thread's
   * own link to the hub stays until {@linkcode Cores.release}: its requests
   * in flight may still need it.
   */
  async close(): Promise<ThreadStats[]> {
    this.#closing = true;
    for (const timer of this.#respawns) clearTimeout(timer);
    const finals = await Promise.all([...this.#workers].map(async (w) => {
      w.closed = Promise.withResolvers();
      this.#post(w, { t: "close" });
      const stats = await w.closed.promise;
      this.#gone(w);
      return stats;
    }));
    return finals.filter((s) => s !== undefined);
  }

  /** The main thread is done too: its link to the hub closes. */
  release(): void {
    this.#member.close();
  }

  /** Starts worker `n`; whether it serves. */
  async #spawn(n: number, index: Promise<ScannedEntry[]>): Promise<boolean> {
    const worker = new Worker(this.#entry, { type: "module", name: `${WORKER_PREFIX}${n}` });
    const { port1, port2 } = new MessageChannel();
    const w: Running = { worker, id: this.#hub.join(port1) };
    const started = Promise.withResolvers<void>();
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#on(w, e.data, started);
    worker.onerror = (e) => {
      e.preventDefault();
      const why = e.message ?? "failed";
      started.reject(new Error(why));
      if (!this.#workers.has(w)) return;
      this.#logger.log("error", `worker ${n} stopped: ${why}; its connections were cut`);
      w.closed?.resolve(undefined);
      this.#gone(w);
      if (w.closed === undefined) this.#replace(n);
    };
    this.#post(w, {
      t: "start",
      options: this.#options,
      hub: port2,
      claims: this.#claims.buffer,
      thread: w.id,
    }, [port2]);
    const timer = setTimeout(() => started.reject(new Error("no answer")), START_MS);
    try {
      await started.promise;
      // Shutdown began while it started (a replacement): it has served nothing yet.
      if (this.#closing) throw new Error("shutting down");
      this.#workers.add(w);
      // The directory's entries, once the main thread has listed them.
      index.then((entries) => this.#hub.send(w.id, { t: "index", entries }));
      return true;
    } catch (err) {
      if (!this.#closing) this.#logger.log("warn", `worker ${n} did not start: ${errorLine(err)}`);
      this.#hub.leave(w.id);
      worker.terminate();
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Starts another worker `n` in place of one that failed, after a pause,
   * unless that place failed {@linkcode CRASHES_ALLOWED} times within
   * {@linkcode CRASH_WINDOW_MS} already: a worker that cannot run is not
   * started forever.
   */
  #replace(n: number): void {
    if (this.#closing) return;
    const now = Date.now();
    const failures = (this.#failures.get(n) ?? []).filter((t) => now - t < CRASH_WINDOW_MS);
    failures.push(now);
    this.#failures.set(n, failures);
    if (failures.length > CRASHES_ALLOWED) {
      this.#logger.log(
        "error",
        `worker ${n} failed ${failures.length} times within ${CRASH_WINDOW_MS / 1000} s: ` +
          `not started again; serving on ${1 + this.#workers.size} threads`,
      );
      return;
    }
    const timer = setTimeout(async () => {
      this.#respawns.delete(timer);
      if (await this.#spawn(n, this.#cache.joined.listed())) {
        this.#logger.log("warn", `worker ${n} started again`);
      } else this.#replace(n);
    }, this.#respawnMs);
    this.#respawns.add(timer);
  }

  #on(w: Running, m: FromWorker, started: PromiseWithResolvers<void>): void {
    switch (m.t) {
      case "ready":
        return started.resolve();
      case "failed":
        return started.reject(new Error(m.message));
      case "log":
        for (const line of m.lines.slice(0, -1).split("\n")) this.#logger.line(line);
        return;
      case "stats":
        return this.#asks.answer(m.ask, m.stats);
      case "others":
        this.#othersFor(w).then((stats) => this.#post(w, { t: "others", ask: m.ask, stats }));
        return;
      case "closed":
        w.closed?.resolve(m.stats);
        return;
    }
  }

  /** Every thread's counters but `w`'s: the main thread's and the other workers'. */
  async #othersFor(w: Running): Promise<ThreadStats[]> {
    const workers = [...this.#workers].filter((x) => x !== w);
    const all = await Promise.all(workers.map((x) => this.#ask(x)));
    return [threadStats(this.#main), ...all.filter((s) => s !== undefined)];
  }

  #ask(w: Running): Promise<ThreadStats | undefined> {
    return this.#asks.ask((ask) => this.#post(w, { t: "stats", ask }), undefined, ANSWER_MS);
  }

  #gone(w: Running): void {
    this.#workers.delete(w);
    this.#hub.leave(w.id);
    this.#claims.releaseAll(w.id);
    w.worker.terminate();
  }

  #post(w: Running, m: ToWorker, transfer: Transferable[] = []): void {
    w.worker.postMessage(m, transfer);
  }
}
