/**
 * Metadata read from the store, kept in memory (least recently used first
 * out), with a short memory of ids found missing: a burst of misses for one
 * URL reads the disk once.
 *
 * @module
 */

import type { Meta } from "./meta.ts";

const META_CACHE_ENTRIES = 10_000;
/**
 * Most characters of inline bodies (base64) the kept metadata holds in all:
 * a small body's metadata carries it, up to 87 KiB each, and ten thousand of
 * those would be most of a gigabyte. The bodies themselves are kept as bytes
 * apart (small_bodies.ts).
 */
const META_CACHE_INLINE_CHARS = 32 * 1024 * 1024;
const NEGATIVE_TTL_MS = 5_000;

/** Metadata by store id, or when the id was last found missing. */
export class MetaCache {
  #metas = new Map<string, Meta | number>();
  #maxEntries: number;
  #maxInlineChars: number;
  #inlineChars = 0;

  /** @param limits most entries (metadata or missing ids), and most inline characters, kept. */
  constructor(
    { maxEntries = META_CACHE_ENTRIES, maxInlineChars = META_CACHE_INLINE_CHARS } = {},
  ) {
    this.#maxEntries = maxEntries;
    this.#maxInlineChars = maxInlineChars;
  }

  /** Characters of inline bodies in the metadata kept. */
  get inlineChars(): number {
    return this.#inlineChars;
  }

  /** Entries kept: metadata, and ids found missing. */
  get size(): number {
    return this.#metas.size;
  }

  /**
   * What is known about `id` at `now`: its metadata (which becomes the most
   * recently used), "missing" when it was found missing a moment ago, or
   * undefined when the store must be asked.
   */
  get(id: string, now: number): Meta | "missing" | undefined {
    const known = this.#metas.get(id);
    if (typeof known === "object") {
      this.#metas.delete(id);
      this.#metas.set(id, known);
      return known;
    }
    if (typeof known === "number" && now - known < NEGATIVE_TTL_MS) return "missing";
    return undefined;
  }

  /** Keeps `meta`, dropping the least recently used over the limits. */
  remember(meta: Meta): void {
    this.#keep(meta.id, meta);
  }

  /** Notes that `id` was found missing (or was removed) at `now`. */
  missing(id: string, now: number): void {
    this.#keep(id, now);
  }

  #keep(id: string, known: Meta | number): void {
    this.#drop(id);
    this.#metas.set(id, known);
    this.#inlineChars += inlineChars(known);
    while (this.#metas.size > this.#maxEntries || this.#inlineChars > this.#maxInlineChars) {
      this.#drop(this.#metas.keys().next().value!);
    }
  }

  #drop(id: string): void {
    const known = this.#metas.get(id);
    if (known === undefined) return;
    this.#metas.delete(id);
    this.#inlineChars -= inlineChars(known);
  }
}

function inlineChars(known: Meta | number): number {
  return typeof known === "object" && known.kind === "response" ? known.inline?.length ?? 0 : 0;
}
