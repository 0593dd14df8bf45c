/**
 * Composer end to end through hoard, against a Composer repository served as
 * static files over HTTPS at `https://composer.hoard.test:PORT/`: a
 * `packages.json` naming the `p2/` metadata of two packages (one requiring
 * the other) and their dist zips, made by `composer archive`.
 *
 * The user's own configuration, written by `composer config -g` itself, pins
 * `cafile` to the system's CA bundle (which does not hold hoard's CA) and
 * turns the default repository off; the project's composer.json pins `cafile`
 * too. This machine's Composer has no curl extension: it downloads with PHP's
 * streams, one connection per file. With `cafile` set Composer no longer
 * reads `SSL_CERT_FILE`; `COMPOSER_CAFILE`, which `hoard env --for composer`
 * sets, beats `cafile` wherever it is configured. Composer takes its proxy
 * from `https_proxy`/`HTTPS_PROXY` alone (it has no proxy setting).
 *
 * @module
 */

import assert from "node:assert/strict";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  type FileOrigin,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../../_helpers/package_managers.ts";
import {
  assertArtifactsHit,
  requestLines,
  runsLine,
  threeRuns,
} from "../../_helpers/three_runs.ts";
import { tempDir } from "../ci_helpers.ts";

const MISSING = missingTool([["php", "--version"], ["composer", "--version"], ["unzip", "-v"]]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

/** The user's own CA setting: the system bundle, without hoard's CA. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const CLIENT_TIMEOUT_MS = 120_000;

const PACKAGES = [
  {
    name: "hoard/dep",
    version: "1.0.1",
    namespace: "Hoard\\Dep\\",
    class: "Dep",
    php: `<?php\nnamespace Hoard\\Dep;\n\nfinal class Dep\n{\n    const VALUE = "dep 1.0.1";\n}\n`,
  },
  {
    name: "hoard/app",
    version: "2.0.0",
    namespace: "Hoard\\App\\",
    class: "App",
    require: { "hoard/dep": "^1.0" },
    php: `<?php\nnamespace Hoard\\App;\n\nfinal class App\n{\n` +
      `    public static function value(): string\n    {\n` +
      `        return "app 2.0.0 with " . \\Hoard\\Dep\\Dep::VALUE;\n    }\n}\n`,
  },
];
const PRINTED = "app 2.0.0 with dep 1.0.1";
const distPath = (p: { name: string; version: string }) =>
  `/dist/${p.name.replace("/", "-")}-${p.version}.zip`;
const isArtifact = (url: string) => url.endsWith(".zip");

interface Built {
  /** The package's composer.json, as its metadata entry starts. */
  manifest: Record<string, unknown>;
  /** Its dist zip. */
  zip: Uint8Array<ArrayBuffer>;
}

/** Each package's dist zip, made by `composer archive` from its sources. */
async function buildPackages(dir: string): Promise<Built[]> {
  const built: Built[] = [];
  for (const p of PACKAGES) {
    const src = `${dir}/src/${p.name}`;
    await Deno.mkdir(`${src}/src`, { recursive: true });
    const manifest = {
      name: p.name,
      version: p.version,
      type: "library",
      ...(p.require ? { require: p.require } : {}),
      autoload: { "psr-4": { [p.namespace]: "src/" } },
    };
    await Deno.writeTextFile(`${src}/composer.json`, JSON.stringify(manifest, null, 2));
    await Deno.writeTextFile(`${src}/src/${p.class}.php`, p.php);
    const file = distPath(p).slice("/dist/".length, -".zip".length);
    await run(
      "composer",
      ["archive", "-n", "--format=zip", `--dir=${dir}/dist`, `--file=${file}`],
      { cwd: src, env: { HOME: dir, COMPOSER_HOME: `${dir}/composer-home` } },
    );
    built.push({ manifest, zip: await Deno.readFile(`${dir}/dist/${file}.zip`) });
  }
  return built;
}

/**
 * The repository: `packages.json`, `p2/<name>.json` (the dist URLs name the
 * port, known once listening) and the zips, as a static server answers them
 * (ETag, Last-Modified of just now, no Cache-Control). `close` may be called again.
 */
async function startComposerOrigin(built: Built[]): Promise<FileOrigin> {
  const p = await labPki();
  const files = new Map<string, ServedFile>();
  const origin = startFileOrigin(files, { cert: p.cert, key: p.key });
  const url = labUrl("composer", origin.port);
  const lastModified = new Date().toUTCString();
  const serve = async (path: string, body: Uint8Array<ArrayBuffer>) => {
    files.set(path, { body, lastModified, etag: `"${await sha1(body)}"` });
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  for (const [i, b] of built.entries()) {
    const p = PACKAGES[i]!;
    await serve(distPath(p), b.zip);
    await serve(
      `/p2/${p.name}.json`,
      json({
        minified: "composer/2.0",
        packages: {
          [p.name]: [{
            ...b.manifest,
            version_normalized: `${p.version}.0`,
            dist: { type: "zip", url: `${url}${distPath(p)}`, shasum: await sha1(b.zip) },
          }],
        },
      }),
    );
  }
  await serve(
    "/packages.json",
    json({
      packages: [],
      "metadata-url": "/p2/%package%.json",
      "available-packages": PACKAGES.map((p) => p.name),
    }),
  );
  const stop = origin.close;
  let closed: Promise<void> | undefined;
  const close = () => closed ??= stop();
  return Object.assign(origin, { close, [Symbol.asyncDispose]: close });
}

async function sha1(body: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", body));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: `composer install through hoard, COMPOSER_HOME config pinning cafile${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-composer-test-");
    const built = await buildPackages(`${tmp.path}/build`);
    await using origin = await startComposerOrigin(built);
    await using lab = await startClientLab({ for: "composer", ports: [origin.port] });
    const composer = (args: string[], cwd = tmp.path, env = lab.env) =>
      run("composer", ["-n", ...args], { env, cwd, timeoutMs: CLIENT_TIMEOUT_MS });
    // The user's own global config, as `composer config -g` writes it.
    await composer(["config", "-g", "cafile", SYSTEM_BUNDLE]);
    await composer(["config", "-g", "repo.packagist", "false"]);
    const home = (await composer(["config", "-g", "home"])).stdout.trim();
    const cache = (await composer(["config", "-g", "cache-dir"])).stdout.trim();
    assert.match(await Deno.readTextFile(`${home}/config.json`), /"cafile": /);

    const project = `${tmp.path}/project`;
    await Deno.mkdir(project);
    await Deno.writeTextFile(
      `${project}/composer.json`,
      JSON.stringify({
        name: "hoard/project",
        require: { "hoard/app": "^2.0" },
        repositories: [{ type: "composer", url: labUrl("composer", origin.port) }],
        // Pinned in the project too: COMPOSER_CAFILE beats both.
        config: { cafile: SYSTEM_BUNDLE },
      }),
    );
    const forget = async () => {
      for (const p of [cache, `${project}/vendor`, `${project}/composer.lock`]) {
        await Deno.remove(p, { recursive: true }).catch(() => {});
      }
    };
    const runs = await threeRuns(lab, () => origin.close(), async (name) => {
      await forget();
      await composer(["install", "--no-progress"], project);
      const printed = await run("php", [
        "-r",
        `require "vendor/autoload.php"; echo \\Hoard\\App\\App::value(), "\\n";`,
      ], { cwd: project });
      assert.equal(printed.stdout.trim(), PRINTED, name);
      for (const [i, p] of PACKAGES.entries()) {
        assert.equal(
          await Deno.readTextFile(`${project}/vendor/${p.name}/src/${p.class}.php`),
          p.php,
          `${name}: ${p.name}`,
        );
        // Composer keeps the dist it downloaded in its cache, named by the zip's SHA-1.
        const zips = [];
        for await (const e of Deno.readDir(`${cache}/files/${p.name}`)) zips.push(e.name);
        assert.equal(zips.length, 1, `${name}: ${p.name} ${zips}`);
        assert.deepEqual(
          await Deno.readFile(`${cache}/files/${p.name}/${zips[0]}`),
          built[i]!.zip,
          `${name}: ${p.name} dist`,
        );
      }
    });

    assert.deepEqual(requestLines(runs.cold.origin), [
      "GET /dist/hoard-app-2.0.0.zip 200 miss",
      "GET /dist/hoard-dep-1.0.1.zip 200 miss",
      "GET /p2/hoard/app.json 200 miss",
      "GET /p2/hoard/dep.json 200 miss",
      "GET /packages.json 200 miss",
    ]);
    assertArtifactsHit(runs.warm, isArtifact, "warm");
    assertArtifactsHit(runs.down, isArtifact, "origin down");
    for (const p of PACKAGES) {
      assert.equal(origin.exchanges.filter((e) => e.path === distPath(p)).length, 1, p.name);
    }
    const version = (await run("composer", ["--version"], { env: { HOME: tmp.path } })).stdout
      .match(/Composer version (\S+)/)?.[1];
    const php = (await run("php", ["-r", "echo PHP_VERSION;"])).stdout;
    console.log(runsLine("composer", `${version} (PHP ${php})`, runs));

    // Without hoard env's COMPOSER_CAFILE, the pinned cafile cannot verify hoard.
    const { COMPOSER_CAFILE: _, ...unpinned } = lab.env;
    await forget();
    await assert.rejects(
      composer(["install", "--no-progress"], project, unpinned),
      /certificate verify failed/,
    );
  },
});
