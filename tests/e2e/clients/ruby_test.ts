/**
 * RubyGems (`gem install`) and Bundler (`bundle install`) end to end through
 * hoard, against a gem source made by the real tools: two gems built with
 * `gem build` (one depending on the other) and indexed with `gem
 * generate_index`, served as static files over HTTPS at
 * `https://gems.hoard.test:PORT/`.
 *
 * The user's own configuration pins the system's CA bundle, which does not
 * hold hoard's CA: `~/.gemrc` has `:ssl_ca_cert:` and `~/.bundle/config` has
 * `BUNDLE_SSL_CA_CERT`. What `hoard env --for ruby` sets beats both:
 * - RubyGems always loads OpenSSL's default paths, so `SSL_CERT_FILE` (the
 *   bundle) is read whatever `:ssl_ca_cert:` adds to it; gem files that
 *   Bundler downloads go through RubyGems too;
 * - Bundler's index requests trust only `ssl_ca_cert` when one is set (no
 *   default paths then), and its `BUNDLE_*` variables rank above the global
 *   `~/.bundle/config` (not above a project's own `.bundle/config`: see the
 *   README).
 *
 * `gem generate_index` of RubyGems 3.3 writes the full index (specs.4.8.gz and
 * quick/Marshal.4.8 gemspecs), not the compact index: Bundler asks for
 * `/versions`, then the dependency API, and falls back to the full index, as
 * it does with any source that has neither.
 *
 * @module
 */

import assert from "node:assert/strict";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  type FileOrigin,
  type LoggedRequest,
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

const MISSING = missingTool([["ruby", "--version"], ["gem", "--version"], [
  "bundle",
  "--version",
]]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

/** The user's own CA setting: the system bundle, without hoard's CA. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const CLIENT_TIMEOUT_MS = 120_000;

const GEMS = [
  {
    name: "hoard-gem-dep",
    version: "1.0.1",
    lib: `module HoardGemDep; VALUE = "dep 1.0.1"; end\n`,
  },
  {
    name: "hoard-gem-app",
    version: "2.0.0",
    dependency: `s.add_runtime_dependency "hoard-gem-dep", "~> 1.0"`,
    lib: `require "hoard_gem_dep"\n` +
      `module HoardGemApp; VALUE = "app 2.0.0 with #{HoardGemDep::VALUE}"; end\n`,
  },
];
const PRINTED = "app 2.0.0 with dep 1.0.1";
const GEM_FILES = GEMS.map((g) => `/gems/${g.name}-${g.version}.gem`);
const isArtifact = (url: string) => /\/(gems\/[^/]+\.gem|quick\/Marshal\.4\.8\/.+\.rz)$/.test(url);

/** Builds the gems and the index `gem generate_index` writes; the files by URL path. */
async function buildGemSource(dir: string): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const repo = `${dir}/repo`;
  await Deno.mkdir(`${repo}/gems`, { recursive: true });
  for (const g of GEMS) {
    const src = `${dir}/src/${g.name}`;
    const lib = g.name.replaceAll("-", "_");
    await Deno.mkdir(`${src}/lib`, { recursive: true });
    await Deno.writeTextFile(`${src}/lib/${lib}.rb`, g.lib);
    await Deno.writeTextFile(
      `${src}/${g.name}.gemspec`,
      `Gem::Specification.new do |s|\n` +
        `  s.name = "${g.name}"; s.version = "${g.version}"; s.license = "MIT"\n` +
        `  s.summary = "hoard's gem test"; s.authors = ["hoard"]\n` +
        `  s.files = ["lib/${lib}.rb"]\n` +
        `  ${g.dependency ?? ""}\nend\n`,
    );
    await run("gem", ["build", `${g.name}.gemspec`], { cwd: src, env: { HOME: dir } });
    const file = `${g.name}-${g.version}.gem`;
    await Deno.rename(`${src}/${file}`, `${repo}/gems/${file}`);
  }
  await run("gem", ["generate_index", "--directory", repo], { env: { HOME: dir } });
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const walk = async (path: string) => {
    for await (const e of Deno.readDir(`${repo}${path}`)) {
      if (e.isDirectory) await walk(`${path}/${e.name}`);
      else files.set(`${path}/${e.name}`, await Deno.readFile(`${repo}${path}/${e.name}`));
    }
  };
  await walk("");
  return files;
}

let source: Promise<Map<string, Uint8Array<ArrayBuffer>>> | undefined;
/** The gem source, built once for this file (in memory: its directory is gone once read). */
function gemSource(): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  return source ??= (async () => {
    await using dir = await tempDir("hoard-gem-source-");
    return await buildGemSource(dir.path);
  })();
}

/**
 * A static server's answers: an ETag and a Last-Modified of just now (no
 * Cache-Control), so nothing is fresh by heuristics and only hoard's rules
 * make the gems hits. `close` may be called again.
 */
async function startGemOrigin(): Promise<FileOrigin> {
  const p = await labPki();
  const lastModified = new Date().toUTCString();
  const served = new Map<string, ServedFile>();
  for (const [path, body] of await gemSource()) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", body));
    served.set(path, {
      body,
      lastModified,
      etag: `"${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("")}"`,
    });
  }
  const origin = startFileOrigin(served, { cert: p.cert, key: p.key });
  const stop = origin.close;
  let closed: Promise<void> | undefined;
  const close = () => closed ??= stop();
  return Object.assign(origin, { close, [Symbol.asyncDispose]: close });
}

/** Removes what RubyGems and Bundler keep under `home` between runs. */
async function forgetHome(home: string): Promise<void> {
  for (const d of [".gem", ".local/share/gem", ".cache/gem", ".bundle/cache"]) {
    await Deno.remove(`${home}/${d}`, { recursive: true }).catch(() => {});
  }
}

/** `gem 3.3.15 (ruby 3.1.2)`, `bundler 2.3.15`. */
async function versions(): Promise<{ gem: string; bundler: string }> {
  const ruby = (await run("ruby", ["-e", "print RUBY_VERSION"])).stdout;
  const gem = (await run("gem", ["--version"])).stdout.trim();
  const bundler = (await run("bundle", ["--version"])).stdout.trim().replace(/^\D*/, "");
  return { gem: `${gem} (ruby ${ruby})`, bundler: `${bundler} (ruby ${ruby})` };
}

Deno.test({
  name: `gem install through hoard, ~/.gemrc pinning :ssl_ca_cert:${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-gem-test-");
    const files = await gemSource();
    await using origin = await startGemOrigin();
    await using lab = await startClientLab({ for: "gem", ports: [origin.port] });
    const url = labUrl("gems", origin.port);
    await Deno.writeTextFile(`${lab.home}/.gemrc`, `---\n:ssl_ca_cert: ${SYSTEM_BUNDLE}\n`);
    const runs = await threeRuns(lab, () => origin.close(), async (name) => {
      await forgetHome(lab.home);
      const dir = `${tmp.path}/${name}`;
      await run("gem", [
        ...["install", "--no-document", "--clear-sources", "--source", `${url}/`],
        ...["--install-dir", dir, "hoard-gem-app"],
      ], { env: lab.env, timeoutMs: CLIENT_TIMEOUT_MS });
      for (const g of GEMS) {
        const file = `${g.name}-${g.version}.gem`;
        assert.deepEqual(
          await Deno.readFile(`${dir}/cache/${file}`),
          files.get(`/gems/${file}`),
          `${name}: ${file}`,
        );
      }
      const printed = await run("ruby", [
        ...GEMS.map((g) => `-I${dir}/gems/${g.name}-${g.version}/lib`),
        ...["-e", `require "hoard_gem_app"; puts HoardGemApp::VALUE`],
      ], { env: lab.env });
      assert.equal(printed.stdout.trim(), PRINTED, name);
    });

    // The full index, the gemspecs and the gems, each once through hoard.
    assert.deepEqual(requestLines(runs.cold.origin.filter((r) => r.method === "GET")), [
      "GET /gems/hoard-gem-app-2.0.0.gem 200 miss",
      "GET /gems/hoard-gem-dep-1.0.1.gem 200 miss",
      "GET /prerelease_specs.4.8.gz 200 miss",
      "GET /quick/Marshal.4.8/hoard-gem-app-2.0.0.gemspec.rz 200 miss",
      "GET /quick/Marshal.4.8/hoard-gem-dep-1.0.1.gemspec.rz 200 miss",
      "GET /specs.4.8.gz 200 miss",
    ]);
    // `gem install --source` probes the source with a HEAD, which hoard
    // forwards every time (it stores no HEAD response); with the origin
    // down the probe fails and gem goes on with the index it got.
    const probe = (r: LoggedRequest) => r.method === "HEAD" && new URL(r.url).pathname === "/";
    assertArtifactsHit(runs.warm, isArtifact, "warm", probe);
    assertArtifactsHit(runs.down, isArtifact, "origin down", probe);
    for (const path of GEM_FILES) {
      assert.equal(origin.exchanges.filter((e) => e.path === path).length, 1, path);
    }
    console.log(runsLine("gem", (await versions()).gem, runs));
    // Without hoard env's SSL_CERT_FILE, the pinned bundle alone cannot verify hoard.
    const { SSL_CERT_FILE: _, ...unpinned } = lab.env;
    await assert.rejects(
      run("gem", ["install", "--clear-sources", "--source", `${url}/`, "hoard-gem-dep"], {
        env: unpinned,
        cwd: tmp.path,
        timeoutMs: CLIENT_TIMEOUT_MS,
      }),
      /SSL verification error|certificate verify failed/,
    );
  },
});

Deno.test({
  name: `bundle install through hoard, ~/.bundle/config pinning BUNDLE_SSL_CA_CERT${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-bundler-test-");
    const files = await gemSource();
    await using origin = await startGemOrigin();
    await using lab = await startClientLab({ for: "bundler", ports: [origin.port] });
    const url = labUrl("gems", origin.port);
    const bundlePath = `${tmp.path}/bundle`;
    await Deno.writeTextFile(`${lab.home}/.gemrc`, `---\n:ssl_ca_cert: ${SYSTEM_BUNDLE}\n`);
    await Deno.mkdir(`${lab.home}/.bundle`);
    await Deno.writeTextFile(
      `${lab.home}/.bundle/config`,
      `---\nBUNDLE_SSL_CA_CERT: "${SYSTEM_BUNDLE}"\nBUNDLE_PATH: "${bundlePath}"\n`,
    );
    const app = `${tmp.path}/app`;
    await Deno.mkdir(app);
    await Deno.writeTextFile(`${app}/Gemfile`, `source "${url}/"\ngem "hoard-gem-app"\n`);
    const runs = await threeRuns(lab, () => origin.close(), async (name) => {
      await forgetHome(lab.home);
      await Deno.remove(bundlePath, { recursive: true }).catch(() => {});
      await Deno.remove(`${app}/Gemfile.lock`).catch(() => {});
      await run("bundle", ["install"], { env: lab.env, cwd: app, timeoutMs: CLIENT_TIMEOUT_MS });
      const printed = await run(
        "bundle",
        ["exec", "ruby", "-e", `require "hoard_gem_app"; puts HoardGemApp::VALUE`],
        { env: lab.env, cwd: app, timeoutMs: CLIENT_TIMEOUT_MS },
      );
      assert.equal(printed.stdout.trim(), PRINTED, name);
      const cached = [];
      for await (const e of Deno.readDir(`${bundlePath}/ruby`)) cached.push(e.name);
      for (const g of GEMS) {
        const file = `${g.name}-${g.version}.gem`;
        assert.deepEqual(
          await Deno.readFile(`${bundlePath}/ruby/${cached[0]}/cache/${file}`),
          files.get(`/gems/${file}`),
          `${name}: ${file}`,
        );
      }
    });

    // Neither the compact index nor the dependency API is there: the full index.
    assert.deepEqual(requestLines(runs.cold.origin), [
      "GET /api/v1/dependencies 404 miss",
      "GET /gems/hoard-gem-app-2.0.0.gem 200 miss",
      "GET /gems/hoard-gem-dep-1.0.1.gem 200 miss",
      "GET /prerelease_specs.4.8.gz 200 miss",
      "GET /quick/Marshal.4.8/hoard-gem-app-2.0.0.gemspec.rz 200 miss",
      "GET /quick/Marshal.4.8/hoard-gem-dep-1.0.1.gemspec.rz 200 miss",
      "GET /specs.4.8.gz 200 miss",
      "GET /versions 404 miss",
    ]);
    assertArtifactsHit(runs.warm, isArtifact, "warm");
    assertArtifactsHit(runs.down, isArtifact, "origin down");
    for (const path of GEM_FILES) {
      assert.equal(origin.exchanges.filter((e) => e.path === path).length, 1, path);
    }
    console.log(runsLine("bundler", `${(await versions()).bundler}, full index`, runs));
    // Without hoard env's BUNDLE_SSL_CA_CERT, ~/.bundle/config's wins over SSL_CERT_FILE.
    const { BUNDLE_SSL_CA_CERT: _, ...unpinned } = lab.env;
    await forgetHome(lab.home);
    await Deno.remove(bundlePath, { recursive: true });
    await Deno.remove(`${app}/Gemfile.lock`);
    await assert.rejects(
      run("bundle", ["install", "--retry=0"], {
        env: unpinned,
        cwd: app,
        timeoutMs: CLIENT_TIMEOUT_MS,
      }),
      /Could not verify the SSL certificate/,
    );
  },
});
