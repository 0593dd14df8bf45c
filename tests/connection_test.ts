/**
 * One client connection (src/connection.ts) without sockets: the client's
 * bytes come from memory, the origin is an in-memory stand-in, and what is
 * written back and logged is checked.
 */

import assert from "node:assert/strict";
import { Access } from "../src/access.ts";
import { newCounters } from "../src/cache/counters.ts";
import { serveConnection } from "../src/connection.ts";
import type { ProxyContext } from "../src/context.ts";
import { BufferedConn } from "../src/io/buffered_conn.ts";
import { Logger } from "../src/observe/log.ts";
import { Metrics } from "../src/observe/metrics.ts";
import { RunReport } from "../src/observe/report.ts";
import type { OriginRequest } from "../src/origin/client.ts";
import { resolveOptions } from "../src/options.ts";
import { selfHosts } from "../src/request/decide.ts";
import { Rules } from "../src/rules.ts";
import { MemoryClient, originResponse } from "./request/_memory_client.ts";

/** Serves `input` on one in-memory connection; what the client got, the log lines, the origin's requests. */
async function serve(input: string, logFormat: "text" | "json" = "text") {
  const lines: string[] = [], asked: OriginRequest[] = [];
  const proxy = {
    options: resolveOptions({}),
    closing: false,
    self: { hosts: selfHosts("127.0.0.1"), port: 8080 },
    access: new Access({}),
    rules: new Rules([{ match: { path: "/internal/**" }, ttl: 60 }]),
    // No cache directory: every proxied GET passes to the origin.
    cache: { enabled: false, counters: newCounters() },
    report: new RunReport(),
    logger: new Logger("info", (l) => lines.push(l), logFormat),
    metrics: new Metrics(),
    origin: {
      exchange(r: OriginRequest) {
        asked.push(r);
        return Promise.resolve(originResponse(200, [], "from the origin").res);
      },
    },
  } as unknown as ProxyContext;
  const client = new MemoryClient(input);
  await serveConnection(proxy, {
    io: new BufferedConn(client),
    busy: false,
    abort: new AbortController(),
    peer: "127.0.0.1:5000",
  });
  return { sent: client.text(), lines, asked };
}

const request = (target: string) => `GET ${target} HTTP/1.1\r\nHost: h.test\r\n\r\n`;

Deno.test("connection: pipelined requests are answered in order on one connection, one log line each", async () => {
  const { sent, lines } = await serve(request("/_hoard/health") + request("/healthz"));
  assert.equal(sent.match(/^HTTP\/1\.1 200 OK\r\n/gm)?.length, 2);
  assert.equal(lines.length, 2);
  for (const [i, path] of ["/_hoard/health", "/healthz"].entries()) {
    assert.match(lines[i]!, new RegExp(`Z GET ${path} 200 3B \\d+\\.\\dms local$`));
  }
});

Deno.test("connection: a request that cannot be read is answered 400 and ends the connection", async () => {
  const { sent, lines } = await serve("NOT HTTP\r\n\r\n" + request("/healthz"));
  assert.match(sent, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(sent, /\r\nConnection: close\r\n/);
  assert.equal(sent.match(/^HTTP\/1\.1 /gm)?.length, 1, "the next request is not read");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, / - - 400 \d+B \S+ error error=http_request_error$/);
});

Deno.test("connection: the log line names the rule that decided, and only then", async () => {
  const input = request("http://h.test/pkg/-/pkg-1.0.0.tgz") + request("http://h.test/internal/x") +
    request("http://h.test/plain");
  for (const format of ["text", "json"] as const) {
    const { lines, asked } = await serve(input, format);
    assert.deepEqual(asked.map((r) => r.target), ["/pkg/-/pkg-1.0.0.tgz", "/internal/x", "/plain"]);
    if (format === "text") {
      assert.match(lines[0]!, / 200 15B \S+ pass rule="npm tarball"$/);
      assert.match(lines[1]!, / 200 15B \S+ pass rule="rules\[0\]"$/);
      assert.match(lines[2]!, / 200 15B \S+ pass$/);
    } else {
      const logged = lines.map((l) => JSON.parse(l));
      assert.deepEqual(logged.map((l) => l.rule), ["npm tarball", "rules[0]", undefined]);
      assert.deepEqual(logged.map((l) => l.cacheStatus), [
        "hoard; fwd=bypass; detail=no-cache-dir",
        "hoard; fwd=bypass; detail=no-cache-dir",
        "hoard; fwd=bypass; detail=no-cache-dir",
      ]);
    }
  }
});
