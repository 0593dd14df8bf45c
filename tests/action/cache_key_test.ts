/**
 * What the action saves and under which key (action/cache_key.ts): the digest
 * follows the entries' content, not file names or times.
 */

import assert from "node:assert/strict";
import { contentDigest, keyPrefix, restorePrefixes, savedPaths } from "../../action/cache_key.ts";
import { interceptFlags } from "../../action/inputs.ts";
import { tempDir } from "../e2e/ci_helpers.ts";

async function entry(dir: string, meta: Record<string, unknown>, bodyName?: string) {
  const id = meta["id"] as string;
  await Deno.mkdir(`${dir}/data/${id.slice(0, 2)}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/data/${id.slice(0, 2)}/${id}.json`, JSON.stringify(meta));
  if (bodyName) await Deno.writeTextFile(`${dir}/data/${id.slice(0, 2)}/${bodyName}`, "body");
}

Deno.test("contentDigest: ids and body hashes count; body file names, times and leftovers do not", async () => {
  await using a = await tempDir();
  await using b = await tempDir();
  const one = { kind: "response", id: "aa" + "1".repeat(62), sha256: "f".repeat(64) };
  const two = { kind: "vary", id: "bb" + "2".repeat(62), variants: ["x", "y"] };
  await entry(a.path, { ...one, storedAt: 1, body: "aa1-1234.body" }, "aa1-1234.body");
  await entry(a.path, two);
  await entry(b.path, { ...one, storedAt: 2, body: "aa1-9999.body" }, "aa1-9999.body");
  await entry(b.path, { ...two, variants: ["y", "x"] });
  await Deno.writeTextFile(`${b.path}/data/aa/half-written.json.1234.tmp`, "{");
  await Deno.writeTextFile(`${b.path}/data/bb/broken.json`, "{");
  const digest = await contentDigest(a.path);
  assert.match(digest, /^[0-9a-f]{32}$/);
  assert.equal(await contentDigest(b.path), digest);

  // Another body for the same URL is other content.
  await entry(b.path, { ...one, sha256: "e".repeat(64), body: "" });
  assert.notEqual(await contentDigest(b.path), digest);
  await using empty = await tempDir();
  assert.match(await contentDigest(empty.path), /^[0-9a-f]{32}$/);
});

Deno.test("keys: OS and cache-key in the prefix; restored from the most specific prefix first", () => {
  assert.equal(keyPrefix("Linux", ""), "hoard-Linux-");
  assert.equal(keyPrefix("Linux", "abc"), "hoard-Linux-abc-");
  assert.deepEqual(restorePrefixes("Linux", "abc"), ["hoard-Linux-abc-", "hoard-Linux-"]);
  assert.deepEqual(restorePrefixes("macOS", ""), ["hoard-macOS-"]);
  assert.deepEqual(savedPaths("/t/hoard"), ["/t/hoard/data", "/t/hoard/hoard-cache.json"]);
});

Deno.test("intercept input: true, false, or hosts", () => {
  assert.deepEqual(interceptFlags("true"), ["--intercept"]);
  assert.deepEqual(interceptFlags("false"), []);
  assert.deepEqual(interceptFlags(""), []);
  assert.deepEqual(interceptFlags("*.example.test,example.org"), [
    "--intercept=*.example.test,example.org",
  ]);
});
