/**
 * The npm family — npm, pnpm, Yarn 1 (classic) and Yarn 4 (berry), the real
 * binaries — installing from Verdaccio, a real npm registry, through hoard
 * with TLS interception, in the environment `hoard env --for CLIENT` prints.
 *
 * Each project carries a configuration of its own, as users' projects do,
 * that pins the system CA bundle (which does not hold hoard's CA) and a proxy
 * on a port nothing listens on: an install succeeds only if hoard's variables
 * beat both. (The machine's global npmrc may pin `cafile` too, as the issue's
 * did.) A first run without the variable that carries the CA shows the pin
 * bites: the install fails and reaches nothing.
 *
 * Then three installs, each with the client's caches emptied: cold (every
 * tarball reaches Verdaccio once), warm (every tarball a hit; packuments at
 * most revalidated), and with Verdaccio killed (the install still succeeds).
 * Each checks the installed tree, down to the bytes of a 64 KiB file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { pseudoRandom } from "../../_helpers/cache_origin.ts";
import { type ClientLab, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import { type LoggedRequest, loggedRequests, run } from "../../_helpers/package_managers.ts";
import {
  deadPort,
  type PublishSpec,
  startVerdaccio,
  type Verdaccio,
  verdaccioMissing,
} from "../../_helpers/verdaccio.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
/** A client run's time limit. */
const RUN_MS = 180_000;
/** The CA file projects pin: the system's, without hoard's CA. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

const DATA = pseudoRandom(64 * 1024, 0x13);
const DATA_SHA256 = createHash("sha256").update(DATA).digest("hex");

/** A module exporting its name, version and what it requires, by name. */
function moduleOf(name: string, version: string, deps: string[]): string {
  const required = deps.map((d) => `${JSON.stringify(d)}: require(${JSON.stringify(d)})`);
  return `module.exports = ${JSON.stringify({ name, version })};\n` +
    `module.exports.deps = { ${required.join(", ")} };\n`;
}

/**
 * top → mid → @lab/leaf, top → util (64 KiB of data). The leaf has three
 * versions and `latest` is 2.0.0, so `^1.0.0` must resolve to 1.1.0 from the
 * packument hoard serves; the scoped name travels as `@lab%2fleaf`.
 */
const PACKAGES: PublishSpec[] = [
  ...["1.0.0", "1.1.0", "2.0.0"].map((version) => ({
    name: "@lab/leaf",
    version,
    files: { "index.js": moduleOf("@lab/leaf", version, []) },
  })),
  {
    name: "hoard-lab-util",
    version: "1.0.0",
    files: {
      "data.bin": DATA,
      "index.js": `const data = require("fs").readFileSync(__dirname + "/data.bin");\n` +
        `module.exports = { name: "hoard-lab-util", version: "1.0.0", deps: {},\n` +
        `  sha256: require("crypto").createHash("sha256").update(data).digest("hex") };\n`,
    },
  },
  {
    name: "hoard-lab-mid",
    version: "1.2.0",
    dependencies: { "@lab/leaf": "^1.0.0" },
    files: { "index.js": moduleOf("hoard-lab-mid", "1.2.0", ["@lab/leaf"]) },
  },
  {
    name: "hoard-lab-top",
    version: "2.0.0",
    dependencies: { "hoard-lab-mid": "^1.2.0", "hoard-lab-util": "^1.0.0" },
    files: { "index.js": moduleOf("hoard-lab-top", "2.0.0", ["hoard-lab-mid", "hoard-lab-util"]) },
  },
];

/** What `require("hoard-lab-top")` gives when the install is right. */
const EXPECTED_TREE = {
  name: "hoard-lab-top",
  version: "2.0.0",
  deps: {
    "hoard-lab-mid": {
      name: "hoard-lab-mid",
      version: "1.2.0",
      deps: { "@lab/leaf": { name: "@lab/leaf", version: "1.1.0", deps: {} } },
    },
    "hoard-lab-util": { name: "hoard-lab-util", version: "1.0.0", deps: {}, sha256: DATA_SHA256 },
  },
};

/** The tarballs one install fetches. */
const TARBALLS = [
  "/@lab/leaf/-/leaf-1.1.0.tgz",
  "/hoard-lab-mid/-/hoard-lab-mid-1.2.0.tgz",
  "/hoard-lab-top/-/hoard-lab-top-2.0.0.tgz",
  "/hoard-lab-util/-/hoard-lab-util-1.0.0.tgz",
];

/** Where a client's project and caches are, and how to reach the registry. */
interface Setup {
  /** The project directory (package.json written). */
  project: string;
  /** The client's home (lab.home): its global caches live there. */
  home: string;
  /** `https://npm.hoard.test:PORT`. */
  registry: string;
  /** `http://127.0.0.1:DEAD`: a proxy that refuses every connection. */
  deadProxy: string;
}

/** One client of the family. */
interface Client {
  /** Its name in the test and the printed line. */
  name: string;
  /** What `hoard env --for` is given. */
  for: string;
  /** The command line that runs it. */
  cmd: string[];
  /** More environment the command needs on this machine (not hoard's). @default {{}} */
  extraEnv?: Record<string, string>;
  /** The variable of `hoard env` that beats the project's pinned CA file. */
  caVariable: string;
  /** Writes the project's own configuration. */
  configure(s: Setup): Promise<void>;
  /** Arguments of a clean install; `n` numbers the run (fresh cache directories). */
  installArgs(s: Setup, n: number): string[];
  /** Removes what the last install left in the project and home. */
  clean(s: Setup): Promise<void>;
}

const remove = (path: string) => Deno.remove(path, { recursive: true }).catch(() => {});

/** The pins every npmrc-reading client gets: the system bundle, a dead proxy. */
const npmrc = (s: Setup) =>
  `registry=${s.registry}/\ncafile=${SYSTEM_BUNDLE}\n` +
  `proxy=${s.deadProxy}/\nhttps-proxy=${s.deadProxy}/\n`;

const NPM: Client = {
  name: "npm",
  for: "npm",
  cmd: ["npm"],
  caVariable: "npm_config_cafile",
  configure: (s) => Deno.writeTextFile(`${s.project}/.npmrc`, npmrc(s)),
  installArgs: (s, n) => [
    "install",
    "--no-package-lock",
    "--no-audit",
    "--no-fund",
    "--cache",
    `${s.home}/npm-cache-${n}`,
    // A failure fails now, not after a minute of back-off.
    "--fetch-retries=0",
  ],
  clean: (s) => remove(`${s.project}/node_modules`),
};

const PNPM: Client = {
  name: "pnpm",
  for: "pnpm",
  cmd: [`${ROOT}.tools/pnpm/node_modules/.bin/pnpm`],
  caVariable: "NODE_EXTRA_CA_CERTS",
  configure: async (s) => {
    await Deno.writeTextFile(`${s.project}/.npmrc`, npmrc(s));
    // pnpm holds back versions published in the last day; these are seconds old.
    await Deno.writeTextFile(`${s.project}/pnpm-workspace.yaml`, "minimumReleaseAge: 0\n");
  },
  installArgs: (s, n) => [
    "install",
    "--store-dir",
    `${s.home}/pnpm-store-${n}`,
    "--cache-dir",
    `${s.home}/pnpm-cache-${n}`,
    "--reporter=append-only",
  ],
  clean: async (s) => {
    await remove(`${s.project}/node_modules`);
    await remove(`${s.project}/pnpm-lock.yaml`);
  },
};

/**
 * Debian's yarnpkg finds its modules under /usr/share/nodejs, which only
 * Debian's own Node searches: with another Node (NodeSource's here) it needs
 * NODE_PATH.
 */
const DEBIAN_NODE_PATH = { NODE_PATH: "/usr/share/nodejs" };

const YARN_CLASSIC: Client = {
  name: "yarn classic",
  for: "yarn-classic",
  cmd: ["yarnpkg"],
  extraEnv: DEBIAN_NODE_PATH,
  caVariable: "YARN_CAFILE",
  // Yarn 1's own file; it reads npmrc files too, which is where the registry goes.
  configure: async (s) => {
    await Deno.writeTextFile(`${s.project}/.npmrc`, `registry=${s.registry}/\n`);
    await Deno.writeTextFile(
      `${s.project}/.yarnrc`,
      `cafile "${SYSTEM_BUNDLE}"\nproxy "${s.deadProxy}/"\nhttps-proxy "${s.deadProxy}/"\n`,
    );
  },
  installArgs: (s, n) => [
    "install",
    "--no-lockfile",
    "--non-interactive",
    "--no-progress",
    "--cache-folder",
    `${s.home}/yarn-cache-${n}`,
  ],
  clean: (s) => remove(`${s.project}/node_modules`),
};

const YARN_BERRY: Client = {
  name: "yarn berry",
  for: "yarn",
  cmd: ["node", `${ROOT}.tools/yarn-berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js`],
  caVariable: "YARN_HTTPS_CA_FILE_PATH",
  configure: (s) =>
    Deno.writeTextFile(
      `${s.project}/.yarnrc.yml`,
      [
        `npmRegistryServer: "${s.registry}"`,
        `httpsCaFilePath: ${SYSTEM_BUNDLE}`,
        `httpProxy: "${s.deadProxy}"`,
        `httpsProxy: "${s.deadProxy}"`,
        // node_modules, so that plain `node` can require the tree.
        "nodeLinker: node-modules",
        "enableGlobalCache: false",
        "enableTelemetry: false",
        // Yarn 4 holds back versions published in the last day; these are seconds old.
        "npmMinimalAgeGate: 0",
        "",
      ].join("\n"),
    ),
  installArgs: () => ["install"],
  clean: async (s) => {
    for (const p of ["node_modules", ".yarn", "yarn.lock"]) await remove(`${s.project}/${p}`);
    // Its metadata cache.
    await remove(`${s.home}/.yarn`);
  },
};

const CLIENTS = [NPM, PNPM, YARN_CLASSIC, YARN_BERRY];

/** Why `client` cannot run here, or undefined. */
function missing(client: Client): string | undefined {
  try {
    const out = new Deno.Command(client.cmd[0]!, {
      args: [...client.cmd.slice(1), "--version"],
      env: client.extraEnv ?? {},
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success ? undefined : `\`${client.cmd.join(" ")} --version\` fails`;
  } catch {
    return `no ${client.cmd[0]} (scripts/clients/install_npm_family.sh)`;
  }
}

/** Its version. */
async function versionOf(client: Client): Promise<string> {
  const { stdout } = await run(client.cmd[0]!, [...client.cmd.slice(1), "--version"], {
    env: client.extraEnv ?? {},
  });
  return stdout.trim();
}

/** Path of a logged URL, percent-decoded (`/@lab%2fleaf` is `/@lab/leaf`). */
function pathOf(r: LoggedRequest): string {
  return decodeURIComponent(new URL(r.url).pathname);
}

/** How many of `reqs` asked for each of the expected tarballs, as `path ×n` lines. */
function tarballCounts(reqs: LoggedRequest[]): string[] {
  return TARBALLS.map((t) => `${t} ×${reqs.filter((r) => pathOf(r) === t).length}`);
}

/** What one run did, from hoard's log. */
interface RunReport {
  /** Wall time of the install, ms. */
  ms: number;
  /** Every request hoard logged (CONNECTs left out). */
  requests: LoggedRequest[];
  /** Those that reached Verdaccio. */
  origin: LoggedRequest[];
}

async function installOnce(
  client: Client,
  lab: ClientLab,
  s: Setup,
  n: number,
): Promise<RunReport> {
  await client.clean(s);
  // What hoard stored must be committed before the next run asks for it.
  await lab.settled();
  const mark = lab.mark();
  const { ms } = await run(client.cmd[0]!, [...client.cmd.slice(1), ...client.installArgs(s, n)], {
    cwd: s.project,
    env: { ...lab.env, ...client.extraEnv },
    timeoutMs: RUN_MS,
  });
  const { stdout } = await run("node", [
    "-e",
    `process.stdout.write(JSON.stringify(require("hoard-lab-top")))`,
  ], { cwd: s.project, env: { HOME: s.home } });
  assert.deepEqual(
    JSON.parse(stdout),
    EXPECTED_TREE,
    `${client.name} run ${n}: the installed tree`,
  );
  // Every request, CONNECTs included, went to the registry's name, never elsewhere.
  const all = loggedRequests(lab.proxy.logs.slice(mark));
  const host = new URL(s.registry).host;
  for (const r of all) {
    const at = r.method === "CONNECT" ? r.url : new URL(r.url).host;
    assert.equal(at, host, `${client.name} run ${n}: ${r.method} ${r.url}`);
  }
  return { ms, requests: lab.requests(mark), origin: lab.originRequests(mark) };
}

async function exercise(client: Client, registry: Verdaccio): Promise<void> {
  await using lab = await startClientLab({ for: client.for, ports: [registry.port] });
  const s: Setup = {
    project: `${lab.home}/project`,
    home: lab.home,
    registry: labUrl("npm", registry.port),
    deadProxy: `http://127.0.0.1:${deadPort()}`,
  };
  await Deno.mkdir(s.project);
  await Deno.writeTextFile(
    `${s.project}/package.json`,
    JSON.stringify({
      name: "hoard-lab-app",
      version: "1.0.0",
      private: true,
      dependencies: { "hoard-lab-top": "^2.0.0" },
    }),
  );
  await client.configure(s);
  assert.ok(
    lab.hoardEnv[client.caVariable],
    `hoard env --for ${client.for} sets ${client.caVariable}`,
  );

  // Without the variable that carries hoard's CA, the project's pinned bundle
  // wins: the install fails and nothing reaches the registry.
  const without = { ...lab.env, ...client.extraEnv };
  delete without[client.caVariable];
  const mark = lab.mark();
  await assert.rejects(
    run(client.cmd[0]!, [...client.cmd.slice(1), ...client.installArgs(s, 0)], {
      cwd: s.project,
      env: without,
      timeoutMs: RUN_MS,
    }),
    `${client.name} without ${client.caVariable} must fail`,
  );
  assert.deepEqual(lab.originRequests(mark), [], "nothing reached the registry");

  const cold = await installOnce(client, lab, s, 1);
  // Each tarball reached the registry exactly once, through hoard.
  assert.deepEqual(
    tarballCounts(cold.origin),
    TARBALLS.map((t) => `${t} ×1`),
    `cold: ${JSON.stringify(cold.origin)}`,
  );

  const warm = await installOnce(client, lab, s, 2);
  assertFromCache("warm", warm);

  await registry.stop();
  let down: RunReport;
  try {
    down = await installOnce(client, lab, s, 3);
  } finally {
    await registry.start();
  }
  assertFromCache("registry down", down);

  const version = await versionOf(client);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  // With the registry down, a revalidation only tries: hoard answers from what it has.
  const stale = down.origin.filter((q) => /stale-if-error/.test(q.cacheStatus ?? "")).length;
  console.log(
    `${client.name} ${version}: cold ${secs(cold.ms)}, warm ${secs(warm.ms)}, ` +
      `down ${secs(down.ms)}; origin requests cold ${cold.origin.length} ` +
      `(${TARBALLS.length} tarballs), warm ${warm.origin.length}, down ${down.origin.length}` +
      (stale > 0 ? ` (${stale} tried, served stale)` : ""),
  );
}

/**
 * Every tarball asked for once more and served by hoard; what reached the
 * registry (if anything) is packuments being revalidated.
 */
function assertFromCache(what: string, r: RunReport): void {
  const tarballs = r.requests.filter((q) => TARBALLS.includes(pathOf(q)));
  assert.deepEqual(
    [...new Set(tarballs.map(pathOf))].sort(),
    TARBALLS,
    `${what}: tarballs asked for`,
  );
  for (const q of tarballs) assert.equal(q.route, "hit", `${what}: ${JSON.stringify(q)}`);
  for (const q of r.origin) {
    assert.ok(!pathOf(q).endsWith(".tgz"), `${what}: a tarball reached the registry: ${q.url}`);
    assert.equal(q.route, "revalidate", `${what}: ${JSON.stringify(q)}`);
  }
  for (const q of r.requests) assert.ok(q.status < 500, `${what}: ${JSON.stringify(q)}`);
}

const REGISTRY_MISSING = verdaccioMissing() ?? missing(NPM);

Deno.test({
  name: `npm family: npm, pnpm, yarn classic, yarn berry against Verdaccio through hoard, ` +
    `their own pinned CA and proxy beaten by hoard env; cold, warm, registry down` +
    (REGISTRY_MISSING ? ` (ignored: ${REGISTRY_MISSING})` : ""),
  ignore: REGISTRY_MISSING !== undefined,
  async fn(t) {
    await using registry = await startVerdaccio(PACKAGES);
    for (const client of CLIENTS) {
      const why = missing(client);
      await t.step({
        name: `${client.name}${why ? ` (ignored: ${why})` : ""}`,
        ignore: why !== undefined,
        fn: () => exercise(client, registry),
      });
    }
  },
});
