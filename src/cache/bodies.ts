/**
 * Reading stored bodies for the cache: small ones as bytes (kept in memory
 * after their first read), larger ones as the store's byte source, and every
 * one checked against its SHA-256 before its last byte leaves hoard.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type BodyStore, type ByteRange, type ByteSource, SMALL_BODY_BYTES } from "./body_store.ts";
import { type BodyCheck, bodyCheck, digest, sha256 } from "./integrity.ts";
import type { ResponseMeta } from "./meta.ts";
import { SmallBodies } from "./small_bodies.ts";

/** A stored body as the cache hands it out. */
export type Body =
  /** A small body, whole (a range is cut from it by the sender). */
  | { bytes: Uint8Array }
  /**
   * A larger one (the range asked for) from the store; with `check` when it
   * is read for the first time: the sender feeds it and asks it before the
   * last byte goes out.
   */
  | { source: ByteSource; check?: BodyCheck };

/** Options of {@linkcode Bodies.read}. */
export interface ReadOptions {
  /**
   * The whole body is about to be sent: a large body read for the first time
   * is checked while it is sent (a {@link BodyCheck} comes with it) instead
   * of before.
   * @default {false}
   */
  checkWhileSending?: boolean;
  /** The bytes wanted of a large body (a small one comes whole). @default {all of it} */
  range?: ByteRange;
}

/** What {@linkcode Bodies} asks of the cache it serves. */
export interface BodiesHost {
  /** Deletes an entry whose body is gone or failed its check. */
  remove(id: string): Promise<void>;
  /** Notes a use of an entry (for eviction). */
  used(id: string): void;
  /** Reports a failure of the store (the request goes on without it). */
  failed(op: string, err: unknown): void;
  /** Says that an entry failed its checksum. */
  warn(line: string): void;
}

/** The bodies of one cache's store. */
export class Bodies {
  /** Entries already checked against their SHA-256 by this process. */
  readonly verified: Set<string> = new Set();
  #store: BodyStore;
  #host: BodiesHost;
  #small = new SmallBodies();

  /** Reads bodies from `store` for `host`. */
  constructor(store: BodyStore, host: BodiesHost) {
    this.#store = store;
    this.#host = host;
  }

  /**
   * The body of a stored response. The first read of an entry by this
   * process checks its SHA-256 before anything is served — or, with
   * `checkWhileSending`, only its size, and the source comes with a
   * {@link BodyCheck} for the sender to feed. A body that is missing or does
   * not match is deleted with its entry (undefined).
   */
  async read(entry: ResponseMeta, opts: ReadOptions = {}): Promise<Body | undefined> {
    const kept = this.#small.use(entry.id);
    if (kept !== undefined) {
      this.#host.used(entry.id);
      return { bytes: kept };
    }
    if (entry.inline !== undefined) {
      const bytes = Uint8Array.from(Buffer.from(entry.inline, "base64"));
      return await this.#keepChecked(entry, bytes);
    }
    try {
      return await this.#fromStore(entry, opts);
    } catch (err) {
      this.#host.failed("read", err);
      return undefined;
    }
  }

  async #fromStore(entry: ResponseMeta, opts: ReadOptions): Promise<Body | undefined> {
    if (entry.size <= SMALL_BODY_BYTES) {
      const source = await this.#open(entry);
      if (source === undefined) return undefined;
      // Bytes after the stored size are never served: only a short body is damaged.
      if (source.storedSize < entry.size) {
        source.close();
        return await this.#corrupt(entry);
      }
      return await this.#keepChecked(entry, await readAll(source));
    }
    let check: BodyCheck | undefined;
    if (!this.verified.has(entry.id) && !opts.checkWhileSending) {
      const whole = await this.#open(entry);
      if (whole === undefined) return undefined;
      if (whole.storedSize !== entry.size || (await digest(whole)).sha256 !== entry.sha256) {
        whole.close();
        return await this.#corrupt(entry);
      }
      this.verified.add(entry.id);
    }
    const source = await this.#open(entry, opts.range);
    if (source === undefined) return undefined;
    if (!this.verified.has(entry.id)) {
      // Checking while sending reads the body once instead of twice, and the
      // first byte goes out at once (a first hit of 100 MiB waited 94 ms).
      if (source.storedSize !== entry.size) {
        source.close();
        return await this.#corrupt(entry);
      }
      check = bodyCheck(
        entry.sha256,
        () => this.verified.add(entry.id),
        () => this.#corrupt(entry),
      );
    }
    this.#host.used(entry.id);
    return check === undefined ? { source } : { source, check };
  }

  /** Opens a body; one that is gone takes its entry with it. */
  async #open(entry: ResponseMeta, range?: ByteRange): Promise<ByteSource | undefined> {
    let source: ByteSource | undefined;
    try {
      source = await this.#store.openBody(entry, range);
    } catch (err) {
      this.#host.failed("read", err);
    }
    if (source === undefined) await this.#host.remove(entry.id);
    return source;
  }

  /** Serves small `bytes` when they match the entry, kept in memory from now on. */
  async #keepChecked(entry: ResponseMeta, bytes: Uint8Array): Promise<Body | undefined> {
    if (bytes.length !== entry.size || sha256(bytes) !== entry.sha256) {
      return await this.#corrupt(entry);
    }
    this.verified.add(entry.id);
    this.#small.keep(entry.id, bytes);
    this.#host.used(entry.id);
    return { bytes };
  }

  /**
   * The body of a committed entry as a stream of pieces of its own, for
   * another tier to copy (not checked here: the shared tier's readers check
   * every object); undefined when the entry is gone.
   */
  async stream(entry: ResponseMeta): Promise<ReadableStream<Uint8Array> | undefined> {
    const bytes = this.#small.peek(entry.id) ??
      (entry.inline === undefined ? undefined : Buffer.from(entry.inline, "base64"));
    if (bytes !== undefined) return ReadableStream.from([bytes]);
    const source = await this.#store.openBody(entry).catch(() => undefined);
    return source === undefined ? undefined : ReadableStream.from(copies(source));
  }

  /** A body just committed: checked as it was written, and kept in memory when small. */
  committed(entry: ResponseMeta, bytes: Uint8Array | undefined): void {
    this.#small.forget(entry.id);
    this.verified.add(entry.id);
    if (bytes !== undefined) this.#small.keep(entry.id, bytes);
  }

  /** Forgets what is kept about an entry that is removed. */
  forget(id: string): void {
    this.#small.forget(id);
    this.verified.delete(id);
  }

  async #corrupt(entry: ResponseMeta): Promise<undefined> {
    this.#host.warn(`cache entry for ${entry.key} failed its checksum; deleted`);
    await this.#host.remove(entry.id);
    return undefined;
  }
}

/** Everything `source` yields, in one array of its length. */
async function readAll(source: ByteSource): Promise<Uint8Array> {
  const out = new Uint8Array(source.length);
  let off = 0;
  for await (const piece of source) {
    out.set(piece, off);
    off += piece.length;
  }
  return out;
}

/** The pieces of `source`, each copied: a stream's reader may keep them. */
async function* copies(source: ByteSource): AsyncGenerator<Uint8Array, void, void> {
  for await (const piece of source) yield piece.slice();
}
