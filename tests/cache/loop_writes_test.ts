import assert from "node:assert/strict";
import { cacheWrites, LoopWrites } from "../../src/cache/loop_writes.ts";
import { Logger } from "../../src/observe/log.ts";

/** A clock the test moves, and writes that take as long as told. */
function setup(slowMs = 1, coolOffMs = 1000) {
  let now = 0;
  const told: [number, number][] = [];
  const writes = new LoopWrites({
    slowMs,
    coolOffMs,
    now: () => now,
    onSlow: (took, pool) => told.push([took, pool]),
  });
  const ran: string[] = [];
  const write = (takesMs: number, fail?: Error) =>
    writes.run(() => {
      ran.push("loop");
      now += takesMs;
      if (fail) throw fail;
    }, () => {
      ran.push("pool");
      return fail ? Promise.reject(fail) : Promise.resolve();
    });
  return { writes, ran, told, write, wait: (ms: number) => (now += ms) };
}

Deno.test("LoopWrites runs quick writes on the event loop", async () => {
  const { writes, ran, told, write } = setup();
  for (let i = 0; i < 3; i++) await write(0.5);
  assert.deepEqual(ran, ["loop", "loop", "loop"]);
  assert.equal(writes.onLoop, 3);
  assert.equal(writes.inPool, 0);
  assert.deepEqual(told, []);
});

Deno.test("LoopWrites keeps writes on the loop through one slowed write", async () => {
  const { writes, told, write } = setup(1);
  for (let i = 0; i < 3; i++) await write(0.2);
  await write(3); // average 0.1 + 2.9 / 4: under 1 ms
  for (let i = 0; i < 3; i++) await write(0.2);
  assert.deepEqual([writes.onLoop, writes.inPool], [7, 0]);
  assert.deepEqual(told, []);
});

Deno.test("LoopWrites sends writes to the pool for the cool-off when they are slow on average, then tries the loop again", async () => {
  const { writes, ran, told, write, wait } = setup(1, 1000);
  await write(2); // average 0.5
  await write(2); // 0.875
  assert.deepEqual(told, []);
  await write(2); // 1.16: 1000 ms in the pool
  assert.equal(told.length, 1);
  assert.ok(Math.abs(told[0]![0] - 1.15625) < 1e-9, String(told[0]));
  assert.equal(told[0]![1], 1000);
  await write(2);
  wait(999);
  await write(2);
  assert.deepEqual(ran, ["loop", "loop", "loop", "pool", "pool"]);
  wait(1);
  // Judged afresh: one slow write does not send them back.
  await write(2);
  await write(0.2);
  assert.deepEqual(ran.slice(5), ["loop", "loop"]);
  assert.deepEqual([writes.onLoop, writes.inPool, told.length], [5, 2, 1]);
});

Deno.test("LoopWrites moves writes to the pool at once after one very slow write", async () => {
  const { ran, told, write } = setup(1);
  await write(50); // a disk that stalls: average 12.5
  await write(0.1);
  assert.deepEqual(ran, ["loop", "pool"]);
  assert.equal(told[0]![0], 12.5);
});

Deno.test("LoopWrites passes either way's error on; a failing write is timed too", async () => {
  const { ran, told, write } = setup();
  await assert.rejects(write(0, new Error("disk full")), /disk full/);
  await assert.rejects(write(8, new Error("disk full")), /disk full/);
  assert.equal(told.length, 1);
  await assert.rejects(write(0, new Error("still full")), /still full/);
  assert.deepEqual(ran, ["loop", "loop", "pool"]);
});

Deno.test("LoopWrites without the loop (a network file system) runs every write in the pool", async () => {
  const writes = new LoopWrites({ loop: false });
  const ran: string[] = [];
  for (let i = 0; i < 3; i++) {
    await writes.run(() => void ran.push("loop"), () => Promise.resolve(void ran.push("pool")));
  }
  assert.deepEqual(ran, ["pool", "pool", "pool"]);
  assert.deepEqual([writes.onLoop, writes.inPool], [0, 3]);
});

Deno.test("cacheWrites keeps a network file system's writes off the loop and says so; logs each move to the pool", async () => {
  const lines: string[] = [];
  const logger = new Logger("info", (l) => lines.push(l));
  const nfs = new LoopWrites(cacheWrites("nfs4", logger, true));
  await nfs.run(() => assert.fail("on the loop"), () => Promise.resolve());
  assert.equal(nfs.inPool, 1);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /the cache directory is on nfs4: its writes go to the thread pool/);
  // Another thread on the same directory: not said again.
  cacheWrites("nfs4", logger, false);
  assert.equal(lines.length, 1);

  const options = cacheWrites("ext4", logger, true);
  assert.equal(lines.length, 1);
  let now = 0;
  const local = new LoopWrites({ ...options, now: () => now });
  await local.run(() => void (now += 10), () => Promise.resolve());
  assert.deepEqual([local.onLoop, local.inPool], [1, 0]);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /cache writes took 2\.5 ms on the event loop on average: the next 30 s/);
});
