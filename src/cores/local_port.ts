/**
 * A channel between the hub and the main thread's own member, both in the
 * main thread: what a MessageChannel does, without copying each message
 * and without a turn of the event loop per message.
 *
 * @module
 */

import type { Port } from "./messages.ts";

/** One end of an in-thread channel. */
class LocalPort implements Port {
  onmessage: ((e: MessageEvent) => void) | null = null;
  other: LocalPort | undefined;
  #queue: unknown[] = [];
  #closed = false;

  /** Delivers `message` to the other end, after the current task (in order, as a port does). */
  postMessage(message: unknown): void {
    const to = this.other;
    if (to === undefined || to.#closed || this.#closed) return;
    if (to.#queue.push(message) === 1) queueMicrotask(() => to.#deliver());
  }

  /** Stops sending and receiving. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
  }

  #deliver(): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const data of queue) {
      if (this.#closed) return;
      this.onmessage?.({ data } as MessageEvent);
    }
  }
}

/** Two connected in-thread ports. */
export function localChannel(): { port1: Port; port2: Port } {
  const port1 = new LocalPort(), port2 = new LocalPort();
  port1.other = port2;
  port2.other = port1;
  return { port1, port2 };
}
