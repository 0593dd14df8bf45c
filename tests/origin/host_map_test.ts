import assert from "node:assert/strict";
import { hostResolver, parseHostMapping } from "../../src/origin/host_map.ts";
import { dial } from "../../src/origin/dial.ts";
import { ProxyError } from "../../src/errors.ts";

Deno.test("parseHostMapping: HOST=ADDRESS, lower-cased, IPv6 with or without brackets", () => {
  assert.deepEqual(parseHostMapping("Reg.Example.test=127.0.0.1"), [
    "reg.example.test",
    "127.0.0.1",
  ]);
  assert.deepEqual(parseHostMapping("*.example.test=[::1]"), ["*.example.test", "::1"]);
  assert.deepEqual(parseHostMapping(" a.test = ::1 "), ["a.test", "::1"]);
  for (const bad of ["a.test", "=127.0.0.1", "a.test=", "a.test=localhost", "a/b=127.0.0.1"]) {
    assert.throws(() => parseHostMapping(bad), SyntaxError, bad);
  }
});

Deno.test("hostResolver: the first matching pattern wins; others go to DNS", () => {
  const resolve = hostResolver([["exact.test", "127.0.0.2"], ["*.test", "127.0.0.3"]])!;
  assert.equal(resolve("exact.test"), "127.0.0.2");
  assert.equal(resolve("EXACT.test"), "127.0.0.2");
  assert.equal(resolve("a.b.test"), "127.0.0.3");
  assert.equal(resolve("test"), undefined);
  assert.equal(resolve("example.org"), undefined);
  assert.equal(hostResolver([]), undefined);
});

Deno.test("dial: a mapped host connects to its address; denyPrivate checks that address", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  const origin = { scheme: "http" as const, host: "registry.nowhere.invalid", port };
  const { conn } = await dial(origin, {
    connectTimeoutMs: 2000,
    resolve: hostResolver([["*.nowhere.invalid", "127.0.0.1"]]),
  });
  (await accepted).close();
  conn.close();
  await assert.rejects(
    dial(origin, {
      connectTimeoutMs: 2000,
      denyPrivate: true,
      resolve: hostResolver([["*.nowhere.invalid", "127.0.0.1"]]),
    }),
    (err: unknown) => err instanceof ProxyError && err.status === 403,
  );
});
