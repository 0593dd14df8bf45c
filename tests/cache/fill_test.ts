import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import { Fill, type FillHead, Fills, followFill } from "../../src/cache/fill.ts";
import type { BodyWriter } from "../../src/cache/body_store.ts";
import type { DiskBody } from "../../src/cache/disk_body.ts";
import { DiskStore } from "../../src/cache/disk_store.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { Logger } from "../../src/observe/log.ts";
import { bodyBytes, concat, delay, exists, pendingMeta } from "./_fixtures/entries.ts";

const HEAD: FillHead = { status: 200, reason: "OK", fields: new FieldList(), vary: [] };

/** Runs `fn` with a store in a fresh temp directory, removed afterwards. */
async function withStore(fn: (store: DiskStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-fill-test-" });
  try {
    await fn(await DiskStore.open(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A fill following a new body of `store`. */
async function startFill(store: DiskStore, key = "k"): Promise<{ fill: Fill; temp: DiskBody }> {
  const fill = new Fill(key);
  const temp = await store.beginBody();
  fill.follow(HEAD, temp);
  return { fill, temp };
}

/** Everything `followFill` yields, copied (its chunks are reused views), optionally slowly. */
async function follow(fill: Fill, pauseMs = 0): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of followFill(fill)) {
    chunks.push(chunk.slice());
    if (pauseMs > 0) await delay(pauseMs);
  }
  return concat(chunks);
}

/** Writes `bytes` to `fill` in pieces of the given sizes (cycled), pausing between them. */
async function trickle(
  fill: Fill,
  bytes: Uint8Array,
  sizes: number[],
  pauseMs: number,
): Promise<void> {
  let off = 0;
  for (let i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    await fill.write(bytes.subarray(off, off + n));
    off += n;
    await delay(pauseMs);
  }
}

Deno.test("Fills.join makes the first caller the leader and the others followers", () => {
  const fills = new Fills();
  const a = fills.join("a");
  assert.equal(a.leader, true);
  assert.equal(a.fill.key, "a");
  assert.equal(a.fill.followers, 1);
  const a2 = fills.join("a");
  assert.equal(a2.leader, false);
  assert.equal(a2.fill, a.fill);
  assert.equal(a.fill.followers, 2);
  const b = fills.join("b");
  assert.equal(b.leader, true);
  assert.notEqual(b.fill, a.fill);
  assert.equal(fills.size, 2);

  fills.remove(a.fill);
  assert.equal(fills.size, 1);
  // A later request for the key leads a new fill; removing the old one again leaves it alone.
  const a3 = fills.join("a");
  assert.equal(a3.leader, true);
  assert.notEqual(a3.fill, a.fill);
  fills.remove(a.fill);
  assert.equal(fills.size, 2);
  assert.equal(fills.join("a").fill, a3.fill);
});

Deno.test("Fill.started says follow with the head once the response is announced", async () => {
  await withStore(async (store) => {
    const { fill, temp } = await startFill(store);
    assert.deepEqual(await fill.started, { kind: "follow", head: HEAD });
    assert.equal(fill.written, 0);
    assert.equal(fill.done, false);
    assert.equal(fill.error, undefined);
    // Followers read the body announced.
    await fill.write(bodyBytes("head", 10));
    fill.end();
    assert.deepEqual(await follow(fill), bodyBytes("head", 10));
    await temp.discard();
  });
});

Deno.test("Fill.bypass resolves started and ends the fill", async () => {
  const fill = new Fill("k");
  fill.bypass("vary");
  assert.deepEqual(await fill.started, { kind: "bypass", reason: "vary" });
  assert.equal(fill.done, true);
  // No body to follow: a follower gets nothing.
  assert.deepEqual(await follow(fill), new Uint8Array(0));
});

Deno.test("Fill.fail before the response resolves started as a bypass", async () => {
  const fill = new Fill("k");
  const err = new Error("connection refused");
  fill.fail(err);
  assert.deepEqual(await fill.started, { kind: "bypass", reason: "origin failed" });
  assert.equal(fill.error, err);
  const other = new Fill("k2");
  other.fail(undefined);
  assert.ok(other.error instanceof Error);
});

Deno.test("Fill.changed resolves at the next write, end or failure", async () => {
  await withStore(async (store) => {
    const { fill, temp } = await startFill(store);
    let woken = 0;
    const wait = () => fill.changed().then(() => woken++);
    const w1 = [wait(), wait()];
    await delay(1);
    assert.equal(woken, 0);
    await fill.write(new Uint8Array(3));
    await Promise.all(w1);
    assert.equal(woken, 2);
    assert.equal(fill.written, 3);
    const w2 = wait();
    fill.end();
    await w2;
    assert.equal(fill.done, true);
    const w3 = wait();
    fill.fail(new Error("late"));
    await w3;
    assert.equal(woken, 4);
    await temp.discard();
  });
});

Deno.test("followFill yields every byte in order while the fill writes slowly", async () => {
  await withStore(async (store) => {
    const { fill, temp } = await startFill(store);
    // Pieces smaller and larger than the follower's 256 KiB read buffer.
    const bytes = bodyBytes("slow", 1_500_000);
    const followers = [follow(fill), follow(fill), follow(fill, 3)];
    await delay(5); // all are waiting for the first byte
    await trickle(fill, bytes, [1, 1000, 65_536, 7, 300_000, 4096], 2);
    fill.end();
    for (const got of await Promise.all(followers)) {
      assert.equal(got.length, bytes.length);
      assert.deepEqual(got, bytes);
    }
    await temp.discard();
  });
});

Deno.test("followFill started after the fill is done reads everything", async () => {
  await withStore(async (store) => {
    const { fill, temp } = await startFill(store);
    const bytes = bodyBytes("done", 600_000);
    await trickle(fill, bytes, [100_000], 0);
    fill.end();
    assert.deepEqual(await follow(fill), bytes);
    // An empty body too.
    const empty = await startFill(store, "empty");
    empty.fill.end();
    assert.deepEqual(await follow(empty.fill), new Uint8Array(0));
    await temp.discard();
    await empty.temp.discard();
  });
});

Deno.test("followFill throws the fill's error when it fails midway", async () => {
  await withStore(async (store) => {
    const { fill, temp } = await startFill(store);
    const err = new Error("origin reset");
    const received = [0, 0];
    const followers = [0, 1].map(async (i) => {
      for await (const chunk of followFill(fill)) received[i] = received[i]! + chunk.length;
    });
    await fill.write(bodyBytes("x", 10_000));
    await delay(5);
    fill.fail(err);
    for (const f of followers) await assert.rejects(f, (e) => e === err);
    assert.deepEqual(received, [10_000, 10_000]);
    // A follower that comes later throws too, even with bytes left to read.
    await assert.rejects(follow(fill), (e) => e === err);
    await temp.discard();
  });
});

Deno.test("followFill reads the committed body after the temp file was renamed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-fill-test-" });
  const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("silent"));
  try {
    await cache.ready;
    const { fill, leader } = cache.fills.join("key");
    assert.ok(leader);
    const temp: BodyWriter = (await cache.beginBody())!;
    const tempPath = (temp as DiskBody).path;
    fill.follow(HEAD, temp);
    const bytes = bodyBytes("committed", 700_000);
    // One follower is halfway through when the rename happens.
    const early = follow(fill, 10);
    await trickle(fill, bytes, [50_000], 1);
    fill.end();
    const stored = await cache.commit(temp, pendingMeta("http://fill.test/"));
    cache.fills.remove(fill);
    assert.ok(stored !== undefined);
    assert.equal(await exists(tempPath), false);
    // One that opens only now reads the entry's body file.
    assert.deepEqual(await follow(fill), bytes);
    assert.deepEqual(await early, bytes);
    assert.equal(cache.fills.size, 0);
  } finally {
    await cache.settled();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("followFill reads every byte when the rename comes between joining and opening", async () => {
  await withStore(async (store) => {
    // The follower's first read opens the file while the body is moved into
    // place: before the rename, or after it (the old name is gone), in turn.
    for (let i = 0; i < 20; i++) {
      const { fill, temp } = await startFill(store, `k${i}`);
      const bytes = bodyBytes(`moved${i}`, 1000);
      await fill.write(bytes);
      fill.end();
      await temp.finish();
      const it = followFill(fill);
      const first = i % 2 === 0 ? it.next() : undefined;
      const moving = temp.moveTo(`${store.dir}/data/moved-${i}.body`);
      const step = await (first ?? it.next());
      await moving;
      assert.equal(step.done, false);
      const rest: Uint8Array[] = [step.done ? new Uint8Array(0) : step.value.slice()];
      for (let s = await it.next(); !s.done; s = await it.next()) rest.push(s.value.slice());
      assert.deepEqual(concat(rest), bytes);
    }
  });
});
