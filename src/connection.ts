/**
 * One client connection: the keep-alive loop that reads a request, decides its
 * route, runs its steps (src/request/machine.ts), and logs it — until the client or the proxy is done.
 *
 * @module
 */

import type { ClientConnection, ProxyContext } from "./context.ts";
import { decide } from "./request/decide.ts";
import { isDisconnect, oneLine, ProxyError, toProxyError } from "./errors.ts";
import { fieldsOf } from "./headers.ts";
import { parseRequestHead } from "./http1/parse_head.ts";
import { serializeResponseHead } from "./http1/serialize.ts";
import { HttpSyntaxError } from "./http1/syntax_error.ts";
import type { BufferedConn } from "./io/buffered_conn.ts";
import type { Origin } from "./origin/origin.ts";
import { Deadline } from "./io/deadline.ts";
import { runSteps } from "./request/machine.ts";
import { interpretRequest, isRequestStart, type ProxyRequest } from "./request/read_request.ts";
import { type Exchange, sendError } from "./request/respond.ts";

// Written from a timer, while the exchange may be anywhere in reading the head.
const REQUEST_TIMEOUT = serializeResponseHead(
  408,
  "Request Timeout",
  fieldsOf(["Content-Length", "0"], ["Connection", "close"]),
);

/** Serves requests on `client` until it closes, errs, times out, or the proxy shuts down. */
export async function serveConnection(
  proxy: ProxyContext,
  client: ClientConnection,
  tunnelOrigin?: Origin,
): Promise<void> {
  const { io } = client;
  const { keepAliveTimeoutMs, headerTimeoutMs } = proxy.options;
  let readingHead = false;
  const deadline = new Deadline(keepAliveTimeoutMs, () => {
    // Idle keep-alive connections just close; a client that started a head
    // and stalled (slowloris) is told why.
    if (readingHead) io.write(REQUEST_TIMEOUT).catch(() => {}).finally(() => io.close());
    else io.close();
  });
  try {
    while (!proxy.closing) {
      client.busy = false;
      readingHead = false;
      deadline.extend(keepAliveTimeoutMs);
      if (io.bufferedLength === 0 && !(await nextRequestArrives(io))) return;
      client.busy = true;
      readingHead = true;
      deadline.extend(headerTimeoutMs);
      const ex: Exchange = {
        io,
        signal: client.abort.signal,
        method: "",
        minor: 1,
        keepAlive: false,
        headSent: false,
        record: {
          method: "-",
          url: "-",
          status: 0,
          bytes: 0,
          start: performance.now(),
          route: "error",
          client: client.peer,
        },
      };
      let bytes: Uint8Array | null = null;
      try {
        bytes = await io.readHead(isRequestStart);
        if (bytes === null) return;
        readingHead = false;
        deadline.clear();
        const head = parseRequestHead(bytes);
        ex.method = ex.record.method = head.method;
        ex.minor = head.minor;
        const req = interpretRequest(head, tunnelOrigin);
        ex.record.url = req.url;
        ex.keepAlive = req.keepAlive && !proxy.closing;
        if (!client.trusted && !isHealthCheck(req)) proxy.access.authenticate(req.head.fields);
        const route = await decide(req, proxy);
        ex.record.route = route.kind;
        if ("target" in route) ex.record.rules = route.target.rules;
        if (route.kind !== "local") proxy.report.requests++;
        await runSteps(proxy, ex, req, route);
      } catch (err) {
        // A head that could not be read: what the client sent is the only clue.
        if (ex.method === "" && proxy.logger.enabled("debug")) {
          proxy.logger.log(
            "debug",
            `unreadable request from ${client.peer ?? "?"}${
              tunnelOrigin ? ` in the tunnel to ${tunnelOrigin.host}:${tunnelOrigin.port}` : ""
            }: ${oneLine(String(err))}; it began ${quoteBytes(bytes ?? io.buffered)}`,
          );
        }
        await fail(proxy, ex, err);
      }
      proxy.logger.request(ex.record);
      proxy.metrics.request(ex.record.route, ex.record.status, ex.record.bytes);
      if (!ex.keepAlive || io.closed) return;
    }
  } finally {
    deadline.clear();
    io.close();
  }
}

/** Waits on an idle connection; false when it ends (closed by either side) before a byte arrives. */
async function nextRequestArrives(io: BufferedConn): Promise<boolean> {
  try {
    return await io.fill();
  } catch (err) {
    if (isDisconnect(err)) return false;
    throw err;
  }
}

/**
 * The error funnel: answer with the error's status if no response has started,
 * otherwise cut the connection so the client sees a truncated response, not a
 * complete-looking wrong one.
 */
async function fail(proxy: ProxyContext, ex: Exchange, err: unknown): Promise<void> {
  // After a failure the rest of the client's bytes cannot be trusted to be framed right.
  ex.keepAlive = false;
  if (isDisconnect(err) && !(err instanceof ProxyError)) {
    ex.record.error ??= "client_closed";
    return;
  }
  const clientSide = err instanceof HttpSyntaxError || ex.method === "";
  const pe = toProxyError(err, clientSide ? "client" : "origin");
  if (pe.type === "proxy_internal_error") {
    proxy.logger.log("error", `${ex.record.method} ${ex.record.url}: ${oneLine(String(err))}`);
    if (err instanceof Error && err.stack) proxy.logger.log("debug", err.stack);
  }
  if (ex.headSent || ex.io.closed) {
    ex.record.error = pe.type;
    ex.record.detail = oneLine(pe.message);
    return;
  }
  try {
    await sendError(ex, pe);
  } catch {
    // The client left while being told; nothing more to do.
  }
}

/** The first 256 bytes of `b` as a JSON string (bytes above 0x7e as \u escapes). */
function quoteBytes(b: Uint8Array): string {
  return JSON.stringify(String.fromCharCode(...b.subarray(0, 256))).replace(
    /[\u007f-\u00ff]/g,
    (c) => `\\u00${c.charCodeAt(0).toString(16)}`,
  );
}

/** Health checks need no credentials: a CI step polls them before it has any. */
function isHealthCheck(req: ProxyRequest): boolean {
  return req.target.form === "origin" &&
    (req.target.path === "/_hoard/health" || req.target.path === "/healthz");
}
