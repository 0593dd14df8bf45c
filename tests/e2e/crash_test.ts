/**
 * Crash safety, bounded: the run of scripts/crash.ts with three rounds and a
 * few objects. hoard is killed with SIGKILL while fills are in progress and
 * restarted on the same directory; every complete response, every entry on
 * disk and every object fetched after the restart must be the origin's bytes.
 */

import assert from "node:assert/strict";
import { runCrash, startCrashOrigin } from "../../scripts/crash.ts";

const MiB = 1024 * 1024;

Deno.test("SIGKILL in the middle of fills, three rounds: nothing partial or wrong is served or kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-crash-e2e-" });
  try {
    // 2 MiB at most, 32 KiB every 5 ms: the largest fills last about a third of a second.
    await using origin = startCrashOrigin({ objects: 8, seed: 6, maxSize: 2 * MiB });
    const results = await runCrash({
      rounds: 3,
      origin,
      cacheDir: dir,
      seed: 6,
      workers: 12,
      killMinMs: 100,
      killMaxMs: 400,
      // A round whose random moment falls between fills waits for the next one.
      killDuringFill: true,
    });
    const sum = (f: (r: (typeof results)[number]) => number) =>
      results.reduce((a, r) => a + f(r), 0);
    assert.deepEqual(results.flatMap((r) => r.problems), []);
    assert.equal(sum((r) => r.mismatches), 0);
    assert.equal(sum((r) => r.badOnDisk), 0);
    assert.ok(results.some((r) => r.partsAtKill > 0), "a kill came while a fill was in progress");
    assert.ok(sum((r) => r.cut) > 0, "the kills cut responses in flight");
    assert.ok(sum((r) => r.complete) > 0);
    // Every object was fetched after each restart, and the stored ones were hits.
    assert.equal(sum((r) => r.hits + r.misses), 3 * origin.objects.length);
    assert.ok(sum((r) => r.hits) > 0);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
