/**
 * The shared tier's counters (src/cache/shared/counters.ts): addSharedCounters
 * sums every count and the failures kind by kind.
 */

import assert from "node:assert/strict";
import {
  addSharedCounters,
  newSharedCounters,
  type SharedCounters,
} from "../../../src/cache/shared/counters.ts";
import type { S3FailureKind } from "../../../src/cache/shared/s3_errors.ts";

/** Counters with a different value in each count and failure kind, `scale` apart. */
function distinct(scale: number): SharedCounters {
  const c = newSharedCounters();
  let i = 0;
  for (const name of Object.keys(c) as (keyof SharedCounters)[]) {
    if (name !== "failures") c[name] = scale * ++i;
  }
  for (const kind of Object.keys(c.failures) as S3FailureKind[]) c.failures[kind] = scale * ++i;
  return c;
}

Deno.test("addSharedCounters: every count and every failure kind is summed", () => {
  const into = distinct(100);
  const from = distinct(1);
  addSharedCounters(into, from);
  const expected = distinct(101);
  assert.deepEqual(into, expected);
  // Not only the figures: the failures stay an object of their own, and `from` is unchanged.
  assert.notEqual(into.failures, from.failures);
  assert.deepEqual(from, distinct(1));
});

Deno.test("addSharedCounters: failures are merged per kind, kinds another thread never met stay", () => {
  const a = newSharedCounters();
  a.hits = 2;
  a.failures.timeout = 3;
  a.failures.forbidden = 1;
  const b = newSharedCounters();
  b.uploads = 4;
  b.bytesUploaded = 4096;
  b.failures.timeout = 2;
  b.failures.server = 5;
  const total = newSharedCounters();
  // As the main thread gets them from workers: structured clones.
  addSharedCounters(total, structuredClone(a));
  addSharedCounters(total, structuredClone(b));
  const expected = newSharedCounters();
  expected.hits = 2;
  expected.uploads = 4;
  expected.bytesUploaded = 4096;
  expected.failures = { ...expected.failures, timeout: 5, forbidden: 1, server: 5 };
  assert.deepEqual(total, expected);
});

Deno.test("addSharedCounters: a kind missing from `into` starts at zero, not NaN", () => {
  const into = newSharedCounters();
  delete (into.failures as Partial<Record<S3FailureKind, number>>).full;
  const from = newSharedCounters();
  from.failures.full = 2;
  addSharedCounters(into, from);
  assert.equal(into.failures.full, 2);
});
