/**
 * What the cache tells the other threads serving the same cache directory
 * (src/cores) of every change it makes, so that theirs sees it too.
 *
 * @module
 */

import type { Meta } from "./meta.ts";

/** The other threads serving the same cache directory, told of every change made here. */
export interface CachePeers {
  /** `meta` was written, taking `bytes` with its body. */
  stored(meta: Meta, bytes: number): void;
  /** Entry `id` was removed. */
  gone(id: string): void;
  /** Entry `id` was used (a hit). */
  used(id: string): void;
}
