import assert from "node:assert/strict";
import fc from "fast-check";
import { WRITE_BEHIND_PIECE, WriteBehind } from "../../src/cache/write_behind.ts";

/** A disk whose writes finish only when the test lets them. */
function heldDisk() {
  const written: Uint8Array[] = [];
  const waiting: (() => void)[] = [];
  const write = (piece: Uint8Array) =>
    new Promise<void>((resolve) => {
      waiting.push(() => {
        written.push(piece.slice());
        resolve();
      });
    });
  /** Lets every waiting write finish, and the ones they start. */
  const release = async () => {
    while (waiting.length > 0) {
      waiting.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { written, waiting, write, release };
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
};

Deno.test("WriteBehind: the bytes reach the disk whole and in order, in pieces of at most 1 MiB", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 700_000 }), { minLength: 1, maxLength: 12 }),
      fc.boolean(),
      async (sizes, slowDisk) => {
        const written: Uint8Array[] = [];
        const disk = new WriteBehind(async (piece) => {
          if (slowDisk) await new Promise((r) => setTimeout(r, 1));
          written.push(piece.slice());
        }, Promise.resolve());
        // One reused read buffer, as the origin's body reader gives them.
        const buf = new Uint8Array(700_000);
        const sent: Uint8Array[] = [];
        for (const [i, size] of sizes.entries()) {
          const data = buf.subarray(0, size).fill(i % 251);
          sent.push(data.slice());
          await disk.add(data);
          buf.fill(0xff); // overwritten before the disk may have seen it
        }
        await disk.drain();
        assert.deepEqual(concat(written), concat(sent));
        assert.ok(written.every((p) => p.length > 0 && p.length <= WRITE_BEHIND_PIECE));
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("WriteBehind: an idle disk gets a piece at once; a busy one gets what gathered meanwhile in one write", async () => {
  const d = heldDisk();
  const disk = new WriteBehind(d.write, Promise.resolve());
  await disk.add(new Uint8Array(10).fill(1));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(d.waiting.length, 1, "written without waiting for more");
  for (let i = 2; i <= 5; i++) await disk.add(new Uint8Array(10).fill(i));
  assert.equal(d.waiting.length, 1, "the next write waits for the first");
  await d.release();
  assert.deepEqual(d.written.map((p) => p.length), [10, 40]);
  await disk.drain();
});

Deno.test("WriteBehind: at most two buffers per body: a third waits for the disk", async () => {
  const d = heldDisk();
  const disk = new WriteBehind(d.write, Promise.resolve());
  await disk.add(new Uint8Array(WRITE_BEHIND_PIECE)); // the first buffer, being written
  let done = false;
  const adding = disk.add(new Uint8Array(WRITE_BEHIND_PIECE + 10)).then(() => done = true);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false, "the second buffer is full and the first one not written yet");
  await d.release();
  await adding;
  await Promise.all([disk.drain(), d.release()]);
  assert.deepEqual(d.written.map((p) => p.length), [
    WRITE_BEHIND_PIECE,
    WRITE_BEHIND_PIECE,
    10,
  ]);
});

Deno.test("WriteBehind: nothing is written before the file is ready", async () => {
  const d = heldDisk();
  const ready = Promise.withResolvers<void>();
  const disk = new WriteBehind(d.write, ready.promise);
  await disk.add(new Uint8Array(5));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(d.waiting.length, 0);
  ready.resolve();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(d.waiting.length, 1);
  await Promise.all([disk.drain(), d.release()]);
  assert.deepEqual(d.written.map((p) => p.length), [5]);
});
