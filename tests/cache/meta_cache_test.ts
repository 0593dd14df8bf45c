import assert from "node:assert/strict";
import type { ResponseMeta, VaryMeta } from "../../src/cache/meta.ts";
import { MetaCache } from "../../src/cache/meta_cache.ts";

function meta(id: string, inlineChars = 0): ResponseMeta {
  return {
    v: 1,
    kind: "response",
    id,
    key: `http://a.test/${id}`,
    status: 200,
    reason: "OK",
    headers: [],
    policy: {},
    storedAt: 1,
    size: 0,
    sha256: "",
    body: inlineChars > 0 ? "" : `${id}-1.body`,
    ...(inlineChars > 0 ? { inline: "A".repeat(inlineChars) } : {}),
  };
}

Deno.test("MetaCache keeps the most recently used entries up to its count", () => {
  const metas = new MetaCache({ maxEntries: 3 });
  for (const id of ["a", "b", "c"]) metas.remember(meta(id));
  assert.equal((metas.get("a", 0) as ResponseMeta).id, "a"); // a is the newest now
  metas.remember(meta("d"));
  assert.equal(metas.get("b", 0), undefined);
  assert.deepEqual(["a", "c", "d"].map((id) => (metas.get(id, 0) as ResponseMeta).id), [
    "a",
    "c",
    "d",
  ]);
  assert.equal(metas.size, 3);
});

Deno.test("MetaCache keeps inline bodies up to its character count, oldest out first", () => {
  const metas = new MetaCache({ maxInlineChars: 10_000 });
  metas.remember(meta("a", 4000));
  metas.remember(meta("plain"));
  metas.remember(meta("b", 4000));
  assert.equal(metas.inlineChars, 8000);
  metas.remember(meta("c", 4000)); // 12,000: a goes
  assert.equal(metas.get("a", 0), undefined);
  assert.equal(metas.inlineChars, 8000);
  assert.equal((metas.get("plain", 0) as ResponseMeta).id, "plain");
  // Replacing an entry counts its new body only; a removal gives its characters back.
  metas.remember(meta("b", 1000));
  assert.equal(metas.inlineChars, 5000);
  metas.missing("c", 0);
  assert.equal(metas.inlineChars, 1000);
  // A vary index has no body.
  const index: VaryMeta = {
    v: 1,
    kind: "vary",
    id: "v",
    key: "http://a.test/v",
    vary: ["accept"],
    variants: ["b"],
    storedAt: 1,
  };
  metas.remember(index);
  assert.equal(metas.inlineChars, 1000);
  assert.equal(metas.get("v", 0), index);
});

Deno.test("MetaCache: ids found missing answer 'missing' for a moment and count toward its entries", () => {
  const metas = new MetaCache({ maxEntries: 100 });
  metas.missing("gone", 1000);
  assert.equal(metas.get("gone", 5999), "missing");
  assert.equal(metas.get("gone", 6000), undefined);
  // A flood of misses that are never stored stays within the count.
  for (let i = 0; i < 1000; i++) metas.missing(`m${i}`, 1000);
  assert.equal(metas.size, 100);
  assert.equal(metas.get("m999", 1000), "missing");
  assert.equal(metas.get("m0", 1000), undefined);
});
