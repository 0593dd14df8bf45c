/**
 * The config file (src/config.ts): JSON and JSONC are read into rules and
 * presets; every mistake is one ConfigError line naming the file and the key.
 */

import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseConfig, stripJsonc } from "../src/config.ts";

const FILE = "/etc/hoard/hoard.jsonc";

/** Asserts that `text` is refused with exactly `file: key: ...what`. */
function refused(text: string, key: string, what: RegExp): void {
  assert.throws(
    () => parseConfig(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `a ConfigError, got ${err}`);
      assert.equal(err.name, "ConfigError");
      const prefix = `${FILE}: ${key}: `;
      assert.ok(err.message.startsWith(prefix), `"${err.message}" starts with "${prefix}"`);
      assert.match(err.message.slice(prefix.length), what);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    },
  );
}

Deno.test("plain JSON: rules and presets as written", () => {
  const config = {
    presets: { artifacts: false, signedUrls: true },
    rules: [
      {
        name: "release assets",
        match: { host: "*.example.org", path: "/releases/**" },
        fresh: "forever",
      },
      { match: { path: "/api/**" }, cache: false },
      { match: { path: "/index/**", header: { accept: "application/json*" } }, ttl: 120 },
      { match: { host: "storage.example.net" }, ignoreQuery: ["token", "X-Sig-*"] },
      { match: {}, ttl: 0.5 },
      { match: { path: "/private/**" }, ttl: 60, public: true },
      { match: { path: "/v2/" }, statuses: [401] },
    ],
  };
  assert.deepEqual(parseConfig(JSON.stringify(config), FILE), config);
  // Empty and partial files are fine: no rules, presets at their defaults.
  assert.deepEqual(parseConfig("{}", FILE), { rules: [], presets: {} });
  assert.deepEqual(parseConfig('{"presets": {}}', FILE), { rules: [], presets: {} });
  assert.deepEqual(parseConfig('{"rules": []}', FILE), { rules: [], presets: {} });
});

Deno.test("JSONC: comments and trailing commas go, strings that look like them stay", () => {
  const text = `// hoard config
{
  /* presets
     on multiple lines */
  "presets": { "signedUrls": false, }, // trailing comma in an object
  "rules": [
    {
      "name": "see http://example.org/a // not a comment, /* nor this */",
      "match": { "path": "/releases/**", }, // '/**' inside a string is no comment either
      "fresh": "forever",
    },
    { "match": { "host": "a.example" }, "ignoreQuery": ["x", "y",], },
    { "match": { "host": "b.example" }, "ttl": 60 /* inline */ , },
  ],
}
// the end`;
  assert.deepEqual(parseConfig(text, FILE), {
    presets: { signedUrls: false },
    rules: [
      {
        name: "see http://example.org/a // not a comment, /* nor this */",
        match: { path: "/releases/**" },
        fresh: "forever",
      },
      { match: { host: "a.example" }, ignoreQuery: ["x", "y"] },
      { match: { host: "b.example" }, ttl: 60 },
    ],
  });
});

Deno.test("stripJsonc: escaped quotes and commas inside strings are left alone", () => {
  assert.equal(stripJsonc('{"a": "x\\" // y", "b": ",}"}'), '{"a": "x\\" // y", "b": ",}"}');
  assert.equal(stripJsonc('{"a": "\\\\", // c\n"b": 1}'), '{"a": "\\\\", \n"b": 1}');
  assert.equal(stripJsonc("[1, 2, ]"), "[1, 2 ]");
  assert.equal(stripJsonc("[1 /* a, */, 2]"), "[1  , 2]");
  assert.deepEqual(JSON.parse(stripJsonc('{"u": "http://x/*y*/"} // z')), { u: "http://x/*y*/" });
});

Deno.test("not JSON: the file and what the parser said", () => {
  assert.throws(() => parseConfig("{ rules: [] }", FILE), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, new RegExp(`^${FILE}: not valid JSON: `));
    return true;
  });
  refused("[]", "(top level)", /expected an object/);
  refused('"rules"', "(top level)", /expected an object/);
});

Deno.test("each mistake names the file and the key", () => {
  refused('{"rule": []}', "rule", /unknown key \(expected one of rules, presets\)/);
  refused('{"rules": {}}', "rules", /expected a list of rules/);
  refused('{"rules": "x"}', "rules", /expected a list of rules/);
  refused('{"rules": [42]}', "rules[0]", /expected an object/);
  refused(
    '{"rules": [{"match": {"path": "/a"}, "ttl": 1}, {"ttl": 5}]}',
    "rules[1].match",
    /missing/,
  );
  refused('{"rules": [{"match": "/a", "ttl": 1}]}', "rules[0].match", /expected an object/);
  refused('{"rules": [{"match": {"path": "a/**"}, "ttl": 1}]}', "rules[0].match.path", /"\/"/);
  refused('{"rules": [{"match": {"path": 7}, "ttl": 1}]}', "rules[0].match.path", /path glob/);
  refused('{"rules": [{"match": {"host": ""}, "ttl": 1}]}', "rules[0].match.host", /host/);
  refused(
    '{"rules": [{"match": {"url": "/a"}, "ttl": 1}]}',
    "rules[0].match.url",
    /unknown key \(expected one of host, path, header\)/,
  );
  refused(
    '{"rules": [{"match": {"header": {"accept": 1}}, "ttl": 1}]}',
    "rules[0].match.header.accept",
    /value glob/,
  );
  refused('{"rules": [{"match": {}, "ttl": 0}]}', "rules[0].ttl", /above 0, got 0/);
  refused('{"rules": [{"match": {}, "ttl": -5}]}', "rules[0].ttl", /above 0, got -5/);
  refused('{"rules": [{"match": {}, "ttl": "60"}]}', "rules[0].ttl", /above 0, got "60"/);
  refused('{"rules": [{"match": {}, "ttl": null}]}', "rules[0].ttl", /above 0, got null/);
  refused('{"rules": [{"match": {}, "fresh": true}]}', "rules[0].fresh", /expected "forever"/);
  refused('{"rules": [{"match": {}, "fresh": "always"}]}', "rules[0].fresh", /"forever"/);
  refused(
    '{"rules": [{"match": {}, "fresh": "forever", "ttl": 60}]}',
    "rules[0].ttl",
    /cannot go with "fresh": "forever"/,
  );
  refused('{"rules": [{"match": {"path": "/a"}}]}', "rules[0]", /does nothing/);
  refused('{"rules": [{"name": "n", "match": {}}]}', "rules[0]", /does nothing/);
  refused('{"rules": [{"match": {}, "cache": "no"}]}', "rules[0].cache", /true or false/);
  refused('{"rules": [{"match": {}, "ignoreQuery": "x"}]}', "rules[0].ignoreQuery", /list/);
  refused('{"rules": [{"match": {}, "ignoreQuery": ["x", 1]}]}', "rules[0].ignoreQuery", /list/);
  refused('{"rules": [{"match": {}, "ignoreQuery": [""]}]}', "rules[0].ignoreQuery", /list/);
  refused('{"rules": [{"match": {}, "name": 3, "ttl": 1}]}', "rules[0].name", /string/);
  refused('{"rules": [{"match": {}, "public": "yes"}]}', "rules[0].public", /true or false/);
  refused('{"rules": [{"match": {}, "statuses": 401}]}', "rules[0].statuses", /status codes/);
  refused('{"rules": [{"match": {}, "statuses": [401, 99]}]}', "rules[0].statuses", /200 to 599/);
  refused(
    '{"rules": [{"match": {}, "ttl": 1, "forever": true}]}',
    "rules[0].forever",
    /unknown key/,
  );
  refused('{"presets": {"artifacts": "yes"}}', "presets.artifacts", /expected true or false/);
  refused('{"presets": {"signedUrls": 0}}', "presets.signedUrls", /expected true or false/);
  refused('{"presets": {"x": true}}', "presets.x", /unknown key/);
  refused('{"presets": []}', "presets", /expected an object/);
});

Deno.test("loadConfig reads a file; a missing one is a ConfigError naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-config-test-" });
  try {
    const path = `${dir}/hoard.jsonc`;
    await Deno.writeTextFile(
      path,
      '{\n  // rules\n  "rules": [{ "match": { "path": "/r/**" }, "fresh": "forever" },],\n}\n',
    );
    assert.deepEqual(await loadConfig(path), {
      rules: [{ match: { path: "/r/**" }, fresh: "forever" }],
      presets: {},
    });
    await Deno.writeTextFile(path, '{"rules": [{"match": {}}]}');
    await assert.rejects(loadConfig(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        `${path}: rules[0]: does nothing: give fresh, ttl, cache, ignoreQuery, public or statuses`,
      );
      return true;
    });
    const missing = `${dir}/nope.json`;
    await assert.rejects(loadConfig(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`${missing}: cannot read: `), err.message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
