import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  encodeHead,
  openObject,
  type SharedMeta,
  sharedMeta,
} from "../../../src/cache/shared/object.ts";
import { S3Error } from "../../../src/cache/shared/s3_errors.ts";
import { storeId } from "../../../src/cache/key.ts";
import type { ResponseMeta } from "../../../src/cache/meta.ts";

const KEY = "https://example.test/pkg.tgz";

function entry(body: Uint8Array, over: Partial<ResponseMeta> = {}): ResponseMeta {
  return {
    v: 1,
    kind: "response",
    id: storeId(KEY),
    key: KEY,
    status: 200,
    reason: "OK",
    headers: [["content-type", "application/gzip"]],
    policy: {},
    storedAt: 1,
    size: body.length,
    sha256: createHash("sha256").update(body).digest("hex"),
    body: "x.body",
    ...over,
  };
}

function object(meta: SharedMeta, body: Uint8Array): Uint8Array {
  const head = encodeHead(meta);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** The object cut into pieces of `size` bytes, as a stream would deliver it. */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function read(bytes: Uint8Array, size = 7, id = storeId(KEY), key = KEY) {
  const o = await openObject(pieces(bytes, size), bytes.length, id, key);
  const got: Uint8Array[] = [];
  for await (const p of o.body) got.push(p);
  return { meta: o.meta, body: Buffer.concat(got) };
}

async function corrupt(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof S3Error && err.kind === "corrupt", String(err));
    return err.message;
  }
  throw new Error("expected a corrupt object");
}

Deno.test("object: round trip in any piece size; the local file name and inline body are not carried", async () => {
  const body = new TextEncoder().encode("the body of a tarball\n".repeat(50));
  const meta = sharedMeta({ ...entry(body), inline: "abc" });
  assert.equal("body" in meta, false);
  assert.equal("inline" in meta, false);
  for (const size of [1, 7, 64, 100_000]) {
    const r = await read(object(meta, body), size);
    assert.deepEqual(r.meta, meta);
    assert.equal(Buffer.from(r.body).toString(), Buffer.from(body).toString());
  }
});

Deno.test("object: an empty body, and a vary index (no body)", async () => {
  const empty = new Uint8Array(0);
  assert.equal((await read(object(sharedMeta(entry(empty)), empty))).body.length, 0);
  const index = sharedMeta({
    v: 1,
    kind: "vary",
    id: storeId(KEY),
    key: KEY,
    vary: ["accept-encoding"],
    variants: ["a", "b"],
    storedAt: 1,
  });
  const r = await read(encodeHead(index));
  assert.equal(r.meta.kind, "vary");
  assert.deepEqual(r.meta.kind === "vary" && r.meta.variants, []);
});

Deno.test("object: a body that differs from its SHA-256 fails before its last piece is handed on", async () => {
  const body = new Uint8Array(1000).fill(7);
  const bytes = object(sharedMeta(entry(body)), body);
  bytes[bytes.length - 1] = 8;
  const o = await openObject(pieces(bytes, 100), bytes.length, storeId(KEY), KEY);
  let handed = 0;
  const why = await corrupt((async () => {
    for await (const p of o.body) handed += p.length;
  })());
  assert.match(why, /SHA-256/);
  assert.ok(handed < body.length, `${handed} bytes handed on`);
});

Deno.test("object: refused — another URL's entry, an id that is not its keys' hash, bad header, wrong lengths", async () => {
  const body = new Uint8Array(10);
  const good = object(sharedMeta(entry(body)), body);
  // Asked for another URL: the object answers for KEY only.
  const other = "https://example.test/other.tgz";
  assert.match(await corrupt(read(good, 7, storeId(other), other)), /another entry/);
  // A writer that puts KEY's object under another id, claiming that id.
  const forged = object(sharedMeta(entry(body, { id: storeId(other) })), body);
  assert.match(await corrupt(read(forged, 7, storeId(other))), /does not match its keys/);
  // A variant claiming another secondary key than its id's.
  const variant = object(
    sharedMeta(entry(body, { id: storeId(KEY, "accept=x\n"), secondary: "accept=y\n" })),
    body,
  );
  assert.match(await corrupt(read(variant, 7, storeId(KEY, "accept=x\n"))), /does not match/);
  assert.match(
    await corrupt(read(new TextEncoder().encode("<html>oops</html>"))),
    /no hoard header/,
  );
  assert.match(await corrupt(read(good.subarray(0, 40))), /object of|cut short/);
  assert.match(await corrupt(read(good.subarray(0, good.length - 1))), /object of/);
  const o = await openObject(pieces(good.subarray(0, good.length - 3), 7), NaN, storeId(KEY), KEY);
  assert.match(
    await corrupt((async () => {
      for await (const _ of o.body);
    })()),
    /ended after 7 of 10/,
  );
  // A stored part is never shared.
  const part = object(sharedMeta(entry(body, { status: 206, reason: "Partial Content" })), body);
  assert.match(await corrupt(read(part)), /a stored part/);
});
