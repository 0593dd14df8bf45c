/**
 * S3 failures: every error the SDK throws becomes an {@link S3Error} with a
 * `kind` the tier counts and warns about once.
 *
 * @module
 */

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

export function isMissing(err: unknown): boolean {
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
