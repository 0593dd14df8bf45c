import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import { storeId } from "../../src/cache/key.ts";
import { decide, fillKey, selfHosts } from "../../src/request/decide.ts";
import { parseRequestHead } from "../../src/http1/parse_head.ts";
import { Logger } from "../../src/observe/log.ts";
import { interpretRequest } from "../../src/request/read_request.ts";
import { Rules } from "../../src/rules.ts";
import { resolveOptions } from "../../src/options.ts";
import { Access } from "../../src/access.ts";
import type { ProxyOptions } from "../../src/options.ts";
import { commitBytes, pendingMeta } from "../cache/_fixtures/entries.ts";

const self = { hosts: selfHosts("127.0.0.1"), port: 8080 };

async function withCache(fn: (cache: Cache) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-decide-" });
  try {
    const cache = await Cache.open(dir, 1 << 30, new Logger("silent"));
    await fn(cache);
    await cache.settled();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function route(cache: Cache, head: string, options: ProxyOptions = {}) {
  const req = interpretRequest(parseRequestHead(new TextEncoder().encode(head + "\r\n\r\n")));
  return decide(req, {
    self,
    cache,
    rules: new Rules(),
    options: resolveOptions(options),
    access: new Access({}),
  });
}

Deno.test("decide: CONNECT is a tunnel", () =>
  withCache(async (cache) => {
    assert.deepEqual(await route(cache, "CONNECT h.test:443 HTTP/1.1"), {
      kind: "tunnel",
      origin: { scheme: "http", host: "h.test", port: 443 },
    });
  }));

Deno.test("decide: a GET with nothing stored is a miss under the URL's store id", () =>
  withCache(async (cache) => {
    const r = await route(cache, "GET https://h.test/x?y HTTP/1.1\r\nHost: h.test");
    assert.equal(r.kind, "miss");
    if (r.kind !== "miss") return;
    assert.deepEqual(r.target.origin, { scheme: "https", host: "h.test", port: 443 });
    assert.equal(r.target.path, "/x?y");
    assert.equal(r.target.cache.key, "https://h.test/x?y");
    assert.equal(r.id, storeId("https://h.test/x?y"));
    assert.equal(r.vary, false);
  }));

Deno.test("decide: unsafe methods pass (the cache is not consulted)", () =>
  withCache(async (cache) => {
    const r = await route(
      cache,
      "POST http://h.test/x HTTP/1.1\r\nHost: h.test\r\nContent-Length: 0",
    );
    assert.equal(r.kind, "pass");
    if (r.kind === "pass") assert.equal(r.why, "method");
  }));

Deno.test("decide: without a usable cache directory, GET passes", async () => {
  const file = await Deno.makeTempFile();
  try {
    // A regular file where the directory should be: the cache cannot open.
    const cache = await Cache.open(file, 1 << 30, new Logger("silent"));
    assert.equal(cache.enabled, false);
    const r = await route(cache, "GET http://h.test/ HTTP/1.1\r\nHost: h.test");
    assert.equal(r.kind, "pass");
    if (r.kind === "pass") assert.equal(r.why, "no-cache-dir");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("decide: origin-form and hoard's own address are answered locally", () =>
  withCache(async (cache) => {
    assert.deepEqual(await route(cache, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080"), {
      kind: "local",
      path: "/healthz",
    });
    assert.deepEqual(
      await route(cache, "GET http://localhost:8080/healthz HTTP/1.1\r\nHost: localhost:8080"),
      {
        kind: "local",
        path: "/healthz",
      },
    );
    // Same host, another port: a different server.
    assert.equal(
      (await route(cache, "GET http://127.0.0.1:8081/ HTTP/1.1\r\nHost: 127.0.0.1:8081")).kind,
      "miss",
    );
  }));

Deno.test("selfHosts: loopback and wildcard binds are reachable as localhost", () => {
  assert.deepEqual([...selfHosts("0.0.0.0")].sort(), ["0.0.0.0", "127.0.0.1", "::1", "localhost"]);
  assert.deepEqual([...selfHosts("10.1.2.3")], ["10.1.2.3"]);
});

Deno.test("decide: tenancy shared checks an entry stored for credentials with the origin first", () =>
  withCache(async (cache) => {
    const key = "https://r.test/v2/team/app/blobs/sha256:0123";
    await commitBytes(cache, { ...pendingMeta(key), credentialed: true }, new Uint8Array(10));
    const get = "GET https://r.test/v2/team/app/blobs/sha256:0123 HTTP/1.1\r\nHost: r.test";
    const withCreds = `${get}\r\nAuthorization: Basic b3RoZXI6MA==`;
    // Single tenancy (the default): a plain hit, credentials or not.
    assert.equal((await route(cache, get)).kind, "hit");
    assert.equal((await route(cache, withCreds)).kind, "hit");
    // Shared: a client with credentials is checked; one without gets the origin's answer.
    const shared: ProxyOptions = { tenancy: "shared" };
    const checked = await route(cache, withCreds, shared);
    assert.equal(checked.kind, "check");
    if (checked.kind === "check") assert.ok(checked.target.credential !== undefined);
    const anonymous = await route(cache, get, shared);
    assert.equal(anonymous.kind, "pass");
    if (anonymous.kind === "pass") assert.equal(anonymous.why, "credentials");
    // Offline, nobody's credentials can be checked.
    await assert.rejects(
      route(cache, withCreds, { tenancy: "shared", offline: true }),
      /stored for other credentials/,
    );
  }));

Deno.test("decide: tenancy shared serves entries stored without credentials as usual", () =>
  withCache(async (cache) => {
    const key = "https://r.test/v2/team/app/blobs/sha256:4567";
    await commitBytes(cache, pendingMeta(key), new Uint8Array(10));
    const get = "GET https://r.test/v2/team/app/blobs/sha256:4567 HTTP/1.1\r\nHost: r.test";
    const shared: ProxyOptions = { tenancy: "shared" };
    assert.equal((await route(cache, get, shared)).kind, "hit");
    assert.equal((await route(cache, `${get}\r\nAuthorization: Bearer x`, shared)).kind, "hit");
  }));

Deno.test("decide: tenancy shared collapses requests only with the same credentials", () =>
  withCache(async (cache) => {
    const get = "GET https://r.test/v2/a/blobs/sha256:89ab HTTP/1.1\r\nHost: r.test";
    const keys = [];
    for (const auth of ["", "\r\nAuthorization: Basic YTpi", "\r\nAuthorization: Basic Yzpk"]) {
      for (const tenancy of ["single", "shared"] as const) {
        const r = await route(cache, get + auth, { tenancy });
        assert.equal(r.kind, "miss");
        if (r.kind === "miss") keys.push(fillKey(r.target, r.id));
      }
    }
    const [plain, plainShared, a, aShared, c, cShared] = keys;
    // Single tenancy, or no credentials: one key for all.
    assert.equal(plainShared, plain);
    assert.equal(a, plain);
    assert.equal(c, plain);
    // Shared: one per credential.
    assert.notEqual(aShared, plain);
    assert.notEqual(cShared, plain);
    assert.notEqual(aShared, cShared);
  }));

Deno.test("decide: tenancy shared checks a signed URL's own signature against an entry stored from another", () =>
  withCache(async (cache) => {
    const key = "https://s.test/docker/registry/v2/blobs/sha256/01/0123/data";
    await commitBytes(cache, { ...pendingMeta(key), credentialed: true }, new Uint8Array(10));
    const get = `GET ${key}?X-Amz-Signature=abc HTTP/1.1\r\nHost: s.test`;
    const r = await route(cache, get, { tenancy: "shared" });
    assert.equal(r.kind, "check");
    if (r.kind === "check") {
      assert.equal(r.target.cache.key, key);
      assert.equal(r.target.cache.signed, true);
      // The signature goes to the origin: it is this client's credential.
      assert.equal(
        r.target.path,
        "/docker/registry/v2/blobs/sha256/01/0123/data?X-Amz-Signature=abc",
      );
    }
  }));

Deno.test("decide: the target names the rules that decided something, for the log line", () =>
  withCache(async (cache) => {
    const rules = new Rules([{ match: { path: "/internal/**" }, ttl: 60 }]);
    const targetRules = async (url: string) => {
      const head = `GET ${url} HTTP/1.1\r\nHost: h.test\r\n\r\n`;
      const req = interpretRequest(parseRequestHead(new TextEncoder().encode(head)));
      const r = await decide(req, {
        self,
        cache,
        rules,
        options: resolveOptions({}),
        access: new Access({}),
      });
      assert.ok("target" in r, r.kind);
      return r.target.rules;
    };
    assert.deepEqual(await targetRules("http://h.test/pkg/-/pkg-1.0.0.tgz"), ["npm tarball"]);
    assert.deepEqual(await targetRules("http://h.test/internal/data"), ["rules[0]"]);
    assert.equal(await targetRules("http://h.test/plain?v=1"), undefined);
  }));
