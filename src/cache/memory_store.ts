/**
 * A store in memory: the same contract as the disk store, for tests that run
 * the cache, or a request's steps, without a directory. Metadata is copied in
 * and out (as the disk store serializes it), so a caller changing an object
 * it was handed changes nothing stored. Entries last as long as the object:
 * hand the same store to a new cache to play a restart.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  type BodyReader,
  type BodyStore,
  type BodyWriter,
  type ByteRange,
  type ByteSource,
  type PendingMeta,
  type ScannedEntry,
  SMALL_BODY_BYTES,
} from "./body_store.ts";
import { InlineBody } from "./inline_body.ts";
import { sha256 } from "./integrity.ts";
import { type Meta, metaBytes, type ResponseMeta } from "./meta.ts";

/** Entries and bodies in memory. */
export class MemoryStore implements BodyStore {
  #metas = new Map<string, { meta: Meta; usedAt: number }>();
  #bodies = new Map<string, Uint8Array>();

  /** Metadata of `id` (a copy), or undefined. */
  readMeta(id: string): Promise<Meta | undefined> {
    const kept = this.#metas.get(id);
    return Promise.resolve(kept === undefined ? undefined : structuredClone(kept.meta));
  }

  /** Keeps a copy of `meta`. */
  writeMeta(meta: Meta): Promise<void> {
    this.#metas.set(meta.id, { meta: structuredClone(meta), usedAt: Date.now() });
    return Promise.resolve();
  }

  /** The body of `entry` (`range`, or all of it) in one piece; undefined when it is gone. */
  openBody(entry: ResponseMeta, range?: ByteRange): Promise<ByteSource | undefined> {
    const body = this.#bodies.get(entry.body);
    if (body === undefined) return Promise.resolve(undefined);
    const start = range?.start ?? 0, length = range?.length ?? entry.size;
    const piece = body.subarray(start, start + length);
    return Promise.resolve({
      length,
      storedSize: body.length,
      async *[Symbol.asyncIterator]() {
        if (piece.length < length) throw new Error("stored body ended early");
        if (length > 0) yield piece;
      },
      close: () => {},
    });
  }

  /** Begins a body in memory. */
  beginBody(): Promise<BodyWriter> {
    return Promise.resolve(new MemoryBody());
  }

  /** Makes `body` the entry `meta`, replacing an entry of the same id. */
  async commit(body: BodyWriter, meta: PendingMeta, previous?: Meta | null): Promise<ResponseMeta> {
    if (!(body instanceof MemoryBody) && !(body instanceof InlineBody)) {
      throw new TypeError("the memory store commits only bodies it began, or inline ones");
    }
    const replaced = previous === undefined ? this.#metas.get(meta.id)?.meta : previous;
    let full: ResponseMeta;
    if (body instanceof InlineBody) {
      const inline = Buffer.from(body.bytes).toString("base64");
      full = { ...meta, body: "", inline, size: body.size, sha256: body.digest() };
    } else {
      const bytes = body.all();
      const name = `${meta.id}-${crypto.randomUUID().slice(0, 8)}.body`;
      this.#bodies.set(name, bytes);
      full = { ...meta, body: name, size: bytes.length, sha256: sha256(bytes) };
    }
    await this.writeMeta(full);
    if (replaced?.kind === "response" && replaced.body !== "") this.#bodies.delete(replaced.body);
    return full;
  }

  /** Deletes an entry and its body. */
  remove(id: string): Promise<void> {
    const meta = this.#metas.get(id)?.meta;
    this.#metas.delete(id);
    if (meta?.kind === "response" && meta.body !== "") this.#bodies.delete(meta.body);
    return Promise.resolve();
  }

  /** Marks an entry as used at `at`. */
  touch(id: string, at: Date = new Date()): Promise<void> {
    const kept = this.#metas.get(id);
    if (kept === undefined) return Promise.reject(new Error(`no entry ${id}`));
    kept.usedAt = at.getTime();
    return Promise.resolve();
  }

  /** Every entry, sized as the disk store sizes it (metadata as written, and the body). */
  scan(signal?: AbortSignal): Promise<ScannedEntry[]> {
    const out: ScannedEntry[] = [];
    for (const [id, { meta, usedAt }] of this.#metas) {
      if (signal?.aborted) break;
      const body = meta.kind === "response" ? this.#bodies.get(meta.body)?.length ?? 0 : 0;
      out.push({ id, size: metaBytes(meta) + body, usedAt });
    }
    return Promise.resolve(out);
  }
}

/** A body growing in memory: appends never change bytes already written. */
class MemoryBody implements BodyWriter {
  #buf = new Uint8Array(64 * 1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get bytes(): Uint8Array | undefined {
    return this.#size <= SMALL_BODY_BYTES ? this.all() : undefined;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.#size + data.length > this.#buf.length) {
      // A new array: views that readers hold of the old one stay valid.
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#size + data.length));
      grown.set(this.#buf.subarray(0, this.#size));
      this.#buf = grown;
    }
    this.#buf.set(data, this.#size);
    this.#size += data.length;
    return Promise.resolve();
  }

  reader(): BodyReader {
    let position = 0;
    return {
      read: (max) => {
        const piece = this.#buf.subarray(position, Math.min(position + max, this.#size));
        position += piece.length;
        return Promise.resolve(piece);
      },
      close: () => {},
    };
  }

  /** A copy of the whole body. */
  all(): Uint8Array {
    return this.#buf.slice(0, this.#size);
  }

  discard(): Promise<void> {
    return Promise.resolve();
  }
}
