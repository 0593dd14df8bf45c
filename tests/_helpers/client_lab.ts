/**
 * The set-up every real-client test shares: hoard intercepting TLS, a test PKI
 * for registries on this machine under names in `.hoard.test` (hoard's
 * `--resolve` sends them to 127.0.0.1; the client never sees the registry's CA,
 * only hoard's), and the environment `hoard env --for CLIENT` prints — got
 * from the real command — so each test runs its client exactly as a CI job
 * would after `eval "$(hoard env)"`.
 *
 * Names outside loopback matter: Go and the JVM never proxy `localhost` or
 * 127.0.0.1, whatever NO_PROXY says.
 *
 * @module
 */

import { makePki, type TestPki } from "./tls.ts";
import { startTestProxy, type TestProxy } from "./proxy.ts";
import { type LoggedRequest, loggedRequests } from "./package_managers.ts";
import { cacheSettled } from "./cache_origin.ts";
import type { ProxyOptions } from "../../mod.ts";

/** The domain test registries live under. */
export const LAB_DOMAIN = "hoard.test";

/** The test PKI for `*.hoard.test` (one per process: making keys costs a few ms). */
let pki: Promise<TestPki> | undefined;
export function labPki(): Promise<TestPki> {
  return pki ??= makePki([`*.${LAB_DOMAIN}`, `localhost`]);
}

/** Writes the lab PKI's files into `dir` for a registry's config: ca.pem, cert.pem, key.pem. */
export async function writePkiFiles(
  dir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const p = await labPki();
  await Deno.mkdir(dir, { recursive: true });
  const files = { ca: `${dir}/ca.pem`, cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
  await Deno.writeTextFile(files.ca, p.ca);
  await Deno.writeTextFile(files.cert, p.cert);
  await Deno.writeTextFile(files.key, p.key);
  return files;
}

/** How {@linkcode startClientLab} sets up. */
export interface LabOptions {
  /** What `hoard env --for` is given, e.g. `"npm"` or `"maven"`. */
  for: string;
  /** The ports the registries listen on (CONNECT is allowed there). */
  ports: number[];
  /** More options for hoard (a `cacheDir` of the test's own, rules, …). */
  proxy?: ProxyOptions;
  /**
   * Writes the user's own config files into the client's home before `hoard
   * env` runs, as they are on a machine before a job evals it (hoard env
   * reads some of them, e.g. ~/.wgetrc). @default {nothing written}
   */
  prepareHome?: (home: string) => void | Promise<void>;
}

/** hoard, the client's environment, and a home directory for the client. */
export interface ClientLab extends AsyncDisposable {
  /** The running hoard (in this process, JSON log lines in `proxy.logs`). */
  readonly proxy: TestProxy;
  /**
   * The client's whole environment: `PATH`, `LANG=C`, `HOME` (an empty
   * directory of the test's), and what `hoard env --for` printed.
   */
  readonly env: Record<string, string>;
  /** What `hoard env --for ... --format json` printed, alone. */
  readonly hoardEnv: Record<string, string>;
  /** The client's home directory (removed at the end). */
  readonly home: string;
  /** Where hoard's CA, bundle and trust store are. */
  readonly caDir: string;
  /** The request lines hoard logged from the `from`-th log line on (CONNECTs left out). */
  requests(from?: number): LoggedRequest[];
  /**
   * Those that reached the origin (miss, revalidate, pass, …: everything but
   * hits), from the `from`-th log line on.
   */
  originRequests(from?: number): LoggedRequest[];
  /** The log position now: pass it to `requests`/`originRequests` later. */
  mark(): number;
  /** Waits until what hoard stored is committed (before the next run asks for it). */
  settled(): Promise<void>;
}

/**
 * Starts hoard with interception for the lab's registries and runs `hoard env
 * --for options.for` against it.
 */
export async function startClientLab(options: LabOptions): Promise<ClientLab> {
  const home = await Deno.makeTempDir({ prefix: "hoard-client-home-" });
  const p = await labPki();
  const proxy = await startTestProxy({
    intercept: ["*"],
    connectPorts: options.ports,
    upstreamCaCerts: [p.ca],
    resolve: [[`*.${LAB_DOMAIN}`, "127.0.0.1"]],
    // Should a client try to reach anything but the lab, hoard refuses it.
    allowHosts: [`*.${LAB_DOMAIN}`],
    logFormat: "json",
    ...options.proxy,
  });
  const caDir = `${proxy.cacheDir}/ca`;
  try {
    await options.prepareHome?.(home);
  } catch (err) {
    await proxy.close();
    await Deno.remove(home, { recursive: true }).catch(() => {});
    throw err;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../mod.ts", import.meta.url).pathname,
      "env",
      "--for",
      options.for,
      "--format",
      "json",
      "--port",
      String(proxy.port),
      "--cache-dir",
      proxy.cacheDir,
    ],
    // The test's own Deno cache: under the fresh HOME, Deno would fetch hoard's npm
    // dependencies again for every lab.
    env: { HOME: home, DENO_DIR: denoDir() },
    stdin: "null",
  }).output();
  if (!out.success) {
    await proxy.close();
    await Deno.remove(home, { recursive: true }).catch(() => {});
    throw new Error(`hoard env failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const hoardEnv = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<string, string>;
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    LANG: "C",
    HOME: home,
    ...hoardEnv,
  };
  const requests = (from = 0) =>
    loggedRequests(proxy.logs.slice(from)).filter((l) => l.method !== "CONNECT");
  const close = async () => {
    await proxy.close();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  };
  return {
    proxy,
    env,
    hoardEnv,
    home,
    caDir,
    requests,
    originRequests: (from = 0) =>
      requests(from).filter((l) => l.route !== "hit" && l.route !== "local"),
    mark: () => proxy.logs.length,
    settled: () => cacheSettled(proxy.cacheDir),
    [Symbol.asyncDispose]: close,
  };
}

/** Where this Deno keeps its cache (DENO_DIR, else the XDG or home cache directory). */
function denoDir(): string {
  const env = (name: string) => Deno.env.get(name) || undefined;
  return env("DENO_DIR") ?? `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "/root"}/.cache`}/deno`;
}

/** A URL of the lab: `https://NAME.hoard.test:PORT`. */
export function labUrl(name: string, port: number): string {
  return `https://${name}.${LAB_DOMAIN}:${port}`;
}
