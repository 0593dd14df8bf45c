/**
 * Deno end to end through hoard: `deno install --entrypoint` of a program
 * that imports an `npm:` package (with a dependency) from an npm registry at
 * `https://npm.hoard.test:PORT/` (tests/_helpers/npm_registry.ts) and a
 * remote module (which imports a second file) from
 * `https://deno.hoard.test:PORT/`.
 *
 * Deno takes the proxy from `HTTPS_PROXY` and adds `DENO_CERT` (hoard's CA,
 * what `hoard env --for deno` sets) to its roots. The user's `~/.npmrc`
 * names the registry, which Deno uses, and pins `cafile` to the system
 * bundle, which Deno ignores (as it ignores the npmrc's proxy settings): no
 * config file of Deno's can pin a CA, so DENO_CERT always applies.
 *
 * Deno asks for packuments with `Accept: *\/*` and its own User-Agent: the
 * "npm packument (Deno)" preset keeps them for 5 minutes, as the registry's
 * own `max-age` would; the tarballs (`no-cache` from this registry) only by
 * the "npm tarball" preset.
 *
 * @module
 */

import assert from "node:assert/strict";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import { type PackageSpec, startNpmRegistry } from "../../_helpers/npm_registry.ts";
import { run, type ServedFile, startFileOrigin } from "../../_helpers/package_managers.ts";
import {
  assertArtifactsHit,
  requestLines,
  runsLine,
  threeRuns,
} from "../../_helpers/three_runs.ts";
import { tempDir } from "../ci_helpers.ts";

const CLIENT_TIMEOUT_MS = 120_000;
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

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
const NPM_PATHS = [
  "/hoard-e2e-deno",
  "/hoard-e2e-deno-dep",
  "/hoard-e2e-deno-dep/-/hoard-e2e-deno-dep-1.0.1.tgz",
  "/hoard-e2e-deno/-/hoard-e2e-deno-3.1.0.tgz",
];

/** A versioned remote module, served as module hosts do: immutable, a year's max-age. */
const MODULES: Record<string, string> = {
  "/greet@1.0.0/mod.ts": `export { greeting } from "./words.ts";\n`,
  "/greet@1.0.0/words.ts": `export const greeting = "hello from a remote module";\n`,
};

const PRINTED = {
  pkg: { name: "hoard-e2e-deno", dep: { name: "hoard-e2e-deno-dep", version: "1.0.1" } },
  greeting: "hello from a remote module",
};

Deno.test("deno install of npm: and https: imports through hoard, ~/.npmrc pinning cafile", async () => {
  await using tmp = await tempDir("hoard-deno-test-");
  const p = await labPki();
  const tls = { cert: p.cert, key: p.key };
  await using registry = await startNpmRegistry(PACKAGES, { cert: tls, host: "npm.hoard.test" });
  const modules = startFileOrigin(
    new Map<string, ServedFile>(
      Object.entries(MODULES).map(([path, text]) => [path, {
        body: new TextEncoder().encode(text),
        type: "application/typescript",
        etag: `"${path.length}-${text.length}"`,
        headers: { "cache-control": "public, max-age=31536000, immutable" },
      }]),
    ),
    tls,
  );
  let modulesClosed: Promise<void> | undefined;
  const closeModules = () => modulesClosed ??= modules.close();
  try {
    await using lab = await startClientLab({
      for: "deno",
      ports: [registry.port, modules.port],
    });
    await Deno.writeTextFile(
      `${lab.home}/.npmrc`,
      `registry=${registry.url}\ncafile=${SYSTEM_BUNDLE}\n`,
    );
    const mod = `${labUrl("deno", modules.port)}/greet@1.0.0/mod.ts`;
    await Deno.writeTextFile(
      `${tmp.path}/main.ts`,
      `import pkg from "npm:hoard-e2e-deno@^3.0.0";\nimport { greeting } from "${mod}";\n` +
        `console.log(JSON.stringify({ pkg, greeting }));\n`,
    );
    // Deno 2 imports remote modules from a few well-known hosts only, unless told.
    const allowImport = `--allow-import=deno.hoard.test:${modules.port}`;
    const deno = (args: string[]) =>
      run(Deno.execPath(), [
        ...args,
        allowImport,
        "--no-config",
        "--node-modules-dir=none",
        "main.ts",
      ], {
        env: lab.env,
        cwd: tmp.path,
        timeoutMs: CLIENT_TIMEOUT_MS,
      });

    const runs = await threeRuns(lab, async () => {
      await registry.close();
      await closeModules();
    }, async (name) => {
      // Deno's cache (DENO_DIR) is under the home directory.
      await Deno.remove(`${lab.home}/.cache/deno`, { recursive: true }).catch(() => {});
      await deno(["install", "--entrypoint"]);
      // What was installed runs with no network at all.
      const printed = await deno(["run", "--cached-only"]);
      assert.deepEqual(JSON.parse(printed.stdout), PRINTED, name);
    });

    // Once each, through hoard, on the first run; never again after.
    assert.deepEqual(registry.origin.requests.map((r) => r.path).sort(), NPM_PATHS);
    for (const r of registry.origin.requests) assert.equal(r.headers.get("via"), "1.1 hoard");
    assert.deepEqual(modules.requests.map((r) => r.path).sort(), Object.keys(MODULES).sort());
    assert.deepEqual(
      requestLines(runs.cold.requests),
      [...NPM_PATHS, ...Object.keys(MODULES)].map((p) => `GET ${p} 200 miss`).sort(),
    );
    assertArtifactsHit(runs.warm, (url) => url.endsWith(".tgz") || url.endsWith(".ts"), "warm");
    assert.deepEqual(runs.warm.origin, []);
    assert.deepEqual(runs.down.origin, []);
    assert.equal(runs.down.requests.length, NPM_PATHS.length + Object.keys(MODULES).length);
    console.log(runsLine("deno", Deno.version.deno, runs));

    // The npmrc's cafile does not stand in for DENO_CERT: without it Deno cannot verify hoard.
    const { DENO_CERT: _, ...unpinned } = lab.env;
    await Deno.remove(`${lab.home}/.cache/deno`, { recursive: true });
    await assert.rejects(
      run(Deno.execPath(), [
        "install",
        "--entrypoint",
        "--no-config",
        "--node-modules-dir=none",
        "main.ts",
      ], {
        env: unpinned,
        cwd: tmp.path,
        timeoutMs: CLIENT_TIMEOUT_MS,
      }),
      /UnknownIssuer|invalid peer certificate/,
    );
  } finally {
    await closeModules();
  }
});
