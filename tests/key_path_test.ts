/** The globs rules match with, and signature parameters left out of the cache key (src/key_path.ts). */

import assert from "node:assert/strict";
import { glob, keyPath } from "../src/key_path.ts";
import { SIGNED_URL_PRESETS } from "../src/rules.ts";

const SIGNED = SIGNED_URL_PRESETS[0]!.ignoreQuery!;

Deno.test("keyPath drops signature parameters in any case, keeps the others in order", () => {
  const signed = "/bucket/file.tgz?b=2&X-Amz-Algorithm=AWS4&x-amz-date=20260101T000000Z" +
    "&a=1&X-AMZ-SIGNATURE=abc&Expires=123&expires=456&z=&Signature=s";
  assert.equal(keyPath(signed, SIGNED), "/bucket/file.tgz?b=2&a=1&z=");
  // Nothing left: no dangling "?".
  assert.equal(
    keyPath("/f?X-Amz-Signature=1&X-Amz-Date=2&Expires=3", SIGNED),
    "/f",
  );
  // Percent-encoded names are matched decoded; the kept ones keep their spelling.
  assert.equal(keyPath("/f?X%2DAmz%2DDate=1&q=%41", SIGNED), "/f?q=%41");
  // Names that only start like a pattern without a glob stay.
  assert.equal(keyPath("/f?Signatures=1&sigma=2&v=1", SIGNED), "/f?Signatures=1&sigma=2&v=1");
  // No query, or no patterns: unchanged (the same string).
  assert.equal(keyPath("/f", SIGNED), "/f");
  assert.equal(keyPath("/f?X-Amz-Date=1", []), "/f?X-Amz-Date=1");
  // A parameter without a value is matched by its name.
  assert.equal(keyPath("/f?X-Amz-Signature&v=2", SIGNED), "/f?v=2");
  // User patterns with globs.
  assert.equal(keyPath("/f?token=1&tok=2&X-Sig-A=3", ["token", "x-sig-*"]), "/f?tok=2");
  // Two URLs differing only in their signature share a key.
  assert.equal(
    keyPath("/f?v=1&X-Amz-Signature=aaa&X-Amz-Date=1", SIGNED),
    keyPath("/f?v=1&X-Amz-Signature=bbb&X-Amz-Date=2", SIGNED),
  );
  assert.notEqual(keyPath("/f?v=1", SIGNED), keyPath("/f?v=2", SIGNED));
});

Deno.test("keyPath: asked again, the same answer (recent paths are remembered, long ones not)", () => {
  const path = "/f?v=1&X-Amz-Signature=aaa";
  assert.equal(keyPath(path, SIGNED), "/f?v=1");
  assert.equal(keyPath(path, SIGNED), "/f?v=1");
  // The same path under other patterns is another question.
  assert.equal(keyPath(path, ["v"]), "/f?X-Amz-Signature=aaa");
  const long = `/f?pad=${"x".repeat(600)}&X-Amz-Signature=aaa`;
  assert.equal(keyPath(long, SIGNED), `/f?pad=${"x".repeat(600)}`);
  assert.equal(keyPath(long, SIGNED), `/f?pad=${"x".repeat(600)}`);
  // More paths than are remembered: each still gets its own answer.
  for (let i = 0; i < 5000; i++) {
    assert.equal(keyPath(`/f${i}?a=${i}&Signature=s`, SIGNED), `/f${i}?a=${i}`);
  }
  assert.equal(keyPath(path, SIGNED), "/f?v=1");
});

Deno.test("glob: `*` stops at the separator, `**` crosses it, /**/ may be empty, anchored", () => {
  const p = (pattern: string) => glob(pattern, "/");
  assert.ok(p("/a/*.tgz").test("/a/x.tgz"));
  assert.ok(!p("/a/*.tgz").test("/a/b/x.tgz"));
  assert.ok(p("/a/**").test("/a/b/c/d"));
  assert.ok(p("/a/**").test("/a/"));
  assert.ok(p("/**/x").test("/x"), "/**/ matches a single /");
  assert.ok(p("/**/x").test("/a/b/x"));
  assert.ok(!p("/**/x").test("/a/bx"));
  assert.ok(p("/a**z").test("/a/b/z"));
  assert.ok(!p("/a/*").test("/a/b/c"));
  assert.ok(p("/a/*").test("/a/"));
  // Anchored at both ends.
  assert.ok(!p("/a").test("/a/b"));
  assert.ok(!p("/b").test("/a/b"));
  // Regex characters are literal.
  assert.ok(p("/a.b+c(d)?[e]$^{f}|g\\").test("/a.b+c(d)?[e]$^{f}|g\\"));
  assert.ok(!p("/a.b").test("/aXb"));
  assert.ok(!p("/a?").test("/ab"));
  // Paths are case-sensitive.
  assert.ok(!p("/A/*").test("/a/x"));

  const h = (pattern: string) => glob(pattern, ".");
  assert.ok(h("*.example.org").test("a.example.org"));
  assert.ok(h("*.example.org").test("A.EXAMPLE.ORG"), "hosts are case-insensitive");
  assert.ok(!h("*.example.org").test("a.b.example.org"));
  assert.ok(!h("*.example.org").test("example.org"));
  assert.ok(h("**.example.org").test("a.b.example.org"));
  assert.ok(!h("example.org").test("example.org.evil"));

  const v = (pattern: string) => glob(pattern, "");
  assert.ok(v("a*").test("a/b.c"), "with no separator `*` is any run");
  assert.ok(!v("a*").test("ba"));
});
