/**
 * The tunnel step: CONNECT host:port, then bytes both ways until both sides
 * are done (RFC 9110 §9.3.6) — or, for a host hoard intercepts, the intercept
 * step. A plain tunnel carries bytes it cannot read: nothing in it is cached.
 *
 * @module
 */

import type { ProxyContext } from "../context.ts";
import { ProxyError } from "../errors.ts";
import { BufferedConn } from "../io/buffered_conn.ts";
import { dial } from "../origin/dial.ts";
import { ESTABLISHED, type Exchange } from "./respond.ts";
import type { ProxyRequest } from "./read_request.ts";
import { DONE, type Step } from "./step.ts";

/**
 * Opens a tunnel to `origin` for the client of `ex`. The client connection is
 * used up: afterwards it carries the tunnel and is closed with it.
 *
 * @throws {ProxyError} 403 for a port not in `connectPorts`, 502/504 when the
 *   target cannot be reached (before anything was sent to the client).
 */
export async function tunnel(
  proxy: ProxyContext,
  ex: Exchange,
  _req: ProxyRequest,
  { origin }: Extract<Step, { kind: "tunnel" }>,
): Promise<Step> {
  const { connectPorts, connectTimeoutMs } = proxy.options;
  if (!connectPorts.includes(origin.port)) {
    throw new ProxyError(
      403,
      "http_request_denied",
      `CONNECT to port ${origin.port} is not allowed (allowed: ${connectPorts.join(", ")})`,
    );
  }
  const interception = proxy.interception;
  if (interception?.matches(origin.host)) return { kind: "intercept", origin, interception };
  if (proxy.options.offline) {
    throw new ProxyError(
      504,
      "http_request_error",
      `offline: a tunnel to ${origin.host}:${origin.port} needs the origin`,
    );
  }
  // A tunnel carries TLS in nearly every case: it goes through the HTTPS proxy.
  const dialed = await dial(
    { ...origin, scheme: "https" },
    { connectTimeoutMs, upstream: proxy.upstream, denyPrivate: proxy.options.denyPrivate },
    "tunnel",
  );
  const upstream = new BufferedConn(dialed.conn);
  const cut = () => upstream.close();
  ex.signal.addEventListener("abort", cut);
  ex.keepAlive = false;
  ex.record.status = 200;
  ex.headSent = true;
  try {
    await ex.io.write(ESTABLISHED);
    // Both directions run to their end; a half-close on one side is passed on
    // (closeWrite) while the other keeps flowing.
    const [up, down] = await Promise.allSettled([relay(ex.io, upstream), relay(upstream, ex.io)]);
    ex.record.bytes = down.status === "fulfilled" ? down.value : 0;
    if (up.status === "rejected" || down.status === "rejected") {
      ex.record.error = "connection_terminated";
    }
  } finally {
    ex.signal.removeEventListener("abort", cut);
    upstream.close();
    ex.io.close();
  }
  return DONE;
}

/** Copies `from` to `to` until `from` ends, then half-closes `to`. Returns bytes copied. */
async function relay(from: BufferedConn, to: BufferedConn): Promise<number> {
  let bytes = 0;
  try {
    for (;;) {
      const view = from.buffered;
      if (view.length > 0) {
        await to.write(view);
        from.consume(view.length);
        bytes += view.length;
      }
      if (!(await from.fill())) break;
    }
    await to.conn.closeWrite();
    return bytes;
  } catch (err) {
    // One side failed: end both, so the other direction stops too.
    from.close();
    to.close();
    throw err;
  }
}
