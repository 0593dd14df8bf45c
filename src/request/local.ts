/**
 * The local step: requests addressed to hoard itself rather than through it —
 * health checks, the Prometheus metrics, the CA certificate.
 *
 * @module
 */

import type { ProxyContext } from "../context.ts";
import { ProxyError } from "../errors.ts";
import { type Exchange, sendText } from "./respond.ts";
import { VERSION } from "../version.ts";
import type { ProxyRequest } from "./read_request.ts";
import { DONE, type Step } from "./step.ts";
import { renderAll } from "../cores/stats.ts";

/**
 * Answers a request for hoard's own address: `/_hoard/health` (and `/healthz`),
 * `/_hoard/metrics`, `/_hoard/ca.pem` when interception is on, `/` with a
 * hint; anything else is 404, since hoard is a proxy, not a server.
 */
export async function local(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  { path }: Extract<Step, { kind: "local" }>,
): Promise<Step> {
  const hasBody = req.framing.kind !== "none";
  ex.record.route = "local";
  const pathOnly = path.split("?")[0]!;
  const page = PAGES[pathOnly];
  if (page === undefined || (pathOnly === "/_hoard/ca.pem" && proxy.interception === undefined)) {
    throw new ProxyError(
      404,
      "http_request_error",
      `${pathOnly} is not served here; hoard is a forward proxy: use it as HTTP_PROXY`,
    );
  }
  if (ex.method !== "GET" && ex.method !== "HEAD") {
    throw new ProxyError(405, "http_request_error", `${ex.method} is not allowed on ${pathOnly}`);
  }
  // hoard's pages read no body: a request that sent one ends its connection,
  // so the body is never taken for the next request.
  if (hasBody) ex.keepAlive = false;
  const [contentType, body] = await page(proxy);
  await sendText(ex, 200, body, contentType === undefined ? [] : [["Content-Type", contentType]]);
  return DONE;
}

type Page = (
  proxy: ProxyContext,
) => [contentType: string | undefined, body: string] | Promise<[string, string]>;

const health: Page = () => [undefined, "ok\n"];

const PAGES: Record<string, Page> = {
  "/": () => [
    undefined,
    `hoard ${VERSION}: a caching forward proxy. Use it as HTTP_PROXY / HTTPS_PROXY.\n`,
  ],
  "/healthz": health,
  "/_hoard/health": health,
  "/_hoard/metrics": async (proxy) => [
    "text/plain; version=0.0.4; charset=utf-8",
    renderAll(proxy, await proxy.threads?.others() ?? []),
  ],
  "/_hoard/ca.pem": (proxy) => ["application/x-pem-file", proxy.interception!.ca.certPem],
};
