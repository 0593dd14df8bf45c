import assert from "node:assert/strict";
import { MAX_DELAY_MS, notWhenIdle, runIdleWork, whenIdle } from "../../src/io/idle_work.ts";

Deno.test("whenIdle: a task runs at the next idle moment, once, even when added twice", () => {
  const ran: string[] = [];
  const task = () => ran.push("a");
  whenIdle(task);
  whenIdle(task);
  whenIdle(() => ran.push("b"));
  assert.deepEqual(ran, [], "nothing runs before the idle moment");
  runIdleWork();
  assert.deepEqual(ran, ["a", "b"]);
  runIdleWork();
  assert.deepEqual(ran, ["a", "b"], "an idle moment with nothing put off runs nothing");
});

Deno.test("whenIdle: with no idle moment, a task runs within MAX_DELAY_MS", async () => {
  const started = performance.now();
  const ran = Promise.withResolvers<number>();
  whenIdle(() => ran.resolve(performance.now()));
  const at = await ran.promise;
  assert.ok(at - started >= MAX_DELAY_MS - 1, `ran after ${at - started} ms`);
  assert.ok(at - started < MAX_DELAY_MS + 200, `ran after ${at - started} ms`);
});

Deno.test("whenIdle: a task taken back never runs (and leaves no timer behind)", async () => {
  let ran = false;
  const task = () => ran = true;
  whenIdle(task);
  notWhenIdle(task);
  await new Promise((r) => setTimeout(r, MAX_DELAY_MS * 5));
  runIdleWork();
  assert.equal(ran, false);
});

Deno.test("whenIdle: a task put off while others run waits for the next moment", () => {
  const ran: string[] = [];
  const again = () => ran.push("again");
  whenIdle(() => {
    ran.push("first");
    whenIdle(again);
  });
  runIdleWork();
  assert.deepEqual(ran, ["first"]);
  runIdleWork();
  assert.deepEqual(ran, ["first", "again"]);
});
