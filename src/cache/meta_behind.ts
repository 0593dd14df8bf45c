/**
 * Metadata written behind the client. An entry whose body is small is one
 * metadata file with the body inside; writing it (serializing, creating the
 * file, renaming it into place) was half of a small miss's commit, and the
 * commit runs after the response went out, while the client's next request
 * is already on its way. So the write waits for the thread's next idle
 * moment (src/io/idle_work.ts): at most a few milliseconds, usually the
 * origin's answer to that next request.
 *
 * Until then the store answers for the entry from here — it is read, replaced
 * and removed as if written — and a crash loses it, as a power loss loses
 * the metadata of the last moments (disk_store.ts): never a wrong byte.
 *
 * @module
 */

import { notWhenIdle, whenIdle } from "../io/idle_work.ts";
import type { Meta } from "./meta.ts";

/** A write put off: the metadata, its bytes, and whom to tell if writing it fails. */
interface Later {
  meta: Meta;
  bytes: Uint8Array;
  failed: (meta: Meta, err: unknown) => void;
}

/** Metadata waiting for an idle moment to be written, by id. */
export class MetaBehind {
  #pending = new Map<string, Later>();
  #write: (meta: Meta, bytes: Uint8Array) => Promise<void>;
  /** Settles when the writes started so far have landed. */
  #writing: Promise<void> = Promise.resolve();
  readonly #task = () => {
    this.#writing = this.#writing.then(() => this.#writeAll());
  };

  /** @param write writes one metadata file (`bytes`, encoded `meta`) now. */
  constructor(write: (meta: Meta, bytes: Uint8Array) => Promise<void>) {
    this.#write = write;
  }

  /** Metadata of `id` waiting to be written, if any. */
  get(id: string): Meta | undefined {
    return this.#pending.get(id)?.meta;
  }

  /** Puts off writing `meta` (encoded: `bytes`); `failed` hears if the write fails when it comes. */
  add(meta: Meta, bytes: Uint8Array, failed: (meta: Meta, err: unknown) => void): void {
    this.#pending.set(meta.id, { meta, bytes, failed });
    whenIdle(this.#task); // once, however many are added before the moment
  }

  /**
   * Forgets the write waiting for `id` (its entry is being replaced or
   * removed), and settles once a write of it that already started has
   * landed: what the caller does next comes after it on disk.
   */
  drop(id: string): Promise<void> {
    this.#pending.delete(id);
    return this.#writing;
  }

  /** Writes everything waiting, now. */
  flush(): Promise<void> {
    // Taken back even when it ran: no timer is left armed for it.
    notWhenIdle(this.#task);
    if (this.#pending.size > 0) this.#task();
    return this.#writing;
  }

  async #writeAll(): Promise<void> {
    // The map itself, not a copy: one dropped meanwhile is skipped, one added is written too.
    for (const [id, later] of this.#pending) {
      try {
        await this.#write(later.meta, later.bytes);
      } catch (err) {
        later.failed(later.meta, err);
      }
      if (this.#pending.get(id) === later) this.#pending.delete(id);
    }
  }
}
