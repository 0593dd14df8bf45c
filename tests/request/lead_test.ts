/**
 * The lead step without sockets: the client of a small miss is answered before
 * its entry is committed, and a request that comes meanwhile waits for the
 * fill instead of asking the origin again.
 */

import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import type { ProxyContext } from "../../src/context.ts";
import { Logger } from "../../src/observe/log.ts";
import { RunReport } from "../../src/observe/report.ts";
import type { OriginResponse } from "../../src/origin/client.ts";
import { resolveOptions } from "../../src/options.ts";
import { decide, selfHosts } from "../../src/request/decide.ts";
import { runSteps } from "../../src/request/machine.ts";
import { Access } from "../../src/access.ts";
import { Rules } from "../../src/rules.ts";
import { exchange, MemoryClient, originResponse, request } from "./_memory_client.ts";

const URL = "http://h.test/small.bin";
const BODY = "x".repeat(1024);

/** An origin that answers every request with BODY, counting them. */
function fakeOrigin(): { exchanges: number; exchange: () => Promise<OriginResponse> } {
  const o = {
    exchanges: 0,
    exchange: () => {
      o.exchanges++;
      return Promise.resolve(originResponse(200, [["Cache-Control", "max-age=600"]], BODY).res);
    },
  };
  return o;
}

async function serve(proxy: ProxyContext): Promise<{ text: string; cacheStatus: string }> {
  const client = new MemoryClient();
  const req = request(`GET ${URL} HTTP/1.1\r\nHost: h.test`);
  await runSteps(proxy, exchange(client, { route: "-", url: URL }), req, await decide(req, proxy));
  const text = client.text();
  return { text, cacheStatus: /\r\nCache-Status: ([^\r]*)\r\n/.exec(text)?.[1] ?? "" };
}

Deno.test("lead step: a small miss is answered before its commit; a request meanwhile is not fetched again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-lead-" });
  try {
    const cache = await Cache.open(dir, 1 << 30, new Logger("silent"));
    await cache.ready;
    const origin = fakeOrigin();
    const proxy = {
      options: resolveOptions({}),
      cache,
      origin,
      report: new RunReport(),
      logger: new Logger("silent"),
      metrics: { originLatency: () => {} },
      self: { hosts: selfHosts("127.0.0.1"), port: 8080 },
      rules: new Rules(),
      access: new Access({}),
    } as unknown as ProxyContext;
    // The commit waits until the test lets it go.
    const commitStarted = Promise.withResolvers<void>();
    const letCommit = Promise.withResolvers<void>();
    const commit = cache.commit.bind(cache);
    cache.commit = async (...args) => {
      commitStarted.resolve();
      await letCommit.promise;
      return commit(...args);
    };

    const first = await serve(proxy);
    assert.ok(first.text.endsWith(`\r\n\r\n${"x".repeat(1024)}`), "the whole body was sent");
    assert.equal(first.cacheStatus, "hoard; fwd=uri-miss; stored");
    await commitStarted.promise;
    assert.equal(cache.counters.stored, 0, "answered before the commit");
    assert.equal(cache.fills.size, 1, "the fill stays open until it is committed");

    // A request meanwhile joins the fill (the body is whole, in memory): it
    // waits for the commit and is served as the hit it then is, not fetched again.
    let answered = false;
    const during = serve(proxy).finally(() => answered = true);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(answered, false);
    assert.equal(origin.exchanges, 1, "one origin request for the URL");

    letCommit.resolve();
    const got = await during;
    assert.ok(got.text.endsWith(`\r\n\r\n${"x".repeat(1024)}`));
    assert.match(got.cacheStatus, /^hoard; hit; ttl=\d+$/);
    await cache.settled();
    assert.equal(cache.counters.stored, 1);
    assert.equal(cache.fills.size, 0);
    const after = await serve(proxy);
    assert.match(after.cacheStatus, /^hoard; hit; ttl=\d+$/);
    assert.equal(origin.exchanges, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
