/**
 * What a tier that holds bytes offers the cache: metadata by id, bodies as
 * byte streams, and bodies begun, followed while they grow, and committed
 * with their metadata. Nothing here names a file or a path, so a local disk
 * ({@link ./disk_store.ts}), memory ({@link ./memory_store.ts}) or an object
 * store can sit behind it. A store never decides freshness: that is the
 * policy's business.
 *
 * @module
 */

import type { Meta, ResponseMeta } from "./meta.ts";

/** Bodies up to this size are also kept in memory while written: hashed there, and served from there. */
export const SMALL_BODY_BYTES = 64 * 1024;

/** Metadata of a response as a fill hands it to commit: the store fills in the body's name, size and SHA-256. */
export type PendingMeta = Omit<ResponseMeta, "body" | "size" | "sha256">;

/** Bytes `start` to `start + length - 1` of a body. */
export interface ByteRange {
  /** Offset of the first byte. */
  start: number;
  /** Number of bytes. */
  length: number;
}

/** One entry as a store's scan sees it. */
export interface ScannedEntry {
  /** Store id. */
  id: string;
  /** Bytes the entry takes (metadata and body). */
  size: number;
  /** Last use (ms since the epoch), refreshed by {@linkcode BodyStore.touch}. */
  usedAt: number;
}

/**
 * A stored body (or a range of it) being read: its pieces in order, each a
 * view valid until the next one is asked for. Iterate it once; iterating to
 * the end, or stopping early, releases it.
 */
export interface ByteSource extends AsyncIterable<Uint8Array> {
  /** Bytes the pieces add up to. */
  readonly length: number;
  /**
   * Bytes the store holds for the whole body, whatever range is read: the
   * cache compares it with the metadata's size before trusting the body.
   */
  readonly storedSize: number;
  /** Releases a source that will not be iterated (a no-op once it was). */
  close(): void;
}

/**
 * Reads a body being written, from its first byte: only bytes already
 * written are asked for, and it reads on after the body is committed.
 */
export interface BodyReader {
  /**
   * The next bytes, at most `max` (which never goes past what was written):
   * a view valid until the next call.
   */
  read(max: number): Promise<Uint8Array>;
  /** Releases the reader. */
  close(): void;
}

/**
 * Where another thread of this process reads a body being written (src/cores):
 * a token only the store that began the body interprets — or, for a body in
 * memory, the fill's own events, which carry its bytes.
 */
export type BodyShare = { kind: "memory" } | { kind: "file"; path: string };

/** A body another thread writes, followed here: the store's reader of it. */
export interface SharedBody extends BodyWriter {
  /** The other thread's fill is over; the body is now where `share` says (committed), if anywhere. */
  settled(share: BodyShare | undefined): void;
}

/** A body being written, before it is committed as an entry's body. */
export interface BodyWriter {
  /** Bytes written so far. */
  readonly size: number;
  /**
   * The body so far while it is small (at most {@link SMALL_BODY_BYTES}), as
   * an array that later writes do not change; undefined once it is larger.
   */
  readonly bytes: Uint8Array | undefined;
  /** Appends `data` (copied: the caller may reuse it once this settles). */
  write(data: Uint8Array): Promise<void>;
  /** A reader of what is written, for a fill's followers. */
  reader(): BodyReader;
  /** Drops the body (it is never committed). */
  discard(): Promise<void>;
  /** Where other threads can read the body while it is written; undefined when they cannot. */
  share?(): BodyShare;
}

/** How {@linkcode BodyStore.commit} may write, beyond the store's usual way. */
export interface CommitOptions {
  /**
   * Given: the metadata of an entry whose body is inside it may be written
   * at the thread's next idle moment (meta_behind.ts), and this hears if
   * that write fails. Not given: it is written before the commit settles.
   */
  later?: (meta: Meta, err: unknown) => void;
  /**
   * For tests of the disk store: runs between the body's rename and the
   * metadata's, with the body's new path.
   */
  onPlaced?: (path: string) => void;
}

/**
 * Where entries live: metadata and bodies by store id. Commits are atomic: an
 * entry is seen whole (metadata and the body it names) or not at all, also
 * after a crash where the store outlives its process.
 */
export interface BodyStore {
  /** Metadata of `id`, or undefined. */
  readMeta(id: string): Promise<Meta | undefined>;
  /** Writes metadata atomically (a vary index, or an entry's fields refreshed by a 304). */
  writeMeta(meta: Meta): Promise<void>;
  /**
   * The body of `entry` (`range`, or all `entry.size` bytes of it) as a byte
   * source; undefined when the body is gone.
   */
  openBody(entry: ResponseMeta, range?: ByteRange): Promise<ByteSource | undefined>;
  /** Begins a body of unknown or large size. */
  beginBody(): Promise<BodyWriter>;
  /**
   * Makes `body` (one begun by this store, or an `InlineBody`) the
   * body of entry `meta`, whose `body`, `size` and `sha256` are filled in
   * here; a previous entry with the same id is replaced. `previous` is that
   * entry when the caller knows it (null: there is none).
   */
  commit(
    body: BodyWriter,
    meta: PendingMeta,
    previous?: Meta | null,
    options?: CommitOptions,
  ): Promise<ResponseMeta>;
  /** Writes what commits were allowed to write later ({@linkcode CommitOptions.later}). */
  flush?(): Promise<void>;
  /** Deletes an entry (metadata first, so it is never served without its body). */
  remove(id: string): Promise<void>;
  /** Marks an entry as used at `at`, for least-recently-used eviction that outlives the process. */
  touch(id: string, at?: Date): Promise<void>;
  /** Lists every entry with its size and last use; stops early on `signal`. */
  scan(signal?: AbortSignal): Promise<ScannedEntry[]>;
  /** A body another thread of this process is writing, shared as `share` (src/cores). */
  follow?(share: BodyShare): SharedBody | undefined;
}
