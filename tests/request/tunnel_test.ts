/**
 * The tunnel step's refusals (src/request/tunnel.ts), which come before any
 * origin is dialled: a port not allowed, and offline mode. The tunnel itself
 * is tested end to end (tests/e2e/connect_test.ts).
 */

import assert from "node:assert/strict";
import type { ProxyContext } from "../../src/context.ts";
import { ProxyError } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";
import { tunnel } from "../../src/request/tunnel.ts";
import { exchange, MemoryClient, request } from "./_memory_client.ts";

function connect(port: number, offline = false) {
  const proxy = { options: resolveOptions({ offline }) } as unknown as ProxyContext;
  const client = new MemoryClient();
  const ex = exchange(client, { method: "CONNECT", route: "tunnel" });
  const req = request(`CONNECT h.test:${port} HTTP/1.1\r\nHost: h.test:${port}`);
  const origin = { scheme: "http" as const, host: "h.test", port };
  return { client, run: () => tunnel(proxy, ex, req, { kind: "tunnel", origin }) };
}

Deno.test("tunnel step: a port outside connectPorts is refused with 403, nothing written", async () => {
  const { client, run } = connect(25);
  await assert.rejects(
    run(),
    (e: ProxyError) =>
      e instanceof ProxyError && e.status === 403 && e.type === "http_request_denied" &&
      e.message.startsWith("CONNECT to port 25 is not allowed (allowed: 443"),
  );
  assert.equal(client.text(), "");
});

Deno.test("tunnel step: offline, a tunnel is 504 without dialling", async () => {
  const { client, run } = connect(443, true);
  await assert.rejects(
    run(),
    (e: ProxyError) =>
      e.status === 504 && e.message === "offline: a tunnel to h.test:443 needs the origin",
  );
  assert.equal(client.text(), "");
});
