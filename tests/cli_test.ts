import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "../src/cli.ts";

Deno.test("parseCommandLine: defaults to serve with no options", () => {
  assert.deepEqual(parseCommandLine([]), { kind: "serve", options: {}, upstreamCaFiles: [] });
  assert.deepEqual(parseCommandLine(["serve"]), {
    kind: "serve",
    options: {},
    upstreamCaFiles: [],
  });
});

Deno.test("parseCommandLine: every serve flag lands in the options", () => {
  const c = parseCommandLine([
    "--host=0.0.0.0",
    "--port",
    "0",
    "--cache-dir",
    "/tmp/c",
    "--connect-ports",
    "443, 8443",
    "--connect-timeout",
    "2.5",
    "--response-timeout",
    "30",
    "--upstream-ca",
    "a.pem",
    "--upstream-ca",
    "b.pem",
    "--log-level",
    "debug",
  ]);
  assert.deepEqual(c, {
    kind: "serve",
    upstreamCaFiles: ["a.pem", "b.pem"],
    options: {
      host: "0.0.0.0",
      port: 0,
      cacheDir: "/tmp/c",
      connectPorts: [443, 8443],
      connectTimeoutMs: 2500,
      responseTimeoutMs: 30000,
      logLevel: "debug",
    },
  });
});

Deno.test("parseCommandLine: -q is --log-level warn; help and version win", () => {
  assert.deepEqual(parseCommandLine(["-q"]), {
    kind: "serve",
    options: { logLevel: "warn" },
    upstreamCaFiles: [],
  });
  assert.deepEqual(parseCommandLine(["--port", "x", "-h"]).kind, "help");
  assert.deepEqual(parseCommandLine(["-V"]).kind, "version");
});

const BAD: [string[], RegExp][] = [
  [["--bogus"], /bogus/],
  [["--port"], /port/],
  [["--port", "http"], /--port: expected a port number/],
  [["--port", "65536"], /--port/],
  [["--port", "-1"], /port/],
  [["--connect-ports", "443,0"], /--connect-ports/],
  [["--connect-ports", "443,"], /--connect-ports/],
  [["--log-level", "loud"], /--log-level: expected one of debug, info, warn, error, silent/],
  [["--connect-timeout", "0"], /--connect-timeout/],
  [["--response-timeout", "1m"], /--response-timeout/],
  [["--host", ""], /--host/],
  [["--cache-dir", ""], /--cache-dir/],
  [["frobnicate"], /unknown command "frobnicate"/],
  [["serve", "extra"], /unexpected argument "extra"/],
];

for (const [args, message] of BAD) {
  Deno.test(`parseCommandLine: ${JSON.stringify(args)} is a usage error`, () => {
    assert.throws(() => parseCommandLine(args), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    });
  });
}
