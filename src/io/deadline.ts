/**
 * Deadlines for sockets. Deno connections have no read timeouts, so a deadline
 * closes the resource when it passes. One shared ticker checks every live
 * deadline: pushing one back is a field write, not a timer reset, which keeps
 * per-chunk and per-request cost near zero.
 *
 * @module
 */

const TICK_MS = 100;
const live = new Set<Deadline>();
let ticker: ReturnType<typeof setInterval> | undefined;

/**
 * A deadline that runs `onExpire` when it passes, unless cleared first. It
 * fires once; {@linkcode Deadline.extend} arms it again.
 */
export class Deadline {
  #ms: number;
  #expires: number;
  #onExpire: () => void;

  /**
   * @param ms time allowed, from now and from every {@linkcode Deadline.extend}.
   * @param onExpire called once, at most {@linkcode TICK_MS} late.
   */
  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#expires = Date.now() + ms;
    this.#onExpire = onExpire;
    arm(this);
  }

  /** Restarts the allowance from now, optionally with a new length. */
  extend(ms: number = this.#ms): void {
    this.#ms = ms;
    this.#expires = Date.now() + ms;
    arm(this);
  }

  /** Stops the deadline; it will not fire. */
  clear(): void {
    // The ticker stops on its next tick if nothing is live any more; stopping
    // it here would restart a timer for every chunk of a streamed body.
    live.delete(this);
  }

  /** @internal */
  expiredAt(now: number): boolean {
    return now >= this.#expires;
  }

  /** @internal */
  fire(): void {
    live.delete(this);
    this.#onExpire();
  }
}

function arm(d: Deadline): void {
  live.add(d);
  if (ticker === undefined) {
    ticker = setInterval(tick, TICK_MS);
    Deno.unrefTimer(ticker);
  }
}

function stopTicker(): void {
  if (ticker === undefined) return;
  clearInterval(ticker);
  ticker = undefined;
}

function tick(): void {
  const now = Date.now();
  for (const d of live) if (d.expiredAt(now)) d.fire();
  if (live.size === 0) stopTicker();
}
