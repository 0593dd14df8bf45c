/**
 * Real `npm install` through hoard with TLS interception, against a local
 * HTTPS registry (tests/_helpers/npm_registry.ts): a cold run fills the cache,
 * a warm run with npm's own cache empty is served entirely by hoard, and a
 * run with the registry stopped still installs — from fresh entries, and
 * (with packuments that went stale) through stale-if-error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cacheSettled, sleep } from "../_helpers/cache_origin.ts";
import { type NpmRegistry, type PackageSpec, startNpmRegistry } from "../_helpers/npm_registry.ts";
import {
  type LoggedRequest,
  loggedRequests,
  missingTool,
  run,
} from "../_helpers/package_managers.ts";
import { startTestProxy, type TestProxy } from "../_helpers/proxy.ts";

const MISSING = missingTool([["npm", "--version"], ["node", "--version"]]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const requireOf = (name: string, version: string, dep: string) =>
  `module.exports = ${JSON.stringify({ name, version })};\nmodule.exports.dep = require(${
    JSON.stringify(dep)
  });\n`;

/**
 * Three packages, top → mid → leaf. The leaf has three versions and `latest`
 * is 2.0.0, so `^1.0.0` must resolve to 1.1.0 from the packument hoard serves.
 */
const PACKAGES: PackageSpec[] = [
  { name: "hoard-e2e-leaf", version: "1.0.0" },
  { name: "hoard-e2e-leaf", version: "1.1.0" },
  { name: "hoard-e2e-leaf", version: "2.0.0" },
  {
    name: "hoard-e2e-mid",
    version: "1.2.0",
    dependencies: { "hoard-e2e-leaf": "^1.0.0" },
    main: requireOf("hoard-e2e-mid", "1.2.0", "hoard-e2e-leaf"),
  },
  {
    name: "hoard-e2e-top",
    version: "2.0.0",
    dependencies: { "hoard-e2e-mid": "^1.2.0" },
    main: requireOf("hoard-e2e-top", "2.0.0", "hoard-e2e-mid"),
  },
];

/** What one install must fetch: three packuments and the three chosen tarballs. */
const EXPECTED_PATHS = [
  "/hoard-e2e-leaf",
  "/hoard-e2e-leaf/-/hoard-e2e-leaf-1.1.0.tgz",
  "/hoard-e2e-mid",
  "/hoard-e2e-mid/-/hoard-e2e-mid-1.2.0.tgz",
  "/hoard-e2e-top",
  "/hoard-e2e-top/-/hoard-e2e-top-2.0.0.tgz",
];

/** What `require("hoard-e2e-top")` gives when node_modules is right. */
const EXPECTED_TREE = {
  name: "hoard-e2e-top",
  version: "2.0.0",
  dep: {
    name: "hoard-e2e-mid",
    version: "1.2.0",
    dep: { name: "hoard-e2e-leaf", version: "1.1.0" },
  },
};

/** A registry, hoard intercepting it, and a project that depends on the top package. */
interface Scenario extends AsyncDisposable {
  registry: NpmRegistry;
  proxy: TestProxy;
  /** The project directory. */
  project: string;
  /**
   * Runs a clean `npm install` (no node_modules, npm cache empty, no lockfile
   * read or written); returns its wall time in ms.
   */
  install(): Promise<number>;
  /** GET lines hoard logged from the `from`-th log line on. */
  gets(from: number): LoggedRequest[];
  /** What node_modules gives for `require("hoard-e2e-top")`. */
  tree(): Promise<unknown>;
}

async function scenario(packumentCacheControl?: string): Promise<Scenario> {
  const registry = await startNpmRegistry(PACKAGES, { packumentCacheControl });
  const proxy = await startTestProxy({
    intercept: ["*"],
    connectPorts: [registry.port],
    upstreamCaCerts: [registry.cert.cert],
    // Should npm try to reach anything but the local registry, hoard refuses it.
    allowHosts: ["localhost"],
    logFormat: "json",
  });
  const root = await Deno.makeTempDir({ prefix: "hoard-npm-test-" });
  const project = `${root}/project`;
  await Deno.mkdir(project);
  await Deno.writeTextFile(
    `${project}/package.json`,
    JSON.stringify({
      name: "hoard-e2e-app",
      version: "1.0.0",
      private: true,
      dependencies: { "hoard-e2e-top": "^2.0.0" },
    }),
  );
  // Empty npmrc files: nothing from the user's or the system's configuration.
  await Deno.writeTextFile(`${root}/user.npmrc`, "");
  await Deno.writeTextFile(`${root}/global.npmrc`, "");
  const env = {
    HOME: root,
    NO_COLOR: "1",
    NODE_EXTRA_CA_CERTS: `${proxy.cacheDir}/ca/ca.pem`,
    HTTP_PROXY: proxy.url,
    HTTPS_PROXY: proxy.url,
    npm_config_userconfig: `${root}/user.npmrc`,
    npm_config_globalconfig: `${root}/global.npmrc`,
    npm_config_update_notifier: "false",
  };
  let runs = 0;
  return {
    registry,
    proxy,
    project,
    async install() {
      await Deno.remove(`${project}/node_modules`, { recursive: true }).catch(() => {});
      // Whatever hoard stored must be committed before the next run asks for it.
      await cacheSettled(proxy.cacheDir);
      const { ms } = await run("npm", [
        "install",
        "--registry",
        registry.url,
        "--proxy",
        proxy.url,
        "--https-proxy",
        proxy.url,
        "--cache",
        `${root}/npm-cache-${runs++}`,
        "--no-package-lock",
        "--no-audit",
        "--no-fund",
        // A failure fails now, not after npm's back-off of a minute.
        "--fetch-retries",
        "0",
      ], { cwd: project, env });
      return ms;
    },
    gets: (from) => loggedRequests(proxy.logs.slice(from)).filter((l) => l.method === "GET"),
    async tree() {
      const out = await run("node", ["-p", `JSON.stringify(require("hoard-e2e-top"))`], {
        cwd: project,
      });
      return JSON.parse(out.stdout);
    },
    [Symbol.asyncDispose]: async () => {
      await registry.close();
      await proxy.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Origin paths requested so far, sorted. */
const originPaths = (registry: NpmRegistry) => registry.origin.requests.map((r) => r.path).sort();

/** The path of each logged URL with its route, sorted by path. */
const routes = (lines: LoggedRequest[]) =>
  lines.map((l) => `${new URL(l.url).pathname} ${l.route}`).sort();

Deno.test({
  name:
    `npm install through hoard: cold fills the cache, warm and registry-down runs need no origin${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using s = await scenario();

    // Cold: every packument and tarball is a miss that reaches the origin once, through hoard.
    const cold = await s.install();
    assert.deepEqual(originPaths(s.registry), EXPECTED_PATHS);
    for (const r of s.registry.origin.requests) assert.equal(r.headers.get("via"), "1.1 hoard");
    assert.deepEqual(routes(s.gets(0)), EXPECTED_PATHS.map((p) => `${p} miss`));
    assert.deepEqual(await s.tree(), EXPECTED_TREE);

    // Warm, npm's cache empty again: all six from hoard, the origin sees nothing new.
    let mark = s.proxy.logs.length;
    const warm = await s.install();
    assert.equal(s.registry.origin.requests.length, EXPECTED_PATHS.length);
    const warmGets = s.gets(mark);
    assert.deepEqual(routes(warmGets), EXPECTED_PATHS.map((p) => `${p} hit`));
    // Tarballs are fresh forever (the rule overrides their no-cache); packuments for max-age=300.
    for (const l of warmGets) {
      const ttl = Number(/; hit; ttl=(\d+)/.exec(l.cacheStatus ?? "")?.[1]);
      if (l.url.endsWith(".tgz")) assert.ok(ttl > 300 * 86400, `${l.url}: ${l.cacheStatus}`);
      else assert.ok(ttl > 0 && ttl <= 300, `${l.url}: ${l.cacheStatus}`);
    }
    assert.deepEqual(await s.tree(), EXPECTED_TREE);

    // The registry goes away: the install still succeeds, from hoard alone.
    await s.registry.close();
    mark = s.proxy.logs.length;
    const down = await s.install();
    assert.equal(s.registry.origin.requests.length, EXPECTED_PATHS.length);
    assert.deepEqual(routes(s.gets(mark)), EXPECTED_PATHS.map((p) => `${p} hit`));
    assert.deepEqual(await s.tree(), EXPECTED_TREE);

    console.log(
      `npm install of 3 packages through hoard: cold ${cold.toFixed(0)} ms, ` +
        `warm ${warm.toFixed(0)} ms, registry down ${down.toFixed(0)} ms; ` +
        `origin requests ${EXPECTED_PATHS.length} / +0 / +0`,
    );
  },
});

Deno.test({
  name: `npm install through hoard: stale packuments stand in for a registry that is down${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using s = await scenario("public, max-age=1");
    await s.install();
    assert.deepEqual(originPaths(s.registry), EXPECTED_PATHS);
    // Past the packuments' freshness (Age counts whole seconds), then the registry is gone.
    await sleep(2100);
    await s.registry.close();

    const mark = s.proxy.logs.length;
    await s.install();
    assert.deepEqual(await s.tree(), EXPECTED_TREE);
    const gets = s.gets(mark);
    assert.equal(gets.length, EXPECTED_PATHS.length);
    for (const l of gets) {
      assert.equal(l.status, 200, `${l.url}: ${l.cacheStatus}`);
      if (l.url.endsWith(".tgz")) assert.equal(l.route, "hit", l.url);
      // Stale now, so hoard asked the origin, failed, and served what it had. (Were
      // npm's packument requests to get the preset's 300 s, they would be hits.)
      else assert.match(l.cacheStatus ?? "", /fwd-status=502; detail=stale-if-error|; hit;/);
    }
  },
});

// npm asks for full packuments (Accept: application/json); the preset still
// recognises them by pacote-req-type and gives them 300 s.
Deno.test({
  name: "npm install through hoard: npm 11's packuments get the preset's 300 s freshness",
  async fn() {
    await using s = await scenario("public, max-age=0");
    await s.install();
    assert.deepEqual(originPaths(s.registry), EXPECTED_PATHS);
    const mark = s.proxy.logs.length;
    await s.install();
    assert.equal(s.registry.origin.requests.length, EXPECTED_PATHS.length);
    assert.deepEqual(routes(s.gets(mark)), EXPECTED_PATHS.map((p) => `${p} hit`));
  },
});
