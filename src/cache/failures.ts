/**
 * The cache's failures, logged once per kind: a full disk must not flood the
 * log, and the request goes on without the store anyway.
 *
 * @module
 */

import type { Logger } from "../observe/log.ts";

/** Logs the first failure of each kind (operation and error name). */
export class OnceEach {
  #logger: Logger;
  #warned = new Set<string>();

  /** Warns through `logger`. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Says that `op` failed with `err`, unless a failure of the same kind was said already. */
  failed(op: string, err: unknown): void {
    const kind = `${op}:${err instanceof Error ? err.name : "error"}`;
    if (this.#warned.has(kind)) return;
    this.#warned.add(kind);
    const message = err instanceof Error ? err.message : String(err);
    this.#logger.log("warn", `cache ${op} failed, going on without it: ${message}`);
  }
}
