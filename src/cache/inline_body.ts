/**
 * A body known to be small, kept in memory only while it is written: every
 * store keeps it inside its metadata (`inline`), one record per entry and no
 * body of its own. It is the same for every store, so it lives apart from
 * them.
 *
 * @module
 */

import {
  type BodyReader,
  type BodyShare,
  type BodyWriter,
  type SharedBody,
  SMALL_BODY_BYTES,
} from "./body_store.ts";
import { sha256 } from "./integrity.ts";

/** A body of at most {@link SMALL_BODY_BYTES}, in memory, to be stored inline. */
export class InlineBody implements BodyWriter {
  #bytes: Uint8Array = new Uint8Array(0);

  /** Bytes written so far. */
  get size(): number {
    return this.#bytes.length;
  }

  /** The body so far: replaced, never changed, by later writes. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Appends `data`.
   *
   * @throws when the body grows past {@link SMALL_BODY_BYTES}.
   */
  write(data: Uint8Array): Promise<void> {
    if (this.#bytes.length + data.length > SMALL_BODY_BYTES) {
      return Promise.reject(new Error("a body kept in memory grew too large"));
    }
    this.#bytes = concat(this.#bytes, data);
    return Promise.resolve();
  }

  /** A reader of the body so far: views of arrays that later writes replace. */
  reader(): BodyReader {
    let position = 0;
    return {
      read: (max) => {
        const piece = this.#bytes.subarray(position, position + max);
        position += piece.length;
        return Promise.resolve(piece);
      },
      close: () => {},
    };
  }

  /** The body's SHA-256 (hex). */
  digest(): string {
    return sha256(this.#bytes);
  }

  /** Nothing to delete. */
  discard(): Promise<void> {
    return Promise.resolve();
  }

  /** Other threads get the bytes with the fill's events. */
  share(): BodyShare {
    return { kind: "memory" };
  }
}

/** A body in memory that another thread writes: its fill's events bring the bytes (src/cores). */
export class SharedInlineBody extends InlineBody implements SharedBody {
  /** Nothing to do: the bytes are all here. */
  settled(): void {}
}

/** `a` followed by `b`, in a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
