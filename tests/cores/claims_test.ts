/**
 * The claim table: one leader per key, what a released key tells the next
 * claimer, a full table, a thread that is gone — and real threads racing
 * for the same keys through the shared memory.
 */

import assert from "node:assert/strict";
import { ClaimTable } from "../../src/cores/claims.ts";

Deno.test("claims: the first claim leads, the next learn who leads; release frees the key", () => {
  const t = ClaimTable.create(16);
  const first = t.claim("k", 1, 100);
  assert.equal(first.kind, "lead");
  assert.deepEqual(t.claim("k", 2, 100), { kind: "led", by: 1 });
  assert.deepEqual(t.claim("k", 1, 100), { kind: "led", by: 1 });
  assert.equal(t.claim("other", 2, 100).kind, "lead");
  // Another thread's release does nothing.
  t.release(first.kind === "lead" ? first.slot : -1, 2, 100);
  assert.deepEqual(t.claim("k", 2, 100), { kind: "led", by: 1 });
  t.release(first.kind === "lead" ? first.slot : -1, 1, 100);
  // Just released: the next claimer leads, told that it was just stored; later, not.
  assert.deepEqual(t.claim("k", 2, 101), {
    kind: "lead",
    slot: first.kind === "lead" ? first.slot : -1,
    recent: true,
  });
});

Deno.test("claims: a key released long ago leads plainly; expired slots are reused", () => {
  const t = ClaimTable.create(2);
  const a = t.claim("a", 1, 100);
  const b = t.claim("b", 1, 100);
  assert.ok(a.kind === "lead" && b.kind === "lead" && a.slot >= 0 && b.slot >= 0);
  // Full: a third key leads unregistered.
  assert.deepEqual(t.claim("c", 1, 100), { kind: "lead", slot: -1, recent: false });
  t.release(a.slot, 1, 100);
  t.release(b.slot, 1, 100);
  // Still "just stored": their slots are kept.
  assert.deepEqual(t.claim("c", 1, 101), { kind: "lead", slot: -1, recent: false });
  // Expired: reused, and the old keys are no longer known.
  const c = t.claim("c", 1, 110);
  assert.ok(c.kind === "lead" && c.slot >= 0 && !c.recent);
  assert.equal(t.claim("a", 2, 110).kind, "lead");
  assert.deepEqual(t.claim("c", 2, 110), { kind: "led", by: 1 });
});

Deno.test("claims: releaseAll frees every key a thread that is gone led", () => {
  const t = ClaimTable.create(8);
  for (const k of ["a", "b", "c"]) assert.equal(t.claim(k, 3, 100).kind, "lead");
  assert.equal(t.claim("d", 4, 100).kind, "lead");
  t.releaseAll(3);
  for (const k of ["a", "b", "c"]) assert.equal(t.claim(k, 5).kind, "lead");
  assert.deepEqual(t.claim("d", 5), { kind: "led", by: 4 });
});

Deno.test("claims: four threads racing for the same 5,000 keys: exactly one leader each", async () => {
  const t = ClaimTable.create(8192);
  const barrier = new SharedArrayBuffer(4);
  const src = `
    import { ClaimTable } from ${
    JSON.stringify(new URL("../../src/cores/claims.ts", import.meta.url).href)
  };
    self.onmessage = (e) => {
      const { buffer, barrier, thread } = e.data;
      const t = new ClaimTable(buffer);
      // The four go in step, 100 keys at a time: on a busy machine one thread
      // would otherwise claim all 5,000 before the others were scheduled.
      const b = new Int32Array(barrier);
      const led = [];
      for (let i = 0; i < 5000; i++) {
        if (i % 100 === 0) {
          Atomics.add(b, 0, 1);
          while (Atomics.load(b, 0) < 4 * (i / 100 + 1)) {}
        }
        if (t.claim("key-" + i, thread).kind === "lead") led.push(i);
      }
      self.postMessage(led);
    };`;
  const url = `data:application/javascript,${encodeURIComponent(src)}`;
  const workers = [1, 2, 3, 4].map(() => new Worker(url, { type: "module" }));
  try {
    const results = await Promise.all(workers.map((w, i) =>
      new Promise<number[]>((resolve) => {
        w.onmessage = (e) => resolve(e.data);
        w.postMessage({ buffer: t.buffer, barrier, thread: i + 1 });
      })
    ));
    const all = results.flat().sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 5000 }, (_, i) => i));
    // They did race (on this machine's two cores, two at a time).
    const leading = results.filter((led) => led.length > 0).length;
    assert.ok(leading >= 2, `one thread led every key: ${results.map((r) => r.length)}`);
  } finally {
    for (const w of workers) w.terminate();
  }
});
