/**
 * Request collapsing: a fill is one origin response being written to a body
 * of the store; every client that asked for it (the one that started it
 * included) follows the body as it grows, each at its own pace. The fill
 * goes on at the origin's pace whatever its readers do, so a client that
 * leaves does not abort what the others are waiting for.
 *
 * @module
 */

import type { FieldList } from "../http1/fields.ts";
import type { BodyReader, BodyShare, BodyWriter } from "./body_store.ts";

/** The response a fill is storing, as every follower sends it. */
export interface FillHead {
  /** Status code. */
  status: number;
  /** Reason phrase. */
  reason: string;
  /** End-to-end response fields (before Age, Via, Cache-Status are added per client). */
  fields: FieldList;
  /** Body length when the origin announced it. */
  length?: number;
  /** Lower-case names of the fields the response varies on. */
  vary: string[];
  /** The leader's secondary key, when the response varies: only requests with the same one may follow. */
  secondary?: string;
  /** The leader's Range, when the response is a 206: only requests with the same one may follow. */
  range?: string;
}

/** What a fill tells the clients that wait on it once the origin answered. */
export type FillStart =
  /** Follow the body being written. */
  | { kind: "follow"; head: FillHead }
  /** The response cannot be shared (not storable, or varies): ask the origin yourself. */
  | { kind: "bypass"; reason: string }
  /** The origin failed with `status` and the stored response was served instead: do the same. */
  | { kind: "stale-if-error"; status: number };

/**
 * What happens to a fill, as its leader tells followers in other threads
 * (src/cores): every change of state, in order.
 */
export type FillEvent =
  /** The response is announced; its body is where `share` says. */
  | { t: "head"; head: FillHead; share?: BodyShare }
  /** The body grew to `written` bytes; `data` is the new bytes when the body is in memory. */
  | { t: "wrote"; written: number; data?: Uint8Array }
  | { t: "end" }
  | { t: "fail"; message: string }
  | { t: "bypass"; reason: string }
  | { t: "stale-if-error"; status: number }
  /** The fill is over; `share` is where the body is now (committed), if anywhere. */
  | { t: "settled"; share?: BodyShare };

/** One response being stored, shared by every request for the same key. */
export class Fill {
  /** The collapsing key (store id). */
  readonly key: string;
  /** Settles when the origin answered. */
  readonly started: Promise<FillStart>;
  #resolveStart!: (s: FillStart) => void;
  #start: FillStart | undefined;
  #body: BodyWriter | undefined;
  #written = 0;
  #done = false;
  #error: unknown;
  #wake: (() => void)[] = [];
  #watch: ((ev: FillEvent) => void) | undefined;
  #inMemory = false;
  /** Clients following this fill, the first one included. */
  followers = 1;
  /** When the fill started (`performance.now()`): about when its origin request went out. */
  readonly startedAt: number = performance.now();
  /** Settles when the fill is over: committed to the store, discarded, or bypassed. */
  readonly settled: Promise<void>;
  /** @internal */
  settle!: () => void;

  /** @param key the collapsing key. */
  constructor(key: string) {
    this.key = key;
    this.started = new Promise((r) => {
      this.#resolveStart = (s) => {
        this.#start ??= s;
        r(s);
      };
    });
    this.settled = new Promise((r) => this.settle = r);
  }

  /** Bytes of body written so far. */
  get written(): number {
    return this.#written;
  }

  /** Whether the whole body is written. */
  get done(): boolean {
    return this.#done;
  }

  /** Why the fill failed, if it did (the body will never be complete). */
  get error(): unknown {
    return this.#error;
  }

  /** Whether the origin answered (`started` has settled). */
  get announced(): boolean {
    return this.#start !== undefined;
  }

  /**
   * Tells `watch` every change of this fill from now on (the fill's leader
   * does, for followers in other threads).
   */
  watch(watch: (ev: FillEvent) => void): void {
    this.#watch = watch;
  }

  /**
   * Tells the watcher what happened so far, as the events it would have
   * heard: for followers in another thread that come once the fill is under
   * way (the leader tells of its fills only once one does).
   */
  replay(): void {
    const watch = this.#watch, start = this.#start;
    if (watch === undefined || start === undefined) return;
    if (start.kind === "bypass" && this.#error === undefined) {
      return watch({ t: "bypass", reason: start.reason });
    }
    if (start.kind === "stale-if-error") {
      return watch({ t: "stale-if-error", status: start.status });
    }
    if (start.kind === "follow") {
      const share = this.#body?.share?.();
      watch({ t: "head", head: start.head, share });
      const data = this.#inMemory ? this.#body?.bytes?.slice() : undefined;
      if (this.#written > 0) {
        watch({ t: "wrote", written: this.#written, ...(data ? { data } : {}) });
      }
    }
    if (this.#error !== undefined) watch({ t: "fail", message: errorMessage(this.#error) });
    else if (this.#done) watch({ t: "end" });
  }

  /** Announces the response: followers start reading `body`. */
  follow(head: FillHead, body: BodyWriter): void {
    this.#body = body;
    this.#resolveStart({ kind: "follow", head });
    if (this.#watch === undefined) return;
    const share = body.share?.();
    this.#inMemory = share === undefined || share.kind === "memory";
    this.#watch({ t: "head", head, share });
  }

  /** A reader of the body from its first byte (once the response was announced). */
  reader(): BodyReader {
    if (this.#body === undefined) throw new Error("the fill has no body to follow");
    return this.#body.reader();
  }

  /** Announces that the response cannot be shared. */
  bypass(reason: string): void {
    this.#done = true;
    this.#resolveStart({ kind: "bypass", reason });
    this.#watch?.({ t: "bypass", reason });
  }

  /** Announces that the origin failed with `status` and the stored response was served instead. */
  staleIfError(status: number): void {
    this.#done = true;
    this.#resolveStart({ kind: "stale-if-error", status });
    this.#watch?.({ t: "stale-if-error", status });
  }

  /** Appends body bytes and wakes followers. */
  async write(data: Uint8Array): Promise<void> {
    await this.#body!.write(data);
    this.grew(this.#written + data.length, this.#inMemory ? data.slice() : undefined);
  }

  /**
   * The body holds `written` bytes now: for a fill whose body another thread
   * writes (`data`, the new bytes, goes to watchers of an in-memory body).
   */
  grew(written: number, data?: Uint8Array): void {
    this.#written = written;
    this.#notify();
    this.#watch?.({ t: "wrote", written, ...(data !== undefined ? { data } : {}) });
  }

  /** The body is complete. */
  end(): void {
    this.#done = true;
    this.#notify();
    this.#watch?.({ t: "end" });
  }

  /** The body will never be complete; followers must cut their responses. */
  fail(err: unknown): void {
    this.#error = err ?? new Error("fill failed");
    this.#resolveStart({ kind: "bypass", reason: "origin failed" });
    this.#notify();
    this.#watch?.({ t: "fail", message: errorMessage(err) });
  }

  /** The fill is over (Fills.remove): tells the watcher where the body is now. */
  ended(): void {
    this.settle();
    this.#watch?.({ t: "settled", share: this.#body?.share?.() });
    this.#watch = undefined;
  }

  /** Resolves at the next write, end or failure. */
  changed(): Promise<void> {
    return new Promise((r) => this.#wake.push(r));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}

/**
 * The fills of the other threads serving the same cache directory
 * (src/cores): one leader per key among all of them.
 */
export interface FillPeers {
  /**
   * Whether this thread leads the fill of `fill.key` ("lead"; "recheck":
   * another thread just stored it, look again first). When another thread
   * leads it ("follow"), `fill` follows that one's from now on: its events
   * drive it, and its end removes it.
   */
  claim(fill: Fill): "lead" | "recheck" | "follow";
}

/** Fills in progress, by key. */
export class Fills {
  /** The other threads' fills, when hoard serves on more than one (src/cores). */
  peers: FillPeers | undefined;
  #active = new Map<string, Fill>();

  /**
   * Joins the fill for `key`, or starts one (then the caller leads it).
   * `recheck`: another thread stored the key a moment ago, and this one may
   * not have heard yet: the leader looks in the store again before the origin.
   */
  join(key: string): { fill: Fill; leader: boolean; recheck?: boolean } {
    const existing = this.#active.get(key);
    if (existing !== undefined) {
      existing.followers++;
      return { fill: existing, leader: false };
    }
    const fill = new Fill(key);
    this.#active.set(key, fill);
    const claimed = this.peers?.claim(fill) ?? "lead";
    return {
      fill,
      leader: claimed !== "follow",
      ...(claimed === "recheck" ? { recheck: true } : {}),
    };
  }

  /** Removes a finished (stored, failed or bypassed) fill; later requests look in the store. */
  remove(fill: Fill): void {
    if (this.#active.get(fill.key) === fill) this.#active.delete(fill.key);
    fill.ended();
  }

  /** Number of fills in progress. */
  get size(): number {
    return this.#active.size;
  }
}

/**
 * Reads a fill's body as it grows, through the store's reader (which reads
 * on after the body is committed). Chunks are views valid until the next
 * step.
 *
 * @throws the fill's error when it fails before the reader has everything.
 */
export async function* followFill(fill: Fill): AsyncGenerator<Uint8Array, void, void> {
  let reader: BodyReader | undefined;
  try {
    for (let position = 0;;) {
      if (fill.error !== undefined) throw fill.error;
      const written = fill.written;
      if (position < written) {
        reader ??= fill.reader();
        const chunk = await reader.read(written - position);
        position += chunk.length;
        yield chunk;
        continue;
      }
      if (fill.done) return;
      await fill.changed();
    }
  } finally {
    reader?.close();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
