/**
 * The start of a request's way: the listening socket, and one async task per
 * client connection, tracked for shutdown.
 *
 * @module
 */

import { serveConnection } from "./connection.ts";
import type { ClientConnection, ProxyContext } from "./context.ts";
import { oneLine } from "./errors.ts";
import { fieldsOf } from "./headers.ts";
import { serializeResponseHead } from "./http1/serialize.ts";
import { formatAuthority } from "./http1/target.ts";
import { BufferedConn } from "./io/buffered_conn.ts";
import type { Logger } from "./observe/log.ts";
import type { Origin } from "./origin/origin.ts";
import { reasonPhrase } from "./request/respond.ts";

/** The client connections being served, and their tasks. */
export class Connections {
  /** Connections open now. */
  readonly clients: Set<ClientConnection> = new Set();
  /** One task per connection, settled when it ends. */
  readonly tasks: Set<Promise<void>> = new Set();
  #logger: Logger;

  /** @param logger where a connection that fails unexpectedly is logged. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Serves `client` until it ends, tracked (ProxyContext.serve). */
  serve(proxy: ProxyContext, client: ClientConnection, tunnelOrigin?: Origin): Promise<void> {
    this.clients.add(client);
    const task: Promise<void> = serveConnection(proxy, client, tunnelOrigin)
      .catch((err) => this.#logger.log("error", `connection failed: ${oneLine(String(err))}`))
      .finally(() => {
        this.clients.delete(client);
        this.tasks.delete(task);
      });
    this.tasks.add(task);
    return task;
  }
}

/**
 * Accepts connections on `listener` until it is closed at shutdown, refusing
 * clients outside --allow-clients and those over --max-connections.
 */
export async function accept(
  listener: Deno.TcpListener,
  proxy: ProxyContext,
  connections: Connections,
): Promise<void> {
  const { access, logger } = proxy;
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (proxy.closing) return;
      // Out of file descriptors and the like: say so, breathe, go on.
      logger.log("error", `accept failed: ${oneLine(String(err))}`);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    conn.setNoDelay(true);
    const ip = conn.remoteAddr.hostname;
    if (!access.clientAllowed(ip) || connections.clients.size >= proxy.options.maxConnections) {
      refuse(conn, access.clientAllowed(ip) ? 503 : 403, logger);
      continue;
    }
    proxy.serve({
      io: new BufferedConn(conn),
      busy: false,
      abort: new AbortController(),
      peer: formatAuthority(conn.remoteAddr.hostname, conn.remoteAddr.port),
    });
  }
}

/**
 * Answers a connection hoard will not serve — a client outside --allow-clients
 * (403) or one too many (503) — with one response, then closes it.
 */
function refuse(conn: Deno.TcpConn, status: 403 | 503, logger: Logger): void {
  logger.log(
    "warn",
    `refused ${formatAuthority(conn.remoteAddr.hostname, conn.remoteAddr.port)}: ${WHY[status]}`,
  );
  // Half-close and drain a little before closing: closing with the client's
  // request unread would reset the connection and lose the answer.
  (async () => {
    await conn.write(refusal(status));
    await conn.closeWrite();
    const sink = new Uint8Array(16 * 1024);
    const timer = setTimeout(() => conn.close(), 1000);
    try {
      for (let read = 0; read < 1024 * 1024;) {
        const n = await conn.read(sink);
        if (n === null) break;
        read += n;
      }
    } finally {
      clearTimeout(timer);
    }
  })().catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  });
}

const WHY = { 403: "client not allowed", 503: "too many connections" } as const;

/**
 * The whole response a refused connection gets (head and body): it is written
 * before the connection has a reader or an exchange, so not through
 * src/request/respond.ts.
 */
export function refusal(status: 403 | 503): Uint8Array {
  const reason = reasonPhrase(status);
  const body = `${status} ${reason}: ${WHY[status]}\n`;
  const fields = fieldsOf(
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
  );
  if (status === 503) fields.add("Retry-After", "1");
  fields.add("Connection", "close");
  const head = serializeResponseHead(status, reason, fields);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(new TextEncoder().encode(body), head.length);
  return out;
}
