import assert from "node:assert/strict";
import { MetaBehind } from "../../src/cache/meta_behind.ts";
import type { Meta } from "../../src/cache/meta.ts";
import { runIdleWork } from "../../src/io/idle_work.ts";

/** A vary index is the smallest Meta to make; `n` tells versions apart. */
function meta(id: string, n = 0): Meta {
  return {
    v: 1,
    kind: "vary",
    id,
    key: `http://a.test/${id}`,
    vary: [`x-${n}`],
    variants: [],
    storedAt: n,
  };
}

const NO_BYTES = new Uint8Array(0);

/** A MetaBehind whose writes are recorded, and held while `hold` is set. */
function setup() {
  const written: Meta[] = [];
  let hold: PromiseWithResolvers<void> | undefined;
  let fail: Error | undefined;
  const behind = new MetaBehind(async (m) => {
    if (hold !== undefined) await hold.promise;
    if (fail !== undefined) throw fail;
    written.push(m);
  });
  const failed: [Meta, unknown][] = [];
  const onFailed = (m: Meta, err: unknown) => failed.push([m, err]);
  return {
    behind,
    written,
    failed,
    onFailed,
    hold: () => hold = Promise.withResolvers(),
    release: () => hold?.resolve(),
    failWith: (err: Error) => fail = err,
  };
}

Deno.test("MetaBehind: metadata is answered from memory until the idle moment writes it", async () => {
  const { behind, written, onFailed } = setup();
  const a = meta("a"), b = meta("b");
  behind.add(a, NO_BYTES, onFailed);
  behind.add(b, NO_BYTES, onFailed);
  assert.equal(behind.get("a"), a);
  assert.deepEqual(written, []);
  runIdleWork();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(written, [a, b], "the idle moment wrote them");
  assert.equal(behind.get("a"), undefined, "written: the disk answers for it now");
});

Deno.test("MetaBehind: a dropped write never lands; a replaced one lands as its newest version", async () => {
  const { behind, written, onFailed } = setup();
  behind.add(meta("gone"), NO_BYTES, onFailed);
  behind.add(meta("kept", 1), NO_BYTES, onFailed);
  await behind.drop("gone");
  const newest = meta("kept", 2);
  behind.add(newest, NO_BYTES, onFailed);
  await behind.flush();
  assert.deepEqual(written, [newest]);
});

Deno.test("MetaBehind: drop settles only once a write already under way has landed", async () => {
  const { behind, written, onFailed, hold, release } = setup();
  const a = meta("a");
  behind.add(a, NO_BYTES, onFailed);
  hold();
  runIdleWork();
  await Promise.resolve(); // the write has started and waits
  let dropped = false;
  const drop = behind.drop("a").then(() => dropped = true);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(dropped, false, "the caller waits for the write under way");
  release();
  await drop;
  assert.deepEqual(written, [a]);
  assert.equal(behind.get("a"), undefined);
});

Deno.test("MetaBehind: a version added while an older one is being written is written after it", async () => {
  const { behind, written, onFailed, hold, release } = setup();
  const older = meta("a", 1), newer = meta("a", 2);
  behind.add(older, NO_BYTES, onFailed);
  hold();
  runIdleWork();
  await Promise.resolve();
  behind.add(newer, NO_BYTES, onFailed);
  assert.equal(behind.get("a"), newer, "reads see the newest at once");
  release();
  await behind.flush();
  assert.deepEqual(written, [older, newer], "the newest lands last");
  assert.equal(behind.get("a"), undefined);
});

Deno.test("MetaBehind: a write that fails is reported with its metadata, and no longer answered", async () => {
  const { behind, written, failed, onFailed, failWith } = setup();
  const a = meta("a");
  behind.add(a, NO_BYTES, onFailed);
  const err = new Error("disk full");
  failWith(err);
  await behind.flush();
  assert.deepEqual(written, []);
  assert.deepEqual(failed, [[a, err]]);
  assert.equal(behind.get("a"), undefined);
});

Deno.test("MetaBehind: flush writes at once, and the idle moment after it has nothing left", async () => {
  const { behind, written, onFailed } = setup();
  const a = meta("a");
  behind.add(a, NO_BYTES, onFailed);
  await behind.flush();
  assert.deepEqual(written, [a]);
  runIdleWork();
  await behind.flush();
  assert.deepEqual(written, [a], "written once");
});
