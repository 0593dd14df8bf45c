/**
 * The store contract, run against every store: the disk store and the
 * in-memory one must answer the same way. What only the disk can show (file
 * layout, fsync and rename order, SIGKILL at any moment) is in
 * disk_store_test.ts.
 */

import assert from "node:assert/strict";
import type { BodyStore } from "../../src/cache/body_store.ts";
import { DiskStore } from "../../src/cache/disk_store.ts";
import { InlineBody } from "../../src/cache/inline_body.ts";
import { sha256 } from "../../src/cache/integrity.ts";
import { storeId } from "../../src/cache/key.ts";
import { MemoryStore } from "../../src/cache/memory_store.ts";
import { metaBytes, type VaryMeta } from "../../src/cache/meta.ts";
import {
  bodyBytes,
  commitBytes,
  commitFourSizes,
  concat,
  pendingMeta,
  readSource,
  varyIndex,
} from "./_fixtures/entries.ts";

/** A store under test, and the same store as a new process would open it. */
interface Subject {
  store: BodyStore;
  reopen(): Promise<BodyStore>;
}

const STORES: [string, (fn: (s: Subject) => Promise<void>) => Promise<void>][] = [
  ["disk", async (fn) => {
    const dir = await Deno.makeTempDir({ prefix: "hoard-body-store-" });
    try {
      await fn({ store: await DiskStore.open(dir), reopen: () => DiskStore.open(dir) });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }],
  ["memory", async (fn) => {
    const store = new MemoryStore();
    await fn({ store, reopen: () => Promise.resolve(store) });
  }],
];

function contract(name: string, fn: (s: Subject) => Promise<void>): void {
  for (const [kind, withStore] of STORES) Deno.test(`${kind} store: ${name}`, () => withStore(fn));
}

contract(
  "a committed body reads back whole, with its size and SHA-256 in its metadata",
  async ({ store, reopen }) => {
    const bytes = bodyBytes("whole", 300_000);
    const stored = await commitBytes(store, pendingMeta("http://a.test/x"), bytes);
    assert.equal(stored.size, bytes.length);
    assert.equal(stored.sha256, sha256(bytes));
    assert.notEqual(stored.body, "");
    assert.deepEqual(await store.readMeta(stored.id), stored);
    const source = await store.openBody(stored);
    assert.ok(source !== undefined);
    assert.equal(source.length, bytes.length);
    assert.equal(source.storedSize, bytes.length);
    assert.deepEqual(await readSource(source), bytes);
    // What a new process finds.
    const again = await reopen();
    assert.deepEqual(await again.readMeta(stored.id), stored);
    assert.deepEqual(await readSource((await again.openBody(stored))!), bytes);
  },
);

contract("a range of a body reads exactly those bytes", async ({ store }) => {
  const bytes = bodyBytes("range", 3 * 1024 * 1024 + 17);
  const stored = await commitBytes(store, pendingMeta("http://a.test/r"), bytes);
  for (
    const [start, length] of [[0, 1], [0, 10], [5, 1_500_000], [1_048_576, 1_048_577], [
      bytes.length - 1,
      1,
    ], [100, 0]] as const
  ) {
    const source = await store.openBody(stored, { start, length });
    assert.ok(source !== undefined);
    assert.equal(source.length, length);
    assert.equal(source.storedSize, bytes.length);
    assert.deepEqual(
      await readSource(source),
      bytes.subarray(start, start + length),
      `${start}+${length}`,
    );
  }
  // A source that is never read, or read in part, is released.
  (await store.openBody(stored))!.close();
  for await (const _ of (await store.openBody(stored))!) break;
});

contract("an inline body lives in its metadata", async ({ store }) => {
  const bytes = bodyBytes("inline", 5000);
  const body = new InlineBody();
  await body.write(bytes.subarray(0, 100));
  await body.write(bytes.subarray(100));
  const stored = await store.commit(body, pendingMeta("http://a.test/i"));
  assert.equal(stored.body, "");
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.sha256, sha256(bytes));
  assert.deepEqual(Uint8Array.from(atob(stored.inline!), (c) => c.charCodeAt(0)), bytes);
  assert.deepEqual(await store.readMeta(stored.id), stored);
  const [scanned] = await store.scan();
  assert.deepEqual([scanned?.id, scanned?.size], [stored.id, metaBytes(stored)]);
});

contract("a commit replaces the entry of the same id and drops its body", async ({ store }) => {
  const first = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("1", 500));
  const second = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("2", 700));
  assert.equal(second.id, first.id);
  assert.notEqual(second.body, first.body);
  assert.deepEqual(await store.readMeta(first.id), second);
  assert.equal(await store.openBody(first), undefined);
  assert.deepEqual(await readSource((await store.openBody(second))!), bodyBytes("2", 700));
  // By an inline one, and back.
  const small = new InlineBody();
  await small.write(bodyBytes("3", 10));
  const inline = await store.commit(small, pendingMeta("http://a.test/"));
  assert.equal(await store.openBody(second), undefined);
  const third = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("4", 100));
  assert.deepEqual(await store.readMeta(inline.id), third);
  assert.deepEqual((await store.scan()).map((e) => e.id), [third.id]);
});

contract("remove deletes the metadata and the body; twice is fine", async ({ store }) => {
  const keep = await commitBytes(store, pendingMeta("http://a.test/keep"), bodyBytes("k", 5));
  const gone = await commitBytes(store, pendingMeta("http://a.test/gone"), bodyBytes("g", 5));
  await store.remove(gone.id);
  assert.equal(await store.readMeta(gone.id), undefined);
  assert.equal(await store.openBody(gone), undefined);
  assert.deepEqual(await store.readMeta(keep.id), keep);
  await store.remove(gone.id);
  await store.remove(storeId("never stored"));
  assert.deepEqual((await store.scan()).map((e) => e.id), [keep.id]);
});

contract("metadata without a body (a vary index) round-trips", async ({ store }) => {
  const index = varyIndex();
  await store.writeMeta(index);
  assert.deepEqual(await store.readMeta(index.id), index);
  const [scanned] = await store.scan();
  assert.deepEqual([scanned?.id, scanned?.size], [index.id, metaBytes(index)]);
  // A copy: changing what was handed in or out changes nothing stored.
  index.variants.push("z");
  (await store.readMeta(index.id) as VaryMeta).variants.push("w");
  assert.deepEqual((await store.readMeta(index.id) as VaryMeta).variants, [
    storeId("x"),
    storeId("y"),
  ]);
});

contract("scan lists every entry with its size; touch sets its last use", async ({ store }) => {
  const entries = await commitFourSizes(store);
  const at = new Date("2020-01-02T03:04:05Z");
  await store.touch(entries[1]!.id, at);
  const scanned = await store.scan();
  assert.deepEqual(
    scanned.map((e) => [e.id, e.size]).sort(),
    entries.map((e) => [e.id, metaBytes(e) + e.size]).sort(),
  );
  assert.equal(scanned.find((e) => e.id === entries[1]!.id)!.usedAt, at.getTime());
  const stopped = new AbortController();
  stopped.abort();
  assert.deepEqual(await store.scan(stopped.signal), []);
});

contract("a body is read while it is written, and on after its commit", async ({ store }) => {
  const bytes = bodyBytes("growing", 1_200_000);
  const body = await store.beginBody();
  const reader = body.reader();
  const got: Uint8Array[] = [];
  let read = 0;
  const readUpTo = async (n: number) => {
    while (read < n) {
      const piece = await reader.read(n - read);
      assert.ok(piece.length > 0 && piece.length <= n - read);
      got.push(piece.slice());
      read += piece.length;
    }
  };
  for (let off = 0; off < 1_000_000; off += 100_000) {
    await body.write(bytes.subarray(off, off + 100_000));
    assert.equal(body.size, off + 100_000);
    await readUpTo(off + 50_000); // behind the writer
  }
  await body.write(bytes.subarray(1_000_000));
  const stored = await store.commit(body, pendingMeta("http://a.test/g"));
  await readUpTo(bytes.length);
  reader.close();
  assert.deepEqual(concat(got), bytes);
  assert.deepEqual(await readSource((await store.openBody(stored))!), bytes);
  // A reader that starts only after the commit reads it all too.
  const late = body.reader();
  const all: Uint8Array[] = [];
  for (let n = 0; n < bytes.length;) {
    const piece = await late.read(bytes.length - n);
    all.push(piece.slice());
    n += piece.length;
  }
  late.close();
  assert.deepEqual(concat(all), bytes);
});

contract("a body keeps a copy of itself while small, for the memory cache", async ({ store }) => {
  const body = await store.beginBody();
  await body.write(bodyBytes("s", 1000));
  assert.deepEqual(body.bytes, bodyBytes("s", 1000));
  await body.write(new Uint8Array(64 * 1024));
  assert.equal(body.bytes, undefined);
  await body.discard();
});

contract(
  "a body begun and never committed is no entry, now or after a restart",
  async ({ store, reopen }) => {
    const dropped = await store.beginBody();
    await dropped.write(bodyBytes("dropped", 100_000));
    await dropped.discard();
    const pending = await store.beginBody();
    await pending.write(bodyBytes("pending", 100_000));
    assert.deepEqual(await store.scan(), []);
    assert.deepEqual(await (await reopen()).scan(), []);
    await pending.discard();
  },
);
