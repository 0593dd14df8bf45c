/**
 * Answers kept for recent keys: what a request's way would otherwise work out
 * again for every request with the same inputs (a key's store id, a URL's key
 * path, the rules matching a URL, a field name in lower case).
 *
 * @module
 */

/**
 * Up to `limit` answers by key. Full, it starts again empty: no order is kept
 * on each lookup, which is what keeps a lookup cheap.
 */
export class Recent<K, V> {
  #answers = new Map<K, V>();
  #limit: number;

  /** @param limit most answers kept. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The answer kept for `key`, if any. */
  get(key: K): V | undefined {
    return this.#answers.get(key);
  }

  /** Keeps `value` as the answer for `key` (emptying first when full) and returns it. */
  set(key: K, value: V): V {
    if (this.#answers.size >= this.#limit) this.#answers.clear();
    this.#answers.set(key, value);
    return value;
  }
}
