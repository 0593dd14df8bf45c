import assert from "node:assert/strict";
import { S3Store } from "../../../src/cache/shared/s3.ts";
import { S3Error } from "../../../src/cache/shared/s3_errors.ts";
import { iniSection, parseS3Url, resolveSettings } from "../../../src/cache/shared/s3_settings.ts";
import { rgw, setEnv, stopRgw } from "../../_helpers/rgw.ts";
import { pruneShared, sharedStats } from "../../../src/cache/shared/admin.ts";
import { pseudoRandom, sha256 } from "../../_helpers/cache_origin.ts";
import { concat } from "../../_helpers/sockets.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("parseS3Url: bucket and prefix", () => {
  assert.deepEqual(parseS3Url("s3://ci-cache"), { bucket: "ci-cache", prefix: "" });
  assert.deepEqual(parseS3Url("s3://ci-cache/"), { bucket: "ci-cache", prefix: "" });
  assert.deepEqual(parseS3Url("s3://ci-cache/hoard/x86/"), {
    bucket: "ci-cache",
    prefix: "hoard/x86/",
  });
  for (const bad of ["ci-cache", "s3://", "s3://a", "http://b/c", "s3://b c/x", "s3://b?x"]) {
    assert.throws(() => parseS3Url(bad), SyntaxError);
  }
});

Deno.test("iniSection: one section's keys, comments and nested blocks left out", () => {
  const text = "[default]\nregion = eu-west-1\n# c\n[profile ci]\nregion=us-west-2\n" +
    "endpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n[other]\nregion=x\n";
  assert.deepEqual(iniSection(text, "default"), { region: "eu-west-1" });
  assert.deepEqual(iniSection(text, "profile ci"), {
    region: "us-west-2",
    endpoint_url: "http://127.0.0.1:9000",
    s3: "",
  });
});

Deno.test("resolveSettings: variables first, then the profile's config; path-style for custom endpoints", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config`,
      "[default]\nregion = eu-central-1\n[profile rgw]\nendpoint_url = http://127.0.0.1:7480\n",
    );
    const base = { HOME: dir, AWS_CONFIG_FILE: `${dir}/config` };
    assert.deepEqual(await resolveSettings(env(base)), {
      region: "eu-central-1",
      forcePathStyle: false,
    });
    assert.deepEqual(await resolveSettings(env({ ...base, AWS_PROFILE: "rgw" })), {
      endpoint: "http://127.0.0.1:7480",
      region: "us-east-1",
      forcePathStyle: true,
    });
    assert.deepEqual(
      await resolveSettings(
        env({
          ...base,
          AWS_ENDPOINT_URL: "http://127.0.0.1:1",
          AWS_ENDPOINT_URL_S3: "http://127.0.0.1:2",
          AWS_REGION: "r1",
        }),
      ),
      { endpoint: "http://127.0.0.1:2", region: "r1", forcePathStyle: true },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function store(bucket: string, extra: Record<string, string> = {}): Promise<S3Store> {
  const r = await rgw();
  const vars: Record<string, string> = { ...r.env, HOME: "/nonexistent", ...extra };
  const s = await S3Store.open(parseS3Url(`s3://${bucket}/pre`), (n) => vars[n], {
    firstByteMs: 2000,
  });
  return s;
}

Deno.test("S3Store against Ceph RGW: put, get, missing, list, delete", async () => {
  const s = await store("unit-basic");
  try {
    await s.createBucket();
    await s.createBucket(); // already there: fine
    assert.deepEqual(await s.get(s.key("nothing")), undefined);
    const data = pseudoRandom(100_000);
    await s.put(s.key("a/one"), data);
    const o = await s.get(s.key("a/one"));
    assert.ok(o !== undefined);
    assert.deepEqual(o.length, data.length);
    const chunks: Uint8Array[] = [];
    for await (const c of o.body) chunks.push(c);
    assert.deepEqual(sha256(concat(chunks)), sha256(data));
    await s.put(s.key("a/two"), new Uint8Array(3));
    const listed = [];
    for await (const l of s.list("a/")) listed.push(l);
    assert.deepEqual(listed.map((l) => [l.key, l.size]), [["pre/a/one", 100_000], [
      "pre/a/two",
      3,
    ]]);
    assert.ok(Math.abs(listed[0]!.lastModified - Date.now()) < 60_000);
    await s.delete(s.key("a/one"));
    await s.delete(s.key("a/one"));
    assert.deepEqual(await s.get(s.key("a/one")), undefined);
  } finally {
    s.close();
  }
});

Deno.test("S3Store: a large body goes up in parts and comes back whole", async () => {
  const s = await store("unit-multipart");
  try {
    await s.createBucket();
    const data = pseudoRandom(13 * 1024 * 1024 + 5, 7);
    let t = performance.now();
    await s.putStream(s.key("big"), ReadableStream.from(pieces(data, 300_000)), {
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    const putMs = performance.now() - t;
    t = performance.now();
    const o = await s.get(s.key("big"));
    assert.ok(o !== undefined);
    const chunks: Uint8Array[] = [];
    for await (const c of o.body) chunks.push(c);
    console.log(
      `13 MiB: multipart put ${putMs.toFixed(0)} ms, get ${(performance.now() - t).toFixed(0)} ms`,
    );
    assert.deepEqual(o.length, data.length);
    assert.deepEqual(sha256(concat(chunks)), sha256(data));
  } finally {
    s.close();
  }
});

Deno.test("S3Store: credentials from a profile in the credentials file", async () => {
  const r = await rgw();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/credentials`,
      `[other]\naws_access_key_id = ${r.accessKeyId}\naws_secret_access_key = ${r.secretAccessKey}\n`,
    );
    // The SDK's credential chain reads the process's variables.
    const restore = setEnv({
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_SHARED_CREDENTIALS_FILE: `${dir}/credentials`,
      AWS_CONFIG_FILE: `${dir}/config`,
      AWS_PROFILE: "other",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    try {
      const s = await S3Store.open(
        parseS3Url("s3://unit-profile"),
        (n) => n === "AWS_ENDPOINT_URL" ? r.endpoint : Deno.env.get(n),
      );
      try {
        await s.createBucket();
        await s.put(s.key("x"), new Uint8Array([1, 2, 3]));
        assert.ok((await s.get(s.key("x"))) !== undefined);
      } finally {
        s.close();
      }
    } finally {
      restore();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("S3Store: failures are classified — wrong secret, nothing listening, no answer", async () => {
  const r = await rgw();
  const restore = setEnv({ ...r.env, AWS_SECRET_ACCESS_KEY: "wrong" });
  try {
    const s = await S3Store.open(parseS3Url("s3://unit-basic"), (n) => Deno.env.get(n));
    assert.equal((await failure(s.put(s.key("x"), new Uint8Array(1)))).kind, "forbidden");
    s.close();
  } finally {
    restore();
  }
  // A port nobody listens on.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const vars: Record<string, string> = { ...r.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` };
  const dead = await S3Store.open(parseS3Url("s3://xyz"), (n) => vars[n]);
  const t = performance.now();
  assert.equal((await failure(dead.get(dead.key("y")))).kind, "unreachable");
  assert.ok(performance.now() - t < 1000);
  dead.close();
  // A server that accepts and never answers: the first-byte timeout.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })();
  const vars2: Record<string, string> = {
    ...r.env,
    AWS_ENDPOINT_URL: `http://127.0.0.1:${silent.addr.port}`,
  };
  const slow = await S3Store.open(parseS3Url("s3://xyz"), (n) => vars2[n], { firstByteMs: 200 });
  const t2 = performance.now();
  const e3 = await failure(slow.get(slow.key("y")));
  const waited = performance.now() - t2;
  assert.equal(e3.kind, "timeout");
  assert.ok(waited >= 190 && waited < 1000, `waited ${waited} ms`);
  slow.close();
  silent.close();
  for (const c of held) c.close();
  await accepting.catch(() => {});
});

Deno.test("sharedStats and pruneShared: hoard's objects only, by upload time", async () => {
  const s = await store("unit-prune");
  try {
    await s.createBucket();
    const id = (n: number) => String(n).repeat(64).slice(0, 64);
    await s.put(s.key(`v1/${id(1)}`), new Uint8Array(10));
    await s.put(s.key(`v1/${id(2)}`), new Uint8Array(20));
    await s.put(s.key("notes.txt"), new Uint8Array(5));
    const stats = await sharedStats(s);
    assert.equal(stats.objects, 2);
    assert.equal(stats.bytes, 30);
    assert.equal(stats.foreign, 1);
    assert.equal(stats.byAge.day, 2);
    // Nothing is older than a day yet; two days from now both are.
    assert.deepEqual(await pruneShared(s, 86_400_000), { deleted: 0, bytes: 0, kept: 2 });
    const later = Date.now() + 2 * 86_400_000;
    assert.deepEqual(await pruneShared(s, 86_400_000, later), { deleted: 2, bytes: 30, kept: 0 });
    assert.equal((await sharedStats(s)).objects, 0);
    assert.ok((await s.get(s.key("notes.txt"))) !== undefined, "not hoard's: left alone");
  } finally {
    s.close();
  }
});

Deno.test("stop the RGW of this file", async () => {
  await stopRgw();
});

async function failure(p: Promise<unknown>): Promise<S3Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof S3Error, String(err));
    return err;
  }
  throw new Error("expected a failure");
}

function* pieces(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size);
}
