/**
 * hoard's HTTP/1.1 client for origins. Bytes go through unchanged: no
 * decompression, no re-encoding (which is why `fetch()` is not used).
 *
 * @module
 */

import { ProxyError, toProxyError } from "../errors.ts";
import type { FieldList } from "../http1/fields.ts";
import { type BodyFraming, responseEndsConnection, responseFraming } from "../http1/framing.ts";
import { parseResponseHead, type ResponseHead } from "../http1/parse_head.ts";
import { serializeRequestHead } from "../http1/serialize.ts";
import { type BodyReader, bodySink, readBody } from "../io/body.ts";
import { type BufferedConn, UnexpectedEofError } from "../io/buffered_conn.ts";
import { Deadline } from "../io/deadline.ts";
import { runIdleWork } from "../io/idle_work.ts";
import { originAuthority } from "./dial.ts";
import type { Origin } from "./origin.ts";
import type { Lease, OriginPool } from "./pool.ts";
import { DEFAULT_PORT, formatAuthority } from "../http1/target.ts";

/** Timeouts of an exchange, after the connection is open. */
export interface ExchangeTimeouts {
  /** From the request being sent to the first byte of the response head. */
  responseTimeoutMs: number;
  /** Longest silence between two reads of the response body. */
  idleTimeoutMs: number;
  /** How long a request with `Expect: 100-continue` waits for the origin's 100 before sending the body anyway. */
  continueTimeoutMs: number;
}

/** A request to send to an origin. */
export interface OriginRequest {
  /** Where to send it. */
  origin: Origin;
  /** Method token. */
  method: string;
  /** Request-target in origin-form (`/path?query`). */
  target: string;
  /** Fields to send, already including Host and the framing fields matching `body`. */
  fields: FieldList;
  /** The request body and the framing to send it in (length or chunked). */
  body?: { framing: BodyFraming; reader: BodyReader };
  /**
   * Present when the client sent `Expect: 100-continue`: called once the body
   * is wanted (the origin sent 100, or stayed silent past the continue timeout)
   * to let the client start sending it.
   */
  onContinue?: () => Promise<void>;
  /** Passes on an interim response other than 100 (e.g. 103 Early Hints). */
  onInterim?: (head: ResponseHead) => Promise<void>;
  /** Aborting it closes the origin connection, ending the exchange wherever it is. */
  signal?: AbortSignal;
}

/** A response head from an origin, with its body still to be read. */
export interface OriginResponse {
  /** Status-line and fields, unfiltered. */
  head: ResponseHead;
  /** How the body is framed on the origin connection. */
  framing: BodyFraming;
  /** The body; reading it pushes back the idle deadline. */
  body: BodyReader;
  /**
   * Ends the exchange. With `complete` (the body was read to its end) and a
   * clean exchange the connection goes back to the pool; otherwise it closes.
   *
   * @returns whether the whole request body was sent (if not, the client still
   *   has unread body bytes on its connection).
   */
  finish(complete: boolean): boolean;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const H = 0x48;

/** The origin closed a connection before answering at all. */
class NoResponseError extends Error {}

/** Sends requests to origins over pooled connections. */
export class OriginClient {
  #pool: OriginPool;
  #timeouts: ExchangeTimeouts;

  /** @param pool where connections come from and go back to. */
  constructor(pool: OriginPool, timeouts: ExchangeTimeouts) {
    this.#pool = pool;
    this.#timeouts = timeouts;
  }

  /**
   * Sends `req` and reads the response head.
   *
   * A bodyless idempotent request that finds its reused connection closed by
   * the origin is retried once on a new connection (RFC 9110 §9.2.2).
   *
   * @throws {ProxyError} classified for the client (4xx for a bad request body,
   *   5xx for origin failures).
   */
  async exchange(req: OriginRequest): Promise<OriginResponse> {
    const retryable = req.body === undefined && IDEMPOTENT.has(req.method);
    for (let attempt = 0;; attempt++) {
      // The retry takes a new connection: when an origin drops idle connections
      // it often drops all of them, so the next pooled one is likely dead too.
      const lease = await this.#pool.acquire(req.origin, attempt > 0);
      const { io, reused } = lease;
      const cut = () => io.close();
      req.signal?.addEventListener("abort", cut);
      if (req.signal?.aborted) io.close();
      try {
        const res = await this.#exchangeOn(io, req, lease);
        const finish = res.finish;
        res.finish = (complete) => {
          req.signal?.removeEventListener("abort", cut);
          return finish(complete);
        };
        return res;
      } catch (err) {
        req.signal?.removeEventListener("abort", cut);
        io.close();
        if (reused && retryable && attempt === 0 && isStaleConnection(err)) continue;
        if (err instanceof NoResponseError) {
          throw new ProxyError(
            502,
            "connection_terminated",
            `origin ${originAuthority(req.origin)} closed the connection without answering`,
          );
        }
        throw toProxyError(err, "origin", originAuthority(req.origin));
      }
    }
  }

  async #exchangeOn(io: BufferedConn, req: OriginRequest, lease: Lease): Promise<OriginResponse> {
    const { origin, body } = req;
    // Through an upstream proxy, plain-HTTP requests name the whole URL (and carry its credentials).
    const target = lease.absoluteForm
      ? `${origin.scheme}://${
        formatAuthority(origin.host, origin.port, DEFAULT_PORT[origin.scheme])
      }${req.target}`
      : req.target;
    const fields = lease.proxyAuthorization === undefined
      ? req.fields
      : [...req.fields, ["Proxy-Authorization", lease.proxyAuthorization] as [string, string]];
    const head = serializeRequestHead(req.method, target, fields);
    let firstByte: Deadline | undefined;
    let timedOut = false;
    // (Re)starts the wait for the response head; paused while an upload runs.
    const startResponseClock = () => {
      if (firstByte !== undefined) return firstByte.extend();
      firstByte = new Deadline(this.#timeouts.responseTimeoutMs, () => {
        timedOut = true;
        io.close();
      });
    };

    // Upload state: the body streams in the background while the response head
    // is awaited, because an origin may answer (413, 401) before reading it all.
    let uploadStarted = false, uploaded = body === undefined;
    let clientError: unknown;
    let continueTimer: ReturnType<typeof setTimeout> | undefined;
    const startUpload = (sinkHead: Uint8Array) => {
      clearTimeout(continueTimer);
      if (uploadStarted || body === undefined) return;
      uploadStarted = true;
      firstByte?.clear();
      const sink = bodySink(io, body.framing, sinkHead);
      (async () => {
        for (let first = true;; first = false) {
          let step: IteratorResult<Uint8Array, FieldList | undefined>;
          try {
            if (first && req.onContinue !== undefined) await req.onContinue();
            step = await body.reader.next();
          } catch (err) {
            // The client's side failed (malformed body, or the client left): abandon the origin side.
            clientError = err;
            io.close();
            return;
          }
          if (step.done) {
            await sink.end(step.value);
            break;
          }
          await sink.write(step.value);
        }
        uploaded = true;
        startResponseClock();
      })().catch(() => {
        // A failed write means the origin stopped reading; its response (often an
        // error it sent first) is still read below, and the connection is not reused.
      });
    };

    if (body === undefined) {
      await io.write(head);
      startResponseClock();
      // The origin's time is the loop's: what was put off runs while it answers.
      runIdleWork();
    } else if (req.onContinue === undefined) {
      startUpload(head);
    } else {
      await io.write(head);
      continueTimer = setTimeout(
        () => startUpload(new Uint8Array(0)),
        this.#timeouts.continueTimeoutMs,
      );
      startResponseClock();
    }

    let resHead: ResponseHead;
    try {
      resHead = await this.#readFinalHead(io, req, () => startUpload(new Uint8Array(0)));
    } catch (err) {
      if (clientError !== undefined) throw toProxyError(clientError, "client");
      if (timedOut) {
        throw new ProxyError(
          504,
          "connection_read_timeout",
          `origin ${
            originAuthority(origin)
          } sent no response within ${this.#timeouts.responseTimeoutMs} ms`,
        );
      }
      throw err;
    } finally {
      firstByte?.clear();
      clearTimeout(continueTimer);
    }

    const framing = responseFraming(req.method, resHead);
    let idleTimedOut = false;
    const idle = framing.kind === "none"
      ? undefined
      : new Deadline(this.#timeouts.idleTimeoutMs, () => {
        idleTimedOut = true;
        io.close();
      });
    idle?.clear(); // armed by readBody only while it waits for the origin
    const reader = readBody(io, framing, idle, (err) =>
      idleTimedOut
        ? new ProxyError(
          504,
          "connection_read_timeout",
          `origin ${
            originAuthority(origin)
          } stalled for ${this.#timeouts.idleTimeoutMs} ms in the body`,
        )
        : toProxyError(err, "origin", originAuthority(origin)));

    return {
      head: resHead,
      framing,
      body: reader,
      finish: (complete) => {
        idle?.clear();
        const sent = uploaded && clientError === undefined;
        if (complete && sent && !responseEndsConnection(resHead, framing)) {
          this.#pool.release(origin, io);
        } else {
          io.close();
        }
        return sent;
      },
    };
  }

  async #readFinalHead(
    io: BufferedConn,
    req: OriginRequest,
    onContinue: () => void,
  ): Promise<ResponseHead> {
    for (let first = true;; first = false) {
      const bytes = await io.readHead((b) => b === H);
      if (bytes === null) {
        if (first) throw new NoResponseError();
        throw new UnexpectedEofError("response head");
      }
      const head = parseResponseHead(bytes);
      if (head.status >= 200) return head;
      if (head.status === 101) {
        throw new ProxyError(
          502,
          "http_protocol_error",
          `origin ${originAuthority(req.origin)} switched protocols without being asked`,
        );
      }
      if (head.status === 100) onContinue();
      else await req.onInterim?.(head);
    }
  }
}

function isStaleConnection(err: unknown): boolean {
  return err instanceof NoResponseError || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe;
}
