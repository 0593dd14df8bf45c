/**
 * Small bodies kept in memory once read and checked, least recently used
 * first out: a hit on one reads no file.
 *
 * @module
 */

// Bodies up to SMALL_BODY_BYTES are kept in memory, this many bytes of them in all.
const SMALL_BODIES_TOTAL = 32 * 1024 * 1024;

/** The small bodies kept in memory, by entry id. */
export class SmallBodies {
  #bodies = new Map<string, Uint8Array>();
  #bytes = 0;

  /** The body kept for `id`, which becomes the most recently used. */
  use(id: string): Uint8Array | undefined {
    const kept = this.#bodies.get(id);
    if (kept !== undefined) {
      this.#bodies.delete(id);
      this.#bodies.set(id, kept);
    }
    return kept;
  }

  /** The body kept for `id`, its place in the order unchanged. */
  peek(id: string): Uint8Array | undefined {
    return this.#bodies.get(id);
  }

  /** Keeps `bytes` as the body of `id`, dropping the least recently used over the total. */
  keep(id: string, bytes: Uint8Array): void {
    // Several first reads of one body can finish together: keep it once.
    this.forget(id);
    this.#bodies.set(id, bytes);
    this.#bytes += bytes.length;
    while (this.#bytes > SMALL_BODIES_TOTAL) {
      const [oldest, b] = this.#bodies.entries().next().value!;
      this.#bodies.delete(oldest);
      this.#bytes -= b.length;
    }
  }

  /** Drops the body kept for `id`, if any. */
  forget(id: string): void {
    const b = this.#bodies.get(id);
    if (b === undefined) return;
    this.#bodies.delete(id);
    this.#bytes -= b.length;
  }
}
