/**
 * pip and poetry end to end, each with a configuration of its own that pins
 * a CA file (and pip a proxy), run with exactly what `hoard env` prints,
 * against a PEP 503 simple index on 127.0.0.1 whose wheels the real tools
 * built (`pip wheel` of two small poetry-core projects, one depending on the
 * other). Three runs each, the client's own cache emptied before each: cold
 * (every page and wheel reaches the index once), warm (no wheel reaches it;
 * pip revalidates the pages, because it asks for them with `max-age=0`) and
 * with the index stopped (stale-if-error for pip's revalidations, fresh
 * entries for poetry).
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256 } from "../../_helpers/cache_origin.ts";
import { type ClientLab, labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  exchangeLines,
  type FileOrigin,
  type LoggedRequest,
  loggedRequests,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../../_helpers/package_managers.ts";
import { tempDir } from "../ci_helpers.ts";

/** The CA bundle of the system: it does not hold hoard's CA, as on a user's machine. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * A Python that builds the wheels offline: `pip wheel --no-build-isolation`
 * needs the build backend (poetry-core, which Debian's poetry brings) in the
 * Python that runs it.
 */
const BUILDER = ["/usr/bin/python3", "python3"].find((py) =>
  missingTool([[py, "-c", "import pip, poetry.core.masonry.api"]]) === undefined
);
const NO_BUILDER = BUILDER === undefined
  ? "no python3 with pip and poetry-core to build the wheels"
  : undefined;
const PIP_MISSING = NO_BUILDER ?? missingTool([["python3", "-m", "pip", "--version"]]);
const POETRY_MISSING = NO_BUILDER ?? missingTool([["poetry", "--version"]]);
const skip = (why: string | undefined) => why === undefined ? "" : ` (ignored: ${why})`;

/** The name of the poetry source (its certificate setting is per source name). */
const SOURCE = "lab";

/** One project of the index: `hoard-lab-app` 2.0.0 needs `hoard-lab-base` ^1.0. */
interface Project {
  name: string;
  version: string;
  /** The package's `__init__.py`. */
  init: string;
  /** Poetry dependency lines. */
  deps?: string;
}

/** base 2.0.0 is there so that `^1.0` must pick 1.1.0 from the page. */
const PROJECTS: Project[] = [
  { name: "hoard-lab-base", version: "1.0.0", init: `VERSION = "1.0.0"\n` },
  { name: "hoard-lab-base", version: "1.1.0", init: `VERSION = "1.1.0"\n` },
  { name: "hoard-lab-base", version: "2.0.0", init: `VERSION = "2.0.0"\n` },
  {
    name: "hoard-lab-app",
    version: "2.0.0",
    init: `import hoard_lab_base\n\n\ndef describe():\n` +
      `    return "app 2.0.0 on base " + hoard_lab_base.VERSION\n`,
    deps: `hoard-lab-base = "^1.0"\n`,
  },
];
const APP_INIT = PROJECTS[3]!.init;
const BASE_INIT = PROJECTS[1]!.init;
const DESCRIBED = "app 2.0.0 on base 1.1.0";

/** The two pages and the two wheels one install of hoard-lab-app fetches. */
const PAGES = ["/simple/hoard-lab-app/", "/simple/hoard-lab-base/"];
const WHEELS = [
  "/packages/5c/0d/hoard_lab_app-2.0.0-py3-none-any.whl",
  "/packages/9a/11/hoard_lab_base-1.1.0-py3-none-any.whl",
];

const pyproject = (p: Project) =>
  `[tool.poetry]\nname = "${p.name}"\nversion = "${p.version}"\ndescription = "hoard lab"\n` +
  `authors = ["hoard <hoard@hoard.test>"]\n\n[tool.poetry.dependencies]\npython = ">=3.7"\n` +
  (p.deps ?? "") +
  `\n[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n`;

const moduleOf = (name: string) => name.replaceAll("-", "_");

/**
 * The index's files, built once per test file: every project through one
 * `pip wheel`, wheels under /packages/, one PEP 503 page per project (ETag,
 * fresh ten minutes, as a public index serves them; the wheels with no
 * freshness and no validator, so only hoard's "python wheel" rule makes them
 * hits).
 */
let indexFiles: Promise<Map<string, ServedFile>> | undefined;
function buildIndex(): Promise<Map<string, ServedFile>> {
  return indexFiles ??= (async () => {
    await using tmp = await tempDir("hoard-pyindex-");
    // One `pip wheel` takes one version of a project: a round per version of base.
    const rounds: string[][] = [];
    for (const p of PROJECTS) {
      const dir = `${tmp.path}/src/${p.name}-${p.version}`;
      await Deno.mkdir(`${dir}/${moduleOf(p.name)}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/pyproject.toml`, pyproject(p));
      await Deno.writeTextFile(`${dir}/${moduleOf(p.name)}/__init__.py`, p.init);
      const round = rounds.find((r) => !r.some((d) => d.includes(`/${p.name}-`)));
      if (round === undefined) rounds.push([dir]);
      else round.push(dir);
    }
    for (const dirs of rounds) {
      await run(BUILDER!, [
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--disable-pip-version-check",
        "-w",
        `${tmp.path}/wheels`,
        ...dirs,
      ], { env: { HOME: tmp.path }, timeoutMs: 120_000 });
    }
    const files = new Map<string, ServedFile>();
    const links = new Map<string, string[]>();
    for (const p of PROJECTS) {
      const wheel = `${moduleOf(p.name)}-${p.version}-py3-none-any.whl`;
      const body = await Deno.readFile(`${tmp.path}/wheels/${wheel}`);
      const path = WHEELS.find((w) => w.endsWith(`/${wheel}`)) ??
        `/packages/${sha256(body).slice(0, 2)}/${sha256(body).slice(2, 4)}/${wheel}`;
      files.set(path, { body });
      const list = links.get(p.name) ?? [];
      list.push(`<a href="${path}#sha256=${sha256(body)}">${wheel}</a><br/>`);
      links.set(p.name, list);
    }
    const html = (body: string) =>
      new TextEncoder().encode(`<!DOCTYPE html>\n<html><body>\n${body}</body></html>\n`);
    files.set("/simple/", {
      body: html([...links.keys()].map((n) => `<a href="/simple/${n}/">${n}</a><br/>\n`).join("")),
      type: "text/html",
    });
    for (const [name, list] of links) {
      const body = html(list.join("\n") + "\n");
      files.set(`/simple/${name}/`, {
        body,
        type: "text/html",
        etag: `"${sha256(body).slice(0, 16)}"`,
        headers: { "cache-control": "max-age=600, public" },
      });
    }
    return files;
  })();
}

/** The index on 127.0.0.1, speaking HTTPS with the lab's certificate. */
async function startIndex(): Promise<FileOrigin> {
  const p = await labPki();
  return startFileOrigin(await buildIndex(), { cert: p.cert, key: p.key });
}

/** What one run did. */
interface RunReport {
  /** Wall time. */
  ms: number;
  /** hoard's log position before the run. */
  mark: number;
  /** How many requests hoard logged during the run (CONNECTs left out). */
  requests: number;
  /** Requests the index answered during the run. */
  origin: number;
}

/** Every request of the lab's log named `host:port` or an URL on it: nothing else was asked for. */
function assertOnlyLab(lab: ClientLab, base: string): void {
  const host = new URL(base).host;
  for (const l of loggedRequests(lab.proxy.logs)) {
    assert.ok(l.url === host || l.url.startsWith(`${base}/`), `${l.method} ${l.url}`);
  }
}

/** `path status cache-status` of each GET of a run, ttl left out, sorted. */
function statuses(lab: ClientLab, base: string, r: RunReport): string[] {
  return lab.requests(r.mark).slice(0, r.requests).filter((l: LoggedRequest) => l.method === "GET")
    .map((l) =>
      `${l.url.slice(base.length)} ${l.status} ${l.cacheStatus?.replace(/; ttl=\d+/, "")}`
    ).sort();
}

/** The version line of a client, first line of `cmd args`. */
async function version(cmd: string, args: string[], env: Record<string, string>) {
  return (await run(cmd, args, { env })).stdout.trim().split("\n")[0]!;
}

/** One line per client for the README's table. */
function report(client: string, ver: string, runs: RunReport[]): void {
  const [cold, warm, down] = runs;
  console.log(
    `client ${client} (${ver}): cold ${cold?.ms.toFixed(0)} ms, warm ${warm?.ms.toFixed(0)} ms, ` +
      `origin down ${down?.ms.toFixed(0)} ms; origin requests cold ${cold?.origin}, ` +
      `warm ${warm?.origin}, down ${down?.origin}`,
  );
}

Deno.test({
  name: `pip install with a pip.conf pinning cert and proxy, through hoard env${skip(PIP_MISSING)}`,
  ignore: PIP_MISSING !== undefined,
  async fn() {
    const origin = await startIndex();
    let originUp = true;
    try {
      await using lab = await startClientLab({ for: "pip", ports: [origin.port] });
      const base = labUrl("pypi", origin.port);
      // pyenv's shim finds its Python through HOME; the lab's HOME is empty.
      const python = (await run("python3", ["-c", "import sys; print(sys.executable)"])).stdout
        .trim();
      await Deno.mkdir(`${lab.home}/.config/pip`, { recursive: true });
      await Deno.writeTextFile(
        `${lab.home}/.config/pip/pip.conf`,
        `[global]\ncert = ${SYSTEM_BUNDLE}\nproxy = http://127.0.0.1:1\n` +
          `index-url = ${base}/simple/\ntimeout = 10\nretries = 0\n` +
          `disable-pip-version-check = true\nno-compile = true\n`,
      );
      const target = `${lab.home}/site`;
      const install = async (env: Record<string, string>): Promise<RunReport> => {
        await lab.settled();
        await Deno.remove(`${lab.home}/.cache`, { recursive: true }).catch(() => {});
        await Deno.remove(target, { recursive: true }).catch(() => {});
        const mark = lab.mark();
        const seen = origin.exchanges.length;
        const { ms } = await run(
          python,
          ["-m", "pip", "install", "--no-input", "--target", target, "hoard-lab-app"],
          { env, timeoutMs: 90_000 },
        );
        assert.equal(await Deno.readTextFile(`${target}/hoard_lab_app/__init__.py`), APP_INIT);
        assert.equal(await Deno.readTextFile(`${target}/hoard_lab_base/__init__.py`), BASE_INIT);
        const out = await run(python, [
          "-c",
          "import hoard_lab_app; print(hoard_lab_app.describe())",
        ], { env: { PYTHONPATH: target } });
        assert.equal(out.stdout.trim(), DESCRIBED);
        // hoard logs an exchange once its last byte is written: settled by now.
        await lab.settled();
        return {
          ms,
          mark,
          requests: lab.requests(mark).length,
          origin: origin.exchanges.length - seen,
        };
      };

      // pip.conf's own cert and proxy are what pip uses without hoard's PIP_* variables.
      const bare = Object.fromEntries(
        Object.entries(lab.env).filter(([n]) => !n.startsWith("PIP_")),
      );
      await assert.rejects(install(bare), /No matching distribution|SSL|ProxyError/);
      assert.equal(origin.exchanges.length, 0);

      const cold = await install(lab.env);
      assert.deepEqual(
        exchangeLines(origin.exchanges),
        [...PAGES, ...WHEELS].map((p) => `GET ${p} 200`).sort(),
      );
      assert.deepEqual(
        statuses(lab, base, cold),
        [...PAGES, ...WHEELS].map((p) => `${p} 200 hoard; fwd=uri-miss; stored`).sort(),
      );

      // pip asks for pages with max-age=0: hoard revalidates them (304); no wheel is asked for.
      const warm = await install(lab.env);
      assert.deepEqual(
        exchangeLines(origin.exchanges.slice(4)),
        PAGES.map((p) => `GET? ${p} 304`),
      );
      assert.deepEqual(
        statuses(lab, base, warm),
        [
          ...PAGES.map((p) => `${p} 200 hoard; fwd=request; fwd-status=304`),
          ...WHEELS.map((p) => `${p} 200 hoard; hit`),
        ].sort(),
      );

      // The index is gone: the stored pages stand in for the failed revalidation
      // (stale-if-error); the wheels need no origin at all.
      await origin.close();
      originUp = false;
      const down = await install(lab.env);
      assert.equal(origin.exchanges.length, 6);
      assert.deepEqual(
        statuses(lab, base, down),
        [
          ...PAGES.map((p) => `${p} 200 hoard; fwd=request; fwd-status=502; detail=stale-if-error`),
          ...WHEELS.map((p) => `${p} 200 hoard; hit`),
        ].sort(),
      );
      assertOnlyLab(lab, base);

      report(
        "pip",
        (await version(python, ["-m", "pip", "--version"], lab.env))
          .replace(/^pip (\S+) from .*\(python (\S+)\)$/, "pip $1, python $2"),
        [cold, warm, down],
      );
    } finally {
      if (originUp) await origin.close();
    }
  },
});

Deno.test({
  name: `poetry install from a source whose certificate poetry config pins, through hoard env${
    skip(POETRY_MISSING)
  }`,
  ignore: POETRY_MISSING !== undefined,
  async fn() {
    const origin = await startIndex();
    let originUp = true;
    try {
      // The user's poetry config, written by poetry itself, pins the source's
      // CA to the system bundle (`poetry config` puts it in auth.toml).
      await using lab = await startClientLab({
        for: "poetry",
        ports: [origin.port],
        prepareHome: async (home) => {
          const settings: [string, string][] = [
            [`certificates.${SOURCE}.cert`, SYSTEM_BUNDLE],
            ["virtualenvs.in-project", "true"],
          ];
          for (const [key, value] of settings) {
            await run("poetry", ["config", key, value], { env: { HOME: home }, timeoutMs: 60_000 });
          }
        },
      });
      const base = labUrl("pypi", origin.port);
      // The job: one dependency, from the lab index as its only source (no public index).
      const job = `${lab.home}/job`;
      await Deno.mkdir(job);
      await Deno.writeTextFile(
        `${job}/pyproject.toml`,
        `[tool.poetry]\nname = "hoard-lab-job"\nversion = "0.1.0"\ndescription = "job"\n` +
          `authors = ["hoard <hoard@hoard.test>"]\n\n[tool.poetry.dependencies]\n` +
          `python = ">=3.7"\nhoard-lab-app = "^2.0"\n\n[[tool.poetry.source]]\n` +
          `name = "${SOURCE}"\nurl = "${base}/simple/"\ndefault = true\n`,
      );
      const install = async (env: Record<string, string>): Promise<RunReport> => {
        await lab.settled();
        for (const dir of [`${lab.home}/.cache`, `${job}/.venv`, `${job}/poetry.lock`]) {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
        const mark = lab.mark();
        const seen = origin.exchanges.length;
        const { ms } = await run("poetry", ["install", "--no-root", "--no-interaction"], {
          env,
          cwd: job,
          timeoutMs: 180_000,
        });
        const site = (await run(`${job}/.venv/bin/python`, [
          "-c",
          "import hoard_lab_app, os; print(os.path.dirname(os.path.dirname(hoard_lab_app.__file__)))",
        ], { env })).stdout.trim();
        assert.equal(await Deno.readTextFile(`${site}/hoard_lab_app/__init__.py`), APP_INIT);
        assert.equal(await Deno.readTextFile(`${site}/hoard_lab_base/__init__.py`), BASE_INIT);
        const out = await run(`${job}/.venv/bin/python`, [
          "-c",
          "import hoard_lab_app; print(hoard_lab_app.describe())",
        ], { env });
        assert.equal(out.stdout.trim(), DESCRIBED);
        // hoard logs an exchange once its last byte is written: settled by now.
        await lab.settled();
        return {
          ms,
          mark,
          requests: lab.requests(mark).length,
          origin: origin.exchanges.length - seen,
        };
      };

      // A certificate pinned for a named source beats REQUESTS_CA_BUNDLE; hoard
      // env found the name in poetry's config and sets the variable that beats the pin.
      const pinVar = `POETRY_CERTIFICATES_${SOURCE.toUpperCase()}_CERT`;
      assert.equal(lab.env[pinVar], lab.env["REQUESTS_CA_BUNDLE"]);
      const { [pinVar]: _, ...bare } = lab.env;
      await assert.rejects(install(bare), /CERTIFICATE_VERIFY_FAILED/);
      assert.equal(origin.exchanges.length, 0);
      const env = lab.env;

      // Cold: poetry reads each wheel while resolving and again to install; the
      // second time is already a hit.
      const cold = await install(env);
      assert.deepEqual(
        exchangeLines(origin.exchanges),
        [...PAGES, ...WHEELS].map((p) => `GET ${p} 200`).sort(),
      );
      assert.deepEqual(
        statuses(lab, base, cold),
        [
          ...[...PAGES, ...WHEELS].map((p) => `${p} 200 hoard; fwd=uri-miss; stored`),
          ...WHEELS.map((p) => `${p} 200 hoard; hit`),
        ].sort(),
      );

      // Warm, and with the index stopped: every page (fresh for 300 s by
      // hoard's rule; poetry sends no max-age=0) and every wheel is a hit.
      const warm = await install(env);
      const down = await (async () => {
        await origin.close();
        originUp = false;
        return await install(env);
      })();
      assert.equal(origin.exchanges.length, 4);
      for (const r of [warm, down]) {
        const routes = statuses(lab, base, r);
        assert.ok(routes.length >= 4, routes.join("\n"));
        for (const line of routes) {
          assert.match(line, /^\/\S+ 200 hoard; hit$/, routes.join("\n"));
        }
      }
      assertOnlyLab(lab, base);

      report(
        "poetry",
        (await version("poetry", ["--version"], env)).replace(
          /^Poetry \(version (.*)\)$/,
          "poetry $1",
        ),
        [cold, warm, down],
      );
    } finally {
      if (originUp) await origin.close();
    }
  },
});
