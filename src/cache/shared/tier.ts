/**
 * The shared tier: a bucket that every hoard of a fleet reads from after its
 * own disk, and uploads to behind its clients. It may fail in every way —
 * unreachable, slow, 403, 5xx, full — and hoard does not: each failure is a
 * shared miss or a skipped upload, counted, and warned about once per kind;
 * a tier that keeps failing is skipped for a while (a circuit breaker), so a
 * dead endpoint does not add its timeout to every miss.
 *
 * It only ever holds what the local store committed (so only what the local
 * policy stores), never a stored range.
 *
 * @module
 */

import type { Logger } from "../../observe/log.ts";
import { newSharedCounters, type SharedCounters } from "./counters.ts";
import { secondaryKey, storeId } from "../key.ts";
import type { ResponseMeta, VaryMeta } from "../meta.ts";
import type { FieldList } from "../../http1/fields.ts";
import { encodeHead, objectName, openObject, sharedMeta } from "./object.ts";
import { S3Store, type S3Timeouts } from "./s3.ts";
import { S3Error } from "./s3_errors.ts";
import { once, prepend, readAll } from "./streams.ts";
import type { EnvReader, S3Location } from "./s3_settings.ts";

/** Options of the shared tier. */
export interface SharedOptions {
  /** Time for a lookup's response head (and the object's header) to arrive. @default {300} */
  firstByteMs?: number;
  /** Uploads in flight at once. @default {2} */
  uploadConcurrency?: number;
  /** Entries waiting to be uploaded; beyond it new ones are dropped (counted). @default {256} */
  uploadQueue?: number;
  /** Objects up to this size go up in one PUT (read into memory); larger ones in parts. @default {8 MiB} */
  singlePutBytes?: number;
  /** Part size of multipart uploads. @default {8 MiB} */
  partBytes?: number;
  /** Consecutive failures that open the breaker. @default {5} */
  breakerFailures?: number;
  /** How long the tier is skipped once the breaker opened. @default {30000} */
  breakerOpenMs?: number;
  /**
   * Whether entries stored for someone's credentials (`credentialed`) go up
   * to and come from the bucket. Off for `--tenancy shared`: such an entry may
   * only be served after the origin accepted the request's own credentials,
   * which a shared hit would skip. @default {true}
   */
  credentialed?: boolean;
}

/** Reads a local entry's body for an upload; undefined when it is gone. */
export type BodySource = (entry: ResponseMeta) => Promise<ReadableStream<Uint8Array> | undefined>;

/** What a lookup found: an entry, with its checked body to read (or cancel). */
export interface SharedEntry {
  /** The stored response, as its writer's local store had it. */
  meta: Omit<ResponseMeta, "body" | "inline">;
  /** The body; throws when the object turns out corrupt (it is then deleted). */
  body: AsyncGenerator<Uint8Array, undefined, void>;
  /** Stops reading. */
  cancel(): void;
}

const WARM_UP_MS = 5000;
// A body up to this size is read and checked whole before anything is sent:
// a corrupt one then costs nothing but a trip to the origin.
const CHECK_FIRST_BYTES = 1024 * 1024;

/** The shared tier of one hoard process. */
export class SharedTier {
  /** This run's counters. */
  readonly counters: SharedCounters = newSharedCounters();
  /** Where it is (`s3://bucket/prefix`). */
  readonly url: string;
  #store: S3Store | undefined;
  #loading: Promise<void>;
  #logger: Logger;
  #source: BodySource;
  #o: Required<SharedOptions>;
  #queue: ResponseMeta[] = [];
  #active = 0;
  #idle: (() => void)[] = [];
  #failuresInRow = 0;
  #openUntil = 0;
  #warned = new Set<string>();
  #varyIndexes = new Set<string>();
  #closed = false;

  /**
   * Starts loading the S3 client in the background (hoard serves meanwhile:
   * lookups before it is ready are skipped).
   */
  constructor(
    location: S3Location,
    { env, logger, source, options = {}, timeouts = {} }: {
      env: EnvReader;
      logger: Logger;
      source: BodySource;
      options?: SharedOptions;
      timeouts?: S3Timeouts;
    },
  ) {
    this.url = `s3://${location.bucket}/${location.prefix}`;
    this.#logger = logger;
    this.#source = source;
    this.#o = {
      firstByteMs: options.firstByteMs ?? 300,
      uploadConcurrency: options.uploadConcurrency ?? 2,
      uploadQueue: options.uploadQueue ?? 256,
      singlePutBytes: options.singlePutBytes ?? 8 * 1024 * 1024,
      partBytes: options.partBytes ?? 8 * 1024 * 1024,
      breakerFailures: options.breakerFailures ?? 5,
      breakerOpenMs: options.breakerOpenMs ?? 30_000,
      credentialed: options.credentialed ?? true,
    };
    this.#loading = S3Store.open(location, env, {
      firstByteMs: this.#o.firstByteMs,
      ...timeouts,
    }).then(
      (s) => this.#warmUp(s),
      (err) => this.#failed("load", new S3Error("other", String(err))),
    );
  }

  /**
   * The first request of a process resolves credentials and opens a
   * connection (0.1-0.3 s here): made once at start-up with a generous
   * timeout, so that the first lookup is not the one that times out. It also
   * tells at once when the bucket cannot be read.
   */
  async #warmUp(store: S3Store): Promise<void> {
    try {
      (await store.get(store.key("v1/hoard-warm-up"), WARM_UP_MS))?.cancel();
    } catch (err) {
      this.#failed("start", err instanceof S3Error ? err : new S3Error("other", String(err)));
    }
    this.#store = store;
  }

  /** Settles once the S3 client is loaded (or failed to). */
  get ready(): Promise<void> {
    return this.#loading;
  }

  /** Whether lookups and uploads are made now (loaded, and the breaker closed). */
  get usable(): boolean {
    return this.#store !== undefined && !this.#closed && Date.now() >= this.#openUntil;
  }

  /**
   * Looks `id` (an entry of `key`, for a request with `fields`) up: follows a
   * vary index to the request's variant. Undefined for a miss, a failure or
   * a corrupt object (deleted) — the request goes on to the origin.
   */
  async lookup(key: string, id: string, fields: FieldList): Promise<SharedEntry | undefined> {
    if (!this.usable) {
      this.counters.skipped++;
      return undefined;
    }
    let current = id;
    try {
      let found = await this.#open(id, key);
      if (found?.meta.kind === "vary") {
        found.cancel();
        const variant = storeId(key, secondaryKey(found.meta.vary, fields));
        current = variant;
        found = variant === id ? undefined : await this.#open(variant, key);
      }
      this.#succeeded();
      if (
        found === undefined || found.meta.kind !== "response" ||
        (found.meta.credentialed && !this.#o.credentialed)
      ) {
        found?.cancel();
        this.counters.misses++;
        return undefined;
      }
      const { meta, body, cancel } = found;
      if (meta.size <= CHECK_FIRST_BYTES) {
        const whole = await readAll(body, meta.size);
        this.counters.bytesRead += whole.length;
        return { meta, body: once(whole), cancel };
      }
      return { meta, body: this.#counted(body, meta.id), cancel };
    } catch (err) {
      const e = err instanceof S3Error ? err : new S3Error("other", String(err));
      if (e.kind === "corrupt") await this.#corrupt(current, e);
      else this.#failed("lookup", e);
      return undefined;
    }
  }

  async #open(
    id: string,
    key: string,
  ): Promise<
    | {
      meta: Omit<ResponseMeta, "body" | "inline"> | VaryMeta;
      body: AsyncGenerator<Uint8Array, undefined, void>;
      cancel(): void;
    }
    | undefined
  > {
    const store = this.#store!;
    const deadline = Date.now() + this.#o.firstByteMs;
    const obj = await store.get(store.key(objectName(id)));
    if (obj === undefined) return undefined;
    const chunks = obj.body[Symbol.asyncIterator]();
    // The header and metadata are part of the first bytes: same deadline.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        obj.cancel();
        reject(new S3Error("timeout", "shared object header did not arrive in time"));
      }, Math.max(0, deadline - Date.now()));
    });
    try {
      const opened = await Promise.race([openObject(chunks, obj.length, id, key), late]);
      return { meta: opened.meta, body: opened.body, cancel: obj.cancel };
    } catch (err) {
      obj.cancel();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async *#counted(
    body: AsyncGenerator<Uint8Array, undefined, void>,
    id: string,
  ): AsyncGenerator<Uint8Array, undefined, void> {
    try {
      for await (const piece of body) {
        this.counters.bytesRead += piece.length;
        yield piece;
      }
    } catch (err) {
      if (err instanceof S3Error && err.kind === "corrupt") {
        await this.#corrupt(id, err);
      } else if (err instanceof S3Error) this.#failed("read", err);
      throw err;
    }
    return undefined;
  }

  /** A large body found corrupt while it was sent: its object is deleted. */
  async #corrupt(id: string, err: S3Error): Promise<void> {
    this.counters.corrupt++;
    this.counters.failures.corrupt++;
    this.#logger.log("warn", `${err.message}; deleted from the shared cache`);
    await this.#store?.delete(this.#store.key(objectName(id))).catch(() => {});
  }

  /**
   * Queues a committed local entry for upload: never waits, and drops it
   * (counted) when the queue is full or the tier is being skipped.
   */
  offer(entry: ResponseMeta): void {
    // Parts (206) stay local: the bucket holds whole responses only.
    if (this.#closed || entry.status === 206) return;
    if (entry.credentialed && !this.#o.credentialed) return;
    if (!this.usable || this.#queue.length >= this.#o.uploadQueue) {
      this.counters.uploadsDropped++;
      if (this.usable) this.#warnOnce("queue", "shared cache upload queue full: uploads dropped");
      return;
    }
    this.#queue.push(entry);
    this.#pump();
  }

  #pump(): void {
    while (this.#active < this.#o.uploadConcurrency && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      this.#active++;
      this.#upload(entry).finally(() => {
        this.#active--;
        if (this.#active === 0 && this.#queue.length === 0) {
          for (const wake of this.#idle.splice(0)) wake();
        }
        this.#pump();
      });
    }
  }

  async #upload(entry: ResponseMeta): Promise<void> {
    const store = this.#store;
    if (store === undefined || !this.usable) {
      this.counters.uploadsDropped++;
      return;
    }
    let body: ReadableStream<Uint8Array> | undefined;
    try {
      if (entry.vary !== undefined && entry.vary.length > 0) await this.#putVaryIndex(entry);
      body = await this.#source(entry);
      if (body === undefined) return; // evicted or replaced meanwhile
      const head = encodeHead(sharedMeta(entry));
      const total = head.length + entry.size;
      const key = store.key(objectName(entry.id));
      if (total <= this.#o.singlePutBytes) {
        const bytes = new Uint8Array(total);
        bytes.set(head);
        let off = head.length;
        for await (const piece of body) {
          if (off + piece.length > total) throw new Error("local body longer than its metadata");
          bytes.set(piece, off);
          off += piece.length;
        }
        body = undefined;
        if (off !== total) throw new Error("local body shorter than its metadata");
        await store.put(key, bytes);
      } else {
        const rest = body;
        body = undefined;
        await store.putStream(key, prepend(head, rest), { partSize: this.#o.partBytes });
      }
      this.#succeeded();
      this.counters.uploads++;
      this.counters.bytesUploaded += total;
    } catch (err) {
      await body?.cancel().catch(() => {});
      this.counters.uploadsFailed++;
      if (err instanceof S3Error) this.#failed("upload", err);
      else this.#warnOnce("upload:local", `shared cache upload skipped: ${String(err)}`);
    }
  }

  async #putVaryIndex(entry: ResponseMeta): Promise<void> {
    const primary = storeId(entry.key);
    const index: VaryMeta = {
      v: 1,
      kind: "vary",
      id: primary,
      key: entry.key,
      vary: entry.vary!,
      variants: [],
      storedAt: entry.storedAt,
    };
    const tag = `${primary}\0${entry.vary!.join(",")}`;
    if (this.#varyIndexes.has(tag)) return;
    await this.#store!.put(this.#store!.key(objectName(primary)), encodeHead(index));
    this.#varyIndexes.add(tag);
  }

  /**
   * Resolves once no upload is queued or in flight, after `timeoutMs`, or as
   * soon as the tier is being skipped (a dead endpoint must not hold up the
   * end of a job).
   */
  async drain(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.#active > 0 || this.#queue.length > 0) {
      if (!this.usable || Date.now() >= until) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#idle.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, 50)),
      ]);
      clearTimeout(timer);
    }
  }

  /** Waits for queued uploads (up to `graceMs`), drops the rest, closes connections. */
  async close(graceMs = 30_000): Promise<void> {
    await this.#loading;
    await this.drain(graceMs);
    this.#closed = true;
    this.counters.uploadsDropped += this.#queue.length;
    this.#queue = [];
    this.#store?.close();
  }

  #succeeded(): void {
    this.#failuresInRow = 0;
  }

  #failed(op: string, err: S3Error): void {
    this.counters.failures[err.kind]++;
    this.#warnOnce(
      `${op}:${err.kind}`,
      `shared cache ${op} failed (${err.kind}), going on without it: ${err.message}`,
    );
    if (++this.#failuresInRow >= this.#o.breakerFailures) {
      this.#failuresInRow = 0;
      this.#openUntil = Date.now() + this.#o.breakerOpenMs;
      this.#logger.log(
        "warn",
        `shared cache failed ${this.#o.breakerFailures} times in a row: skipped for ${
          this.#o.breakerOpenMs / 1000
        } s`,
      );
    }
  }

  #warnOnce(kind: string, message: string): void {
    if (this.#warned.has(kind)) return;
    this.#warned.add(kind);
    this.#logger.log("warn", message);
  }
}
