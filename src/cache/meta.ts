/**
 * What the store keeps about each entry, as JSON a person can read.
 *
 * @module
 */

import type { PolicyObject } from "./policy/semantics.ts";

/** A stored response: metadata of one body file. */
export interface ResponseMeta {
  /** Format version. */
  v: 1;
  /** Entry kind. */
  kind: "response";
  /** Store id (hash of the keys below). */
  id: string;
  /** Primary cache key: the target URI. */
  key: string;
  /** Secondary key (the request's values of the fields in `vary`), when the response varies. */
  secondary?: string;
  /** Lower-case field names of the response's Vary. */
  vary?: string[];
  /** Status code. */
  status: number;
  /** Reason phrase. */
  reason: string;
  /** Stored response fields, in order. */
  headers: [string, string][];
  /**
   * Stored from a request with Authorization because a rule, not the origin,
   * said it may be shared: with `tenancy: "shared"`, served to a request
   * only once the origin accepted that request's own credentials.
   */
  credentialed?: true;
  /** `npm:http-cache-semantics` policy, for freshness. */
  policy: PolicyObject;
  /** When it was stored (ms since the epoch). */
  storedAt: number;
  /** Body size in bytes. */
  size: number;
  /** SHA-256 of the body, hex. */
  sha256: string;
  /** Body file name, in the same directory; "" when the body is `inline`. */
  body: string;
  /** The body itself, base64, when it is small enough to live in the metadata. */
  inline?: string;
}

/** Where the variants of a URL whose response varies are found. */
export interface VaryMeta {
  /** Format version. */
  v: 1;
  /** Entry kind. */
  kind: "vary";
  /** Store id (hash of the primary key). */
  id: string;
  /** Primary cache key. */
  key: string;
  /** Lower-case field names the newest response varies on. */
  vary: string[];
  /** Store ids of the variants stored under this URL. */
  variants: string[];
  /** When it was last written (ms since the epoch). */
  storedAt: number;
}

/** Any metadata file. */
export type Meta = ResponseMeta | VaryMeta;

/** Metadata as written to disk: JSON, one field per line, so a person can read it. */
export function serializeMeta(meta: Meta): string {
  return JSON.stringify(meta, null, 1) + "\n";
}

/** Parses metadata read from disk; undefined when it is not a valid entry of this format. */
export function parseMeta(text: string, id: string): Meta | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof m !== "object" || m === null) return undefined;
  const o = m as Record<string, unknown>;
  if (o["v"] !== 1 || o["id"] !== id || typeof o["key"] !== "string") return undefined;
  if (o["kind"] === "vary") {
    return Array.isArray(o["vary"]) && Array.isArray(o["variants"]) ? m as VaryMeta : undefined;
  }
  if (o["kind"] !== "response") return undefined;
  const ok = typeof o["status"] === "number" && typeof o["size"] === "number" &&
    typeof o["sha256"] === "string" && typeof o["body"] === "string" &&
    (typeof o["inline"] === "string" ? o["body"] === "" : /^[\w.-]+$/.test(o["body"])) &&
    Array.isArray(o["headers"]) && typeof o["policy"] === "object" &&
    typeof o["storedAt"] === "number";
  return ok ? m as ResponseMeta : undefined;
}

const encoder = new TextEncoder();
// The size of each record encoded so far: a commit writes the record, then
// counts what it takes, and must not serialize it a second time to know.
const encodedSizes = new WeakMap<Meta, number>();

/** Metadata as the bytes a store writes ({@linkcode serializeMeta}, UTF-8). */
export function encodeMeta(meta: Meta): Uint8Array {
  const bytes = encoder.encode(serializeMeta(meta));
  encodedSizes.set(meta, bytes.length);
  return bytes;
}

/** Bytes a metadata record takes (as the disk store writes it). */
export function metaBytes(meta: Meta): number {
  return encodedSizes.get(meta) ?? encodeMeta(meta).length;
}

/**
 * What an entry takes in a store: its metadata, and its body unless the body
 * is inline (a vary index: its metadata).
 */
export function storedBytes(entry: Meta): number {
  const body = entry.kind === "response" && entry.inline === undefined ? entry.size : 0;
  return metaBytes(entry) + body;
}

/**
 * The vary index `id` of a URL once the variant `entry` is stored: `top`'s
 * variants (when it is an index) with `entry`'s last, varying on `vary`.
 */
export function varyIndexWith(
  top: Meta | undefined,
  id: string,
  entry: Pick<ResponseMeta, "id" | "key" | "storedAt">,
  vary: string[],
): VaryMeta {
  const variants = top?.kind === "vary" ? top.variants.filter((v) => v !== entry.id) : [];
  return {
    v: 1,
    kind: "vary",
    id,
    key: entry.key,
    vary,
    variants: [...variants, entry.id],
    storedAt: entry.storedAt,
  };
}
