/**
 * cargo end to end: a sparse registry of two crates (`hoard-app` depends on
 * `hoard-greeting`) packaged by the real `cargo package`, whose index entries
 * cargo itself wrote, served over HTTPS as static files (`config.json`, the
 * index files, `.crate` downloads at the public registry's `dl` path), and a real `cargo
 * fetch` of a project that depends on `hoard-app`, through hoard, with a fresh
 * CARGO_HOME each run.
 *
 * The project's own `.cargo/config.toml` pins what users pin: `http.cainfo`
 * (the system bundle, which lacks hoard's CA) and an `http.proxy` of its own
 * (a dead port). `hoard env`'s CARGO_HTTP_CAINFO and CARGO_HTTP_PROXY beat
 * both: cargo reads the environment above its config files.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256 } from "../../_helpers/cache_origin.ts";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../../_helpers/package_managers.ts";
import { filesUnder, servedFile, threeRuns } from "../../_helpers/static_registry.ts";
import { tempDir } from "../ci_helpers.ts";

/** `cargo package --workspace` of crates that depend on each other needs cargo 1.90. */
function oldCargo(): string | undefined {
  const out = new Deno.Command("cargo", { args: ["--version"], stdout: "piped", stderr: "null" })
    .outputSync();
  const version = new TextDecoder().decode(out.stdout).trim();
  const [major, minor] = (version.match(/^cargo (\d+)\.(\d+)/)?.slice(1) ?? []).map(Number);
  return major === 1 && minor! >= 90 || major! > 1
    ? undefined
    : `${version || "cargo"} cannot package a workspace for a registry (needs 1.90)`;
}

const MISSING = missingTool([["cargo", "--version"]]) ?? oldCargo();
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const CARGO_TIMEOUT_MS = 60_000;
const CRATES = ["hoard-greeting", "hoard-app"];

/**
 * rustup's `cargo` finds its toolchains under RUSTUP_HOME, by default in
 * HOME, which each run here replaces: the real one is passed on.
 */
function rustupEnv(): Record<string, string> {
  const home = Deno.env.get("HOME");
  const rustupHome = Deno.env.get("RUSTUP_HOME") ?? (home && `${home}/.rustup`);
  try {
    if (rustupHome && Deno.statSync(rustupHome).isDirectory) return { RUSTUP_HOME: rustupHome };
  } catch {
    // no rustup: cargo is a plain binary (Debian's)
  }
  return {};
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const file = `${dir}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
}

const manifest = (name: string, deps = "") =>
  `[package]\nname = "${name}"\nversion = "1.0.0"\nedition = "2021"\n` +
  `description = "a crate of hoard's tests"\nlicense = "MIT"\npublish = ["lab"]\n${deps}`;

/**
 * Packages the two crates for the registry at `index` with `cargo package`
 * and returns what the registry serves: cargo's own index entries (the
 * sparse layout, written for its local overlay), config.json, and each
 * `.crate` at `dl`'s `/{crate}/{version}/download`.
 */
async function packageCrates(dir: string, index: string, base: string) {
  await writeFiles(`${dir}/crates`, {
    "Cargo.toml": `[workspace]\nmembers = ["greeting", "app"]\nresolver = "2"\n`,
    "greeting/Cargo.toml": manifest("hoard-greeting"),
    "greeting/src/lib.rs": `pub fn text() -> &'static str {\n    "served by hoard"\n}\n`,
    "app/Cargo.toml": manifest(
      "hoard-app",
      `\n[dependencies]\nhoard-greeting = { version = "1.0.0", path = "../greeting", ` +
        `registry = "lab" }\n`,
    ),
    "app/src/lib.rs": `pub fn text() -> &'static str {\n    hoard_greeting::text()\n}\n`,
    "cargo-home/config.toml": `[registries.lab]\nindex = "${index}"\n`,
  });
  await run("cargo", ["package", "--workspace", "--no-verify", "--offline", "--allow-dirty"], {
    cwd: `${dir}/crates`,
    env: { HOME: dir, CARGO_HOME: `${dir}/crates/cargo-home`, ...rustupEnv() },
    timeoutMs: CARGO_TIMEOUT_MS,
  });
  const out = `${dir}/crates/target/package`;
  const files = await filesUnder(`${out}/tmp-registry/index`);
  assert.deepEqual(
    [...files.keys()].sort(),
    ["/ho/ar/hoard-app", "/ho/ar/hoard-greeting"],
    "cargo's index entries",
  );
  files.set(
    "/config.json",
    servedFile(
      new TextEncoder().encode(JSON.stringify({ dl: `${base}/crates`, api: base })),
      "application/json",
    ),
  );
  for (const name of CRATES) {
    const body = await Deno.readFile(`${out}/${name}-1.0.0.crate`);
    files.set(`/crates/${name}/1.0.0/download`, servedFile(body, "application/x-tar"));
  }
  return files;
}

Deno.test({
  name: `cargo: cargo fetch through hoard with .cargo/config.toml pinning http.cainfo and ` +
    `http.proxy; warm from the cache, then with the registry down${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-cargo-test-");
    // The registry's URLs hold its port: it listens before the crates are packaged.
    const served = new Map<string, ServedFile>();
    const origin = startFileOrigin(served, await labPki());
    try {
      const base = labUrl("crates", origin.port);
      const index = `sparse+${base}/`;
      for (const [path, file] of await packageCrates(tmp.path, index, base)) served.set(path, file);

      await using lab = await startClientLab({ for: "cargo", ports: [origin.port] });
      assert.ok(lab.env["CARGO_HTTP_CAINFO"] && lab.env["CARGO_HTTP_PROXY"]);
      const project = `${tmp.path}/project`;
      await writeFiles(project, {
        "Cargo.toml": `[package]\nname = "consumer"\nversion = "0.1.0"\nedition = "2021"\n\n` +
          `[dependencies]\nhoard-app = { version = "1.0.0", registry = "lab" }\n`,
        "src/main.rs": `fn main() {\n    println!("{}", hoard_app::text());\n}\n`,
        // The project's own pins: the system's CA bundle and a proxy of its own.
        ".cargo/config.toml": `[registries.lab]\nindex = "${index}"\n\n` +
          `[http]\ncainfo = "/etc/ssl/certs/ca-certificates.crt"\nproxy = "127.0.0.1:1"\n` +
          `timeout = 20\n\n[net]\nretry = 0\n`,
      });

      const install = async (n: number) => {
        const cargoHome = `${tmp.path}/cargo-home-${n}`;
        await Deno.remove(`${project}/Cargo.lock`).catch(() => {});
        await run("cargo", ["fetch"], {
          env: { ...lab.env, ...rustupEnv(), CARGO_HOME: cargoHome },
          cwd: project,
          timeoutMs: CARGO_TIMEOUT_MS,
        });
        const cacheDir = `${cargoHome}/registry/cache`;
        const [registryDir] = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
        assert.match(registryDir ?? "", /^crates\.hoard\.test-/);
        for (const name of CRATES) {
          const got = await Deno.readFile(`${cacheDir}/${registryDir}/${name}-1.0.0.crate`);
          const want = served.get(`/crates/${name}/1.0.0/download`)!.body;
          assert.equal(sha256(got), sha256(want), name);
        }
      };
      const version = (await run("cargo", ["--version"], { env: { ...lab.env, ...rustupEnv() } }))
        .stdout.trim();
      await threeRuns({
        client: version,
        lab,
        origin,
        isArtifact: (path) => path.startsWith("/crates/"),
        install,
      });
    } finally {
      await origin.close().catch(() => {});
    }
  },
});
