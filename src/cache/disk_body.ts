/**
 * Bodies in files, for the disk store: one being written to a temp file (and
 * read by a fill's followers while it grows), and a stored one read as a byte
 * source. Paths stay in here and in the disk store.
 *
 * @module
 */

import { borrowStreamBuffer, returnStreamBuffer } from "../io/buffer_pool.ts";
import {
  type BodyReader,
  type BodyShare,
  type BodyWriter,
  type ByteSource,
  type SharedBody,
  SMALL_BODY_BYTES,
} from "./body_store.ts";
import { concat } from "./inline_body.ts";
import { digest, sha256 } from "./integrity.ts";

// Pieces of a stored body read from its file. Two of them (one read while the
// other is written) stay in a 1 MiB L2 cache: a 100 MiB plain hit took 95 ms
// of hoard's CPU in 256 KiB pieces, 140 ms in 1 MiB ones, whose bytes had left
// the cache before they were sent (reading the file alone: 32 ms against 76).
const PIECE_BYTES = 256 * 1024;
// What a fill's follower reads at a time from a file that is still growing.
const FOLLOW_BYTES = 256 * 1024;

/**
 * A body being written to a temp file. Its SHA-256 is computed when it is
 * finished: a large body's by reading the file back (off the path of the
 * client being served while it arrives, and over the bytes that really
 * reached the disk), a small one's from a copy kept in memory while it is
 * small (no more file system round trips on the way of a miss).
 */
export class DiskBody implements BodyWriter {
  #path: string;
  #file: Deno.FsFile;
  #size = 0;
  #closed = false;
  #small: Uint8Array | undefined = new Uint8Array(0);
  #moving: Promise<void> | undefined;

  /** @internal Begun by the disk store. */
  constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  /** Where the body is: its temp file, or its entry's body file once committed. */
  get path(): string {
    return this.#path;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** The body so far while it is small, as an array that later writes do not change. */
  get bytes(): Uint8Array | undefined {
    return this.#small;
  }

  /** Appends `data`. */
  async write(data: Uint8Array): Promise<void> {
    if (this.#small !== undefined) {
      const grown = this.#small.length + data.length;
      this.#small = grown > SMALL_BODY_BYTES ? undefined : concat(this.#small, data);
    }
    let off = 0;
    while (off < data.length) off += await this.#file.write(data.subarray(off));
    this.#size += data.length;
  }

  /** A reader with a file of its own: it reads on across the commit's rename. */
  reader(): BodyReader {
    return new DiskReader(() => this.#openForReading());
  }

  /** Other threads of this process read the file itself, by its name (renamed at commit). */
  share(): BodyShare {
    return { kind: "file", path: this.#path };
  }

  /** Flushes to disk and closes; returns the body's SHA-256 (hex). */
  async finish(): Promise<string> {
    try {
      await this.#file.sync();
      if (this.#small !== undefined) return sha256(this.#small);
      await this.#file.seek(0, Deno.SeekMode.Start);
      const storedSize = (await this.#file.stat()).size;
      if (storedSize !== this.#size) {
        throw new Error(`temp body holds ${storedSize} bytes, ${this.#size} were written`);
      }
      this.#closed = true; // the source closes the file
      return (await digest(new DiskSource(this.#file, this.#size, storedSize))).sha256;
    } finally {
      this.#close();
    }
  }

  /** Renames the finished body to `path`, its place as an entry's body. */
  moveTo(path: string): Promise<void> {
    this.#moving = Deno.rename(this.#path, path).then(() => void (this.#path = path));
    return this.#moving;
  }

  /** Closes and deletes the temp file. */
  async discard(): Promise<void> {
    this.#close();
    await Deno.remove(this.#path).catch(() => {});
  }

  async #openForReading(): Promise<Deno.FsFile> {
    try {
      return await Deno.open(this.#path, { read: true });
    } catch (err) {
      // Committed (renamed) between joining and opening: open the new name.
      if (!(err instanceof Deno.errors.NotFound) || this.#moving === undefined) throw err;
      await this.#moving;
      return await Deno.open(this.#path, { read: true });
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

/**
 * A body another thread of this process writes to a file, followed here. Its
 * readers open the file by its temp name; when it was committed (renamed)
 * first, they wait for the fill to end and open the name it got.
 */
export class TailBody implements SharedBody {
  #path: string;
  #moved = Promise.withResolvers<string | undefined>();

  /** @param path the file being written. */
  constructor(path: string) {
    this.#path = path;
  }

  /** Nothing is written here. */
  get size(): number {
    return 0;
  }

  /** Not in memory here. */
  get bytes(): undefined {
    return undefined;
  }

  /** @throws always: the other thread writes the body. */
  write(): Promise<void> {
    return Promise.reject(new Error("a followed body is written by another thread"));
  }

  /** A reader with a file of its own. */
  reader(): BodyReader {
    return new DiskReader(async () => {
      try {
        return await Deno.open(this.#path, { read: true });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        const moved = await this.#moved.promise;
        if (moved === undefined) throw err;
        return await Deno.open(moved, { read: true });
      }
    });
  }

  /** The fill is over: the body is now at `share`'s path, if anywhere. */
  settled(share: BodyShare | undefined): void {
    this.#moved.resolve(share?.kind === "file" ? share.path : undefined);
  }

  /** Nothing to delete: the writer owns the file. */
  discard(): Promise<void> {
    return Promise.resolve();
  }
}

/** A follower's reader of a growing file, opened at its first read. */
class DiskReader implements BodyReader {
  #open: () => Promise<Deno.FsFile>;
  #file: Deno.FsFile | undefined;
  #buf = new Uint8Array(FOLLOW_BYTES);

  constructor(open: () => Promise<Deno.FsFile>) {
    this.#open = open;
  }

  async read(max: number): Promise<Uint8Array> {
    this.#file ??= await this.#open();
    const n = await this.#file.read(this.#buf.subarray(0, Math.min(this.#buf.length, max)));
    if (n === null || n === 0) throw new Error("cache temp file shorter than written");
    return this.#buf.subarray(0, n);
  }

  close(): void {
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
    this.#file = undefined;
  }
}

/**
 * A stored body read from its file: the next piece is read while the last
 * one is used (two buffers), so the file's reads and the consumer's writes
 * overlap instead of taking turns.
 */
export class DiskSource implements ByteSource {
  /** Bytes the pieces add up to. */
  readonly length: number;
  /** Size of the whole file. */
  readonly storedSize: number;
  #file: Deno.FsFile | undefined;

  /** Reads `length` bytes of `file` from its current offset; the source owns the file. */
  constructor(file: Deno.FsFile, length: number, storedSize: number) {
    this.#file = file;
    this.length = length;
    this.storedSize = storedSize;
  }

  /**
   * `length` bytes of the file at `path` from `start`; undefined when there
   * is no such file.
   */
  static async open(path: string, start: number, length: number): Promise<DiskSource | undefined> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    try {
      const storedSize = (await file.stat()).size;
      if (start > 0) await file.seek(start, Deno.SeekMode.Start);
      return new DiskSource(file, length, storedSize);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * The pieces, at most 256 KiB each.
   *
   * @throws when the file ends before `length` bytes.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, void> {
    const file = this.#file;
    if (file === undefined) throw new Error("byte source already read or closed");
    this.#file = undefined;
    const bufs = [borrowStreamBuffer(PIECE_BYTES), borrowStreamBuffer(PIECE_BYTES)] as const;
    let left = this.length;
    const readInto = async (buf: Uint8Array): Promise<Uint8Array> => {
      const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
      if (n === null) throw new Error("stored body ended early");
      left -= n;
      return buf.subarray(0, n);
    };
    let next: Promise<Uint8Array> | undefined = left > 0 ? readInto(bufs[0]) : undefined;
    try {
      for (let i = 1; next !== undefined; i ^= 1) {
        const piece = await next;
        next = left > 0 ? readInto(bufs[i]!) : undefined;
        yield piece;
      }
    } finally {
      // A read still in flight writes into its buffer: let it land before the buffer is lent again.
      await next?.catch(() => {});
      returnStreamBuffer(bufs[0]);
      returnStreamBuffer(bufs[1]);
      file.close();
    }
  }

  /** Closes the file unless it is being (or was) read. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
