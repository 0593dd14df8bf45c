import assert from "node:assert/strict";
import { DiskUsage } from "../../src/cache/usage.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

Deno.test("DiskUsage: a use seen while the start-up scan runs counts once the scan lists the entry", () => {
  const usage = new DiskUsage();
  usage.scanStarted();
  const now = 40 * DAY;
  assert.equal(usage.used("hit", now), false, "not listed yet");
  const touch = usage.addScanned([
    { id: "hit", size: 10, usedAt: 0 },
    { id: "idle", size: 20, usedAt: DAY },
  ]);
  assert.deepEqual(usage.scanEnded(), [], "every use was of a listed entry");
  assert.deepEqual(touch, ["hit"], "the hit's file time is refreshed");
  assert.deepEqual(usage.leastRecentlyUsed(), ["idle", "hit"]);
  assert.deepEqual(usage.unusedSince(now - 30 * DAY), ["idle"]);
  assert.equal(usage.bytes, 30);
});

Deno.test("DiskUsage: a use of an entry a stopped scan never listed is handed back at its end", () => {
  const usage = new DiskUsage();
  usage.scanStarted();
  assert.equal(usage.used("late", 40 * DAY), false, "not listed yet");
  assert.equal(usage.used("listed", 40 * DAY), false, "not listed yet");
  assert.deepEqual(usage.addScanned([{ id: "listed", size: 1, usedAt: 0 }]), ["listed"]);
  // Stopped here: "late" was never listed.
  assert.deepEqual(usage.scanEnded(), ["late"], "its file time is refreshed all the same");
});

Deno.test("DiskUsage: what the process committed or removed while the scan ran wins over the scan", () => {
  const usage = new DiskUsage();
  usage.scanStarted();
  usage.set("committed", 99, 5 * DAY);
  usage.delete("removed");
  const touch = usage.addScanned([
    { id: "committed", size: 10, usedAt: 0 },
    { id: "removed", size: 20, usedAt: 0 },
    { id: "other", size: 30, usedAt: 0 },
  ]);
  usage.scanEnded();
  assert.deepEqual(touch, []);
  assert.equal(usage.has("removed"), false);
  assert.equal(usage.bytes, 99 + 30);
  assert.deepEqual(usage.leastRecentlyUsed(), ["other", "committed"]);
});

Deno.test("DiskUsage: after the scan, uses and removals of unknown ids are not kept", () => {
  const usage = new DiskUsage();
  usage.scanStarted();
  usage.scanEnded();
  assert.equal(usage.used("x", DAY), false);
  usage.delete("y");
  // A later listing (none is made after the scan in hoard) takes both as they are.
  assert.deepEqual(
    usage.addScanned([{ id: "x", size: 1, usedAt: 0 }, { id: "y", size: 2, usedAt: 0 }]),
    [],
  );
  assert.equal(usage.bytes, 3);
});
