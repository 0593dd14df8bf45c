import assert from "node:assert/strict";
import { parseCommandLine } from "../src/cli/parse.ts";
import { UsageError } from "../src/cli/usage.ts";

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
    "--allow-clients",
    "10.0.0.0/8",
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
    "--workers",
    "3",
  ]);
  assert.deepEqual(c, {
    kind: "serve",
    upstreamCaFiles: ["a.pem", "b.pem"],
    options: {
      host: "0.0.0.0",
      allowClients: ["10.0.0.0/8"],
      port: 0,
      cacheDir: "/tmp/c",
      connectPorts: [443, 8443],
      connectTimeoutMs: 2500,
      responseTimeoutMs: 30000,
      logLevel: "debug",
      workers: 3,
    },
  });
});

Deno.test("parseCommandLine: --workers auto is one thread per core", () => {
  const c = parseCommandLine(["--workers", "auto"]);
  assert.equal(c.kind === "serve" && c.options.workers, navigator.hardwareConcurrency);
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
  [["--resolve", "registry.example.test"], /--resolve: expected HOST=ADDRESS/],
  [["--resolve", "registry.example.test=not-an-ip"], /--resolve: "not-an-ip" is not an IP address/],
  [["--resolve", "a b=127.0.0.1"], /--resolve: expected HOST=ADDRESS/],
  [["env", "--for", "npm,gradel"], /--for: unknown client "gradel"; known: apt, /],
  [["env", "--for", ""], /--for: no client named/],
  [["--for", "npm"], /--for is not an option of hoard serve/],
  [["--workers", "0"], /--workers: expected a number above 0 or "auto", got "0"/],
  [["--workers", "all"], /--workers: expected a number above 0 or "auto"/],
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

Deno.test("parseCommandLine: --intercept alone means every host; =HOSTS a list", () => {
  const all = parseCommandLine(["--intercept", "--port", "0"]);
  assert.equal(all.kind, "serve");
  if (all.kind === "serve") assert.deepEqual(all.options.intercept, ["*"]);
  const last = parseCommandLine(["--intercept"]);
  if (last.kind === "serve") assert.deepEqual(last.options.intercept, ["*"]);
  const some = parseCommandLine(["--intercept=a.test,*.b.test"]);
  if (some.kind === "serve") assert.deepEqual(some.options.intercept, ["a.test", "*.b.test"]);
});

Deno.test("parseCommandLine: CI flags land in the options", () => {
  const c = parseCommandLine([
    "--offline",
    "--stale-if-error",
    "2d",
    "--summary-json",
    "s.json",
    "--log-format",
    "json",
    "--upstream-proxy",
    "http://u:p@proxy.test:3128",
    "--use-env-proxy",
    "--config",
    "hoard.jsonc",
    "--ca-dir",
    "ca",
    "--tenancy",
    "shared",
  ]);
  assert.deepEqual(c, {
    kind: "serve",
    upstreamCaFiles: [],
    configFile: "hoard.jsonc",
    options: {
      offline: true,
      staleIfError: 172800,
      summaryJson: "s.json",
      logFormat: "json",
      upstreamProxy: "http://u:p@proxy.test:3128",
      useEnvProxy: true,
      caDir: "ca",
      tenancy: "shared",
    },
  });
});

Deno.test("parseCommandLine: env and ca share the server's address and CA flags", () => {
  const env = parseCommandLine([
    "env",
    "--host",
    "0.0.0.0",
    "--port",
    "9000",
    "--ca-dir",
    "/c",
    "--format",
    "github",
  ]);
  assert.deepEqual(env, {
    kind: "env",
    ca: { dir: "/c" },
    proxyUrl: "http://127.0.0.1:9000",
    noProxy: "localhost,127.0.0.1,::1",
    format: "github",
  });
  assert.deepEqual(parseCommandLine(["ca", "--pem", "--ca-dir", "/c"]), {
    kind: "ca",
    ca: { dir: "/c" },
    pem: true,
  });
});

const BAD_CI: [string[], RegExp][] = [
  [["--intercept=bad host"], /--intercept/],
  [["--stale-if-error", "soon"], /--stale-if-error: expected a duration/],
  [["--log-format", "xml"], /--log-format: expected text or json/],
  [["--upstream-proxy", "socks5://x:1"], /--upstream-proxy: only http:\/\//],
  [["--config", ""], /--config: empty path/],
  [["--ca-cert", "a.pem"], /--ca-cert and --ca-key go together/],
  [["--format", "sh"], /--format is not an option of hoard serve/],
  [["env", "--format", "xml"], /--format: expected one of sh, fish, github, json/],
  [["env", "--offline"], /--offline is not an option of hoard env/],
  [["--tenancy", "multi"], /--tenancy: expected single or shared, got "multi"/],
  [["env", "--tenancy", "shared"], /--tenancy is not an option of hoard env/],
  [["ca", "--max-size", "1G"], /--max-size is not an option of hoard ca/],
];

for (const [args, message] of BAD_CI) {
  Deno.test(`parseCommandLine: ${JSON.stringify(args)} is a usage error`, () => {
    assert.throws(() => parseCommandLine(args), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, message);
      return true;
    });
  });
}

Deno.test("parseCommandLine: every timeout is a flag, in seconds", () => {
  const c = parseCommandLine([
    "--idle-timeout",
    "5",
    "--header-timeout",
    "0.5",
    "--keep-alive-timeout",
    "30",
    "--shutdown-grace",
    "2",
  ]);
  assert.deepEqual(c.kind === "serve" ? c.options : undefined, {
    originIdleTimeoutMs: 5000,
    headerTimeoutMs: 500,
    keepAliveTimeoutMs: 30000,
    shutdownGraceMs: 2000,
  });
  assert.throws(() => parseCommandLine(["--header-timeout", "0"]), /--header-timeout/);
});

Deno.test("parseCommandLine: --resolve maps hosts to addresses, repeated or comma-separated", () => {
  const c = parseCommandLine([
    "--resolve",
    "Registry.Example.test=127.0.0.2,*.mirror.test=[::1]",
    "--resolve",
    "x.test=10.0.0.1",
  ]);
  assert.equal(c.kind, "serve");
  if (c.kind !== "serve") return;
  assert.deepEqual(c.options.resolve, [
    ["registry.example.test", "127.0.0.2"],
    ["*.mirror.test", "::1"],
    ["x.test", "10.0.0.1"],
  ]);
});

Deno.test("parseCommandLine: env --for keeps the clients named, in table order", () => {
  const c = parseCommandLine(["env", "--for", "maven,npm", "--port", "3128"]);
  assert.equal(c.kind, "env");
  if (c.kind !== "env") return;
  assert.deepEqual(c.clients, ["npm", "maven"]);
  assert.equal(c.proxyUrl, "http://127.0.0.1:3128");
  const all = parseCommandLine(["env"]);
  assert.ok(all.kind === "env" && all.clients === undefined);
});

Deno.test("parseCommandLine: --shared-cache and the shared commands", () => {
  const serve = parseCommandLine([
    "--shared-cache",
    "s3://ci-cache/hoard",
    "--shared-timeout",
    "0.5",
  ]);
  assert.ok(serve.kind === "serve");
  assert.equal(serve.options.sharedCache, "s3://ci-cache/hoard");
  assert.equal(serve.options.sharedTimeoutMs, 500);
  assert.throws(() => parseCommandLine(["--shared-cache", "ci-cache"]), UsageError);
  assert.throws(() => parseCommandLine(["--shared-uploads", "0"]), UsageError);
  assert.deepEqual(parseCommandLine(["stats", "--shared"]), {
    kind: "stats-shared",
    url: undefined,
  });
  assert.deepEqual(parseCommandLine(["stats", "--shared", "--shared-cache", "s3://b1/p"]), {
    kind: "stats-shared",
    url: "s3://b1/p",
  });
  assert.deepEqual(parseCommandLine(["prune", "--shared", "--older-than", "30d"]), {
    kind: "prune-shared",
    url: undefined,
    olderThan: 30 * 86400,
  });
  assert.throws(() => parseCommandLine(["prune", "--shared"]), UsageError);
  assert.throws(() => parseCommandLine(["prune", "--older-than", "3d"]), UsageError);
  assert.throws(() => parseCommandLine(["--shared"]), UsageError);
  assert.throws(() => parseCommandLine(["stats", "--shared-cache", "s3://b1"]), UsageError);
});
