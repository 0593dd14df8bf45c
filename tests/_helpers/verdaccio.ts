/**
 * Verdaccio, a real npm registry, on 127.0.0.1 over HTTPS with the lab's
 * certificate (tests/_helpers/client_lab.ts), for the npm family's client
 * tests. It has no uplinks, so it never reaches beyond this machine; packages
 * are published to it directly (not through hoard) with the real `npm publish`
 * and a token of a user added through its API (htpasswd auth), as a registry
 * gets them. It can be killed and started again on the same port and storage,
 * for runs with the registry down.
 *
 * Verdaccio writes the tarball URLs of a packument from each request's Host
 * (and protocol), so clients that reach it as `https://npm.hoard.test:PORT`
 * through hoard get tarball URLs there.
 *
 * Installed by scripts/clients/install_npm_family.sh into `.tools/verdaccio`.
 *
 * @module
 */

import { writePkiFiles } from "./client_lab.ts";
import { run } from "./package_managers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Verdaccio's command line, as installed by scripts/clients/install_npm_family.sh. */
const BIN = `${ROOT}.tools/verdaccio/node_modules/verdaccio/bin/verdaccio`;

/** Why Verdaccio cannot run here (not installed), or undefined. */
export function verdaccioMissing(): string | undefined {
  try {
    Deno.statSync(BIN);
    return undefined;
  } catch {
    return "no Verdaccio in .tools/verdaccio (scripts/clients/install_npm_family.sh)";
  }
}

/** One package version to publish. */
export interface PublishSpec {
  /** Package name (`name` or `@scope/name`). */
  name: string;
  /** Its version. */
  version: string;
  /** Dependencies, name to range. @default {{}} */
  dependencies?: Record<string, string>;
  /** Files of the package besides package.json, path to content. */
  files: Record<string, string | Uint8Array>;
}

/** A running Verdaccio. */
export interface Verdaccio extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** What it logged (warnings and errors, JSON lines). */
  log(): string;
  /** Kills it (SIGKILL): the registry is down. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
}

/** A port nothing listens on (bound and released: connections to it are refused). */
export function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/**
 * Starts Verdaccio in a temp directory and publishes `packages` to it in
 * order (versions of one name in the order given, so the last is `latest`).
 */
export async function startVerdaccio(packages: readonly PublishSpec[]): Promise<Verdaccio> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-verdaccio-" });
  const pki = await writePkiFiles(`${dir}/tls`);
  const port = deadPort();
  await Deno.writeTextFile(`${dir}/config.yaml`, config(port, pki));
  let child: Deno.ChildProcess | undefined;
  let output = "";
  const kill = () => {
    try {
      child?.kill("SIGKILL");
    } catch { /* exited */ }
  };
  // Should the test process die first, Verdaccio must not outlive it.
  globalThis.addEventListener("unload", kill);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
  const base = `https://127.0.0.1:${port}`;

  const start = async () => {
    child = new Deno.Command("node", {
      args: [BIN, "--config", `${dir}/config.yaml`],
      cwd: dir,
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir, LANG: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let exited: Deno.CommandStatus | undefined;
    child.status.then((s) => exited = s);
    for (const stream of [child.stdout, child.stderr]) {
      stream.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void (output += t) }),
      ).catch(() => {});
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`Verdaccio exited ${exited.code}:\n${output}`);
      try {
        const res = await fetch(`${base}/-/ping`, { client });
        await res.body?.cancel();
        if (res.ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        kill();
        throw new Error(`Verdaccio did not answer in 30 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async () => {
    kill();
    await child?.status;
    child = undefined;
  };
  const close = async () => {
    await stop();
    globalThis.removeEventListener("unload", kill);
    client.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  try {
    await start();
    const token = await addUser(base, client);
    await publishAll(dir, base, token, pki.ca, packages);
  } catch (err) {
    await close();
    throw err;
  }
  return { port, log: () => output, stop, start, [Symbol.asyncDispose]: close };
}

/** Verdaccio's config: HTTPS with the lab cert, no uplinks, anyone reads, users publish. */
function config(port: number, pki: { cert: string; key: string }): string {
  return `storage: ./storage
auth:
  htpasswd:
    file: ./htpasswd
# No uplinks: a package it does not hold is a 404, never a fetch from elsewhere.
uplinks: {}
packages:
  "@*/*":
    access: $all
    publish: $authenticated
  "**":
    access: $all
    publish: $authenticated
listen: https://127.0.0.1:${port}
https:
  key: ${pki.key}
  cert: ${pki.cert}
web:
  enable: false
log: { type: stdout, format: json, level: warn }
`;
}

/** Adds a user through the registry's API (what `npm adduser` does); returns its token. */
async function addUser(base: string, client: Deno.HttpClient): Promise<string> {
  const res = await fetch(`${base}/-/user/org.couchdb.user:hoard-lab`, {
    method: "PUT",
    client,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "hoard-lab", password: "hoard-lab-password" }),
  });
  const body = await res.json() as { token?: string };
  if (!res.ok || typeof body.token !== "string") {
    throw new Error(`adding a user: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

/** `npm publish` of each package, with the token, straight to the registry. */
async function publishAll(
  dir: string,
  base: string,
  token: string,
  ca: string,
  packages: readonly PublishSpec[],
): Promise<void> {
  const npmrc = `${dir}/publish.npmrc`;
  const host = base.replace(/^https:/, "");
  await Deno.writeTextFile(
    npmrc,
    `registry=${base}/\n${host}/:_authToken=${token}\ncafile=${ca}\n`,
  );
  // The machine's global npmrc may pin its own CA file: this user config wins over it.
  const env = { HOME: dir, npm_config_userconfig: npmrc, npm_config_update_notifier: "false" };
  for (const [i, spec] of packages.entries()) {
    const pkg = `${dir}/packages/${i}`;
    await Deno.mkdir(pkg, { recursive: true });
    await Deno.writeTextFile(
      `${pkg}/package.json`,
      JSON.stringify({
        name: spec.name,
        version: spec.version,
        main: "index.js",
        license: "MIT",
        dependencies: spec.dependencies ?? {},
      }),
    );
    for (const [path, content] of Object.entries(spec.files)) {
      const at = `${pkg}/${path}`;
      await Deno.mkdir(at.slice(0, at.lastIndexOf("/")), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(at, content);
      else await Deno.writeFile(at, content);
    }
    await run("npm", ["publish", "--access", "public", "--cache", `${dir}/npm-cache`], {
      cwd: pkg,
      env,
      timeoutMs: 60_000,
    });
  }
}
