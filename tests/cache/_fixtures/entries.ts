/**
 * Helpers shared by the cache tests and their child processes: entry
 * metadata, deterministic bodies, and committing bytes in one call.
 *
 * @module
 */

import type { Body } from "../../../src/cache/bodies.ts";
import type { BodyStore, ByteSource, PendingMeta } from "../../../src/cache/body_store.ts";
import type { Cache } from "../../../src/cache/cache.ts";
import type { DiskStore } from "../../../src/cache/disk_store.ts";
import { storeId } from "../../../src/cache/key.ts";
import type { ResponseMeta, VaryMeta } from "../../../src/cache/meta.ts";
import { newPolicy } from "../../../src/cache/policy/semantics.ts";
import { concat } from "../../_helpers/sockets.ts";

export { concat };

export type { PendingMeta };

/** Options of {@linkcode pendingMeta}. */
export interface MetaOptions {
  /** Store id. @default {storeId(key)} */
  id?: string;
  /** Extra stored response fields (after Cache-Control). @default {[]} */
  headers?: [string, string][];
  /** Lower-case names the response varies on. @default {undefined} */
  vary?: string[];
  /** Secondary key, for a variant. @default {undefined} */
  secondary?: string;
  /** Status code. @default {200} */
  status?: number;
  /** When it was stored (ms). @default {Date.now()} */
  now?: number;
}

/** A fresh (max-age=3600) 200 response for `key`, as a fill would commit it. */
export function pendingMeta(key: string, opts: MetaOptions = {}): PendingMeta {
  const now = opts.now ?? Date.now();
  const status = opts.status ?? 200;
  const headers: [string, string][] = [["Cache-Control", "max-age=3600"], ...(opts.headers ?? [])];
  // Through JSON, as it is read back from disk (the library leaves undefined fields).
  const policy = JSON.parse(JSON.stringify(
    newPolicy(
      { method: "GET", url: key, headers: {} },
      { status, headers: Object.fromEntries(headers.map(([n, v]) => [n.toLowerCase(), v])) },
      now,
    ).toObject(),
  ));
  return {
    v: 1,
    kind: "response",
    id: opts.id ?? storeId(key),
    key,
    ...(opts.secondary !== undefined ? { secondary: opts.secondary } : {}),
    ...(opts.vary !== undefined ? { vary: opts.vary } : {}),
    status,
    reason: status === 206 ? "Partial Content" : "OK",
    headers,
    policy,
    storedAt: now,
  };
}

/** `size` bytes that depend on `seed` (so two versions of one entry differ). */
export function bodyBytes(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const pattern = new TextEncoder().encode(`${seed}|`);
  for (let i = 0; i < size; i++) out[i] = pattern[i % pattern.length]! ^ (i >> 8 & 0xff);
  return out;
}

/**
 * Writes `bytes` to a new body and commits it through `target` (a store or a
 * cache). `onPlaced` (disk store only) runs between the body's rename and the
 * metadata's.
 */
export async function commitBytes(
  target: BodyStore,
  meta: PendingMeta,
  bytes: Uint8Array,
): Promise<ResponseMeta>;
export async function commitBytes(
  target: DiskStore,
  meta: PendingMeta,
  bytes: Uint8Array,
  onPlaced?: (path: string) => void,
): Promise<ResponseMeta>;
export async function commitBytes(
  target: Cache,
  meta: PendingMeta,
  bytes: Uint8Array,
): Promise<ResponseMeta | undefined>;
export async function commitBytes(
  target: BodyStore | Cache,
  meta: PendingMeta,
  bytes: Uint8Array,
  onPlaced?: (path: string) => void,
): Promise<ResponseMeta | undefined> {
  const body = await target.beginBody();
  if (body === undefined) throw new Error("cache cannot write");
  // Several writes, as a fill does.
  for (let off = 0; off < bytes.length; off += 16 * 1024) {
    await body.write(bytes.subarray(off, off + 16 * 1024));
  }
  if (onPlaced !== undefined) {
    return await (target as DiskStore).commit(body, meta, undefined, { onPlaced });
  }
  return await target.commit(body, meta);
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Every file name under `dir` (recursive), relative to it, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string): Promise<void> => {
    for await (const e of Deno.readDir(`${dir}${sub}`)) {
      if (e.isDirectory) await walk(`${sub}/${e.name}`);
      else out.push(`${sub}/${e.name}`.slice(1));
    }
  };
  await walk("");
  return out.sort();
}

/** Commits four entries to `store`, with bodies of 0, 1, 1000 and 70,000 bytes. */
export async function commitFourSizes(store: BodyStore): Promise<ResponseMeta[]> {
  const entries: ResponseMeta[] = [];
  for (const [i, size] of [0, 1, 1000, 70_000].entries()) {
    entries.push(
      await commitBytes(store, pendingMeta(`http://a.test/${i}`), bodyBytes(`${i}`, size)),
    );
  }
  return entries;
}

/** Runs `fn` with a fresh temp directory, removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-cache-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A vary index for `http://a.test/v` (on Accept-Encoding) naming two variants. */
export function varyIndex(): VaryMeta {
  return {
    v: 1,
    kind: "vary",
    id: storeId("http://a.test/v"),
    key: "http://a.test/v",
    vary: ["accept-encoding"],
    variants: [storeId("x"), storeId("y")],
    storedAt: 1,
  };
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Everything `source` yields, copied into one array. */
export async function readSource(source: ByteSource): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const piece of source) chunks.push(piece.slice());
  return concat(chunks);
}

/** The bytes of a body the cache handed out (a source is read to its end). */
export async function readBody(body: Body): Promise<Uint8Array> {
  return "bytes" in body ? body.bytes : await readSource(body.source);
}
