/**
 * Streaming message bodies: reading one off a connection by its framing, and
 * writing one onto a connection in a framing. Every step awaits the write
 * before the next read, so a slow reader slows the writer and memory stays at
 * one buffer per direction.
 *
 * @module
 */

import { ChunkedDecoder, LAST_CHUNK } from "../http1/chunked.ts";
import type { FieldList } from "../http1/fields.ts";
import type { BodyFraming } from "../http1/framing.ts";
import { chunkFrame, encodeLatin1, fieldBlock } from "../http1/serialize.ts";
import {
  type BufferedConn,
  JOIN_BYTES,
  READ_BUFFER_BYTES,
  UnexpectedEofError,
} from "./buffered_conn.ts";
import type { Deadline } from "./deadline.ts";

/** A body being read: views of the read buffer, each valid until the next step; returns trailers. */
export type BodyReader = AsyncGenerator<Uint8Array, FieldList | undefined, void>;

/**
 * Reads a body framed by `framing` from `io`. `deadline`, when given, is
 * pushed back whenever bytes arrive, so it bounds the time between reads.
 * `mapError`, when given, turns what the read throws into what the reader
 * throws (an origin's failure into the client's answer).
 *
 * One generator, the framings inline: each generator stacked on another
 * costs its own promise hops on every step, and a small response is read in
 * two steps on the way to its client.
 *
 * @throws {UnexpectedEofError} when the connection closes before the body ends.
 * @throws {import("../http1/syntax_error.ts").HttpSyntaxError} on bad chunk framing.
 */
export async function* readBody(
  io: BufferedConn,
  framing: BodyFraming,
  deadline?: Deadline,
  mapError?: (err: unknown) => unknown,
): BodyReader {
  if (framing.kind === "none") return undefined;
  // The deadline runs only while waiting for the peer: time the consumer
  // spends writing elsewhere (a slow client) is not the peer's silence.
  const more = async (): Promise<boolean> => {
    deadline?.extend();
    try {
      return await io.fill();
    } finally {
      deadline?.clear();
    }
  };
  const large = framing.kind !== "length" ||
    framing.length > io.bufferedLength + READ_BUFFER_BYTES;
  if (large) io.beginStream();
  try {
    switch (framing.kind) {
      case "length": {
        let remaining = framing.length;
        while (remaining > 0) {
          if (io.bufferedLength === 0 && !(await more())) throw new UnexpectedEofError("body");
          const view = io.buffered;
          const take = Math.min(view.length, remaining);
          io.consume(take);
          remaining -= take;
          yield view.subarray(0, take);
        }
        return undefined;
      }
      case "chunked": {
        const decoder = new ChunkedDecoder();
        const out: Uint8Array[] = [];
        while (!decoder.done) {
          if (io.bufferedLength === 0 && !(await more())) {
            throw new UnexpectedEofError("chunked body");
          }
          io.consume(decoder.decode(io.buffered, out));
          for (const data of out) yield data;
          out.length = 0;
        }
        return decoder.trailers;
      }
      case "close":
        for (;;) {
          if (io.bufferedLength === 0 && !(await more())) return undefined;
          const view = io.buffered;
          io.consume(view.length);
          yield view;
        }
    }
    return undefined;
  } catch (err) {
    throw mapError === undefined ? err : mapError(err);
  } finally {
    if (large) io.endStream();
  }
}

/** Where a body goes: written chunk by chunk, then ended (with trailers, if chunked). */
export interface BodySink {
  /** Writes the next piece of the body. */
  write(data: Uint8Array): Promise<void>;
  /** Finishes the body; trailers are sent only in chunked framing. */
  end(trailers?: FieldList): Promise<void>;
  /** Body bytes written so far (without framing). */
  readonly bytes: number;
}

/**
 * A sink writing a body in `framing` to `io`, preceded by `head` (bytes, or
 * text of one char per byte), which is held back and sent together with the
 * first piece of the body.
 */
export function bodySink(
  io: BufferedConn,
  framing: BodyFraming,
  head: Uint8Array | string,
): BodySink {
  return new FramedSink(io, framing.kind === "chunked", head);
}

// A class rather than closures: one object per response (this is on every hit).
class FramedSink implements BodySink {
  #bytes = 0;
  #io: BufferedConn;
  #chunked: boolean;
  #pendingHead: Uint8Array | string | undefined;
  // Reused for every chunk frame: each write completes before the next starts.
  #scratch: Uint8Array | undefined;

  constructor(io: BufferedConn, chunked: boolean, head: Uint8Array | string) {
    this.#io = io;
    this.#chunked = chunked;
    this.#pendingHead = head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async write(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    let out = data;
    if (this.#chunked) {
      if (this.#scratch === undefined || this.#scratch.length < data.length + 20) {
        this.#scratch = new Uint8Array(data.length + 20);
      }
      out = chunkFrame(data, this.#scratch);
    }
    await this.#send(out);
    this.#bytes += data.length;
  }

  async end(trailers?: FieldList): Promise<void> {
    if (this.#chunked) {
      const last = trailers === undefined || trailers.size === 0
        ? LAST_CHUNK
        : encodeLatin1(`0\r\n${fieldBlock(trailers)}\r\n`);
      await this.#send(last);
    } else if (this.#pendingHead !== undefined) {
      await this.#send(new Uint8Array(0));
    }
  }

  async #send(data: Uint8Array): Promise<void> {
    const h = this.#pendingHead;
    if (h === undefined) return this.#io.write(data);
    this.#pendingHead = undefined;
    // A head and a body piece this small go out in one write: one syscall and
    // one packet instead of two for the typical small response.
    if (data.length + h.length <= JOIN_BYTES) return this.#io.writeJoined(h, data);
    await this.#io.write(typeof h === "string" ? encodeLatin1(h) : h);
    await this.#io.write(data);
  }
}

/** Copies a body from `reader` to `sink`, ending the sink with the body's trailers. */
export async function pipeBody(reader: BodyReader, sink: BodySink): Promise<void> {
  for (;;) {
    const step = await reader.next();
    if (step.done) return sink.end(step.value);
    await sink.write(step.value);
  }
}
