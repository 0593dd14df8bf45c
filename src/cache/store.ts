/**
 * The file-system store: bytes and metadata by id, nothing else (freshness is
 * the policy's business). Layout under the cache directory:
 *
 * ```
 * hoard-cache.json            format marker
 * tmp/                        bodies being filled, metadata being written; emptied at start
 * data/ab/<id>.json           metadata (JSON), id = SHA-256 of the cache key; a body of
 *                             at most 64 KiB known in advance is inside it (base64)
 * data/ab/<id>-<random>.body  the body it names (the others)
 * ```
 *
 * Every file appears by rename of a complete, fsynced temp file, metadata
 * last, and a body file name is never reused: after a `kill -9` at any moment
 * an entry is either complete (metadata and the body it names) or absent.
 * Orphans (a body without metadata) are removed by the start-up scan.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { borrowStreamBuffer, returnStreamBuffer } from "../io/buffer_pool.ts";
import { type Meta, parseMeta, type ResponseMeta, serializeMeta } from "./meta.ts";

const MARKER = "hoard-cache.json";
const encoder = new TextEncoder();

/** One entry as the scan sees it. */
export interface ScannedEntry {
  /** Store id. */
  id: string;
  /** Bytes on disk (metadata and body). */
  size: number;
  /** Last use (ms): the metadata's modification time, refreshed on hits. */
  usedAt: number;
}

/** Bodies up to this size are also kept in memory while written: hashed there, and served from there. */
export const SMALL_BODY_BYTES = 64 * 1024;

/**
 * A body being written to a temp file, or only to memory when it is known to
 * be small (it is then stored inside its metadata: one file per entry). Its
 * SHA-256 is computed when it is finished: a large body's by reading the file
 * back (off the path of the client being served while it arrives, and over the
 * bytes that really reached the disk), a small one's from the copy kept in
 * memory (no more file system round trips on the way of a miss).
 */
export class TempBody {
  /** Temp file path ("" for a body kept in memory only). */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #size = 0;
  #closed = false;
  #small: Uint8Array | undefined = new Uint8Array(0);

  /** @internal */
  constructor(path: string, file: Deno.FsFile | undefined) {
    this.path = path;
    this.#file = file;
  }

  /** A body written to memory only: at most {@link SMALL_BODY_BYTES}. */
  static inMemory(): TempBody {
    return new TempBody("", undefined);
  }

  /** Whether it is kept in memory only. */
  get inMemory(): boolean {
    return this.#file === undefined;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * The body so far while it is small (at most {@link SMALL_BODY_BYTES}), as
   * an array that later writes do not change.
   */
  get bytes(): Uint8Array | undefined {
    return this.#small;
  }

  /**
   * Appends `data`.
   *
   * @throws when a body kept in memory only grows past {@link SMALL_BODY_BYTES}.
   */
  async write(data: Uint8Array): Promise<void> {
    if (this.#small !== undefined) {
      const grown = this.#small.length + data.length;
      this.#small = grown > SMALL_BODY_BYTES ? undefined : concat(this.#small, data);
    }
    if (this.#file === undefined) {
      if (this.#small === undefined) throw new Error("a body kept in memory grew too large");
    } else {
      let off = 0;
      while (off < data.length) off += await this.#file.write(data.subarray(off));
    }
    this.#size += data.length;
  }

  /** Flushes to disk and closes; returns the body's SHA-256 (hex). */
  async finish(): Promise<string> {
    await this.#file?.sync();
    if (this.#small !== undefined) {
      this.#close();
      return createHash("sha256").update(this.#small).digest("hex");
    }
    const file = this.#file!;
    try {
      await file.seek(0, Deno.SeekMode.Start);
      const { sha256, size } = await digestFile(file);
      if (size !== this.#size) {
        throw new Error(`temp body holds ${size} bytes, ${this.#size} were written`);
      }
      return sha256;
    } finally {
      this.#close();
    }
  }

  /** Closes and deletes the temp file. */
  async discard(): Promise<void> {
    this.#close();
    if (this.#file !== undefined) await Deno.remove(this.path).catch(() => {});
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The store in one cache directory. */
export class Store {
  /** The cache directory. */
  readonly dir: string;

  #openedAt: number;
  #readOnly: boolean;
  #shards = new Set<string>();

  private constructor(dir: string, openedAt: number, readOnly = false) {
    this.dir = dir;
    this.#openedAt = openedAt;
    this.#readOnly = readOnly;
  }

  /**
   * Opens (creating it, mode 0700) the store in `dir` and empties its temp
   * directory (left-overs of fills that never completed).
   *
   * @throws when the directory cannot be created or written.
   */
  static async open(dir: string, { readOnly = false } = {}): Promise<Store> {
    // Another process uses the directory: look, never touch (no temp clean-up,
    // no leftovers deleted — they may be that process's commits in flight).
    if (readOnly) return new Store(dir, Date.now(), true);
    // File times come from a coarse kernel clock (a jiffy): allow for it.
    const openedAt = Date.now() - 100;
    await Deno.mkdir(`${dir}/data`, { recursive: true, mode: 0o700 });
    await Deno.remove(`${dir}/tmp`, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    await Deno.mkdir(`${dir}/tmp`, { recursive: true, mode: 0o700 });
    const store = new Store(dir, openedAt);
    await store.#writeAtomic(
      `${dir}/${MARKER}`,
      JSON.stringify({ format: "hoard-cache", version: 1 }) + "\n",
    );
    return store;
  }

  /** Metadata of `id`, or undefined. Unreadable or invalid metadata is deleted. */
  async readMeta(id: string): Promise<Meta | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#metaPath(id));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    const meta = parseMeta(text, id);
    if (meta === undefined && !this.#readOnly) {
      await Deno.remove(this.#metaPath(id)).catch(() => {});
    }
    return meta;
  }

  /** Writes metadata atomically (a vary index, or updated fields of an entry after a 304). */
  async writeMeta(meta: Meta): Promise<void> {
    await this.#makeShard(meta.id);
    await this.#writeAtomic(this.#metaPath(meta.id), serializeMeta(meta));
  }

  /** Creates the shard directory of `id` the first time this process needs it. */
  async #makeShard(id: string): Promise<string> {
    const shard = this.#shard(id);
    if (!this.#shards.has(shard)) {
      // Not recursive: a cache directory removed while hoard runs stays removed.
      await Deno.mkdir(shard, { mode: 0o700 }).catch((err) => {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      });
      this.#shards.add(shard);
    }
    return shard;
  }

  /** Opens the body of an entry for reading. */
  openBody(meta: ResponseMeta): Promise<Deno.FsFile> {
    return Deno.open(this.bodyPath(meta), { read: true });
  }

  /** Path of an entry's body file. */
  bodyPath(meta: ResponseMeta): string {
    return `${this.#shard(meta.id)}/${meta.body}`;
  }

  /** Starts a body in the temp directory. */
  async createTemp(): Promise<TempBody> {
    const path = `${this.dir}/tmp/${crypto.randomUUID()}.part`;
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return new TempBody(path, file);
  }

  /**
   * Makes a finished temp body the entry `meta` (whose `body`, `size` and
   * `sha256` are filled in here): body renamed into place, then metadata; a
   * body kept in memory goes inside the metadata instead (`inline`). A
   * previous entry with the same id is replaced and its body deleted;
   * `previous` is that entry when the caller knows it (null: there is none).
   */
  async commit(
    temp: TempBody,
    meta: Omit<ResponseMeta, "body" | "size" | "sha256">,
    onPlaced?: (path: string) => void,
    previous?: Meta | null,
  ): Promise<ResponseMeta> {
    const sha256 = await temp.finish();
    const shard = await this.#makeShard(meta.id);
    const replaced = previous === undefined
      ? await this.readMeta(meta.id).catch(() => undefined)
      : previous;
    let full: ResponseMeta;
    if (temp.inMemory) {
      const inline = Buffer.from(temp.bytes!).toString("base64");
      full = { ...meta, body: "", inline, size: temp.size, sha256 };
      // The body file of a replaced entry goes first: once the new metadata
      // names no file, the start-up scan would take that one for its body.
      // A crash in between leaves metadata whose body is gone: a miss.
      if (replaced?.kind === "response" && replaced.body !== "") {
        await Deno.remove(`${shard}/${replaced.body}`).catch(() => {});
      }
    } else {
      const body = `${meta.id}-${crypto.randomUUID().slice(0, 8)}.body`;
      await Deno.rename(temp.path, `${shard}/${body}`);
      onPlaced?.(`${shard}/${body}`);
      full = { ...meta, body, size: temp.size, sha256 };
    }
    await this.writeMeta(full);
    if (!temp.inMemory && replaced?.kind === "response" && replaced.body !== "") {
      await Deno.remove(`${shard}/${replaced.body}`).catch(() => {});
    }
    return full;
  }

  /** Deletes an entry (metadata first, so it is never served without its body). */
  async remove(id: string): Promise<void> {
    const meta = await this.readMeta(id).catch(() => undefined);
    await Deno.remove(this.#metaPath(id)).catch(() => {});
    if (meta?.kind === "response" && meta.body !== "") {
      await Deno.remove(`${this.#shard(id)}/${meta.body}`).catch(() => {});
    }
  }

  /** Marks an entry as used now, for LRU eviction that survives restarts. */
  async touch(id: string, at: Date = new Date()): Promise<void> {
    await Deno.utime(this.#metaPath(id), at, at);
  }

  /**
   * Lists every entry with its size and last use, deleting orphaned bodies and
   * temp names left by an earlier process on the way (not when read-only);
   * stops early on `signal`. Reads directory entries and stats only (no
   * JSON), so it stays fast with many entries.
   */
  async scan(signal?: AbortSignal): Promise<ScannedEntry[]> {
    const out: ScannedEntry[] = [];
    // Files this process writes while the scan runs (a commit between its body
    // rename and its metadata write) look like crash leftovers: only files
    // older than this store's opening are ever deleted.
    const leftover = (mtime: Date | null) =>
      !this.#readOnly && (mtime?.getTime() ?? 0) < this.#openedAt;
    for await (const shard of Deno.readDir(`${this.dir}/data`)) {
      if (signal?.aborted) break;
      if (!shard.isDirectory) continue;
      const dir = `${this.dir}/data/${shard.name}`;
      const metas = new Map<string, ScannedEntry>();
      const bodies: [string, number, Date | null][] = [];
      for await (const f of Deno.readDir(dir)) {
        const path = `${dir}/${f.name}`;
        const st = await Deno.stat(path).catch(() => undefined);
        if (st === undefined) continue;
        if (f.name.endsWith(".json")) {
          const id = f.name.slice(0, -5);
          metas.set(id, { id, size: st.size, usedAt: st.mtime?.getTime() ?? 0 });
        } else if (f.name.endsWith(".body")) {
          bodies.push([f.name, st.size, st.mtime]);
        } else if (leftover(st.mtime)) {
          // A temp name left by a crash during an atomic write.
          await Deno.remove(path).catch(() => {});
        }
      }
      const byId = Map.groupBy(bodies, ([name]) => name.slice(0, 64));
      for (const [id, files] of byId) {
        const owner = metas.get(id);
        // Two bodies for one id: a crash came between replacing an entry's
        // metadata and deleting its old body. Only then is the JSON read.
        const keep = owner === undefined
          ? undefined
          : files.length === 1
          ? files[0]![0]
          : await this.readMeta(id).then((m) => m?.kind === "response" ? m.body : undefined, () =>
            undefined);
        for (const [name, size, mtime] of files) {
          if (name === keep) owner!.size += size;
          else if (leftover(mtime)) await Deno.remove(`${dir}/${name}`).catch(() => {});
        }
      }
      out.push(...metas.values());
    }
    return out;
  }

  #shard(id: string): string {
    return `${this.dir}/data/${id.slice(0, 2)}`;
  }

  #metaPath(id: string): string {
    return `${this.#shard(id)}/${id}.json`;
  }

  async #writeAtomic(path: string, text: string): Promise<void> {
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = encoder.encode(text);
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  }
}

/** The SHA-256 (hex) and length of what `file` holds from its current offset to its end. */
export async function digestFile(file: Deno.FsFile): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  const buf = borrowStreamBuffer();
  let size = 0;
  try {
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
      size += n;
    }
  } finally {
    returnStreamBuffer(buf);
  }
  return { sha256: hash.digest("hex"), size };
}
