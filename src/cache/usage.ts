/**
 * What the cache directory holds, entry by entry: bytes on disk and last use,
 * for the size cap (least recently used out first) and `prune --unused-for`.
 *
 * @module
 */

import type { ScannedEntry } from "./body_store.ts";

// A hit refreshes its metadata file's modification time (the last use that
// survives a restart) at most this often.
const TOUCH_EVERY_MS = 3600_000;

interface Use {
  size: number;
  usedAt: number;
  touchedAt: number;
}

/** Bytes and last use of every entry known to be on disk. */
export class DiskUsage {
  #entries = new Map<string, Use>();
  #bytes = 0;
  // While the start-up scan runs: what happened to entries it may not have listed yet.
  #scanning = false;
  #removedWhileScanning = new Set<string>();
  #usedWhileScanning = new Map<string, number>();

  /** Bytes all entries take. */
  get bytes(): number {
    return this.#bytes;
  }

  /** How many entries there are. */
  get count(): number {
    return this.#entries.size;
  }

  /** Whether `id` is known to be on disk. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Records `id` as taking `size` bytes, last used (and touched) at `usedAt`. */
  set(id: string, size: number, usedAt: number): void {
    const old = this.#entries.get(id);
    if (old !== undefined) this.#bytes -= old.size;
    this.#entries.set(id, { size, usedAt, touchedAt: usedAt });
    this.#bytes += size;
  }

  /** Notes a use of `id` at `now`; true when its file's time should be refreshed too. */
  used(id: string, now: number): boolean {
    const u = this.#entries.get(id);
    if (u === undefined) {
      // Not listed yet: the scan will list it with its file's older time.
      if (this.#scanning) this.#usedWhileScanning.set(id, now);
      return false;
    }
    u.usedAt = now;
    if (now - u.touchedAt <= TOUCH_EVERY_MS) return false;
    u.touchedAt = now;
    return true;
  }

  /** Forgets `id`; true when it was known. */
  delete(id: string): boolean {
    if (this.#scanning) this.#removedWhileScanning.add(id);
    const u = this.#entries.get(id);
    if (u === undefined) return false;
    this.#bytes -= u.size;
    this.#entries.delete(id);
    return true;
  }

  /** The start-up scan begins: until it ends, removals and uses of entries not listed yet are kept. */
  scanStarted(): void {
    this.#scanning = true;
  }

  /**
   * Adds what the start-up scan listed. An entry committed or removed while
   * it ran keeps what this process knows; a use seen while it ran counts.
   *
   * @returns the ids whose file's time should be refreshed for those uses.
   */
  addScanned(entries: Iterable<ScannedEntry>): string[] {
    const touch: string[] = [];
    for (const e of entries) {
      if (this.#entries.has(e.id) || this.#removedWhileScanning.has(e.id)) continue;
      this.set(e.id, e.size, e.usedAt);
      const usedAt = this.#usedWhileScanning.get(e.id);
      if (usedAt !== undefined && this.used(e.id, usedAt)) touch.push(e.id);
    }
    return touch;
  }

  /**
   * The start-up scan is over (listed, failed or stopped).
   *
   * @returns the ids used while it ran that it never listed (it was stopped
   *   first): their files' times should be refreshed all the same, or a job
   *   that ended before the scan of a large cache would leave what it used
   *   looking unused.
   */
  scanEnded(): string[] {
    this.#scanning = false;
    this.#removedWhileScanning.clear();
    const unlisted = [...this.#usedWhileScanning.keys()].filter((id) => !this.#entries.has(id));
    this.#usedWhileScanning.clear();
    return unlisted;
  }

  /** Every entry, as a scan lists it (for the other threads serving the directory, src/cores). */
  entries(): ScannedEntry[] {
    return [...this.#entries].map(([id, u]) => ({ id, size: u.size, usedAt: u.usedAt }));
  }

  /** Every id, least recently used first. */
  leastRecentlyUsed(): string[] {
    return [...this.#entries].sort((a, b) => a[1].usedAt - b[1].usedAt).map(([id]) => id);
  }

  /** The ids last used before `cutoff`. */
  unusedSince(cutoff: number): string[] {
    return [...this.#entries].filter(([, u]) => u.usedAt < cutoff).map(([id]) => id);
  }
}
