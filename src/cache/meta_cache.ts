/**
 * Metadata read from the store, kept in memory (least recently used first
 * out), with a short memory of ids found missing: a burst of misses for one
 * URL reads the disk once.
 *
 * @module
 */

import type { Meta } from "./meta.ts";

const META_CACHE_ENTRIES = 10_000;
const NEGATIVE_TTL_MS = 5_000;

/** Metadata by store id, or when the id was last found missing. */
export class MetaCache {
  #metas = new Map<string, Meta | number>();

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

  /** Keeps `meta`, dropping the least recently used over the limit. */
  remember(meta: Meta): void {
    this.#metas.delete(meta.id);
    this.#metas.set(meta.id, meta);
    if (this.#metas.size > META_CACHE_ENTRIES) this.#metas.delete(this.#metas.keys().next().value!);
  }

  /** Notes that `id` was found missing (or was removed) at `now`. */
  missing(id: string, now: number): void {
    this.#metas.set(id, now);
  }
}
