/**
 * The local step: requests addressed to hoard itself rather than through it.
 *
 * @module
 */

import { ProxyError } from "./errors.ts";
import { type Exchange, sendText } from "./respond.ts";
import { VERSION } from "./version.ts";

/**
 * Answers a request for hoard's own address: `/healthz` for health checks, `/`
 * with a hint; anything else is 404, since hoard is a proxy, not a server.
 */
export async function local(ex: Exchange, path: string): Promise<void> {
  ex.record.route = "local";
  const pathOnly = path.split("?")[0];
  if (pathOnly !== "/" && pathOnly !== "/healthz") {
    throw new ProxyError(
      404,
      "http_request_error",
      `${path} is not served here; hoard is a forward proxy: use it as HTTP_PROXY`,
    );
  }
  if (ex.method !== "GET" && ex.method !== "HEAD") {
    throw new ProxyError(405, "http_request_error", `${ex.method} is not allowed on ${pathOnly}`);
  }
  const text = pathOnly === "/healthz"
    ? "ok\n"
    : `hoard ${VERSION}: a caching forward proxy. Use it as HTTP_PROXY / HTTPS_PROXY.\n`;
  await sendText(ex, 200, text);
}
