/**
 * Go end to end: a GOPROXY directory made by the real `go mod download` (two
 * modules, `app` requiring `greeting`, fetched from local git repositories),
 * served over HTTPS as static files, and a real `go mod download` of a module
 * that requires `app`, through hoard, with a fresh module cache each run.
 *
 * The user's own configuration: a GOENV file written by `go env -w` (GOPROXY,
 * GOSUMDB, GOFLAGS) and an SSL_CERT_DIR of their own. Go reads its proxy only
 * from HTTPS_PROXY and its roots from SSL_CERT_FILE plus SSL_CERT_DIR (both,
 * not one instead of the other), so the CA directory does not get in the way
 * of the bundle `hoard env` names.
 *
 * The modules' paths end in `.git`, so `go` clones them with git without
 * asking the host for a go-import tag; a git `insteadOf` sends those clones to
 * local bare repositories. Nothing leaves the machine.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256 } from "../../_helpers/cache_origin.ts";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import { missingTool, run, startFileOrigin } from "../../_helpers/package_managers.ts";
import { filesUnder, threeRuns } from "../../_helpers/static_registry.ts";
import { tempDir } from "../ci_helpers.ts";

const MISSING = missingTool([["go", "version"], ["git", "--version"]]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const GO_TIMEOUT_MS = 60_000;
const APP = "hoard.test/app.git";
const GREETING = "hoard.test/greeting.git";

/** The two modules' sources, by directory. */
const MODULES: Record<string, Record<string, string>> = {
  greeting: {
    "go.mod": `module ${GREETING}\n\ngo 1.19\n`,
    "greeting.go": `package greeting\n\nfunc Text() string { return "served by hoard" }\n`,
  },
  app: {
    "go.mod": `module ${APP}\n\ngo 1.19\n\nrequire ${GREETING} v1.0.0\n`,
    "app.go":
      `package app\n\nimport "${GREETING}"\n\nfunc Text() string { return greeting.Text() }\n`,
  },
};

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const file = `${dir}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
}

/**
 * Makes the modules' git repositories (tag v1.0.0), fetches both with `go mod
 * download` from them, and returns the module cache's download directory (a
 * GOPROXY layout) and the go.sum lines.
 */
async function downloadModules(dir: string): Promise<{ proxyDir: string; goSum: string }> {
  const git = (cwd: string, ...args: string[]) =>
    run("git", ["-c", "user.name=hoard", "-c", "user.email=hoard@hoard.test", ...args], {
      cwd,
      env: { HOME: dir, GIT_CONFIG_NOSYSTEM: "1" },
    });
  for (const [name, files] of Object.entries(MODULES)) {
    const src = `${dir}/src/${name}`;
    await writeFiles(src, files);
    await git(src, "init", "-q", "-b", "main", ".");
    await git(src, "add", "-A");
    await git(src, "commit", "-q", "-m", "v1.0.0");
    await git(src, "tag", "v1.0.0");
    await git(dir, "clone", "-q", "--bare", src, `${dir}/repos/${name}.git`);
  }
  await Deno.writeTextFile(
    `${dir}/gitconfig`,
    `[url "${dir}/repos/"]\n\tinsteadOf = https://hoard.test/\n`,
  );
  const modcache = `${dir}/gen-modcache`;
  let goSum = "";
  for (const mod of [APP, GREETING]) {
    const r = await run("go", ["mod", "download", "-json", `${mod}@v1.0.0`], {
      cwd: dir,
      env: {
        HOME: dir,
        GIT_CONFIG_GLOBAL: `${dir}/gitconfig`,
        GIT_CONFIG_NOSYSTEM: "1",
        GOENV: "off",
        GOPATH: `${dir}/gopath`,
        GOMODCACHE: modcache,
        GOPROXY: "direct",
        GOSUMDB: "off",
        GOFLAGS: "-modcacherw",
        GOTOOLCHAIN: "local",
      },
      timeoutMs: GO_TIMEOUT_MS,
    });
    const info = JSON.parse(r.stdout) as { Sum: string; GoModSum: string; Error?: string };
    assert.equal(info.Error, undefined);
    goSum += `${mod} v1.0.0 ${info.Sum}\n${mod} v1.0.0/go.mod ${info.GoModSum}\n`;
  }
  return { proxyDir: `${modcache}/cache/download`, goSum };
}

Deno.test({
  name: `go: go mod download through hoard with the user's GOENV and SSL_CERT_DIR; ` +
    `warm from the cache, then with the proxy down${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-go-test-");
    const { proxyDir, goSum } = await downloadModules(tmp.path);
    // What a GOPROXY serves: list, .info, .mod, .zip (not the cache's locks and hashes).
    const served = await filesUnder(proxyDir, (p) => !/\.(lock|ziphash)$/.test(p));
    const origin = startFileOrigin(served, await labPki());
    try {
      await using lab = await startClientLab({ for: "go", ports: [origin.port] });
      assert.ok(lab.env["SSL_CERT_FILE"]);
      const project = `${tmp.path}/project`;
      await writeFiles(project, {
        "go.mod": `module hoard.test/consumer\n\ngo 1.19\n\nrequire ${APP} v1.0.0\n\n` +
          `require ${GREETING} v1.0.0 // indirect\n`,
        "go.sum": goSum,
        "main.go": `package main\n\nimport (\n\t"fmt"\n\n\t"${APP}"\n)\n\n` +
          `func main() { fmt.Println(app.Text()) }\n`,
      });
      // The user's own: `go env -w` settings, and a CA directory.
      const goEnvFile = `${tmp.path}/goenv`;
      const userEnv = {
        ...lab.env,
        GOENV: goEnvFile,
        SSL_CERT_DIR: "/etc/ssl/certs",
        GOTOOLCHAIN: "local",
      };
      await run("go", [
        "env",
        "-w",
        `GOPROXY=${labUrl("goproxy", origin.port)}`,
        "GOSUMDB=off",
        "GOFLAGS=-modcacherw",
      ], { env: userEnv, cwd: project });

      const install = async (n: number) => {
        const modcache = `${tmp.path}/modcache-${n}`;
        await run("go", ["mod", "download", "-x"], {
          env: { ...userEnv, GOMODCACHE: modcache, GOPATH: `${tmp.path}/gopath-${n}` },
          cwd: project,
          timeoutMs: GO_TIMEOUT_MS,
        });
        for (const mod of [APP, GREETING]) {
          const zip = `/${mod}/@v/v1.0.0.zip`;
          const got = await Deno.readFile(`${modcache}/cache/download${zip}`);
          assert.equal(sha256(got), sha256(served.get(zip)!.body), zip);
        }
        const text = await Deno.readTextFile(`${modcache}/${GREETING}@v1.0.0/greeting.go`);
        assert.match(text, /"served by hoard"/);
      };
      const version = (await run("go", ["version"], { env: userEnv })).stdout.trim();
      await threeRuns({
        client: version,
        lab,
        origin,
        isArtifact: (path) => /\/@v\/[^/]+\.(zip|mod)$/.test(path),
        install,
      });
    } finally {
      await origin.close().catch(() => {});
    }
  },
});
