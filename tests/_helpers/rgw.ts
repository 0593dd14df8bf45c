/**
 * A real S3 endpoint for tests: a one-node Ceph cluster with a RADOS Gateway
 * started by `scripts/ceph.sh` (which installs Ceph when missing), once per
 * test file, and stopped when the file's tests are done — by the file's last
 * test calling {@linkcode stopRgw}, and in any case when the module unloads.
 *
 * @module
 */

const SCRIPT = new URL("../../scripts/ceph.sh", import.meta.url).pathname;

/** A running gateway. */
export interface Rgw {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** The S3 user's keys. */
  accessKeyId: string;
  secretAccessKey: string;
  /** The cluster's directory (config, logs, pids). */
  dir: string;
  /** The standard AWS variables that point a client at it. */
  env: Record<string, string>;
  /** Kills the gateway (kill -9): the endpoint stops answering. */
  kill(): Promise<void>;
  /** Starts the gateway again on the same port; resolves once it answers a signed request. */
  restart(): Promise<void>;
}

let started: Promise<Rgw> | undefined;
let dir: string | undefined;

/** Starts the cluster the first time a test file asks; later calls get the same one. */
export function rgw(): Promise<Rgw> {
  return started ??= start();
}

async function script(...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `ceph.sh ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}${text}`,
    );
  }
  return text;
}

async function start(): Promise<Rgw> {
  const vars = Object.fromEntries(
    (await script("start")).trim().split("\n").map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  dir = vars["CEPH_DIR"]!;
  addEventListener("unload", stopSync);
  const env = {
    AWS_ENDPOINT_URL: vars["AWS_ENDPOINT_URL"]!,
    AWS_ACCESS_KEY_ID: vars["AWS_ACCESS_KEY_ID"]!,
    AWS_SECRET_ACCESS_KEY: vars["AWS_SECRET_ACCESS_KEY"]!,
    AWS_REGION: vars["AWS_REGION"]!,
    // Never ask a cloud metadata service for credentials: only loopback is reachable.
    AWS_EC2_METADATA_DISABLED: "true",
  };
  const d = dir;
  return {
    endpoint: env.AWS_ENDPOINT_URL,
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    dir: d,
    env,
    kill: async () => void await script("rgw-kill", d),
    restart: async () => void await script("rgw-start", d),
  };
}

/** Stops the cluster and removes its directory (safe to call more than once). */
export async function stopRgw(): Promise<void> {
  if (dir === undefined) return;
  const d = dir;
  dir = undefined;
  started = undefined;
  removeEventListener("unload", stopSync);
  await script("stop", d);
}

function stopSync(): void {
  if (dir === undefined) return;
  new Deno.Command("bash", { args: [SCRIPT, "stop", dir], stdout: "null", stderr: "null" })
    .outputSync();
  dir = undefined;
}

/** Sets the variables of `env` in this process (the SDK reads them), returning a function that restores them. */
export function setEnv(env: Record<string, string | undefined>): () => void {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  const apply = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  };
  apply(env);
  return () => apply(before);
}
