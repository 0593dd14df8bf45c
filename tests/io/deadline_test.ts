import assert from "node:assert/strict";
import { Deadline } from "../../src/io/deadline.ts";
import { delay, spyIntervals, waitFor } from "../_helpers/sockets.ts";

// The shared ticker checks every 100 ms, so a deadline fires up to 100 ms late;
// 250 ms of slack also absorbs a busy CI machine.
const TICK = 100;
const SLACK = 250;

Deno.test("Deadline: fires once, about ms after it was made, then stops the ticker", async () => {
  using spy = spyIntervals();
  const firedAt: number[] = [];
  const start = Date.now();
  new Deadline(150, () => firedAt.push(Date.now()));
  assert.equal(spy.running, 1, "one ticker runs while a deadline is live");
  await waitFor(() => firedAt.length > 0, "the deadline to fire");
  const elapsed = firedAt[0]! - start;
  assert.ok(elapsed >= 150, `fired early, after ${elapsed} ms`);
  assert.ok(elapsed < 150 + TICK + SLACK, `fired late, after ${elapsed} ms`);
  assert.equal(spy.running, 0, "the ticker stops once nothing is live");
  await delay(3 * TICK);
  assert.equal(firedAt.length, 1, "fires once only");
});

Deno.test("Deadline: extend() postpones it by the full allowance from now", async () => {
  using spy = spyIntervals();
  let firedAt = 0;
  const d = new Deadline(200, () => firedAt = Date.now());
  await delay(120);
  const extendedAt = Date.now();
  d.extend();
  await delay(120); // 240 ms after creation: past the first allowance
  assert.equal(firedAt, 0, "extend() must push the deadline back");
  await waitFor(() => firedAt !== 0, "the extended deadline to fire");
  const elapsed = firedAt - extendedAt;
  assert.ok(elapsed >= 200, `fired ${elapsed} ms after extend, expected >= 200`);
  assert.ok(elapsed < 200 + TICK + SLACK, `fired ${elapsed} ms after extend`);
  assert.equal(spy.running, 0);
});

Deno.test("Deadline: extend(ms) sets a new allowance", async () => {
  using spy = spyIntervals();
  let firedAt = 0;
  const d = new Deadline(10_000, () => firedAt = Date.now());
  const extendedAt = Date.now();
  d.extend(100);
  await waitFor(() => firedAt !== 0, "the shortened deadline to fire", 2000);
  const elapsed = firedAt - extendedAt;
  assert.ok(elapsed >= 100 && elapsed < 100 + TICK + SLACK, `fired after ${elapsed} ms`);
  // Later extends without an argument keep the new allowance.
  firedAt = 0;
  const again = Date.now();
  d.extend();
  await waitFor(() => firedAt !== 0, "the re-armed deadline to fire", 2000);
  assert.ok(firedAt - again < 100 + TICK + SLACK, `fired after ${firedAt - again} ms`);
  assert.equal(spy.running, 0);
});

Deno.test("Deadline: clear() prevents firing and stops the ticker", async () => {
  using spy = spyIntervals();
  let fired = 0;
  const d = new Deadline(50, () => fired++);
  assert.equal(spy.running, 1);
  d.clear();
  await delay(50 + 2 * TICK);
  assert.equal(spy.running, 0, "with nothing live the ticker stops on its next tick");
  assert.equal(fired, 0);
  d.clear(); // a second clear is harmless
  assert.equal(spy.running, 0);
});

Deno.test("Deadline: one ticker serves many deadlines and outlives a cleared one", async () => {
  using spy = spyIntervals();
  const fired: string[] = [];
  const a = new Deadline(60, () => fired.push("a"));
  new Deadline(60, () => fired.push("b"));
  const c = new Deadline(5_000, () => fired.push("c"));
  assert.equal(spy.created, 1, "deadlines share one interval");
  a.clear();
  assert.equal(spy.running, 1, "b and c are still live");
  await waitFor(() => fired.includes("b"), "b to fire");
  assert.deepEqual(fired, ["b"]);
  assert.equal(spy.running, 1, "c keeps the ticker alive");
  c.clear();
  await delay(TICK + 20);
  assert.equal(spy.running, 0, "the ticker stops once nothing is live");
  assert.deepEqual(fired, ["b"]);
});

Deno.test("Deadline: clear() inside onExpire, and a new deadline after the ticker stopped", async () => {
  using spy = spyIntervals();
  let fired = 0;
  const self: Deadline[] = [];
  self.push(
    new Deadline(30, () => {
      fired++;
      self[0]!.clear();
    }),
  );
  await waitFor(() => fired === 1, "the first deadline");
  assert.equal(spy.running, 0);
  // A later deadline starts a fresh ticker and still fires.
  let second = false;
  new Deadline(30, () => second = true);
  assert.equal(spy.running, 1);
  await waitFor(() => second, "the second deadline");
  assert.equal(spy.created, 2);
  assert.equal(spy.running, 0);
  assert.equal(fired, 1);
});
