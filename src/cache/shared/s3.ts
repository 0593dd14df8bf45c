/**
 * The S3 API as the shared tier needs it — get a stream, put, list, delete —
 * over the AWS SDK for JavaScript v3, configured the way every AWS tool is:
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`,
 * `AWS_REGION`, `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, `AWS_PROFILE` with
 * `~/.aws/credentials` and `~/.aws/config` (and the SDK's other sources:
 * SSO, web identity, instance roles). A custom endpoint (Ceph RGW, MinIO, R2,
 * B2, GCS) is addressed path-style; without one the SDK's own endpoint for
 * the region is used.
 *
 * The SDK is loaded only when a shared tier is configured (it takes 0.1-0.6 s
 * to load here and 1.4 MB of the bundle; see the README's fleet section).
 *
 * Every failure becomes an S3Error (s3_errors.ts): a missing object is not a
 * failure. Where the bucket is and how the client is set up: s3_settings.ts.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { classify, isMissing } from "./s3_errors.ts";
import {
  type EnvReader,
  resolveSettings,
  type S3Location,
  type S3Settings,
} from "./s3_settings.ts";

/** An object being read. */
export interface S3Object {
  /** Its length (Content-Length). */
  length: number;
  /** Its bytes. The stream ends early with an {@link S3Error} when the connection fails. */
  body: AsyncIterable<Uint8Array>;
  /** Stops reading and closes the connection. */
  cancel(): void;
}

/** One listed object. */
export interface S3Listed {
  /** Full key. */
  key: string;
  /** Bytes. */
  size: number;
  /** When it was written (ms since the epoch). */
  lastModified: number;
}

/** Timeouts of a {@link S3Store}, in milliseconds. */
export interface S3Timeouts {
  /** Time from sending a GET to its response head. @default {300} */
  firstByteMs?: number;
  /** Time to open a connection. @default {1000} */
  connectMs?: number;
  /** Longest silence inside a body, and the time for a PUT or one part. @default {10000} */
  idleMs?: number;
}

// Types only: the modules themselves are imported when a store is opened.
type Sdk = typeof import("@aws-sdk/client-s3");
type Storage = typeof import("@aws-sdk/lib-storage");

/** A bucket and prefix, through the SDK. */
export class S3Store {
  /** Where. */
  readonly location: S3Location;
  /** How the client was configured. */
  readonly settings: S3Settings;
  #read: S3Client;
  #write: S3Client;
  #sdk: Sdk;
  #storage: Storage;
  #firstByteMs: number;
  #idleMs: number;
  #closing = new AbortController();

  private constructor(
    location: S3Location,
    settings: S3Settings,
    sdk: Sdk,
    storage: Storage,
    timeouts: Required<S3Timeouts>,
  ) {
    this.location = location;
    this.settings = settings;
    this.#sdk = sdk;
    this.#storage = storage;
    this.#firstByteMs = timeouts.firstByteMs;
    this.#idleMs = timeouts.idleMs;
    const common = {
      region: settings.region,
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      forcePathStyle: settings.forcePathStyle,
      ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
      // The SDK's default checksums make a streamed PutObject chunked with a
      // trailer, which Ceph RGW 16.2 refuses (411 MissingContentLength);
      // hoard checks its own SHA-256 of every body it reads.
      requestChecksumCalculation: "WHEN_REQUIRED" as const,
      responseChecksumValidation: "WHEN_REQUIRED" as const,
      followRegionRedirects: true,
    };
    const handler = {
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.idleMs,
      // An error, not a console warning, when a request outlives it.
      throwOnRequestTimeout: true,
    };
    // Reads are not retried: a shared miss is cheaper than a second wait.
    this.#read = new sdk.S3Client({ ...common, maxAttempts: 1, requestHandler: handler });
    this.#write = new sdk.S3Client({ ...common, maxAttempts: 2, requestHandler: handler });
  }

  /** Loads the SDK and makes the clients (no request is sent). */
  static async open(
    location: S3Location,
    env: EnvReader,
    timeouts: S3Timeouts = {},
  ): Promise<S3Store> {
    const [settings, sdk, storage] = await Promise.all([
      resolveSettings(env),
      import("@aws-sdk/client-s3"),
      import("@aws-sdk/lib-storage"),
    ]);
    return new S3Store(location, settings, sdk, storage, {
      firstByteMs: timeouts.firstByteMs ?? 300,
      connectMs: timeouts.connectMs ?? 1000,
      idleMs: timeouts.idleMs ?? 10_000,
    });
  }

  /** The full key of `name` under the prefix. */
  key(name: string): string {
    return this.location.prefix + name;
  }

  /**
   * Starts reading `key`; undefined when there is no such object.
   *
   * @throws {S3Error} when the response head does not come within the first-byte timeout, or the request fails.
   */
  async get(key: string, firstByteMs: number = this.#firstByteMs): Promise<S3Object | undefined> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), firstByteMs);
    let res;
    try {
      res = await this.#read.send(
        new this.#sdk.GetObjectCommand({ Bucket: this.location.bucket, Key: key }),
        { abortSignal: abort.signal },
      );
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw classify(err, abort.signal.aborted ? "timeout" : undefined);
    } finally {
      clearTimeout(timer);
    }
    const length = Number(res.ContentLength ?? NaN);
    const stream = res.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
    const idleMs = this.#idleMs;
    const cancel = () => {
      abort.abort();
      stream.destroy?.();
    };
    async function* body(): AsyncGenerator<Uint8Array> {
      let idle: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(cancel, idleMs);
      };
      try {
        arm();
        for await (const chunk of stream) {
          arm();
          yield chunk;
        }
      } catch (err) {
        throw classify(err, abort.signal.aborted ? "timeout" : undefined);
      } finally {
        clearTimeout(idle);
      }
    }
    return { length, body: body(), cancel };
  }

  /** Writes `key` in one request. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#write.send(
        new this.#sdk.PutObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: "application/octet-stream",
        }),
        { abortSignal: this.#closing.signal },
      );
    } catch (err) {
      throw classify(err);
    }
  }

  /**
   * Writes `key` from a stream in parts of `partSize` bytes (a multipart
   * upload: at most `queueSize` parts in memory and in flight). The object
   * appears whole when the upload completes, or not at all; a failed upload
   * is aborted (what a dead endpoint kept is for a lifecycle rule).
   */
  async putStream(
    key: string,
    body: ReadableStream<Uint8Array>,
    { partSize = 8 * 1024 * 1024, queueSize = 2 } = {},
  ): Promise<void> {
    try {
      const upload = new this.#storage.Upload({
        client: this.#write,
        params: {
          Bucket: this.location.bucket,
          Key: key,
          Body: body,
          ContentType: "application/octet-stream",
        },
        partSize,
        queueSize,
        leavePartsOnError: false,
      });
      const stop = () => void upload.abort().catch(() => {});
      this.#closing.signal.addEventListener("abort", stop);
      try {
        await upload.done();
      } finally {
        this.#closing.signal.removeEventListener("abort", stop);
      }
    } catch (err) {
      throw classify(err);
    }
  }

  /** Lists the objects whose keys start with `prefix` (under the location's prefix). */
  async *list(prefix = ""): AsyncGenerator<S3Listed> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#write.send(
          new this.#sdk.ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: this.location.prefix + prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
      } catch (err) {
        throw classify(err);
      }
      for (const o of page.Contents ?? []) {
        yield {
          key: o.Key!,
          size: Number(o.Size ?? 0),
          lastModified: o.LastModified?.getTime() ?? 0,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Deletes one object (deleting a missing one succeeds). */
  async delete(key: string): Promise<void> {
    try {
      await this.#write.send(
        new this.#sdk.DeleteObjectCommand({ Bucket: this.location.bucket, Key: key }),
      );
    } catch (err) {
      throw classify(err);
    }
  }

  /** Creates the bucket (tests, and the README's self-hosted setup); an existing one is fine. */
  async createBucket(): Promise<void> {
    try {
      await this.#write.send(new this.#sdk.CreateBucketCommand({ Bucket: this.location.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "BucketAlreadyOwnedByYou" || name === "BucketAlreadyExists") return;
      throw classify(err);
    }
  }

  /** Aborts uploads in flight and closes connections. */
  close(): void {
    this.#closing.abort();
    this.#read.destroy();
    this.#write.destroy();
  }
}
