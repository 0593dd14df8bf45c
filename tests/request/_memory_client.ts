/**
 * A client connection in memory, and an exchange on it, for testing steps
 * without sockets: what a step writes to the client is kept and can be read
 * back as text; an origin's response in memory.
 *
 * @module
 */

import { FieldList } from "../../src/http1/fields.ts";
import { parseRequestHead } from "../../src/http1/parse_head.ts";
import { BufferedConn, type ByteStream } from "../../src/io/buffered_conn.ts";
import { interpretRequest, type ProxyRequest } from "../../src/request/read_request.ts";
import type { OriginResponse } from "../../src/origin/client.ts";
import { type Exchange, reasonPhrase } from "../../src/request/respond.ts";

/** A client connection that sends `input` (nothing by default) and keeps what it is sent. */
export class MemoryClient implements ByteStream {
  /** Every write, in order. */
  readonly sent: Uint8Array[] = [];
  #input: Uint8Array;

  /** @param input the bytes the client sends, read once. */
  constructor(input: string = "") {
    this.#input = new TextEncoder().encode(input);
  }

  /** Hands out the client's bytes, then the end of the stream. */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#input.length === 0) return Promise.resolve(null);
    const n = Math.min(p.length, this.#input.length);
    p.set(this.#input.subarray(0, n));
    this.#input = this.#input.subarray(n);
    return Promise.resolve(n);
  }

  /** Keeps a copy of `p`. */
  write(p: Uint8Array): Promise<number> {
    this.sent.push(p.slice());
    return Promise.resolve(p.length);
  }

  /** Nothing to end. */
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to close. */
  close(): void {}

  /** All that was written to the client, decoded. */
  text(): string {
    return new TextDecoder().decode(new Uint8Array(this.sent.flatMap((b) => [...b])));
  }
}

/** The request a client sent as `head` (its lines, without the empty line that ends them). */
export function request(head: string): ProxyRequest {
  return interpretRequest(parseRequestHead(new TextEncoder().encode(head + "\r\n\r\n")));
}

/** An exchange on `client` for a request of `method`, logged under `route`. */
export function exchange(
  client: MemoryClient,
  { method = "GET", route = "miss", minor = 1 as 0 | 1, url = "http://h.test/" } = {},
): Exchange {
  return {
    io: new BufferedConn(client),
    signal: new AbortController().signal,
    method,
    minor,
    keepAlive: true,
    headSent: false,
    record: { method, url, status: 0, bytes: 0, start: 0, route },
  };
}

/** The status line, field lines (lower-case names) and body of the one response in `text`. */
export function response(
  text: string,
): { status: string; fields: Map<string, string>; body: string } {
  const end = text.indexOf("\r\n\r\n");
  const [status, ...lines] = text.slice(0, end).split("\r\n");
  const fields = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: status!, fields, body: text.slice(end + 4) };
}

/**
 * An origin's response with a Content-Length body, as the origin client
 * returns it; `finished` records each finish(), which answers `bodySent`.
 */
export function originResponse(
  status: number,
  lines: [string, string][],
  body = "",
  bodySent = true,
): { res: OriginResponse; finished: boolean[] } {
  const bytes = new TextEncoder().encode(body);
  const fields = new FieldList();
  for (const [n, v] of lines) fields.add(n, v);
  fields.add("Content-Length", String(bytes.length));
  const finished: boolean[] = [];
  const res: OriginResponse = {
    head: { status, reason: reasonPhrase(status), minor: 1, fields },
    framing: { kind: "length", length: bytes.length },
    body: (async function* () {
      if (bytes.length > 0) yield bytes;
      return undefined;
    })(),
    finish(complete) {
      finished.push(complete);
      return bodySent;
    },
  };
  return { res, finished };
}
