/** Answers kept for recent keys (src/recent.ts). */

import assert from "node:assert/strict";
import { Recent } from "../src/recent.ts";

Deno.test("Recent: keeps answers by key, returns what it keeps, starts again empty when full", () => {
  const r = new Recent<string, number>(3);
  assert.equal(r.get("a"), undefined);
  assert.equal(r.set("a", 1), 1);
  r.set("b", 2);
  r.set("c", 3);
  assert.deepEqual(["a", "b", "c"].map((k) => r.get(k)), [1, 2, 3]);
  // A fourth key: the three before it are dropped, the new one kept.
  r.set("d", 4);
  assert.deepEqual(["a", "b", "c", "d"].map((k) => r.get(k)), [undefined, undefined, undefined, 4]);
  // Setting a kept key again replaces its answer.
  r.set("d", 5);
  assert.equal(r.get("d"), 5);
});
