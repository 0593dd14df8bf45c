/**
 * Origins for tests, on 127.0.0.1: a Deno.serve origin that counts requests,
 * and a raw TCP origin that answers with exactly the bytes a test wants.
 *
 * @module
 */

import type { TestCert } from "./tls.ts";

/** What a test origin saw of a request (a Request is unusable after its response). */
export interface SeenRequest {
  /** Method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Request headers. */
  headers: Headers;
}

/** A running test origin. */
export interface TestOrigin {
  /** Port it listens on. */
  port: number;
  /** `http://127.0.0.1:PORT` (or https). */
  url: string;
  /** Requests received so far. */
  readonly requests: SeenRequest[];
  /** Stops it. */
  close(): Promise<void>;
  /** Same as close. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a Deno.serve origin; `tls` makes it https. Requests are recorded in order. */
export function startOrigin(
  handler: (req: Request) => Response | Promise<Response>,
  tls?: TestCert,
): TestOrigin {
  const requests: SeenRequest[] = [];
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
      ...(tls ? { cert: tls.cert, key: tls.key } : {}),
    },
    (req) => {
      const url = new URL(req.url);
      requests.push({
        method: req.method,
        path: url.pathname + url.search,
        headers: new Headers(req.headers),
      });
      return handler(req);
    },
  );
  const port = server.addr.port;
  const close = () => server.shutdown();
  return {
    port,
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A raw origin: every connection is handed to `onConn`; `connections` counts them. */
export interface RawOrigin {
  /** Port it listens on. */
  port: number;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Every byte received, per connection, as text. */
  readonly received: string[];
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
  /** Same as close. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a raw TCP origin. `onConn` gets the connection and a function that
 * reads until the received text matches `until` (or EOF); the text is also
 * kept in `received`.
 */
export function startRawOrigin(
  onConn: (conn: Deno.TcpConn, readUntil: (until: RegExp) => Promise<string>) => Promise<void>,
): RawOrigin {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const open = new Set<Deno.TcpConn>();
  const tasks = new Set<Promise<void>>();
  let connections = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      connections++;
      open.add(conn);
      const index = received.push("") - 1;
      const decoder = new TextDecoder("latin1");
      const buf = new Uint8Array(65536);
      const readUntil = async (until: RegExp): Promise<string> => {
        while (!until.test(received[index]!)) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          received[index] += decoder.decode(buf.subarray(0, n), { stream: true });
        }
        return received[index]!;
      };
      const task = onConn(conn, readUntil).catch(() => {}).finally(() => {
        open.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      });
      tasks.add(task);
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  const close = async () => {
    try {
      listener.close();
    } catch { /* already closed */ }
    for (const c of open) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await loop;
    await Promise.allSettled([...tasks]);
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    received,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Writes all of `text` (latin1) to `conn`. */
export async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** A raw origin that speaks just enough HTTP/1.1 to answer bodyless requests with canned bytes. */
export interface RawHttpOrigin extends RawOrigin {
  /** Every request head received (without the final empty line), in order, across connections. */
  readonly heads: string[];
}

/**
 * Starts a raw origin that reads bodyless request heads one after another on
 * each connection (keep-alive) and writes whatever `respond` returns (latin1)
 * for each. A response containing `Connection: close` ends its connection.
 */
export function startRawHttpOrigin(
  respond: (head: string, index: number) => string,
): RawHttpOrigin {
  const heads: string[] = [];
  const raw = startRawOrigin(async (conn, readUntil) => {
    for (let n = 1;; n++) {
      const text = await readUntil(new RegExp(`^(?:[\\s\\S]*?\\r\\n\\r\\n){${n}}`));
      const parts = text.split("\r\n\r\n");
      if (parts.length - 1 < n) return; // the peer closed before another full head
      const head = parts[n - 1]!;
      const response = respond(head, heads.push(head) - 1);
      await writeText(conn, response);
      if (/^connection:[ \t]*close/im.test(response)) return;
    }
  });
  return Object.assign(raw, { heads });
}
