/**
 * What the threads serving one cache directory say to each other through the
 * hub (hub.ts): a thread to the hub, and the hub to a thread.
 *
 * @module
 */

import type { BodyShare, ScannedEntry } from "../cache/body_store.ts";
import type { FillEvent, FillHead } from "../cache/fill.ts";
import type { Meta } from "../cache/meta.ts";
import { fieldsOf } from "../headers.ts";

/**
 * A fill's event as it crosses threads: the head's fields as `[name, value]`
 * pairs, since a FieldList (private fields) does not survive structured cloning.
 */
export type WireFillEvent =
  | Exclude<FillEvent, { t: "head" }>
  | {
    t: "head";
    head: Omit<FillHead, "fields"> & { fields: [string, string][] };
    share?: BodyShare;
  };

/** `ev` ready to cross threads. */
export function toWire(ev: FillEvent): WireFillEvent {
  return ev.t === "head" ? { ...ev, head: { ...ev.head, fields: [...ev.head.fields] } } : ev;
}

/** `ev` as it was before it crossed. */
export function fromWire(ev: WireFillEvent): FillEvent {
  return ev.t === "head"
    ? { ...ev, head: { ...ev.head, fields: fieldsOf(...ev.head.fields) } }
    : ev;
}

/** Changes of the cache directory, which every other thread applies to its view. */
export type CacheChange =
  /** Each `meta` was written, taking `bytes` with its body. */
  | { t: "stored"; entries: { meta: Meta; bytes: number }[] }
  /** Entry `id` was removed. */
  | { t: "gone"; id: string }
  /** Entries `ids` were used at `at` (for the evicting thread's least-recently-used order). */
  | { t: "used"; ids: string[]; at: number };

/** A thread to the hub. */
export type ToHub =
  /** This thread follows the fill of `key`, which thread `leader` claimed (claims.ts). */
  | { t: "follow"; key: string; leader: number }
  /** An event of the fill of `key`, which this thread leads. */
  | { t: "fill"; key: string; ev: WireFillEvent }
  | CacheChange;

/** The hub to a thread. */
export type FromHub =
  /** Another thread follows the fill of `key` this one leads: tell of it, from the start. */
  | { t: "watched"; key: string }
  /** An event of the fill of `key`, which another thread leads. */
  | { t: "fill"; key: string; ev: WireFillEvent }
  /** Every entry in the directory, once the first thread's start-up scan is done. */
  | { t: "index"; entries: ScannedEntry[] }
  | CacheChange;

/** One end of a channel to or from the hub: a MessagePort, or its in-thread twin (local_port.ts). */
export interface Port {
  /** Sends a message to the other end. */
  postMessage(message: unknown): void;
  /** Receives the other end's messages. */
  onmessage: ((e: MessageEvent) => void) | null;
  /** Stops the channel. */
  close(): void;
}
