/**
 * One shared-tier object per entry: a header line, the entry's metadata as
 * JSON, then the body.
 *
 * ```
 * hoard-shared 1 <metadata bytes>\n
 * {"v":1,"kind":"response","id":…,"key":…,"headers":…,"policy":…,"size":…,"sha256":…}
 * <size bytes of body>
 * ```
 *
 * Keyed `PREFIX/v1/<id>` (the entry's store id, the SHA-256 of its cache key).
 * One PUT (or one completed multipart upload) makes the whole object appear
 * at once, so a reader sees one writer's metadata with that writer's body,
 * never a mix; of two writers racing, the last one's object stays, whole.
 * A URL whose response varies has a metadata-only object (`kind: "vary"`)
 * under its primary id naming the fields, and one object per variant.
 *
 * The reader checks what the object claims against what was asked (id, key,
 * secondary key) and the body against its size and SHA-256; the last piece
 * of a body is handed on only after the whole matched.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { storeId } from "../key.ts";
import type { ResponseMeta, VaryMeta } from "../meta.ts";
import { S3Error } from "./s3_errors.ts";

const MAGIC = "hoard-shared 1 ";
const HEADER_LINE_MAX = 64;
/** Largest metadata accepted (headers of a response stay far below it). */
export const META_MAX_BYTES = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an object holds about its entry: the local metadata without the file name or inline body. */
export type SharedMeta = Omit<ResponseMeta, "body" | "inline"> | VaryMeta;

/** Key of the object of store id `id` (under the location's prefix). */
export function objectName(id: string): string {
  return `v1/${id}`;
}

/** The header and metadata that precede the body of `meta`'s object. */
export function encodeHead(meta: SharedMeta): Uint8Array {
  const json = encoder.encode(JSON.stringify(meta));
  const line = encoder.encode(`${MAGIC}${json.length}\n`);
  const out = new Uint8Array(line.length + json.length);
  out.set(line);
  out.set(json, line.length);
  return out;
}

/** The metadata of a local entry as an object carries it. */
export function sharedMeta(entry: ResponseMeta | VaryMeta): SharedMeta {
  if (entry.kind === "vary") return { ...entry, variants: [] };
  const { body: _body, inline: _inline, ...rest } = entry;
  return rest;
}

/** An object being read: its metadata, and a reader of its body that checks it. */
export interface OpenedObject {
  /** The metadata, checked against the id and key asked for. */
  meta: SharedMeta;
  /** The body (none for a vary index); throws {@link S3Error} `corrupt` before the last piece when it does not match. */
  body: AsyncGenerator<Uint8Array, undefined, void>;
}

/**
 * Reads the header and metadata of an object from `chunks` and checks them:
 * the id must be `id`, the key `key`, and the id must be what the key (and
 * secondary key) hash to — an object cannot answer for another URL whatever
 * its writer put in it. `length` is the object's Content-Length.
 *
 * @throws {S3Error} `corrupt` when the object is not a valid one for `id`.
 */
export async function openObject(
  chunks: AsyncIterator<Uint8Array>,
  length: number,
  id: string,
  key: string,
): Promise<OpenedObject> {
  let buf: Uint8Array = new Uint8Array(0);
  const more = async (): Promise<boolean> => {
    const step = await chunks.next();
    if (step.done) return false;
    buf = concat(buf, step.value);
    return true;
  };
  let nl = -1;
  while ((nl = buf.indexOf(0x0a)) === -1 && buf.length < HEADER_LINE_MAX) {
    if (!(await more())) break;
  }
  const line = nl === -1 ? "" : decoder.decode(buf.subarray(0, nl));
  const metaBytes = line.startsWith(MAGIC) ? Number(line.slice(MAGIC.length)) : NaN;
  if (!(Number.isSafeInteger(metaBytes) && metaBytes > 0 && metaBytes <= META_MAX_BYTES)) {
    throw corrupt(key, "no hoard header");
  }
  const start = nl + 1;
  while (buf.length < start + metaBytes) {
    if (!(await more())) throw corrupt(key, "metadata cut short");
  }
  let meta: SharedMeta;
  try {
    meta = JSON.parse(decoder.decode(buf.subarray(start, start + metaBytes)));
  } catch {
    throw corrupt(key, "metadata is not JSON");
  }
  const why = invalid(meta, id, key);
  if (why !== undefined) throw corrupt(key, why);
  const bodyBytes = meta.kind === "response" ? meta.size : 0;
  if (Number.isFinite(length) && length !== start + metaBytes + bodyBytes) {
    throw corrupt(
      key,
      `object of ${length} bytes, its header says ${start + metaBytes + bodyBytes}`,
    );
  }
  const first = buf.subarray(start + metaBytes);
  return {
    meta,
    body: meta.kind === "response"
      ? checkedBody(first, chunks, meta.size, meta.sha256, key)
      : checkedBody(first, chunks, 0, EMPTY_SHA256, key),
  };
}

const EMPTY_SHA256 = createHash("sha256").digest("hex");

/** Yields the body, holding back the piece that completes it until size and SHA-256 matched. */
async function* checkedBody(
  first: Uint8Array,
  chunks: AsyncIterator<Uint8Array>,
  size: number,
  sha256: string,
  key: string,
): AsyncGenerator<Uint8Array, undefined, void> {
  if (size === 0) {
    if (sha256 !== EMPTY_SHA256) throw corrupt(key, "body failed its SHA-256");
    return undefined;
  }
  const hash = createHash("sha256");
  let seen = 0;
  let piece: Uint8Array | undefined = first.length > 0 ? first : undefined;
  for (;;) {
    if (piece === undefined) {
      const step = await chunks.next();
      if (step.done) break;
      piece = step.value;
    }
    seen += piece.length;
    if (seen > size) throw corrupt(key, "body longer than its metadata says");
    hash.update(piece);
    if (seen === size && hash.digest("hex") !== sha256) {
      throw corrupt(key, "body failed its SHA-256");
    }
    yield piece;
    piece = undefined;
    if (seen === size) break;
  }
  if (seen < size) throw corrupt(key, `body ended after ${seen} of ${size} bytes`);
  return undefined;
}

/** Why `meta` is not a valid object for `id` and `key`; undefined when it is. */
function invalid(meta: SharedMeta, id: string, key: string): string | undefined {
  const o = meta as unknown as Record<string, unknown>;
  if (typeof o !== "object" || o === null || o["v"] !== 1) return "unknown format";
  if (o["id"] !== id || o["key"] !== key) return "metadata of another entry";
  if (o["kind"] === "vary") {
    return storeId(key) === id && Array.isArray(o["vary"]) &&
        (o["vary"] as unknown[]).every((n) => typeof n === "string")
      ? undefined
      : "bad vary index";
  }
  if (o["kind"] !== "response") return "unknown kind";
  const secondary = o["secondary"];
  if (secondary !== undefined && typeof secondary !== "string") return "bad secondary key";
  if (o["status"] === 206) return "a stored part";
  // The id is the hash of the keys: an object cannot claim another URL's (or variant's) place.
  if ((secondary === undefined ? storeId(key) : storeId(key, secondary)) !== id) {
    return "id does not match its keys";
  }
  const ok = typeof o["status"] === "number" && typeof o["reason"] === "string" &&
    Number.isSafeInteger(o["size"]) && (o["size"] as number) >= 0 &&
    typeof o["sha256"] === "string" && /^[0-9a-f]{64}$/.test(o["sha256"] as string) &&
    Array.isArray(o["headers"]) &&
    (o["headers"] as unknown[]).every((h) =>
      Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && typeof h[1] === "string"
    ) &&
    typeof o["policy"] === "object" && o["policy"] !== null &&
    typeof o["storedAt"] === "number" &&
    (o["vary"] === undefined ||
      (Array.isArray(o["vary"]) && (o["vary"] as unknown[]).every((n) => typeof n === "string")));
  return ok ? undefined : "bad metadata";
}

function corrupt(key: string, why: string): S3Error {
  return new S3Error("corrupt", `shared object for ${key}: ${why}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
