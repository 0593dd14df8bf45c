/**
 * The start of a request's way: the listening socket, and one async task per
 * client connection, tracked for shutdown.
 *
 * @module
 */

import { serveConnection } from "./connection.ts";
import type { ClientConnection, ProxyContext } from "./context.ts";
import { oneLine } from "./errors.ts";
import { formatAuthority } from "./http1/target.ts";
import { BufferedConn } from "./io/buffered_conn.ts";
import type { Logger } from "./observe/log.ts";
import type { Origin } from "./origin/origin.ts";

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
  const why = status === 403 ? "client not allowed" : "too many connections";
  const body = `${status} ${status === 403 ? "Forbidden" : "Service Unavailable"}: ${why}\n`;
  const retry = status === 503 ? "Retry-After: 1\r\n" : "";
  const head = `HTTP/1.1 ${status} ${status === 403 ? "Forbidden" : "Service Unavailable"}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n${retry}Connection: close\r\n\r\n`;
  logger.log(
    "warn",
    `refused ${formatAuthority(conn.remoteAddr.hostname, conn.remoteAddr.port)}: ${why}`,
  );
  // Half-close and drain a little before closing: closing with the client's
  // request unread would reset the connection and lose the answer.
  (async () => {
    await conn.write(new TextEncoder().encode(head + body));
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
