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
 * Every file appears by rename of a complete temp file, metadata last, and a
 * body file name is never reused: after a `kill -9` at any moment an entry is
 * either complete (metadata and the body it names) or absent. Orphans (a body
 * without metadata) are removed by the start-up scan.
 *
 * A body is fsynced before metadata names it; metadata is not fsynced. A
 * power loss can leave a renamed metadata file empty or zero-filled, and that
 * reads as no entry (invalid JSON, or another id) and is deleted: the crash
 * costs the entries of its last moments, never a wrong byte (an inline body
 * has its SHA-256 beside it). An fsync per metadata file was the dearest step
 * of a small miss: a pool round trip, and on ext4 a synchronous write of the
 * inode (five alternating pairs of 400 sequential misses, pinned: p50 1.02 /
 * 1.34 / 1.88 / 1.11 / 1.86 → 0.75 / 1.20 / 1.52 / 0.79 / 1.05 ms).
 * Metadata is written, and shard directories made, from the event loop
 * while that is quick (loop_writes.ts); a small body's, when the caller lets
 * it, at the thread's next idle moment (meta_behind.ts).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type {
  BodyShare,
  BodyStore,
  BodyWriter,
  ByteRange,
  CommitOptions,
  PendingMeta,
  ScannedEntry,
} from "./body_store.ts";
import { DiskBody, DiskSource, TailBody } from "./disk_body.ts";
import { InlineBody } from "./inline_body.ts";
import { LoopWrites, type LoopWritesOptions } from "./loop_writes.ts";
import { encodeMeta, type Meta, parseMeta, type ResponseMeta } from "./meta.ts";
import { MetaBehind } from "./meta_behind.ts";

const MARKER = "hoard-cache.json";
const encoder = new TextEncoder();

/** The store in one cache directory. */
export class DiskStore implements BodyStore {
  /** The cache directory. */
  readonly dir: string;
  /** Where metadata writes and shard directories' creation run, and how many ran where. */
  readonly writes: LoopWrites;

  #openedAt: number;
  #readOnly: boolean;
  #shards = new Set<string>();
  #behind = new MetaBehind((meta, bytes) => this.#writeMetaNow(meta, bytes));

  private constructor(dir: string, openedAt: number, writes: LoopWrites, readOnly = false) {
    this.dir = dir;
    this.#openedAt = openedAt;
    this.writes = writes;
    this.#readOnly = readOnly;
  }

  /**
   * Opens (creating it, mode 0700) the store in `dir` and empties its temp
   * directory (left-overs of fills that never completed). `joined`: another
   * thread of this process opened it first and cleaned it (src/cores).
   * `writes`: when its small writes (metadata, shard directories) leave
   * the event loop (loop_writes.ts).
   *
   * @throws when the directory cannot be created or written.
   */
  static async open(
    dir: string,
    { readOnly = false, joined = false, writes = {} }: {
      readOnly?: boolean;
      joined?: boolean;
      writes?: LoopWritesOptions;
    } = {},
  ): Promise<DiskStore> {
    const loop = new LoopWrites(writes);
    // Another process uses the directory: look, never touch (no temp clean-up,
    // no leftovers deleted — they may be that process's commits in flight).
    if (readOnly) return new DiskStore(dir, Date.now(), loop, true);
    if (joined) return new DiskStore(dir, Date.now() - 100, loop);
    // File times come from a coarse kernel clock (a jiffy): allow for it.
    const openedAt = Date.now() - 100;
    await Deno.mkdir(`${dir}/data`, { recursive: true, mode: 0o700 });
    await Deno.remove(`${dir}/tmp`, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    await Deno.mkdir(`${dir}/tmp`, { recursive: true, mode: 0o700 });
    const store = new DiskStore(dir, openedAt, loop);
    await store.#writeAtomic(
      `${dir}/${MARKER}`,
      encoder.encode(JSON.stringify({ format: "hoard-cache", version: 1 }) + "\n"),
    );
    return store;
  }

  /**
   * Metadata of `id`, or undefined. Unreadable or invalid metadata is deleted,
   * with the bodies of `id` an earlier process left (the one it named among
   * them, which no metadata will name again).
   */
  async readMeta(id: string): Promise<Meta | undefined> {
    const later = this.#behind.get(id);
    if (later !== undefined) return later;
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
      await this.#removeLeftBodies(id).catch(() => {});
    }
    return meta;
  }

  /** Writes metadata atomically (a vary index, or updated fields of an entry after a 304). */
  async writeMeta(meta: Meta): Promise<void> {
    await this.#behind.drop(meta.id);
    await this.#writeMetaNow(meta);
  }

  /** Writes now what {@linkcode commit} was allowed to write later. */
  flush(): Promise<void> {
    return this.#behind.flush();
  }

  async #writeMetaNow(meta: Meta, bytes = encodeMeta(meta)): Promise<void> {
    await this.#makeShard(meta.id);
    await this.#writeAtomic(this.#metaPath(meta.id), bytes);
  }

  /**
   * Creates the shard directory of `id` the first time this process needs it
   * (on the event loop while that is quick, like metadata: the first misses
   * of a new cache create most of the 256).
   */
  async #makeShard(id: string): Promise<string> {
    const shard = this.#shard(id);
    if (!this.#shards.has(shard)) {
      // Not recursive: a cache directory removed while hoard runs stays removed.
      // Either way's error rejects `run`: one catch for both.
      const options = { mode: 0o700 };
      await this.writes.run(() => Deno.mkdirSync(shard, options), () => Deno.mkdir(shard, options))
        .catch((err) => {
          if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        });
      this.#shards.add(shard);
    }
    return shard;
  }

  /** A body another thread of this process is writing to a file of this store. */
  follow(share: BodyShare): TailBody | undefined {
    return share.kind === "file" ? new TailBody(share.path) : undefined;
  }

  /** The body of an entry (`range`, or all of it) as a byte source; undefined when it is gone. */
  openBody(entry: ResponseMeta, range?: ByteRange): Promise<DiskSource | undefined> {
    return DiskSource.open(this.bodyPath(entry), range?.start ?? 0, range?.length ?? entry.size);
  }

  /**
   * Path of an entry's body file: for the disk store's own tests, and tests
   * that damage a body on disk. Nothing on the request's way uses a path.
   */
  bodyPath(entry: ResponseMeta): string {
    return `${this.#shard(entry.id)}/${entry.body}`;
  }

  /** Begins a body in the temp directory. */
  async beginBody(): Promise<DiskBody> {
    const path = `${this.dir}/tmp/${crypto.randomUUID()}.part`;
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return new DiskBody(path, file);
  }

  /**
   * Makes a body begun here (or an inline one) the entry `meta`: body
   * renamed into place, then metadata; an inline body goes inside the
   * metadata instead. A previous entry with the same id is replaced and its
   * body deleted; `previous` is that entry when the caller knows it (null:
   * there is none). See {@linkcode CommitOptions} for `options`.
   */
  async commit(
    body: BodyWriter,
    meta: PendingMeta,
    previous?: Meta | null,
    options: CommitOptions = {},
  ): Promise<ResponseMeta> {
    if (!(body instanceof DiskBody) && !(body instanceof InlineBody)) {
      throw new TypeError("the disk store commits only bodies it began, or inline ones");
    }
    const sha256 = body instanceof InlineBody ? body.digest() : await body.finish();
    // Made when a file goes into it: for metadata written later, then.
    const shard = this.#shard(meta.id);
    const replaced = previous === undefined
      ? await this.readMeta(meta.id).catch(() => undefined)
      : previous;
    let full: ResponseMeta;
    if (body instanceof InlineBody) {
      const inline = Buffer.from(body.bytes).toString("base64");
      full = { ...meta, body: "", inline, size: body.size, sha256 };
      // The body file of a replaced entry goes first: once the new metadata
      // names no file, the start-up scan would take that one for its body.
      // A crash in between leaves metadata whose body is gone: a miss.
      if (replaced?.kind === "response" && replaced.body !== "") {
        await Deno.remove(`${shard}/${replaced.body}`).catch(() => {});
      }
      if (options.later !== undefined) {
        // Encoded now, once: the caller counts the bytes it takes at once (metaBytes).
        this.#behind.add(full, encodeMeta(full), options.later);
        return full;
      }
    } else {
      const name = `${meta.id}-${crypto.randomUUID().slice(0, 8)}.body`;
      await this.#makeShard(meta.id);
      await body.moveTo(`${shard}/${name}`);
      options.onPlaced?.(`${shard}/${name}`);
      full = { ...meta, body: name, size: body.size, sha256 };
    }
    await this.writeMeta(full);
    if (body instanceof DiskBody && replaced?.kind === "response" && replaced.body !== "") {
      await Deno.remove(`${shard}/${replaced.body}`).catch(() => {});
    }
    return full;
  }

  /** Deletes an entry (metadata first, so it is never served without its body). */
  async remove(id: string): Promise<void> {
    // One waiting to be written has its body inside: only an older one can be on disk.
    await this.#behind.drop(id);
    const meta = await this.readMeta(id).catch(() => undefined);
    await Deno.remove(this.#metaPath(id)).catch(() => {});
    if (meta?.kind === "response" && meta.body !== "") {
      await Deno.remove(`${this.#shard(id)}/${meta.body}`).catch(() => {});
    }
  }

  /** Marks an entry as used now, for LRU eviction that survives restarts. */
  async touch(id: string, at: Date = new Date()): Promise<void> {
    if (this.#behind.get(id) !== undefined) return; // written later, with the time then
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
    for await (const shard of Deno.readDir(`${this.dir}/data`)) {
      if (signal?.aborted) break;
      if (!shard.isDirectory) continue;
      const dir = `${this.dir}/data/${shard.name}`;
      this.#shards.add(dir); // no commit needs to make it
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
        } else if (this.#leftover(st.mtime)) {
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
          else if (this.#leftover(mtime)) await Deno.remove(`${dir}/${name}`).catch(() => {});
        }
      }
      out.push(...metas.values());
    }
    return out;
  }

  /**
   * Whether a file last written at `mtime` was left by an earlier process and
   * may be deleted. Files this process writes (a commit between its body
   * rename and its metadata write) can look like crash leftovers: only those
   * older than this store's opening ever are.
   */
  #leftover(mtime: Date | null): boolean {
    return !this.#readOnly && (mtime?.getTime() ?? 0) < this.#openedAt;
  }

  /**
   * Deletes the body files of `id` an earlier process left. Not newer ones: a
   * commit of `id` in this process may have renamed its body into place and
   * not yet written the metadata that names it.
   */
  async #removeLeftBodies(id: string): Promise<void> {
    const shard = this.#shard(id);
    for await (const f of Deno.readDir(shard)) {
      if (!f.name.startsWith(`${id}-`) || !f.name.endsWith(".body")) continue;
      const st = await Deno.stat(`${shard}/${f.name}`).catch(() => undefined);
      if (st !== undefined && this.#leftover(st.mtime)) {
        await Deno.remove(`${shard}/${f.name}`).catch(() => {});
      }
    }
  }

  #shard(id: string): string {
    return `${this.dir}/data/${id.slice(0, 2)}`;
  }

  #metaPath(id: string): string {
    return `${this.#shard(id)}/${id}.json`;
  }

  /**
   * Writes `bytes` to `path` whole or not at all, as far as any reader
   * sees: under a temp name (one file operation: create, write, close),
   * then renamed. Not fsynced (see the module's comment). On the event
   * loop while that is quick (loop_writes.ts).
   */
  #writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    const options = { createNew: true, mode: 0o600 };
    return this.writes.run(() => {
      Deno.writeFileSync(tmp, bytes, options);
      Deno.renameSync(tmp, path);
    }, async () => {
      await Deno.writeFile(tmp, bytes, options);
      await Deno.rename(tmp, path);
    });
  }
}
