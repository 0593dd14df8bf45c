import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Cache } from "../../src/cache/cache.ts";
import { storeId } from "../../src/cache/key.ts";
import { type Meta, parseMeta, type ResponseMeta } from "../../src/cache/meta.ts";
import { SMALL_BODY_BYTES } from "../../src/cache/body_store.ts";
import { DiskStore } from "../../src/cache/disk_store.ts";
import { InlineBody } from "../../src/cache/inline_body.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { Logger } from "../../src/observe/log.ts";
import { runIdleWork } from "../../src/io/idle_work.ts";
import { crashBodySize } from "./_fixtures/crash_child.ts";
import {
  bodyBytes,
  commitBytes,
  commitFourSizes,
  delay,
  exists,
  listFiles,
  pendingMeta,
  readBody,
  readSource,
  varyIndex,
  withDir,
} from "./_fixtures/entries.ts";

const CHILD = new URL("./_fixtures/crash_child.ts", import.meta.url).pathname;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function shardOf(dir: string, id: string): string {
  return `${dir}/data/${id.slice(0, 2)}`;
}

function metaPath(dir: string, id: string): string {
  return `${shardOf(dir, id)}/${id}.json`;
}

Deno.test("DiskStore.open creates its directories with mode 0700 and empties tmp/", async () => {
  await withDir(async (root) => {
    const dir = `${root}/cache`;
    const store = await DiskStore.open(dir);
    assert.equal(store.dir, dir);
    if (Deno.build.os !== "windows") {
      for (const sub of ["", "/data", "/tmp"]) {
        assert.equal((await Deno.stat(`${dir}${sub}`)).mode! & 0o777, 0o700, `${dir}${sub}`);
      }
    }
    const marker = JSON.parse(await Deno.readTextFile(`${dir}/hoard-cache.json`));
    assert.deepEqual(marker, { format: "hoard-cache", version: 1 });

    // Left-overs of fills that never completed, and an entry that did.
    const entry = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("a", 10));
    await Deno.writeTextFile(`${dir}/tmp/${crypto.randomUUID()}.part`, "half a body");
    await Deno.mkdir(`${dir}/tmp/nested`);
    await Deno.writeTextFile(`${dir}/tmp/nested/x`, "x");
    const again = await DiskStore.open(dir);
    assert.deepEqual(await listFiles(`${dir}/tmp`), []);
    assert.deepEqual(await again.readMeta(entry.id), entry);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${dir}/tmp`)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(shardOf(dir, entry.id))).mode! & 0o777, 0o700);
    }
  });
});

Deno.test("DiskStore.commit places the body, then writes readable metadata", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const pending = pendingMeta("http://a.test/x", { headers: [["ETag", '"v1"']] });
    const bytes = bodyBytes("x", 100_000);
    const temp = await store.beginBody();
    assert.ok(temp.path.startsWith(`${dir}/tmp/`));
    await temp.write(bytes.subarray(0, 30_000));
    await temp.write(bytes.subarray(30_000));
    assert.equal(temp.size, bytes.length);
    // The body's path follows it into place: the temp name is taken now.
    const tempPath = temp.path;
    let placed: { path: string; body: boolean; meta: boolean; temp: boolean } | undefined;
    const stored = await store.commit(temp, pending, undefined, {
      onPlaced: (path) => {
        // Checked synchronously: the state the store is in between its two renames.
        const has = (p: string) => {
          try {
            Deno.lstatSync(p);
            return true;
          } catch {
            return false;
          }
        };
        placed = {
          path,
          body: has(path),
          meta: has(metaPath(dir, pending.id)),
          temp: has(tempPath),
        };
      },
    });
    assert.ok(placed !== undefined, "onPlaced was called");
    assert.deepEqual(
      { body: placed.body, meta: placed.meta, temp: placed.temp },
      { body: true, meta: false, temp: false },
    );
    assert.equal(placed.path, store.bodyPath(stored));
    assert.equal(temp.path, placed.path);
    assert.match(stored.body, new RegExp(`^${pending.id}-[0-9a-f]{8}\\.body$`));
    assert.deepEqual(stored, {
      ...pending,
      body: stored.body,
      size: bytes.length,
      sha256: sha256(bytes),
    });
    assert.deepEqual(await Deno.readFile(store.bodyPath(stored)), bytes);

    const text = await Deno.readTextFile(metaPath(dir, pending.id));
    assert.ok(text.endsWith("}\n"));
    assert.ok(text.split("\n").length > 10, "one field a line");
    assert.ok(text.includes('\n "key": "http://a.test/x",\n'), text);
    assert.deepEqual(parseMeta(text, pending.id), stored);
    assert.deepEqual(await store.readMeta(pending.id), stored);
    assert.deepEqual(await listFiles(`${dir}/tmp`), []);

    const head = await store.openBody(stored, { start: 0, length: 10 });
    assert.ok(head !== undefined);
    assert.deepEqual(await readSource(head), bytes.subarray(0, 10));
  });
});

Deno.test("DiskStore.commit of an existing id replaces the entry and deletes the old body", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const first = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("1", 500));
    const second = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("2", 700));
    assert.equal(second.id, first.id);
    assert.notEqual(second.body, first.body);
    assert.deepEqual(
      await listFiles(shardOf(dir, first.id)),
      [`${first.id}.json`, second.body].sort(),
    );
    assert.deepEqual(await store.readMeta(first.id), second);
    assert.deepEqual(await Deno.readFile(store.bodyPath(second)), bodyBytes("2", 700));
  });
});

Deno.test("DiskStore.commit with the replaced entry given deletes its body without reading it", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const first = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("1", 500));
    // The metadata on disk is gone: only the entry handed in can name the old body.
    await Deno.remove(metaPath(dir, first.id));
    const temp = await store.beginBody();
    await temp.write(bodyBytes("2", 700));
    const second = await store.commit(temp, pendingMeta("http://a.test/"), first);
    assert.deepEqual(
      await listFiles(shardOf(dir, first.id)),
      [`${first.id}.json`, second.body].sort(),
    );
    // null says there is nothing to replace: a stray body is left for the scan.
    const stray = `${shardOf(dir, first.id)}/${first.id}-00000000.body`;
    await Deno.writeFile(stray, bodyBytes("3", 10));
    const temp3 = await store.beginBody();
    await temp3.write(bodyBytes("4", 10));
    const third = await store.commit(temp3, pendingMeta("http://a.test/"), null);
    assert.ok(await exists(store.bodyPath(second)), "the old body is not looked up");
    assert.deepEqual(await Deno.readFile(store.bodyPath(third)), bodyBytes("4", 10));
  });
});

Deno.test("DiskStore.commit of a body kept in memory writes one file: the metadata, body inside", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const key = "http://a.test/small";
    const bytes = bodyBytes("s", 5000);
    const temp = new InlineBody();
    await temp.write(bytes.subarray(0, 1000));
    await temp.write(bytes.subarray(1000));
    // Kept in memory only: no temp file.
    assert.deepEqual(await listFiles(`${dir}/tmp`), []);
    const stored = await store.commit(temp, pendingMeta(key));
    assert.equal(stored.body, "");
    assert.equal(stored.size, bytes.length);
    assert.equal(stored.sha256, sha256(bytes));
    assert.deepEqual(Uint8Array.from(atob(stored.inline!), (c) => c.charCodeAt(0)), bytes);
    assert.deepEqual(await listFiles(shardOf(dir, stored.id)), [`${stored.id}.json`]);
    assert.deepEqual(await listFiles(`${dir}/tmp`), []);
    assert.deepEqual(await store.readMeta(stored.id), stored);
    // The scan counts it by its metadata alone, and keeps it.
    const [scanned] = await store.scan();
    assert.equal(scanned?.id, stored.id);
    assert.equal(scanned?.size, (await Deno.stat(metaPath(dir, stored.id))).size);
    await store.remove(stored.id);
    assert.deepEqual(await listFiles(shardOf(dir, stored.id)), []);
  });
});

Deno.test("DiskStore writes metadata and makes shards from the event loop, and from the pool once writes were slow", async () => {
  await withDir(async (root) => {
    // Never slow: the marker, each new shard and each commit's metadata on the loop.
    const quick = await DiskStore.open(`${root}/quick`, { writes: { slowMs: Infinity } });
    const a = await commitBytes(quick, pendingMeta("http://a.test/"), bodyBytes("a", 10));
    const b = await commitBytes(quick, pendingMeta("http://a.test/big"), bodyBytes("b", 100_000));
    const shards = new Set([a.id, b.id].map((id) => id.slice(0, 2))).size;
    assert.deepEqual([quick.writes.onLoop, quick.writes.inPool], [1 + shards + 2, 0]);
    assert.deepEqual(await quick.readMeta(a.id), a);
    assert.deepEqual(await quick.readMeta(b.id), b);
    // Every write slow: the marker's moves the rest to the pool (a shard, two metadata files).
    let told = 0;
    const slow = await DiskStore.open(`${root}/slow`, {
      writes: { slowMs: -1, onSlow: () => told++ },
    });
    const c = await commitBytes(slow, pendingMeta("http://a.test/"), bodyBytes("c", 10));
    const index = varyIndex();
    await slow.writeMeta(index);
    const more = index.id.slice(0, 2) === c.id.slice(0, 2) ? 0 : 1;
    assert.deepEqual([slow.writes.onLoop, slow.writes.inPool, told], [1, 3 + more, 1]);
    assert.deepEqual(await slow.readMeta(c.id), c);
    assert.deepEqual(await slow.readMeta(index.id), index);
    // No temp name left either way.
    for (const [dir, id] of [[`${root}/quick`, a.id], [`${root}/slow`, c.id]] as const) {
      assert.deepEqual((await listFiles(shardOf(dir, id))).filter((f) => f.endsWith(".tmp")), []);
    }
  });
});

Deno.test("DiskStore.commit: an inline body replaces a body file and the other way round, nothing left over", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const key = "http://a.test/r";
    const fileBodied = await commitBytes(store, pendingMeta(key), bodyBytes("1", 100_000));
    const small = new InlineBody();
    await small.write(bodyBytes("2", 10));
    const inline = await store.commit(small, pendingMeta(key));
    assert.deepEqual(await listFiles(shardOf(dir, inline.id)), [`${inline.id}.json`]);
    assert.ok(!(await exists(store.bodyPath(fileBodied))));
    const again = await commitBytes(store, pendingMeta(key), bodyBytes("3", 100_000));
    assert.deepEqual(
      await listFiles(shardOf(dir, again.id)),
      [`${again.id}.json`, again.body].sort(),
    );
    assert.deepEqual(await Deno.readFile(store.bodyPath(again)), bodyBytes("3", 100_000));
  });
});

/** An inline body of `size` bytes from `seed`. */
async function inlineBody(seed: string, size = 10): Promise<InlineBody> {
  const body = new InlineBody();
  await body.write(bodyBytes(seed, size));
  return body;
}

Deno.test("DiskStore.commit with `later`: the metadata is answered from memory, written at the idle moment", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const failed: unknown[] = [];
    const later = { later: (_: Meta, err: unknown) => failed.push(err) };
    const stored = await store.commit(
      await inlineBody("a"),
      pendingMeta("http://a.test/l"),
      null,
      later,
    );
    // Looked at synchronously: the idle moment's timer cannot have run yet.
    assert.throws(() => Deno.lstatSync(metaPath(dir, stored.id)), Deno.errors.NotFound);
    assert.throws(
      () => Deno.lstatSync(shardOf(dir, stored.id)),
      Deno.errors.NotFound,
      "its shard directory is made then too",
    );
    assert.deepEqual(await store.readMeta(stored.id), stored);
    await store.touch(stored.id); // nothing on disk to touch yet: no error either
    runIdleWork();
    await store.flush();
    assert.deepEqual(
      parseMeta(await Deno.readTextFile(metaPath(dir, stored.id)), stored.id),
      stored,
    );
    assert.deepEqual(await listFiles(shardOf(dir, stored.id)), [`${stored.id}.json`]);
    assert.deepEqual(failed, []);
  });
});

Deno.test("DiskStore.commit with `later`: removed or replaced before the idle moment, it is never written", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const later = { later: () => assert.fail("no write fails") };
    // An older version on disk; the newer one, waiting, removed: neither is left.
    const old = await store.commit(await inlineBody("0"), pendingMeta("http://a.test/r"));
    await store.commit(await inlineBody("1"), pendingMeta("http://a.test/r"), old, later);
    await store.remove(old.id);
    await store.flush();
    assert.ok(!(await exists(metaPath(dir, old.id))));
    // Waiting, then replaced by a body file: the file's metadata stays.
    const key = "http://a.test/f";
    await store.commit(await inlineBody("2"), pendingMeta(key), null, later);
    const fileBodied = await commitBytes(store, pendingMeta(key), bodyBytes("3", 100_000));
    await store.flush();
    assert.deepEqual(await store.readMeta(fileBodied.id), fileBodied);
    assert.deepEqual(await Deno.readFile(store.bodyPath(fileBodied)), bodyBytes("3", 100_000));
  });
});

Deno.test("DiskStore.commit with `later`: a write that fails when it comes is reported", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const failed: [Meta, unknown][] = [];
    const later = { later: (m: Meta, err: unknown) => failed.push([m, err]) };
    const stored = await store.commit(
      await inlineBody("a"),
      pendingMeta("http://a.test/x"),
      null,
      later,
    );
    // The shard directory turns into a file behind the store's back — at
    // once: an await here would let the idle moment write the metadata first.
    try {
      Deno.removeSync(shardOf(dir, stored.id), { recursive: true });
    } catch {
      // not made yet
    }
    Deno.writeTextFileSync(shardOf(dir, stored.id), "not a directory");
    await store.flush();
    assert.equal(failed.length, 1);
    assert.equal(failed[0]![0], stored);
    assert.equal(await store.readMeta(stored.id).catch(() => undefined), undefined);
  });
});

Deno.test("InlineBody refuses to grow past the small-body size", async () => {
  const temp = new InlineBody();
  await temp.write(new Uint8Array(SMALL_BODY_BYTES));
  await assert.rejects(() => temp.write(new Uint8Array(1)), /grew too large/);
});

Deno.test("DiskBody keeps a small body in memory and hashes it there; a large one is read back", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    for (const size of [0, 1, SMALL_BODY_BYTES, SMALL_BODY_BYTES + 1, 300_000]) {
      const bytes = bodyBytes(`s${size}`, size);
      const temp = await store.beginBody();
      // In pieces, from one reused buffer: what is kept must be a copy.
      const buf = new Uint8Array(40_000);
      for (let off = 0; off < size; off += buf.length) {
        const piece = bytes.subarray(off, off + buf.length);
        buf.set(piece);
        await temp.write(buf.subarray(0, piece.length));
        buf.fill(0);
      }
      const sha = await temp.finish();
      assert.equal(sha, sha256(bytes), `sha256 of ${size} bytes`);
      if (size <= SMALL_BODY_BYTES) assert.deepEqual(temp.bytes, bytes, `${size} kept`);
      else assert.equal(temp.bytes, undefined, `${size} not kept`);
      assert.deepEqual(await Deno.readFile(temp.path), bytes, `${size} on disk`);
      await temp.discard();
    }
  });
});

Deno.test("DiskStore.remove deletes the metadata and the body", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const keep = await commitBytes(store, pendingMeta("http://a.test/keep"), bodyBytes("k", 5));
    const gone = await commitBytes(store, pendingMeta("http://a.test/gone"), bodyBytes("g", 5));
    await store.remove(gone.id);
    assert.equal(await store.readMeta(gone.id), undefined);
    assert.equal(await exists(store.bodyPath(gone)), false);
    assert.equal(await exists(metaPath(dir, gone.id)), false);
    assert.deepEqual(await store.readMeta(keep.id), keep);
    await store.remove(gone.id); // twice is fine
    await store.remove(storeId("never stored"));
  });
});

Deno.test("DiskStore.writeMeta and readMeta round-trip a vary index", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const index = varyIndex();
    await store.writeMeta(index);
    assert.deepEqual(await store.readMeta(index.id), index);
    assert.deepEqual(await listFiles(shardOf(dir, index.id)), [`${index.id}.json`]);
  });
});

Deno.test("DiskStore.scan reports each entry's size and last use", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const entries = await commitFourSizes(store);
    const at = new Date("2020-01-02T03:04:05Z");
    await store.touch(entries[1]!.id, at);
    const scanned = (await store.scan()).sort((a, b) => a.id.localeCompare(b.id));
    const expected = await Promise.all(entries.map(async (e) => {
      const st = await Deno.stat(metaPath(dir, e.id));
      return { id: e.id, size: st.size + e.size, usedAt: st.mtime!.getTime() };
    }));
    assert.deepEqual(scanned, expected.sort((a, b) => a.id.localeCompare(b.id)));
    assert.equal(scanned.find((e) => e.id === entries[1]!.id)!.usedAt, at.getTime());
  });
});

Deno.test("DiskStore.scan removes orphan bodies and stray temp files", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const entry = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("a", 300));
    const shard = shardOf(dir, entry.id);
    const orphanId = storeId("http://a.test/orphan");
    const strays = [
      `${shardOf(dir, orphanId)}/${orphanId}-0badf00d.body`, // a crash between the two renames
      `${shard}/${entry.id}.json.1234abcd.tmp`, // a crash inside an atomic write
      `${shard}/${storeId("other")}.json.deadbeef.tmp`,
    ];
    await Deno.mkdir(shardOf(dir, orphanId), { recursive: true });
    for (const path of strays) await leftByEarlierProcess(path, "left over");

    const scanned = await store.scan();
    assert.deepEqual(scanned.map((e) => e.id), [entry.id]);
    for (const path of strays) assert.equal(await exists(path), false, path);
    assert.deepEqual(await store.readMeta(entry.id), entry);
    assert.deepEqual(await Deno.readFile(store.bodyPath(entry)), bodyBytes("a", 300));
  });
});

Deno.test("DiskStore.scan keeps only the body the metadata names when an id has two", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    // Names that sort before and after the real one: the choice must not depend on order.
    for (const extra of ["00000000", "ffffffff"]) {
      const entry = await commitBytes(
        store,
        pendingMeta(`http://a.test/${extra}`),
        bodyBytes("a", 300),
      );
      const stale = `${shardOf(dir, entry.id)}/${entry.id}-${extra}.body`;
      await leftByEarlierProcess(stale, bodyBytes("old", 5000));
      const scanned = await store.scan();
      const mine = scanned.find((e) => e.id === entry.id);
      const metaSize = (await Deno.stat(metaPath(dir, entry.id))).size;
      assert.equal(mine?.size, metaSize + 300);
      assert.equal(await exists(stale), false);
      assert.deepEqual(await Deno.readFile(store.bodyPath(entry)), bodyBytes("a", 300));
    }
  });
});

Deno.test("DiskStore.readMeta deletes invalid metadata and answers undefined", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const good = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("a", 10));
    const goodText = await Deno.readTextFile(metaPath(dir, good.id));
    const variants: [string, (id: string) => string][] = [
      ["not JSON", () => "garbage\n"],
      ["empty", () => ""],
      ["truncated", () => goodText.slice(0, goodText.length / 2)],
      // What a power loss can leave of metadata renamed but not yet written back.
      ["zero-filled", () => "\0".repeat(goodText.length)],
      ["null", () => "null"],
      ["wrong version", (id) => JSON.stringify({ ...good, id, v: 2 })],
      ["other id", () => JSON.stringify(good)],
      ["unknown kind", (id) => JSON.stringify({ ...good, id, kind: "mystery" })],
      ["body outside the shard", (id) => JSON.stringify({ ...good, id, body: "../../x.body" })],
      ["size not a number", (id) => JSON.stringify({ ...good, id, size: "10" })],
      [
        "vary without variants",
        (id) => JSON.stringify({ v: 1, kind: "vary", id, key: "k", vary: [] }),
      ],
    ];
    for (const [name, text] of variants) {
      const id = storeId(name);
      await Deno.mkdir(shardOf(dir, id), { recursive: true });
      await Deno.writeTextFile(metaPath(dir, id), text(id));
      assert.equal(await store.readMeta(id), undefined, name);
      assert.equal(await exists(metaPath(dir, id)), false, name);
    }
    assert.equal(await store.readMeta(storeId("absent")), undefined);
    assert.deepEqual(await store.readMeta(good.id), good);
  });
});

Deno.test("DiskStore.readMeta deleting invalid metadata deletes the bodies of its id an earlier process left, not newer ones", async () => {
  await withDir(async (dir) => {
    const first = await DiskStore.open(dir);
    const entry = await commitBytes(first, pendingMeta("http://a.test/"), bodyBytes("a", 100));
    const old = `${shardOf(dir, entry.id)}/${entry.body}`;
    await delay(150); // older than the next opening, with the clock's allowance
    const store = await DiskStore.open(dir);
    // Renamed into place by this process, its metadata not written yet.
    const fresh = `${shardOf(dir, entry.id)}/${entry.id}-0fresh00.body`;
    await Deno.writeFile(fresh, bodyBytes("b", 100));
    await Deno.writeFile(metaPath(dir, entry.id), new Uint8Array(300));
    assert.equal(await store.readMeta(entry.id), undefined);
    assert.equal(await exists(metaPath(dir, entry.id)), false);
    assert.equal(await exists(old), false, "the body the lost metadata named");
    assert.equal(await exists(fresh), true, "a body of this process");
  });
});

Deno.test("DiskStore.touch sets the metadata's modification time", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const entry = await commitBytes(store, pendingMeta("http://a.test/"), bodyBytes("a", 10));
    const at = new Date("2021-06-07T08:09:10Z");
    await store.touch(entry.id, at);
    assert.equal((await Deno.stat(metaPath(dir, entry.id))).mtime?.getTime(), at.getTime());
    const before = Date.now();
    await store.touch(entry.id);
    const mtime = (await Deno.stat(metaPath(dir, entry.id))).mtime!.getTime();
    assert.ok(mtime >= before - 1000 && mtime <= Date.now() + 1000, `${mtime} vs ${before}`);
  });
});

Deno.test({
  name: "DiskStore.scan running during a commit leaves the committed entry whole",
  fn: async () => {
    await withDir(async (dir) => {
      const store = await DiskStore.open(dir);
      for (let i = 0; i < 5; i++) {
        let scan: Promise<unknown> | undefined;
        // onPlaced runs right between the body's rename and the metadata
        // write: where a concurrent start-up scan can be.
        const entry = await commitBytes(
          store,
          pendingMeta(`http://a.test/${i}`),
          bodyBytes("a", 1000),
          () => scan = store.scan(),
        ).catch((err: Error) => err);
        await scan;
        assert.ok(!(entry instanceof Error), `commit failed: ${entry}`);
        assert.ok(await exists(store.bodyPath(entry)), "the committed body is still there");
        assert.deepEqual(await store.readMeta(entry.id), entry);
      }
    });
  },
});

// --- crash safety -----------------------------------------------------------

interface Killed {
  /** Progress lines the child printed before it was killed. */
  lines: string[];
}

/**
 * Runs the crash child in `mode` on `dir`, waits until `ready` accepts a line
 * of its progress, waits `afterMs` more, then kills it with SIGKILL.
 */
async function runAndKill(
  mode: "fill" | "commits",
  dir: string,
  ready: (line: string) => boolean,
  afterMs: number,
): Promise<Killed> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", CHILD, mode, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.text();
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  let partial = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    let seen = false;
    while (!seen) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`crash child ended early:\n${await stderr}`);
      partial += decoder.decode(value, { stream: true });
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (ready(line)) seen = true;
      }
    }
    await delay(afterMs);
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    // A restart within 100 ms leaves the newest leftovers for the next start
    // (they cannot be told from files the new process writes): restart later.
    await delay(150);
  } finally {
    clearTimeout(timer);
    await reader.cancel();
    await stderr;
  }
  return { lines };
}

/**
 * Asserts that the store in `dir` holds only whole entries once opened and
 * scanned: no temp files, no orphans, every body of the size and SHA-256 its
 * metadata says. Returns the entries.
 */
async function assertWhole(dir: string): Promise<ResponseMeta[]> {
  const store = await DiskStore.open(dir);
  assert.deepEqual(await listFiles(`${dir}/tmp`), []);
  const scanned = await store.scan();
  const entries: ResponseMeta[] = [];
  const expectedFiles: string[] = [];
  for (const e of scanned) {
    const meta: Meta | undefined = await store.readMeta(e.id);
    assert.ok(meta !== undefined, `metadata of ${e.id} is valid`);
    assert.equal(meta.kind, "response");
    if (meta.kind !== "response") continue;
    const body = await Deno.readFile(store.bodyPath(meta));
    assert.equal(body.length, meta.size, `size of ${meta.key}`);
    assert.equal(sha256(body), meta.sha256, `sha256 of ${meta.key}`);
    const metaSize = (await Deno.stat(metaPath(dir, e.id))).size;
    assert.equal(e.size, metaSize + meta.size);
    entries.push(meta);
    const shard = e.id.slice(0, 2);
    expectedFiles.push(`${shard}/${e.id}.json`, `${shard}/${meta.body}`);
  }
  // Nothing else is left in data/: no orphan body, no temp metadata.
  assert.deepEqual(await listFiles(`${dir}/data`), expectedFiles.sort());
  return entries;
}

Deno.test("a fill killed with SIGKILL leaves nothing behind", async () => {
  await withDir(async (dir) => {
    const { lines } = await runAndKill(
      "fill",
      dir,
      (l) => /^wrote (\d+)/.test(l) && Number(l.split(" ")[1]) >= 64 * 1024,
      5,
    );
    const path = lines.at(-1)!.split(" ")[2]!;
    const left = await Deno.stat(path);
    assert.ok(left.size >= 64 * 1024, "the partial body was on disk when the child died");
    const entries = await assertWhole(dir);
    assert.deepEqual(entries, []);
    assert.equal(await exists(path), false);
  });
});

Deno.test("commits killed with SIGKILL leave only whole entries", async () => {
  await withDir(async (dir) => {
    let committed = 0, inFlight = 0;
    // Five lives, killed at different moments; the store carries over.
    for (const afterMs of [0, 3, 7, 13, 23]) {
      const { lines } = await runAndKill(
        "commits",
        dir,
        (l) => l.startsWith("committed 40"),
        afterMs,
      );
      committed += lines.length;
      inFlight += (await listFiles(`${dir}/tmp`)).length;
      const entries = await assertWhole(dir);
      assert.ok(entries.length > 0);

      // A new process state: nothing verified yet. Every entry is found and
      // its body is exactly the version its metadata names.
      const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("silent"));
      try {
        await cache.ready;
        assert.equal(cache.entryCount, entries.length);
        for (const meta of entries) {
          const found = await cache.find(
            { method: "GET", key: meta.key, fields: new FieldList() },
            Date.now(),
          );
          assert.equal(found.kind, "entry");
          if (found.kind !== "entry") continue;
          const version = Number(found.entry.headers.find(([n]) => n === "X-Version")![1]);
          assert.equal(found.entry.size, crashBodySize(version));
          const body = await cache.body(found.entry);
          assert.ok(body !== undefined, `body of ${meta.key}`);
          const bytes = await readBody(body);
          assert.deepEqual(bytes, bodyBytes(`${meta.key}#${version}`, found.entry.size));
        }
      } finally {
        await cache.settled();
      }
    }
    assert.ok(committed >= 200);
    // The kills did land in the middle of fills.
    assert.ok(inFlight > 0, "temp bodies were left behind");
  });
});

/**
 * Writes a file dated an hour ago: the scan only deletes what an earlier
 * process left, never what this one is writing while the scan runs.
 */
async function leftByEarlierProcess(path: string, data: string | Uint8Array): Promise<void> {
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
  const hourAgo = new Date(Date.now() - 3600_000);
  await Deno.utime(path, hourAgo, hourAgo);
}
