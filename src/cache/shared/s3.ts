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
 * Every failure becomes an {@link S3Error} with a `kind` the tier counts and
 * warns about once: a missing object is not a failure.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";

/** Where the shared tier lives: `s3://BUCKET[/PREFIX]`. */
export interface S3Location {
  /** Bucket name. */
  bucket: string;
  /** Key prefix, "" or ending in "/". */
  prefix: string;
}

/**
 * Parses `s3://BUCKET[/PREFIX]`.
 *
 * @throws {SyntaxError} when it is not an s3:// URL with a valid bucket name.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url.trim());
  // Bucket names: 3-63 of lower-case letters, digits, dots and hyphens (S3's rules,
  // loosened for the underscores and capitals some self-hosted stores accept).
  if (m === null || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/.test(m[1]!)) {
    throw new SyntaxError(`expected s3://BUCKET[/PREFIX], got ${JSON.stringify(url)}`);
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket: m[1]!, prefix: prefix === "" ? "" : `${prefix}/` };
}

/** What kind of failure an S3 request met: each is counted and warned about once. */
export type S3FailureKind =
  /** No answer in time (first byte, or silence inside a body). */
  | "timeout"
  /** No connection (refused, reset, DNS, TLS). */
  | "unreachable"
  /** 401/403: credentials missing, wrong, or without the permission. */
  | "forbidden"
  /** 5xx, throttling (503 SlowDown). */
  | "server"
  /** The store is full or over a quota. */
  | "full"
  /** The object is not what hoard wrote (bad header, size or SHA-256). */
  | "corrupt"
  /** Anything else (4xx the tier does not expect, a bucket that does not exist). */
  | "other";

/** A failed S3 request. */
export class S3Error extends Error {
  /** What kind of failure. */
  readonly kind: S3FailureKind;
  /** @param kind what kind; @param message one line. */
  constructor(kind: S3FailureKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "S3Error";
    this.kind = kind;
  }
}

/** The resolved client settings (for `hoard stats --shared` and tests). */
export interface S3Settings {
  /** Custom endpoint, when one is configured. */
  endpoint?: string;
  /** Region (us-east-1 when nothing says: custom stores ignore it). */
  region: string;
  /** Path-style addressing (custom endpoints). */
  forcePathStyle: boolean;
  /** Keys from the variables; without them the SDK's provider chain finds some (profile files, SSO, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Reads a variable; undefined without --allow-env. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Endpoint and region from the environment and the profile's section of the
 * config file (`AWS_CONFIG_FILE`, else `~/.aws/config`); credentials are left
 * to the SDK's provider chain, which reads the same files.
 */
export async function resolveSettings(env: EnvReader): Promise<S3Settings> {
  const profile = env("AWS_PROFILE") ?? "default";
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  const file = env("AWS_CONFIG_FILE") ?? `${home}/.aws/config`;
  let config: Record<string, string> = {};
  try {
    config = iniSection(
      await Deno.readTextFile(file),
      profile === "default" ? "default" : `profile ${profile}`,
    );
  } catch {
    // No config file: the variables alone.
  }
  const endpoint = env("AWS_ENDPOINT_URL_S3") || env("AWS_ENDPOINT_URL") ||
    config["endpoint_url"] || undefined;
  const region = env("AWS_REGION") || env("AWS_DEFAULT_REGION") || config["region"] ||
    "us-east-1";
  const accessKeyId = env("AWS_ACCESS_KEY_ID"), secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  const sessionToken = env("AWS_SESSION_TOKEN") || undefined;
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    region,
    forcePathStyle: endpoint !== undefined,
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
  };
}

/** The keys of one `[section]` of an INI file (the AWS config format; comments with # or ;). */
export function iniSection(text: string, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (head !== null) {
      inside = head[1]!.replace(/\s+/g, " ") === section;
      continue;
    }
    // Indented lines belong to a nested block (`s3 =` sub-settings): not read here.
    if (!inside || /^\s/.test(raw)) continue;
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

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

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** Turns whatever the SDK threw into an {@link S3Error}. */
export function classify(err: unknown, kind?: S3FailureKind): S3Error {
  if (err instanceof S3Error) return err;
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name ?? "Error";
  const message = `${name}${status === undefined ? "" : ` (${status})`}: ${
    String(e?.message ?? err).split("\n")[0]
  }`;
  kind ??= status === 401 || status === 403
    ? "forbidden"
    : status === 507 || /QuotaExceeded|EntityTooLarge|StorageFull|InsufficientStorage/.test(name)
    ? "full"
    : (status !== undefined && status >= 500) || name === "SlowDown"
    ? "server"
    : name === "TimeoutError" || name === "AbortError" || e?.code === "ETIMEDOUT"
    ? "timeout"
    : NETWORK_CODES.has(e?.code ?? "") || status === undefined
    ? "unreachable"
    : "other";
  return new S3Error(kind, message, { cause: err });
}
