/**
 * Helpers shared by the cache tests and their child processes: entry
 * metadata, deterministic bodies, and committing bytes in one call.
 *
 * @module
 */

import type { Cache } from "../../../src/cache/cache.ts";
import { storeId } from "../../../src/cache/key.ts";
import type { ResponseMeta } from "../../../src/cache/meta.ts";
import { newPolicy } from "../../../src/cache/policy/semantics.ts";
import type { Store } from "../../../src/cache/store.ts";

/** Metadata of a response as a fill hands it to commit (body, size and sha256 left out). */
export type PendingMeta = Omit<ResponseMeta, "body" | "size" | "sha256">;

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

/** Writes `bytes` to a new temp body and commits it through `target` (a Store or a Cache). */
export async function commitBytes(
  target: Store,
  meta: PendingMeta,
  bytes: Uint8Array,
  onPlaced?: (path: string) => void,
): Promise<ResponseMeta>;
export async function commitBytes(
  target: Cache,
  meta: PendingMeta,
  bytes: Uint8Array,
  onPlaced?: (path: string) => void,
): Promise<ResponseMeta | undefined>;
export async function commitBytes(
  target: Store | Cache,
  meta: PendingMeta,
  bytes: Uint8Array,
  onPlaced?: (path: string) => void,
): Promise<ResponseMeta | undefined> {
  const temp = await target.createTemp();
  if (temp === undefined) throw new Error("cache cannot write");
  // Several writes, as a fill does.
  for (let off = 0; off < bytes.length; off += 16 * 1024) {
    await temp.write(bytes.subarray(off, off + 16 * 1024));
  }
  return await target.commit(temp, meta, onPlaced);
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

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads `file` to its end and closes it. */
export async function readAndClose(file: Deno.FsFile): Promise<Uint8Array> {
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  } finally {
    file.close();
  }
}
