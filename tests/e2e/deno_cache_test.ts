/**
 * `deno cache` of `npm:` specifiers through hoard with TLS interception,
 * against a local HTTPS registry (tests/_helpers/npm_registry.ts): Deno takes
 * the registry from `NPM_CONFIG_REGISTRY`, the proxy from `HTTPS_PROXY` and
 * trusts hoard's CA from `DENO_CERT` (no `--cert` needed). A second run with
 * an empty `DENO_DIR` is served entirely by hoard. Deno asks for packuments
 * with `Accept: *\/*`, so they are cached for the registry's own `max-age`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cacheSettled } from "../_helpers/cache_origin.ts";
import { type PackageSpec, startNpmRegistry } from "../_helpers/npm_registry.ts";
import { loggedRequests, run, type RunResult } from "../_helpers/package_managers.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

const PACKAGES: PackageSpec[] = [
  { name: "hoard-e2e-deno-dep", version: "1.0.0" },
  { name: "hoard-e2e-deno-dep", version: "1.0.1" },
  {
    name: "hoard-e2e-deno",
    version: "3.1.0",
    dependencies: { "hoard-e2e-deno-dep": "~1.0.0" },
    main: `module.exports = { name: "hoard-e2e-deno", dep: require("hoard-e2e-deno-dep") };\n`,
  },
];

const EXPECTED_PATHS = [
  "/hoard-e2e-deno",
  "/hoard-e2e-deno-dep",
  "/hoard-e2e-deno-dep/-/hoard-e2e-deno-dep-1.0.1.tgz",
  "/hoard-e2e-deno/-/hoard-e2e-deno-3.1.0.tgz",
];

/** Runs this Deno with `args` in `cwd`, with only `env` (and PATH) in its environment. */
function deno(args: string[], cwd: string, env: Record<string, string>): Promise<RunResult> {
  return run(Deno.execPath(), args, {
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
  });
}

Deno.test("deno cache npm: through hoard: a second run with an empty DENO_DIR is served from hoard's cache", async () => {
  await using registry = await startNpmRegistry(PACKAGES);
  await using proxy = await startTestProxy({
    intercept: ["*"],
    connectPorts: [registry.port],
    upstreamCaCerts: [registry.cert.cert],
    // Should Deno try to reach anything but the local registry, hoard refuses it.
    allowHosts: ["localhost"],
    logFormat: "json",
  });
  const root = await Deno.makeTempDir({ prefix: "hoard-deno-cache-test-" });
  try {
    await Deno.writeTextFile(
      `${root}/main.ts`,
      `import pkg from "npm:hoard-e2e-deno@^3.0.0";\nconsole.log(JSON.stringify(pkg));\n`,
    );
    const timings: number[] = [];
    for (let i = 0; i < 2; i++) {
      await cacheSettled(proxy.cacheDir);
      const denoDir = `${root}/deno-dir-${i}`;
      const mark = proxy.logs.length;
      const cached = await deno(
        ["cache", "--no-config", "--node-modules-dir=none", "main.ts"],
        root,
        {
          HOME: root,
          DENO_DIR: denoDir,
          HTTPS_PROXY: proxy.url,
          HTTP_PROXY: proxy.url,
          DENO_CERT: `${proxy.cacheDir}/ca/ca.pem`,
          NPM_CONFIG_REGISTRY: registry.url,
        },
      );
      timings.push(cached.ms);

      // Once, through hoard, on the first run; never again after.
      assert.deepEqual(registry.origin.requests.map((r) => r.path).sort(), EXPECTED_PATHS);
      for (const r of registry.origin.requests) assert.equal(r.headers.get("via"), "1.1 hoard");
      const gets = loggedRequests(proxy.logs.slice(mark)).filter((l) => l.method === "GET");
      assert.deepEqual(
        gets.map((l) => `${new URL(l.url).pathname} ${l.route}`).sort(),
        EXPECTED_PATHS.map((p) => `${p} ${i === 0 ? "miss" : "hit"}`),
      );

      // What was cached runs, with no network at all.
      const printed = await deno(
        ["run", "--cached-only", "--no-config", "--node-modules-dir=none", "main.ts"],
        root,
        { HOME: root, DENO_DIR: denoDir, NPM_CONFIG_REGISTRY: registry.url },
      );
      assert.deepEqual(JSON.parse(printed.stdout), {
        name: "hoard-e2e-deno",
        dep: { name: "hoard-e2e-deno-dep", version: "1.0.1" },
      });
    }
    console.log(
      `deno cache of 2 npm packages through hoard: cold ${timings[0]!.toFixed(0)} ms, ` +
        `warm ${timings[1]!.toFixed(0)} ms; origin requests ${EXPECTED_PATHS.length} / +0`,
    );
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
