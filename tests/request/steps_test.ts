/**
 * Steps one at a time, without sockets or a cache directory: each is given a
 * step and its request, on a cache over the in-memory store, and what it
 * returns (the next step) or writes to an in-memory client connection is
 * checked.
 */

import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import type { FillHead } from "../../src/cache/fill.ts";
import { MemoryStore } from "../../src/cache/memory_store.ts";
import type { ResponseMeta } from "../../src/cache/meta.ts";
import type { ProxyContext } from "../../src/context.ts";
import { ProxyError } from "../../src/errors.ts";
import { Logger } from "../../src/observe/log.ts";
import { RunReport } from "../../src/observe/report.ts";
import { type ProxyOptions, resolveOptions } from "../../src/options.ts";
import { decide, selfHosts, type Target } from "../../src/request/decide.ts";
import { follow } from "../../src/request/follow.ts";
import { deliver, hit, stale } from "../../src/request/hit.ts";
import { runSteps } from "../../src/request/machine.ts";
import type { Step } from "../../src/request/step.ts";
import { Access } from "../../src/access.ts";
import { Rules } from "../../src/rules.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { bodyBytes, commitBytes, concat, delay, pendingMeta } from "../cache/_fixtures/entries.ts";
import { exchange, MemoryClient, request } from "./_memory_client.ts";

const URL = "http://h.test/pkg.tgz";
const BODY = new TextEncoder().encode("the stored body\n");

interface World {
  proxy: ProxyContext;
  cache: Cache;
  entry: ResponseMeta;
}

async function withWorld(options: ProxyOptions, fn: (w: World) => Promise<void>): Promise<void> {
  const cache = await Cache.open(new MemoryStore(), 1 << 30, new Logger("silent"));
  const entry = (await commitBytes(cache, pendingMeta(URL), BODY))!;
  // Only what the steps under test use.
  const proxy = {
    options: resolveOptions(options),
    cache,
    report: new RunReport(),
    self: { hosts: selfHosts("127.0.0.1"), port: 8080 },
    rules: new Rules(),
    access: new Access({}),
  } as unknown as ProxyContext;
  await fn({ proxy, cache, entry });
  await cache.settled();
}

const GET = `GET ${URL} HTTP/1.1\r\nHost: h.test`;

Deno.test("hit step: delivers the entry decided, and says a miss comes if its body is gone", () =>
  withWorld({}, async ({ proxy }) => {
    const req = request(GET);
    const route = await decide(req, proxy);
    assert.equal(route.kind, "hit");
    if (route.kind !== "hit") return;
    const next = await hit(
      proxy,
      exchange(new MemoryClient(), { route: "hit", url: URL }),
      req,
      route,
    );
    assert.equal(next.kind, "deliver");
    if (next.kind !== "deliver") return;
    assert.deepEqual(next.status, { hit: true, ttl: route.ttl });
    assert.equal(next.count, true);
    assert.deepEqual(next.otherwise, {
      kind: "miss",
      target: route.target,
      id: route.entry.id,
      vary: false,
      fwd: "uri-miss",
    });
  }));

Deno.test("deliver step: sends the stored response with Age, Via and Cache-Status; counts a hit", () =>
  withWorld({}, async ({ proxy, cache, entry }) => {
    const client = new MemoryClient();
    const ex = exchange(client, { route: "hit", url: URL });
    const step: Extract<Step, { kind: "deliver" }> = {
      kind: "deliver",
      entry,
      age: 5,
      status: { hit: true, ttl: 3595 },
      count: true,
      otherwise: { kind: "done" },
    };
    assert.deepEqual(await deliver(proxy, ex, request(GET), step), { kind: "done" });
    const text = client.text();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nAge: 5\r\n/);
    assert.match(text, /\r\nCache-Status: hoard; hit; ttl=3595\r\n/);
    assert.match(text, /\r\nContent-Length: 16\r\n/);
    assert.ok(text.endsWith("\r\n\r\nthe stored body\n"));
    assert.equal(cache.counters.hits, 1);
    assert.equal(cache.counters.bytesFromCache, BODY.length);
    assert.equal(ex.record.status, 200);
  }));

Deno.test("deliver step: a body gone from the store sends nothing; the hit is logged as the miss it becomes", () =>
  withWorld({}, async ({ proxy, cache, entry }) => {
    await cache.remove(entry.id);
    const client = new MemoryClient();
    const ex = exchange(client, { route: "hit", url: URL });
    const target = { path: "/pkg.tgz" } as Target;
    const otherwise: Step = { kind: "miss", target, id: entry.id, vary: false, fwd: "uri-miss" };
    const next = await deliver(proxy, ex, request(GET), {
      kind: "deliver",
      entry,
      age: 0,
      status: { hit: true, ttl: 3600 },
      count: true,
      otherwise,
    });
    assert.equal(next, otherwise);
    assert.equal(ex.record.route, "miss");
    assert.equal(client.sent.length, 0);
    assert.equal(cache.counters.hits, 0);
  }));

Deno.test("stale step: serves the stored response in place of a failing origin, or a 502 if it is gone", () =>
  withWorld({}, async ({ proxy, cache, entry }) => {
    const ex = exchange(new MemoryClient(), { route: "revalidate", url: URL });
    const next = await stale(proxy, ex, request(GET), {
      kind: "stale",
      entry,
      status: 503,
      fwd: "stale",
    });
    assert.equal(cache.counters.staleServed, 1);
    assert.equal(next.kind, "deliver");
    if (next.kind !== "deliver") return;
    assert.deepEqual(next.status, { fwd: "stale", fwdStatus: 503, detail: "stale-if-error" });
    assert.equal(next.count, false);
    assert.equal(next.otherwise.kind, "synth");
    if (next.otherwise.kind === "synth") assert.equal(next.otherwise.error.status, 502);
  }));

Deno.test("stale step: a response stored for other credentials is never served in their place", () =>
  withWorld({ tenancy: "shared" }, async ({ proxy, entry }) => {
    const ex = exchange(new MemoryClient(), { route: "revalidate", url: URL });
    const step: Step = {
      kind: "stale",
      entry: { ...entry, credentialed: true },
      status: 500,
      fwd: "stale",
    };
    await assert.rejects(
      () => stale(proxy, ex, request(GET), step),
      (err) => err instanceof ProxyError && err.status === 502,
    );
  }));

Deno.test("runSteps: runs until done; a synth step goes to the caller's error funnel", () =>
  withWorld({}, async ({ proxy, entry }) => {
    const client = new MemoryClient();
    const error = new ProxyError(502, "destination_unavailable", "gone");
    // deliver → (body gone) → synth: the error reaches the caller.
    await proxy.cache.remove(entry.id);
    await assert.rejects(
      () =>
        runSteps(proxy, exchange(client, { route: "revalidate", url: URL }), request(GET), {
          kind: "deliver",
          entry,
          age: 0,
          status: { fwd: "stale", fwdStatus: 500, detail: "stale-if-error" },
          count: false,
          otherwise: { kind: "synth", error },
        }),
      (err) => err === error,
    );
    await runSteps(proxy, exchange(client, { route: "hit", url: URL }), request(GET), {
      kind: "done",
    });
    assert.equal(client.sent.length, 0);
  }));

const NEW_URL = "http://h.test/new.tgz";
const GET_NEW = `GET ${NEW_URL} HTTP/1.1\r\nHost: h.test`;

/** The miss decided for `head`, and the fill a leader started for it. */
async function fillFor(proxy: ProxyContext, head: string) {
  const req = request(head);
  const route = await decide(req, proxy);
  assert.equal(route.kind, "miss");
  if (route.kind !== "miss") throw new Error("not a miss");
  const { fill, leader } = proxy.cache.fills.join(route.id);
  assert.ok(leader);
  return { req, target: route.target, fill };
}

Deno.test("follow step: a follower reads the fill as it grows in the store, to its last byte", () =>
  withWorld({}, async ({ proxy, cache }) => {
    const { req, target, fill } = await fillFor(proxy, GET_NEW);
    const bytes = bodyBytes("growing", 300_000);
    const fields = new FieldList();
    fields.add("Content-Length", String(bytes.length));
    const head: FillHead = { status: 200, reason: "OK", fields, length: bytes.length, vary: [] };
    const body = (await cache.beginBody())!;
    fill.follow(head, body);
    const client = new MemoryClient();
    const following = follow(proxy, exchange(client, { route: "miss", url: URL }), req, {
      kind: "follow",
      target,
      fill,
      fwd: "uri-miss",
    });
    // The leader writes in pieces; the follower is waiting before the first one.
    for (let off = 0; off < bytes.length; off += 70_000) {
      await delay(1);
      await fill.write(bytes.subarray(off, off + 70_000));
    }
    fill.end();
    await cache.commit(body, pendingMeta(NEW_URL));
    cache.fills.remove(fill);
    assert.deepEqual(await following, { kind: "done" });

    const all = concat(client.sent);
    const text = new TextDecoder().decode(all.subarray(0, 1000));
    const start = text.indexOf("\r\n\r\n") + 4;
    const headText = text.slice(0, start);
    assert.match(headText, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(headText, /\r\nContent-Length: 300000\r\n/);
    assert.match(headText, /\r\nCache-Status: hoard; fwd=uri-miss; stored; collapsed\r\n/);
    assert.ok(all.subarray(start).length === bytes.length, "every byte sent");
    assert.ok(all.subarray(start).every((b, i) => b === bytes[i]), "in order");
    assert.equal(cache.counters.misses, 1);
  }));

Deno.test("follow step: a follower that finds the fill's body complete is answered as a hit once it is committed", () =>
  withWorld({}, async ({ proxy, cache }) => {
    const { req, target, fill } = await fillFor(proxy, GET_NEW);
    const body = (await cache.beginBody(BODY.length))!;
    fill.follow({ status: 200, reason: "OK", fields: new FieldList(), vary: [] }, body);
    await fill.write(BODY);
    fill.end();
    const step = { kind: "follow", target, fill, fwd: "uri-miss" } as const;
    const next = follow(
      proxy,
      exchange(new MemoryClient(), { route: "miss", url: URL }),
      req,
      step,
    );
    const stored = await cache.commit(body, pendingMeta(NEW_URL));
    cache.fills.remove(fill);
    const got = await next;
    assert.equal(got.kind, "deliver");
    if (got.kind !== "deliver") return;
    assert.deepEqual(got.entry, stored);
    assert.deepEqual(got.otherwise, { ...step, retried: true });
    assert.equal(cache.counters.misses, 0);
  }));
