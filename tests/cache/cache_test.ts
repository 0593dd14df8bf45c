import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import { variantId } from "../../src/cache/key.ts";
import { secondaryKey, storeId } from "../../src/cache/key.ts";
import type { ResponseMeta } from "../../src/cache/meta.ts";
import type { CacheRequest } from "../../src/cache/policy/inputs.ts";
import { SMALL_BODY_BYTES } from "../../src/cache/body_store.ts";
import { DiskStore } from "../../src/cache/disk_store.ts";
import { MemoryStore } from "../../src/cache/memory_store.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { Logger } from "../../src/observe/log.ts";
import {
  bodyBytes,
  commitBytes,
  delay,
  exists,
  listFiles,
  type MetaOptions,
  pendingMeta,
  readBody,
  readSource,
  withDir,
} from "./_fixtures/entries.ts";

const UNLIMITED = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();

/** Opens a cache on `dir`, runs `fn`, then waits for its background work. */
async function withCache(
  dir: string,
  fn: (cache: Cache) => Promise<void>,
  maxBytes = UNLIMITED,
  logger = new Logger("silent"),
): Promise<void> {
  const cache = await Cache.open(dir, maxBytes, logger);
  try {
    // Commits must not race the start-up scan (see the BUG in store_test.ts).
    await cache.ready;
    await fn(cache);
  } finally {
    await cache.settled();
  }
}

function fields(...pairs: [string, string][]): FieldList {
  const f = new FieldList();
  for (const [n, v] of pairs) f.add(n, v);
  return f;
}

function get(key: string, f: FieldList = new FieldList()): CacheRequest {
  return { method: "GET", key, fields: f };
}

/** Commits `size` bytes seeded by `key` as the entry for `key`. */
async function put(
  cache: Cache,
  key: string,
  size: number,
  opts: MetaOptions = {},
): Promise<ResponseMeta> {
  const stored = await commitBytes(cache, pendingMeta(key, opts), bodyBytes(key, size));
  assert.ok(stored !== undefined, `commit of ${key}`);
  return stored;
}

/** The body `cache` serves for `entry`, as bytes (files are read and closed). */
async function bodyOf(cache: Cache, entry: ResponseMeta): Promise<Uint8Array | undefined> {
  const body = await cache.body(entry);
  return body === undefined ? undefined : await readBody(body);
}

/** Where the disk store in `dir` keeps the body of `entry`: for tests that damage it. */
async function bodyPathOf(dir: string, entry: ResponseMeta): Promise<string> {
  return (await DiskStore.open(dir, { readOnly: true })).bodyPath(entry);
}

/** The entry `cache` finds for a plain GET of `key`, or undefined. */
async function entryFor(cache: Cache, key: string): Promise<ResponseMeta | undefined> {
  const found = await cache.find(get(key), Date.now());
  return found.kind === "entry" ? found.entry : undefined;
}

/** Total size of the files under `dir`/data. */
async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await listFiles(`${dir}/data`)) {
    total += (await Deno.stat(`${dir}/data/${f}`)).size;
  }
  return total;
}

Deno.test("Cache.body serves the exact bytes of small and large entries", async () => {
  await withDir(async (dir) => {
    const sizes = [0, 1, SMALL_BODY_BYTES, SMALL_BODY_BYTES + 1, 300 * 1024];
    await withCache(dir, async (cache) => {
      for (const size of sizes) await put(cache, `http://a.test/${size}`, size);
    });
    // A new process state: every body is checked on its first read.
    await withCache(dir, async (cache) => {
      for (const size of sizes) {
        const key = `http://a.test/${size}`;
        const entry = await entryFor(cache, key);
        assert.ok(entry !== undefined, key);
        const body = await cache.body(entry);
        assert.ok(body !== undefined);
        assert.equal("bytes" in body, size <= SMALL_BODY_BYTES, `small body ${size} in memory`);
        const bytes = await readBody(body);
        assert.deepEqual(bytes, bodyBytes(key, size));
        assert.ok(cache.verified.has(entry.id));
        // Again: small ones from memory, large ones without a second check.
        assert.deepEqual(await bodyOf(cache, entry), bodyBytes(key, size));
      }
    });
  });
});

Deno.test("a small body committed by this process is served from memory, a large one from its file", async () => {
  await withDir(async (dir) => {
    await withCache(dir, async (cache) => {
      const small = await put(cache, "http://a.test/small", SMALL_BODY_BYTES);
      const large = await put(cache, "http://a.test/large", SMALL_BODY_BYTES + 1);
      await Deno.remove(await bodyPathOf(dir, small));
      await Deno.remove(await bodyPathOf(dir, large));
      assert.deepEqual(
        await bodyOf(cache, small),
        bodyBytes("http://a.test/small", SMALL_BODY_BYTES),
      );
      assert.equal(await bodyOf(cache, large), undefined, "a large body is read from its file");
      assert.equal(
        await entryFor(cache, "http://a.test/large"),
        undefined,
        "and deleted when gone",
      );
    });
  });
});

Deno.test("an inline body is served after a restart, checked once; a corrupted one is deleted", async () => {
  await withDir(async (dir) => {
    const bytes = bodyBytes("inline", 3000);
    let id = "";
    await withCache(dir, async (cache) => {
      const temp = (await cache.beginBody(bytes.length))!;
      await temp.write(bytes);
      const stored = await cache.commit(temp, pendingMeta("http://a.test/i"));
      assert.ok(stored?.inline !== undefined);
      id = stored.id;
    });
    await withCache(dir, async (cache) => {
      const entry = await entryFor(cache, "http://a.test/i");
      assert.ok(entry !== undefined);
      assert.deepEqual(await bodyOf(cache, entry), bytes);
      assert.ok(cache.verified.has(id));
    });
    // One base64 digit changed: the body no longer matches its SHA-256.
    const path = `${dir}/data/${id.slice(0, 2)}/${id}.json`;
    const meta = JSON.parse(await Deno.readTextFile(path));
    meta.inline = (meta.inline[0] === "A" ? "B" : "A") + meta.inline.slice(1);
    await Deno.writeTextFile(path, JSON.stringify(meta));
    await withCache(dir, async (cache) => {
      const entry = await entryFor(cache, "http://a.test/i");
      assert.ok(entry !== undefined);
      assert.equal(await bodyOf(cache, entry), undefined);
      assert.equal(await entryFor(cache, "http://a.test/i"), undefined, "deleted");
      assert.ok(!(await exists(path)));
    });
  });
});

Deno.test("Cache.body with checkWhileSending: the file at once, its SHA-256 checked by what the sender feeds", async () => {
  await withDir(async (dir) => {
    const size = 300 * 1024, key = "http://a.test/check";
    let entry!: ResponseMeta;
    await withCache(dir, async (cache) => void (entry = await put(cache, key, size)));
    for (const flip of [false, true]) {
      if (flip) {
        const path = `${dir}/data/${entry.id.slice(0, 2)}/${entry.body}`;
        const bytes = await Deno.readFile(path);
        bytes[size - 1]! ^= 0x01;
        await Deno.writeFile(path, bytes);
      }
      await withCache(dir, async (cache) => {
        const found = (await entryFor(cache, key))!;
        const body = await cache.body(found, { checkWhileSending: true });
        assert.ok(body !== undefined && "source" in body && body.check !== undefined);
        assert.ok(!cache.verified.has(entry.id), "not checked yet");
        const bytes = await readSource(body.source);
        body.check.update(bytes.subarray(0, 1000));
        body.check.update(bytes.subarray(1000));
        assert.equal(await body.check.passes(), !flip);
        assert.equal(cache.verified.has(entry.id), !flip);
        assert.equal((await entryFor(cache, key)) !== undefined, !flip, "deleted when it failed");
        if (!flip) {
          const again = await cache.body(found, { checkWhileSending: true });
          assert.ok(again !== undefined && "source" in again && again.check === undefined);
          again.source.close();
        }
      });
    }
    // A file of the wrong size is refused at once.
    await withCache(dir, async (cache) => {
      const stored = await put(cache, key, size);
      await Deno.truncate(`${dir}/data/${stored.id.slice(0, 2)}/${stored.body}`, size - 1);
      cache.verified.delete(stored.id);
      assert.equal(await cache.body(stored, { checkWhileSending: true }), undefined);
      assert.equal(await entryFor(cache, key), undefined);
    });
  });
});

Deno.test("after the start-up scan, the cache knows what is stored without asking the disk", async () => {
  await withDir(async (dir) => {
    await withCache(dir, async (cache) => void await put(cache, "http://a.test/old", 10));
    await withCache(dir, async (cache) => {
      assert.ok(await entryFor(cache, "http://a.test/old"), "found by the scan");
      await put(cache, "http://a.test/new", 10);
      assert.ok(await entryFor(cache, "http://a.test/new"), "committed by this process");
      await cache.remove(storeId("http://a.test/old"));
      assert.equal(await entryFor(cache, "http://a.test/old"), undefined, "removed");
      assert.equal(await entryFor(cache, "http://a.test/never"), undefined);
    });
  });
});

for (const [name, size] of [["small", 1000], ["large", 300 * 1024]] as const) {
  for (
    const [how, corrupt] of [
      ["a flipped byte", async (path: string) => {
        const bytes = await Deno.readFile(path);
        bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
        await Deno.writeFile(path, bytes);
      }],
      ["truncation", (path: string) => Deno.truncate(path, size - 1)],
      ["an appended byte", async (path: string) => {
        await Deno.writeFile(path, new Uint8Array([0x41]), { append: true });
      }],
      ["a missing file", (path: string) => Deno.remove(path)],
    ] as const
  ) {
    // A small body is read up to its stored size only: bytes appended after
    // it are never served, so the entry stays.
    const kept = how === "an appended byte" && name === "small";
    Deno.test(`Cache.body of a ${name} body with ${how} ${kept ? "serves the stored bytes" : "deletes the entry"}`, async () => {
      await withDir(async (dir) => {
        const key = "http://a.test/corrupt";
        let entry!: ResponseMeta;
        await withCache(dir, async (cache) => {
          entry = await put(cache, key, size);
          await put(cache, "http://a.test/fine", size);
        });
        const bodyPath = `${dir}/data/${entry.id.slice(0, 2)}/${entry.body}`;
        await corrupt(bodyPath);
        const warnings: string[] = [];
        await withCache(
          dir,
          async (cache) => {
            await cache.ready;
            const found = await entryFor(cache, key);
            assert.deepEqual(found, entry);
            if (kept) {
              assert.deepEqual(await bodyOf(cache, found), bodyBytes(key, size));
              return;
            }
            assert.equal(await cache.body(found), undefined);
            assert.equal(await entryFor(cache, key), undefined);
            assert.equal(cache.entryCount, 1);
            const fine = await entryFor(cache, "http://a.test/fine");
            assert.deepEqual(await bodyOf(cache, fine!), bodyBytes("http://a.test/fine", size));
          },
          UNLIMITED,
          new Logger("warn", (line) => warnings.push(line)),
        );
        const metaPath = `${dir}/data/${entry.id.slice(0, 2)}/${entry.id}.json`;
        assert.equal(await exists(bodyPath), kept);
        assert.equal(await exists(metaPath), kept);
        if (kept) return;
        if (how !== "a missing file") {
          assert.ok(warnings.some((l) => l.includes("failed its checksum")), warnings.join("\n"));
        }
        // Gone for the next process too.
        await withCache(dir, async (cache) => assert.equal(await entryFor(cache, key), undefined));
      });
    });
  }
}

Deno.test("Cache.shrinkTo evicts the least recently used entries first", async () => {
  await withDir(async (dir) => {
    await withCache(dir, async (cache) => {
      await cache.ready;
      const sizeOf = new Map<string, number>();
      for (const [i, name] of ["a", "b", "c", "d", "e"].entries()) {
        const before = cache.usedBytes;
        await put(cache, `http://lru.test/${name}`, (i + 1) * 1000);
        sizeOf.set(name, cache.usedBytes - before);
        await delay(3);
      }
      assert.equal(cache.entryCount, 5);
      // Hits on a and c: the order of last use becomes b, d, e, a, c.
      for (const name of ["a", "c"]) {
        const entry = await entryFor(cache, `http://lru.test/${name}`);
        assert.ok(await bodyOf(cache, entry!));
        await delay(3);
      }
      const total = cache.usedBytes;
      const has = async (name: string) =>
        (await entryFor(cache, `http://lru.test/${name}`)) !== undefined;

      assert.equal(await cache.shrinkTo(total), 0);
      assert.equal(await cache.shrinkTo(total - 1), 1);
      assert.deepEqual(await Promise.all(["a", "b", "c", "d", "e"].map(has)), [
        true,
        false,
        true,
        true,
        true,
      ]);
      const afterB = total - sizeOf.get("b")!;
      assert.equal(cache.usedBytes, afterB);
      assert.equal(await cache.shrinkTo(afterB - sizeOf.get("d")! - sizeOf.get("e")!), 2);
      assert.deepEqual(await Promise.all(["a", "b", "c", "d", "e"].map(has)), [
        true,
        false,
        true,
        false,
        false,
      ]);
      assert.equal(await cache.shrinkTo(sizeOf.get("c")!), 1);
      assert.deepEqual(await Promise.all(["a", "c"].map(has)), [false, true]);
      assert.equal(cache.entryCount, 1);
      assert.equal(cache.usedBytes, sizeOf.get("c")!);
      assert.equal(await diskBytes(dir), sizeOf.get("c")!);
      assert.equal(await cache.shrinkTo(0), 1);
      assert.deepEqual(await listFiles(`${dir}/data`), []);
      assert.equal(cache.usedBytes, 0);
    });
  });
});

Deno.test("Cache evicts down to 90% of maxBytes when a commit goes over it", async () => {
  await withDir(async (dir) => {
    const maxBytes = 20_000;
    await withCache(dir, async (cache) => {
      await cache.ready;
      const keys: string[] = [];
      let evicted = false;
      for (let i = 0; i < 12; i++) {
        const before = cache.usedBytes;
        keys.push(`http://cap.test/${i}`);
        const stored = await put(cache, keys.at(-1)!, 2500);
        const size = stored.size + encoder.encode(JSON.stringify(stored, null, 1) + "\n").length;
        const over = before + size > maxBytes;
        await cache.settled();
        if (over) {
          evicted = true;
          assert.ok(cache.usedBytes <= maxBytes * 0.9, `${cache.usedBytes} after eviction`);
          assert.ok(cache.usedBytes > maxBytes * 0.9 - size, "no more than needed");
        }
        assert.ok(cache.usedBytes <= maxBytes);
        assert.equal(await diskBytes(dir), cache.usedBytes);
        await delay(2);
      }
      assert.ok(evicted);
      // What is left is the newest entries, without gaps.
      const present = await Promise.all(
        keys.map(async (k) => (await entryFor(cache, k)) !== undefined),
      );
      const first = present.indexOf(true);
      assert.ok(first > 0);
      assert.deepEqual(present.slice(first), present.slice(first).map(() => true));
      assert.equal(cache.entryCount, keys.length - first);
    }, maxBytes);
  });
});

Deno.test("Cache.open evicts by last use on disk when the directory is over maxBytes", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const e = await commitBytes(
        store,
        pendingMeta(`http://old.test/${i}`),
        bodyBytes(`${i}`, 1000),
      );
      // Last used on day i: entry 0 is the least recently used.
      await store.touch(e.id, new Date(Date.UTC(2024, 0, 1 + i)));
      ids.push(e.id);
    }
    const total = await diskBytes(dir);
    const maxBytes = Math.floor(total * 0.75);
    await withCache(dir, async (cache) => {
      await cache.ready;
      await cache.settled();
      assert.ok(cache.usedBytes <= maxBytes * 0.9);
      assert.equal(await diskBytes(dir), cache.usedBytes);
      const left = (await store.scan()).map((e) => ids.indexOf(e.id)).sort((a, b) => a - b);
      assert.equal(left.length, cache.entryCount);
      assert.deepEqual(left, ids.map((_, i) => i).slice(10 - left.length));
    }, maxBytes);
  });
});

Deno.test("Cache accounting after a scan matches the files on disk and the previous run", async () => {
  await withDir(async (dir) => {
    let used = 0, count = 0;
    await withCache(dir, async (cache) => {
      await cache.ready;
      assert.equal(cache.usedBytes, 0);
      assert.equal(cache.entryCount, 0);
      for (let i = 0; i < 20; i++) await put(cache, `http://count.test/${i}`, i * 997);
      await put(cache, "http://count.test/3", 5); // replaced, counted once
      used = cache.usedBytes;
      count = cache.entryCount;
    });
    assert.equal(count, 20);
    assert.equal(used, await diskBytes(dir));
    await withCache(dir, async (cache) => {
      await cache.ready;
      assert.equal(cache.usedBytes, used);
      assert.equal(cache.entryCount, count);
      const entry = await entryFor(cache, "http://count.test/7");
      const size =
        (await Deno.stat(`${dir}/data/${entry!.id.slice(0, 2)}/${entry!.id}.json`)).size +
        entry!.size;
      await cache.remove(entry!.id);
      assert.equal(cache.usedBytes, used - size);
      assert.equal(cache.entryCount, count - 1);
      assert.equal(await diskBytes(dir), used - size);
    });
  });
});

Deno.test({
  name: "Cache accounting counts a vary index the same way before and after a restart",
  fn: async () => {
    await withDir(async (dir) => {
      let used = 0, count = 0;
      await withCache(dir, async (cache) => {
        await cache.ready;
        await putVariant(cache, "gzip");
        await putVariant(cache, "br");
        used = cache.usedBytes;
        count = cache.entryCount;
      });
      assert.equal(used, await diskBytes(dir));
      await withCache(dir, async (cache) => {
        await cache.ready;
        assert.deepEqual([cache.entryCount, cache.usedBytes], [count, used]);
      });
    });
  },
});

Deno.test({
  name: "Cache does not count entries removed while the start-up scan runs",
  fn: async () => {
    await withDir(async (dir) => {
      const store = await DiskStore.open(dir);
      const ids: string[] = [];
      for (let i = 0; i < 200; i++) {
        ids.push(
          (await commitBytes(store, pendingMeta(`http://ghost.test/${i}`), bodyBytes("g", 100))).id,
        );
      }
      const cache = await Cache.open(dir, UNLIMITED, new Logger("silent"));
      try {
        let scanned = false;
        cache.ready.then(() => scanned = true);
        let removed = 0;
        for (const id of ids) {
          if (scanned) break;
          await cache.remove(id);
          removed++;
        }
        await cache.ready;
        assert.ok(removed > 0, "removed some entries during the scan");
        assert.equal(cache.entryCount, ids.length - removed);
        assert.equal(cache.usedBytes, await diskBytes(dir));
      } finally {
        await cache.settled();
      }
    });
  },
});

const VARY_KEY = "http://vary.test/app.js";
const VARY = ["accept-encoding"];

function encoding(value: string | undefined): FieldList {
  return value === undefined ? fields() : fields(["Accept-Encoding", value]);
}

async function putVariant(cache: Cache, value: string, size = 100): Promise<ResponseMeta> {
  const f = encoding(value);
  const stored = await commitBytes(
    cache,
    pendingMeta(VARY_KEY, {
      id: variantId(VARY_KEY, VARY, f),
      vary: VARY,
      secondary: secondaryKey(VARY, f),
      headers: [["Vary", "Accept-Encoding"], ["Content-Encoding", value]],
    }),
    bodyBytes(value, size),
  );
  assert.ok(stored !== undefined);
  return stored;
}

Deno.test("Cache.find follows the vary index to the matching variant", async () => {
  await withDir(async (dir) => {
    // A plain entry first: the first variant replaces it with an index.
    let plain!: ResponseMeta;
    await withCache(dir, async (cache) => {
      plain = await put(cache, VARY_KEY, 10);
    });
    let gzip!: ResponseMeta, br!: ResponseMeta;
    await withCache(dir, async (cache) => {
      gzip = await putVariant(cache, "gzip");
      br = await putVariant(cache, "br", 200);
      assert.notEqual(gzip.id, br.id);
      assert.equal(
        await exists(await bodyPathOf(dir, plain)),
        false,
        "the plain entry's body is gone",
      );
    });
    // Found the same way by this process and by a new one (index read from disk).
    const index = await (await DiskStore.open(dir)).readMeta(storeId(VARY_KEY));
    assert.equal(index?.kind, "vary");
    assert.deepEqual(index?.kind === "vary" ? [index.vary, index.variants] : [], [VARY, [
      gzip.id,
      br.id,
    ]]);
    await withCache(dir, async (cache) => {
      const now = Date.now();
      for (const [value, entry] of [["gzip", gzip], ["br", br]] as const) {
        const found = await cache.find(get(VARY_KEY, encoding(value)), now);
        assert.equal(found.kind, "entry");
        assert.deepEqual(found.kind === "entry" ? found.entry : undefined, entry);
        assert.deepEqual(await bodyOf(cache, entry), bodyBytes(value, entry.size));
      }
      for (const value of ["deflate", undefined, "gzip, br"]) {
        const found = await cache.find(get(VARY_KEY, encoding(value)), now);
        assert.deepEqual(found, {
          kind: "none",
          id: variantId(VARY_KEY, VARY, encoding(value)),
          vary: true,
        }, `Accept-Encoding: ${value}`);
      }
      // A third variant joins the index.
      const third = await putVariant(cache, "deflate");
      const found = await cache.find(get(VARY_KEY, encoding("deflate")), now);
      assert.equal(found.kind === "entry" ? found.entry.id : undefined, third.id);
    });
  });
});

Deno.test("Cache.find selects a variant whose Content-Language the request wants most", async () => {
  await withDir(async (dir) => {
    const key = "http://vary.test/page";
    const vary = ["accept-language", "accept-encoding"];
    const request = (al: string, ae = "gzip") =>
      fields(["Accept-Language", al], ["Accept-Encoding", ae]);
    const putLanguage = async (cache: Cache, al: string, language: string) => {
      const stored = await commitBytes(
        cache,
        pendingMeta(key, {
          id: variantId(key, vary, request(al)),
          vary,
          secondary: secondaryKey(vary, request(al)),
          headers: [["Vary", "Accept-Language, Accept-Encoding"], ["Content-Language", language]],
        }),
        bodyBytes(language, 50),
      );
      assert.ok(stored !== undefined);
      return stored;
    };
    await withCache(dir, async (c) => {
      const de = await putLanguage(c, "de, en;q=0.5", "de");
      const fr = await putLanguage(c, "fr", "fr");
      const now = Date.now();
      const found = async (al: string, ae?: string) => {
        const f = await c.find(get(key, request(al, ae)), now);
        return f.kind === "entry" ? f.entry.id : f;
      };
      // Normalised: the same variant.
      assert.equal(await found("EN;q=0.5,de"), de.id);
      // By Content-Language: the language wanted most.
      assert.equal(await found("de"), de.id);
      assert.equal(await found("de-AT;q=0.9, de"), de.id);
      assert.equal(await found("fr-CA;q=0.2, fr;q=0.8, de;q=0.1"), fr.id);
      // Not when another language is wanted more, or another selecting field differs.
      for (const [al, ae] of [["en, de;q=0.9", undefined], ["de", "br"], ["*", undefined]]) {
        assert.deepEqual(await found(al!, ae), {
          kind: "none",
          id: variantId(key, vary, request(al!, ae)),
          vary: true,
        }, `${al} ${ae}`);
      }
    });
  });
});

Deno.test("Cache.invalidate removes the vary index and every variant", async () => {
  await withDir(async (dir) => {
    const other = "http://vary.test/other.js";
    await withCache(dir, async (cache) => {
      await putVariant(cache, "gzip");
      await putVariant(cache, "br");
      await put(cache, other, 10);
    });
    await withCache(dir, async (cache) => {
      await cache.ready;
      assert.equal(cache.entryCount, 4);
      await cache.invalidate(VARY_KEY);
      for (const value of ["gzip", "br", undefined]) {
        assert.deepEqual(await cache.find(get(VARY_KEY, encoding(value)), Date.now()), {
          kind: "none",
          id: storeId(VARY_KEY),
          vary: false,
        });
      }
      const left = await listFiles(`${dir}/data`);
      const o = storeId(other);
      assert.equal(left.length, 2);
      assert.ok(left.every((f) => f.includes(o)), left.join());
      assert.ok(await entryFor(cache, other));
      assert.equal(cache.entryCount, 1);
      await cache.invalidate(other);
      assert.deepEqual(await listFiles(`${dir}/data`), []);
      await cache.invalidate("http://vary.test/never-stored");
    });
  });
});

Deno.test("Cache.find finds a stored 206 where the whole response would be, for any request", async () => {
  await withDir(async (dir) => {
    const key = "http://range.test/big";
    await withCache(dir, async (cache) => {
      const partial = await put(cache, key, 10, {
        status: 206,
        headers: [["Content-Range", "bytes 0-9/100"]],
      });
      assert.equal(partial.id, storeId(key));
      const now = Date.now();
      // Whether it holds what is wanted is the policy's business (partUse).
      for (const r of ["bytes=0-9", "bytes = 0-9", "bytes=10-19", undefined]) {
        const f = r === undefined ? fields() : fields(["Range", r]);
        const found = await cache.find(get(key, f), now);
        assert.deepEqual(found.kind === "entry" ? found.entry : found, partial, r);
      }
      // The whole response, once stored, takes its place.
      const full = await put(cache, key, 100);
      const found = await cache.find(get(key, fields(["Range", "bytes=0-9"])), now);
      assert.deepEqual(found.kind === "entry" ? found.entry : found, full);
    });
  });
});

Deno.test({
  name: "Cache.body keeps small bodies in memory after many clients read one at once",
  fn: async () => {
    await withDir(async (dir) => {
      await withCache(dir, async (cache) => {
        const key = "http://small.test/popular";
        for (let round = 0; round < 6; round++) {
          // Stored again (a new version, say): its kept copy is forgotten.
          const entry = await put(cache, key, SMALL_BODY_BYTES);
          const bodies = await Promise.all(Array.from({ length: 100 }, () => bodyOf(cache, entry)));
          assert.ok(bodies.every((b) => b?.length === SMALL_BODY_BYTES));
        }
        // Ten small bodies (640 KiB, far below the 32 MiB budget) read twice:
        // the second time they come from memory, as the very same bytes.
        const entries: ResponseMeta[] = [];
        for (let i = 0; i < 10; i++) {
          entries.push(await put(cache, `http://small.test/${i}`, SMALL_BODY_BYTES));
        }
        const first = await Promise.all(entries.map((e) => bodyOf(cache, e)));
        const second = await Promise.all(entries.map((e) => bodyOf(cache, e)));
        const fromMemory = second.filter((b, i) => b !== undefined && b === first[i]).length;
        assert.equal(fromMemory, 10, `${fromMemory} of 10 small bodies were kept in memory`);
      });
    });
  },
});

// Without the burst above, the same ten bodies are all kept.
Deno.test("Cache.body keeps small bodies in memory after their first read", async () => {
  await withDir(async (dir) => {
    await withCache(dir, async (cache) => {
      const entries: ResponseMeta[] = [];
      for (let i = 0; i < 10; i++) {
        entries.push(await put(cache, `http://small.test/${i}`, SMALL_BODY_BYTES));
      }
      const first = await Promise.all(entries.map((e) => bodyOf(cache, e)));
      const second = await Promise.all(entries.map((e) => bodyOf(cache, e)));
      assert.equal(second.filter((b, i) => b !== undefined && b === first[i]).length, 10);
      // A large body is never kept: a new source from the store each time.
      const large = await put(cache, "http://small.test/large", SMALL_BODY_BYTES + 1);
      const a = await cache.body(large), b = await cache.body(large);
      assert.ok(a !== undefined && "source" in a && b !== undefined && "source" in b);
      assert.notEqual(a.source, b.source);
      a.source.close();
      b.source.close();
    });
  });
});

Deno.test("a hit after a restart refreshes the entry's last use on disk", async () => {
  await withDir(async (dir) => {
    const store = await DiskStore.open(dir);
    const entry = await commitBytes(store, pendingMeta("http://touch.test/"), bodyBytes("t", 10));
    const metaFile = `${dir}/data/${entry.id.slice(0, 2)}/${entry.id}.json`;
    const long = new Date(Date.now() - 2 * 3600_000);
    await store.touch(entry.id, long);
    await withCache(dir, async (cache) => {
      await cache.ready;
      assert.ok(await bodyOf(cache, entry));
      // The touch runs in the background.
      for (let i = 0; i < 100; i++) {
        if ((await Deno.stat(metaFile)).mtime!.getTime() > long.getTime()) break;
        await delay(5);
      }
      assert.ok((await Deno.stat(metaFile)).mtime!.getTime() > Date.now() - 60_000);
    });
  });
});

/** Whether `path` exists, looked at synchronously: before any timer of the caller's can run. */
function existsNow(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Commits `size` bytes seeded by `key` as a fill of known length does: a body inside the metadata. */
async function putInline(cache: Cache, key: string, size: number): Promise<ResponseMeta> {
  const body = (await cache.beginBody(size))!;
  await body.write(bodyBytes(key, size));
  const stored = await cache.commit(body, pendingMeta(key));
  assert.ok(stored !== undefined && stored.body === "", `inline commit of ${key}`);
  return stored;
}

Deno.test("a small entry's metadata is written behind its commit, by settled() at the latest", async () => {
  await withDir(async (dir) => {
    const key = "http://behind.test/";
    const path = `${dir}/data/${storeId(key).slice(0, 2)}/${storeId(key)}.json`;
    await withCache(dir, async (cache) => {
      const entry = await putInline(cache, key, 100);
      assert.equal(existsNow(path), false, "not on disk yet");
      assert.deepEqual(await entryFor(cache, key), entry, "but found");
      assert.deepEqual(await bodyOf(cache, entry), bodyBytes(key, 100));
    });
    assert.equal(existsNow(path), true, "on disk once the cache settled");
    await withCache(dir, async (cache) => {
      assert.deepEqual(await bodyOf(cache, (await entryFor(cache, key))!), bodyBytes(key, 100));
    });
  });
});

Deno.test("a metadata write that fails behind its commit takes the entry away and warns", async () => {
  await withDir(async (dir) => {
    const key = "http://lost.test/";
    const warnings: string[] = [];
    await withCache(
      dir,
      async (cache) => {
        await putInline(cache, key, 100);
        // The shard directory turns into a file behind the cache's back.
        const shard = `${dir}/data/${storeId(key).slice(0, 2)}`;
        await Deno.remove(shard, { recursive: true }).catch(() => {});
        await Deno.writeTextFile(shard, "not a directory");
        await cache.settled();
        assert.equal(await entryFor(cache, key), undefined);
      },
      UNLIMITED,
      new Logger("warn", (l) => warnings.push(l)),
    );
    assert.ok(warnings.some((w) => /write/.test(w)), warnings.join("\n"));
  });
});

Deno.test("Cache.update replaces an entry's metadata", async () => {
  await withDir(async (dir) => {
    let entry!: ResponseMeta;
    await withCache(dir, async (cache) => {
      entry = await put(cache, "http://update.test/", 10);
      await cache.update({ ...entry, headers: [...entry.headers, ["ETag", '"2"']], storedAt: 42 });
      assert.equal((await entryFor(cache, "http://update.test/"))?.storedAt, 42);
    });
    await withCache(dir, async (cache) => {
      const found = await entryFor(cache, "http://update.test/");
      assert.equal(found?.storedAt, 42);
      assert.deepEqual(found?.headers.at(-1), ["ETag", '"2"']);
      assert.deepEqual(await bodyOf(cache, found!), bodyBytes("http://update.test/", 10));
    });
  });
});

Deno.test("Cache.open on an unusable directory runs without a cache and says so", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    const warnings: string[] = [];
    await withCache(
      `${dir}/file/cache`,
      async (cache) => {
        assert.equal(cache.enabled, false);
        assert.equal(await cache.beginBody(), undefined);
        assert.deepEqual(await cache.find(get("http://a.test/"), Date.now()), {
          kind: "none",
          id: storeId("http://a.test/"),
          vary: false,
        });
      },
      UNLIMITED,
      new Logger("warn", (l) => warnings.push(l)),
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cache disabled/);
  });
});

/** Opens a cache on `store`, runs `fn`, then waits for its background work. */
async function withCacheOn(store: MemoryStore, fn: (cache: Cache) => Promise<void>): Promise<void> {
  const cache = await Cache.open(store, UNLIMITED, new Logger("silent"));
  try {
    await cache.ready;
    await fn(cache);
  } finally {
    await cache.settled();
  }
}

Deno.test("Cache on the in-memory store: commits record variants in the vary index, found again after a restart", async () => {
  const store = new MemoryStore();
  let plain!: ResponseMeta, gzip!: ResponseMeta, br!: ResponseMeta;
  await withCacheOn(store, async (cache) => {
    assert.equal(cache.enabled, true);
    plain = await put(cache, VARY_KEY, 10);
    gzip = await putVariant(cache, "gzip");
    br = await putVariant(cache, "br", 200);
    // The first variant replaced the plain entry with an index.
    assert.equal(await store.openBody(plain), undefined);
    const index = await store.readMeta(storeId(VARY_KEY));
    assert.deepEqual(index?.kind === "vary" ? [index.vary, index.variants] : [], [VARY, [
      gzip.id,
      br.id,
    ]]);
    assert.equal(cache.entryCount, 3);
  });
  // A new cache on the same store: what a restart finds.
  await withCacheOn(store, async (cache) => {
    const scanned = await store.scan();
    assert.equal(cache.entryCount, scanned.length);
    assert.equal(cache.usedBytes, scanned.reduce((n, e) => n + e.size, 0));
    for (const [value, entry] of [["gzip", gzip], ["br", br]] as const) {
      const found = await cache.find(get(VARY_KEY, encoding(value)), Date.now());
      assert.deepEqual(found.kind === "entry" ? found.entry : found, entry);
      assert.deepEqual(await bodyOf(cache, entry), bodyBytes(value, entry.size));
    }
    assert.deepEqual(await cache.find(get(VARY_KEY, encoding("deflate")), Date.now()), {
      kind: "none",
      id: variantId(VARY_KEY, VARY, encoding("deflate")),
      vary: true,
    });
    await cache.invalidate(VARY_KEY);
    assert.deepEqual(await store.scan(), []);
    assert.equal(cache.usedBytes, 0);
  });
});

Deno.test("Cache on the in-memory store: small bodies inline, large ones checked while sent", async () => {
  const store = new MemoryStore();
  const small = bodyBytes("small", 1000), large = bodyBytes("large", 300 * 1024);
  await withCacheOn(store, async (cache) => {
    const temp = (await cache.beginBody(small.length))!;
    await temp.write(small);
    const stored = await cache.commit(temp, pendingMeta("http://mem.test/small"));
    assert.ok(stored?.inline !== undefined);
    await put(cache, "http://mem.test/large", large.length);
  });
  await withCacheOn(store, async (cache) => {
    assert.deepEqual(await bodyOf(cache, (await entryFor(cache, "http://mem.test/small"))!), small);
    const entry = (await entryFor(cache, "http://mem.test/large"))!;
    const body = await cache.body(entry, { checkWhileSending: true });
    assert.ok(body !== undefined && "source" in body && body.check !== undefined);
    const bytes = await readSource(body.source);
    body.check.update(bytes);
    assert.ok(await body.check.passes());
    assert.deepEqual(bytes, bodyBytes("http://mem.test/large", large.length));
    // A range, now that it is checked.
    const part = await cache.body(entry, { range: { start: 1000, length: 10 } });
    assert.ok(part !== undefined && "source" in part && part.check === undefined);
    assert.deepEqual(await readSource(part.source), bytes.subarray(1000, 1010));
  });
});
