/**
 * The hub and its members as two threads see them — here two caches on one
 * directory in one thread, each with its own channel to the hub, as a
 * worker's would be, and one claim table: one leader per fill key, the leader's body followed
 * from the other (a file while it grows and after its commit, or bytes in
 * memory), late joiners, a leader that disappears, changes seen by both.
 */

import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import { type FillHead, followFill } from "../../src/cache/fill.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { Logger } from "../../src/observe/log.ts";
import { Hub } from "../../src/cores/hub.ts";
import { Member } from "../../src/cores/member.ts";
import { ClaimTable } from "../../src/cores/claims.ts";
import type { FromHub, ToHub } from "../../src/cores/messages.ts";
import { bodyBytes, concat, delay, pendingMeta } from "../cache/_fixtures/entries.ts";

const HEAD: FillHead = {
  status: 200,
  reason: "OK",
  fields: new FieldList(),
  vary: [],
  length: undefined,
};

/** Two caches on one directory, joined through a hub as the main thread and a worker are. */
async function twoThreads(
  fn: (a: Cache, b: Cache, hub: Hub, members: [Member, Member]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-hub-test-" });
  const hub = new Hub();
  const claims = ClaimTable.create(64);
  const logger = new Logger("silent");
  const [ca, cb] = [new MessageChannel(), new MessageChannel()];
  const ma = new Member(ca.port2, claims, hub.join(ca.port1));
  const a = await Cache.open(dir, Number.MAX_SAFE_INTEGER, logger);
  ma.attach(a);
  const idB = hub.join(cb.port1);
  // The other thread's view of the same shared memory.
  const mb = new Member(cb.port2, new ClaimTable(claims.buffer), idB);
  const b = await Cache.open(dir, Number.MAX_SAFE_INTEGER, logger, { joined: mb.index });
  mb.attach(b);
  hub.send(idB, { t: "index", entries: await a.joined.listed() });
  await b.ready;
  try {
    await fn(a, b, hub, [ma, mb]);
  } finally {
    await a.settled();
    await b.settled();
    ma.close();
    mb.close();
    ca.port1.close();
    cb.port1.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Everything a fill's follower reads, copied. */
async function read(fill: Parameters<typeof followFill>[0]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of followFill(fill)) chunks.push(c.slice());
  return concat(chunks);
}

Deno.test("hub: one leader per key; the other thread follows a file body as it grows and after the rename", async () => {
  await twoThreads(async (a, b) => {
    const led = await a.fills.join("k");
    const followed = await b.fills.join("k");
    assert.equal(led.leader, true);
    assert.equal(followed.leader, false);
    const temp = (await a.beginBody())!;
    led.fill.follow(HEAD, temp);
    const bytes = bodyBytes("grows", 900_000);
    const early = (async () => {
      await followed.fill.started;
      return await read(followed.fill);
    })();
    for (let off = 0; off < bytes.length; off += 100_000) {
      await led.fill.write(bytes.subarray(off, off + 100_000));
      await delay(2);
    }
    led.fill.end();
    const meta = pendingMeta("http://hub.test/grows");
    const stored = await a.commit(temp, meta);
    a.fills.remove(led.fill);
    assert.ok(stored !== undefined);
    assert.deepEqual(await early, bytes);
    await followed.fill.settled;
    // One that starts reading only now opens the committed body by its new name.
    assert.deepEqual(await read(followed.fill), bytes);
    // The other thread knows the entry without a look at the disk: its index said "none" before.
    assert.equal((await b.entry(stored.id))?.sha256, stored.sha256);
    // And the key is free again: the next claim leads.
    const next = await b.fills.join("k");
    assert.equal(next.leader, true);
    next.fill.bypass("test");
    b.fills.remove(next.fill);
  });
});

Deno.test("hub: a body in memory reaches a follower that joins late, with every byte and the end", async () => {
  await twoThreads(async (a, b) => {
    const led = await a.fills.join("small");
    assert.equal(led.leader, true);
    const temp = (await a.beginBody(3000))!;
    led.fill.follow({ ...HEAD, length: 3000 }, temp);
    const bytes = bodyBytes("small", 3000);
    await led.fill.write(bytes.subarray(0, 1000));
    await led.fill.write(bytes.subarray(1000, 2000));
    // Joins after two writes: the hub replays them.
    const late = await b.fills.join("small");
    assert.equal(late.leader, false);
    const start = await late.fill.started;
    assert.equal(start.kind, "follow");
    assert.equal(start.kind === "follow" && start.head.length, 3000);
    const reading = read(late.fill);
    await led.fill.write(bytes.subarray(2000));
    led.fill.end();
    await a.commit(temp, pendingMeta("http://hub.test/small"));
    a.fills.remove(led.fill);
    assert.deepEqual(await reading, bytes);
  });
});

Deno.test("hub: when the leading thread is gone its followers fail instead of waiting", async () => {
  await twoThreads(async (a, b, hub) => {
    const led = await a.fills.join("k");
    const temp = (await a.beginBody())!;
    led.fill.follow(HEAD, temp);
    await led.fill.write(bodyBytes("gone", 10_000));
    const followed = await b.fills.join("k");
    assert.equal(followed.leader, false);
    await followed.fill.started;
    hub.leave(0);
    await assert.rejects(read(followed.fill), /the thread serving it stopped/);
    await followed.fill.settled;
    await temp.discard();
  });
});

Deno.test("hub: a removal in one thread is a miss in the other; a response bypassed is bypassed for both", async () => {
  await twoThreads(async (a, b) => {
    const led = await a.fills.join("x");
    const temp = (await a.beginBody(10))!;
    led.fill.follow({ ...HEAD, length: 10 }, temp);
    await led.fill.write(bodyBytes("x", 10));
    led.fill.end();
    const stored = (await a.commit(temp, pendingMeta("http://hub.test/x")))!;
    a.fills.remove(led.fill);
    await delay(30); // entries stored go out in batches, every 10 ms
    assert.ok(await b.entry(stored.id));
    await a.remove(stored.id);
    await delay(10);
    assert.equal(await b.entry(stored.id), undefined);

    const first = b.fills.join("y");
    const second = a.fills.join("y");
    assert.equal(first.leader, true);
    assert.equal(second.leader, false);
    await delay(10); // the leader hears that it is followed
    first.fill.bypass("no-store");
    b.fills.remove(first.fill);
    assert.deepEqual(await second.fill.started, { kind: "bypass", reason: "no-store" });
    await second.fill.settled;

    // A fill over before its leader heard of the follower: the follower looks in the store.
    const lead = b.fills.join("z");
    const late = a.fills.join("z");
    lead.fill.bypass("no-store");
    b.fills.remove(lead.fill);
    assert.deepEqual(await late.fill.started, { kind: "bypass", reason: "stored" });
    await late.fill.settled;
  });
});

Deno.test("hub: changes go to every other thread, uses only to the first (the evicting one)", async () => {
  const hub = new Hub();
  const got: FromHub[][] = [[], [], []];
  const ports = [0, 1, 2].map((i) => {
    const { port1, port2 } = new MessageChannel();
    hub.join(port1);
    port2.onmessage = (e: MessageEvent<FromHub>) => got[i]!.push(e.data);
    return { port1, port2 };
  });
  const say = (i: number, m: ToHub) => ports[i]!.port2.postMessage(m);
  try {
    say(1, { t: "gone", id: "a" });
    say(2, { t: "used", ids: ["b"], at: 5 });
    say(0, { t: "used", ids: ["c"], at: 6 });
    await delay(20);
    assert.deepEqual(got[0], [{ t: "gone", id: "a" }, { t: "used", ids: ["b"], at: 5 }]);
    assert.deepEqual(got[1], []);
    assert.deepEqual(got[2], [{ t: "gone", id: "a" }]);
  } finally {
    for (const p of ports) {
      p.port1.close();
      p.port2.close();
    }
  }
});
