/**
 * The pass and fetch steps (src/request/pass.ts) without sockets: the origin
 * is an in-memory client that answers with a response given in advance, the
 * cache a stand-in that records what is invalidated.
 */

import assert from "node:assert/strict";
import { newCounters } from "../../src/cache/counters.ts";
import type { ProxyContext } from "../../src/context.ts";
import { ProxyError } from "../../src/errors.ts";
import { FieldList } from "../../src/http1/fields.ts";
import type { OriginRequest, OriginResponse } from "../../src/origin/client.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { resolveOptions } from "../../src/options.ts";
import type { Target } from "../../src/request/decide.ts";
import { fetchUnshared, pass } from "../../src/request/pass.ts";
import { DONE } from "../../src/request/step.ts";
import { exchange, MemoryClient, originResponse, request, response } from "./_memory_client.ts";

const ORIGIN = { scheme: "http" as const, host: "h.test", port: 80 };

interface World {
  proxy: ProxyContext;
  asked: OriginRequest[];
  invalidated: string[];
  joined: string[];
  counters: ReturnType<typeof newCounters>;
}

/** A proxy whose origin answers `res` to every request. */
function world(res: OriginResponse, { offline = false } = {}): World {
  const asked: OriginRequest[] = [], invalidated: string[] = [], joined: string[] = [];
  const counters = newCounters();
  const proxy = {
    options: resolveOptions({ offline }),
    metrics: new Metrics(),
    origin: {
      exchange(r: OriginRequest) {
        asked.push(r);
        return Promise.resolve(res);
      },
    },
    cache: {
      enabled: true,
      counters,
      invalidate(key: string) {
        invalidated.push(key);
        return Promise.resolve();
      },
      fills: {
        join(id: string) {
          joined.push(id);
          return { fill: { id }, leader: true };
        },
      },
    },
  } as unknown as ProxyContext;
  return { proxy, asked, invalidated, joined, counters };
}

function target(method: string, path: string): Target {
  return {
    origin: ORIGIN,
    path,
    cache: { method, key: `http://h.test${path}`, fields: new FieldList() },
  };
}

Deno.test("pass step: offline, the origin is not asked", async () => {
  const w = world(originResponse(200, []).res, { offline: true });
  const req = request("DELETE http://h.test/x HTTP/1.1\r\nHost: h.test");
  await assert.rejects(
    pass(w.proxy, exchange(new MemoryClient()), req, {
      kind: "pass",
      target: target("DELETE", "/x"),
      why: "method",
    }),
    (e: ProxyError) =>
      e instanceof ProxyError && e.status === 504 && e.message.includes("needs the origin"),
  );
  assert.equal(w.asked.length, 0);
});

Deno.test("pass step: a successful unsafe method invalidates its URL and the same origin's Location and Content-Location", async () => {
  const { res, finished } = originResponse(201, [
    ["Location", "/items/7"],
    ["Content-Location", "http://elsewhere.test/items/7"],
  ], "made");
  const w = world(res);
  const client = new MemoryClient();
  const ex = exchange(client, { method: "POST" });
  const req = request("POST http://h.test/items HTTP/1.1\r\nHost: h.test");
  const next = await pass(w.proxy, ex, req, {
    kind: "pass",
    target: target("POST", "/items"),
    why: "method",
  });
  assert.equal(next, DONE);
  assert.deepEqual(w.invalidated, ["http://h.test/items", "http://h.test/items/7"]);
  assert.deepEqual(w.asked.map((r) => [r.method, r.target]), [["POST", "/items"]]);
  const sent = response(client.text());
  assert.equal(sent.status, "HTTP/1.1 201 Created");
  assert.equal(sent.fields.get("cache-status"), "hoard; fwd=method");
  assert.equal(sent.body, "made");
  assert.deepEqual(finished, [true]);
  assert.deepEqual([ex.record.status, ex.record.bytes], [201, 4]);
});

Deno.test("pass step: a failed unsafe method, or a safe one, invalidates nothing", async () => {
  for (const [method, status] of [["DELETE", 404], ["GET", 200]] as const) {
    const w = world(originResponse(status, [["Location", "/y"]]).res);
    const req = request(`${method} http://h.test/x HTTP/1.1\r\nHost: h.test`);
    const ex = exchange(new MemoryClient(), { method });
    await pass(w.proxy, ex, req, { kind: "pass", target: target(method, "/x"), why: "rule" });
    assert.deepEqual(w.invalidated, [], method);
  }
});

Deno.test("pass step: a pass for another reason than the method says bypass and why", async () => {
  const w = world(originResponse(200, [], "x").res);
  const client = new MemoryClient();
  const req = request("GET http://h.test/x HTTP/1.1\r\nHost: h.test");
  await pass(w.proxy, exchange(client), req, {
    kind: "pass",
    target: target("GET", "/x"),
    why: "no-cache-dir",
  });
  assert.equal(
    response(client.text()).fields.get("cache-status"),
    "hoard; fwd=bypass; detail=no-cache-dir",
  );
});

Deno.test("pass step: a POST's answer that may answer GETs of its URL is led into the cache", async () => {
  const { res } = originResponse(
    200,
    [
      ["Cache-Control", "max-age=60"],
      ["Content-Location", "http://h.test/items"],
    ],
    "made",
    false,
  );
  const w = world(res);
  const client = new MemoryClient();
  const ex = exchange(client, { method: "POST" });
  const req = request("POST http://h.test/items HTTP/1.1\r\nHost: h.test");
  const t = target("POST", "/items");
  const next = await pass(w.proxy, ex, req, {
    kind: "pass",
    target: t,
    why: "method",
    storePost: true,
  });
  assert.equal(next.kind, "lead");
  if (next.kind !== "lead") return;
  assert.equal(next.fwd, "method");
  assert.equal(next.target, t);
  assert.equal(w.joined.length, 1);
  assert.equal(client.text(), "", "the lead step answers the client");
  // A request body the origin did not take leaves the client connection unusable.
  assert.equal(next.res.finish(true), false);
  assert.equal(ex.keepAlive, false);
});

Deno.test("pass step: a POST's answer that names no URL of its own is only relayed", async () => {
  const w = world(originResponse(200, [["Cache-Control", "max-age=60"]], "made").res);
  const req = request("POST http://h.test/items HTTP/1.1\r\nHost: h.test");
  const next = await pass(w.proxy, exchange(new MemoryClient(), { method: "POST" }), req, {
    kind: "pass",
    target: target("POST", "/items"),
    why: "method",
    storePost: true,
  });
  assert.equal(next, DONE);
  assert.deepEqual(w.joined, []);
});

Deno.test("fetch step: relays the origin's answer with the status given, counting its bytes", async () => {
  const w = world(originResponse(200, [], "fetched").res);
  const client = new MemoryClient();
  const req = request("GET http://h.test/x HTTP/1.1\r\nHost: h.test");
  const next = await fetchUnshared(w.proxy, exchange(client), req, {
    kind: "fetch",
    target: target("GET", "/x"),
    status: { fwd: "vary-miss", detail: "vary" },
  });
  assert.equal(next, DONE);
  const sent = response(client.text());
  assert.equal(sent.fields.get("cache-status"), "hoard; fwd=vary-miss; detail=vary");
  assert.equal(sent.body, "fetched");
  assert.equal(w.counters.bytesFromOrigin, 7);
});
