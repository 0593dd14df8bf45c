/**
 * The contenders of the benchmark — direct to the origin (baseline), hoard,
 * hoard serving on every core (`--workers auto`), nginx with proxy_cache and
 * squid — and how each is configured, started on a loopback port and stopped
 * by pid. nginx and squid get configs written to a temp dir of their own;
 * Debian's packages are installed when missing.
 *
 * @module
 */

import {
  ensurePackage,
  freePort,
  lastLines,
  makeTempDir,
  readTail,
  removeTempDir,
  run,
  runRaw,
  serviceUser,
  spawnServer,
  stopAndClean,
  waitForOutput,
  waitForPort,
} from "./_proc.ts";

/** The contenders, in the order they run. */
export const CONTENDERS = ["direct", "hoard", "hoard-cores", "nginx", "squid"] as const;

/** One of {@linkcode CONTENDERS}. */
export type ContenderName = typeof CONTENDERS[number];

/**
 * How a client reaches an origin URL through a contender: `direct` and
 * `reverse` take origin-form requests on their own port, `forward` takes
 * absolute-form requests for the origin's URL.
 */
export type Mode = "direct" | "forward" | "reverse";

/** A running contender. */
export interface Contender {
  /** Which one. */
  name: ContenderName;
  /** How requests are addressed to it. */
  mode: Mode;
  /** The loopback port clients connect to. */
  port: number;
  /** Pid of its main process (descendants are found from it); undefined for direct. */
  pid?: number;
  /** Version string, for the results. */
  version: string;
  /** The config the script wrote for it, if any. */
  config?: string;
  /** The tail of what it printed (and its log file), for error messages. */
  output(): string;
  /** Stops it by pid and removes its temp dir. */
  stop(): Promise<void>;
}

/** Where one request for `path` on the origin goes, for a given contender. */
export interface Target {
  /** Port to connect to. */
  port: number;
  /** Request-target: origin-form `path`, or the absolute URL for a forward proxy. */
  requestTarget: string;
  /** Host header value. */
  host: string;
  /** curl arguments that fetch it (URL last). */
  curl: string[];
  /** URL to give wrk; `wrkPath` set means a Lua script must send it as the path. */
  wrkUrl: string;
  /** Absolute-form path for wrk's Lua script (forward proxies only). */
  wrkPath?: string;
}

/** Addresses `path` (starting with "/") on the origin at `originPort` through `c`. */
export function target(c: Contender, originPort: number, path: string): Target {
  const originHost = `127.0.0.1:${originPort}`;
  const originUrl = `http://${originHost}${path}`;
  if (c.mode === "forward") {
    const proxy = `http://127.0.0.1:${c.port}`;
    return {
      port: c.port,
      requestTarget: originUrl,
      host: originHost,
      curl: ["-x", proxy, originUrl],
      wrkUrl: `${proxy}/`,
      wrkPath: originUrl,
    };
  }
  const host = `127.0.0.1:${c.port}`;
  const url = `http://${host}${path}`;
  return { port: c.port, requestTarget: path, host, curl: ["--noproxy", "*", url], wrkUrl: url };
}

/** What a contender needs to start. */
export interface StartOptions {
  /** Port of the benchmark origin on 127.0.0.1. */
  originPort: number;
  /** The project's root (where mod.ts is). */
  root: string;
  /** nginx `worker_processes`. @default "auto" */
  nginxWorkers?: string;
  /** hoard-cores' `--workers`. @default "auto" */
  hoardWorkers?: string;
}

/** Starts contender `name`; throws an Error with a one-line reason when it cannot. */
export function start(name: ContenderName, opts: StartOptions): Promise<Contender> {
  switch (name) {
    case "direct":
      return Promise.resolve({
        name,
        mode: "direct",
        port: opts.originPort,
        version: "bench_origin.ts",
        output: () => "",
        stop: () => Promise.resolve(),
      });
    case "hoard":
      return startHoard(opts);
    case "hoard-cores":
      return startHoardCores(opts);
    case "nginx":
      return startNginx(opts);
    case "squid":
      return startSquid();
  }
}

async function startHoard(opts: StartOptions): Promise<Contender> {
  const dir = await makeTempDir("hoard-bench-hoard-");
  const h = await spawnHoard(opts.root, dir, ["--cache-dir", dir]);
  return {
    name: "hoard",
    mode: "forward",
    ...h,
    version: `${h.version} (deno ${Deno.version.deno})`,
  };
}

async function startHoardCores(opts: StartOptions): Promise<Contender> {
  const dir = await makeTempDir("hoard-bench-hoard-cores-");
  const workers = opts.hoardWorkers ?? "auto";
  const h = await spawnHoard(opts.root, dir, ["--cache-dir", dir, "--workers", workers], {
    workers: true,
  });
  return {
    name: "hoard-cores",
    mode: "forward",
    ...h,
    version: `${h.version} --workers ${workers} (deno ${Deno.version.deno})`,
  };
}

/**
 * The refusal a hoard gives when it cannot share its port among threads: it
 * then serves on one, which must not be measured as serving on every core.
 */
const ONE_CORE = /serving on one core: .*/;

/**
 * hoard from this checkout as a contender runs it, `args` after the common
 * flags; with `workers`, started so that `--workers` can share the port,
 * and refused when hoard says it serves on one core all the same;
 * `denoFlags` go to `deno run` (an inspector, V8 flags).
 */
export async function spawnHoard(
  root: string,
  dir: string,
  args: string[],
  { workers = false, denoFlags = [] }: { workers?: boolean; denoFlags?: string[] } = {},
): Promise<
  { port: number; pid: number; version: string; output: () => string; stop: () => Promise<void> }
> {
  const server = spawnServer(Deno.execPath(), [
    "run",
    // deno.json asks for it too; said here so that serving on every core does not hang
    // on which config file Deno finds (hoard would fall back to one thread).
    ...(workers ? ["--unstable-net"] : []),
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    ...denoFlags,
    "mod.ts",
    "--port",
    "0",
    "--log-level",
    "warn",
    "--shutdown-grace",
    "1",
    ...args,
  ], { cwd: root });
  try {
    const m = await waitForOutput(server, /hoard (\S+) listening on http:\/\/127\.0\.0\.1:(\d+)/);
    // The warning comes before the line that says it listens.
    const one = workers ? ONE_CORE.exec(server.output()) : null;
    if (one) throw new Error(one[0]);
    return {
      port: Number(m[2]),
      pid: server.child.pid,
      version: `hoard ${m[1]}`,
      output: server.output,
      stop: () => stopAndClean(server, dir),
    };
  } catch (e) {
    await stopAndClean(server, dir);
    throw e;
  }
}

/** nginx.conf for a caching reverse proxy of the origin (see the results for why each line). */
export function nginxConf(
  o: { dir: string; port: number; originPort: number; workers: string; user?: string },
): string {
  return `# Written by scripts/bench.ts: nginx as a caching reverse proxy of the benchmark origin.
${o.user ? `user ${o.user};\n` : ""}worker_processes ${o.workers};
pid ${o.dir}/nginx.pid;
error_log ${o.dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path ${o.dir}/client_body;
  proxy_temp_path ${o.dir}/proxy_temp;
  fastcgi_temp_path ${o.dir}/fastcgi_temp;
  uwsgi_temp_path ${o.dir}/uwsgi_temp;
  scgi_temp_path ${o.dir}/scgi_temp;
  proxy_cache_path ${o.dir}/cache levels=1:2 keys_zone=bench:16m max_size=8g inactive=1h use_temp_path=off;
  upstream origin {
    server 127.0.0.1:${o.originPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${o.port} reuseport;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:${o.originPort};
      proxy_cache bench;
      # Collapse concurrent misses into one origin request (off by default).
      proxy_cache_lock on;
      proxy_cache_lock_timeout 60s;
      proxy_cache_lock_age 60s;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`;
}

async function startNginx(opts: StartOptions): Promise<Contender> {
  await ensurePackage("nginx", ["nginx", "nginx-light"]);
  const version = lastLines((await runRaw("nginx", ["-v"])).stderr, 1).replace(
    /^nginx version: /,
    "",
  );
  const dir = await makeTempDir("hoard-bench-nginx-");
  const port = freePort();
  const svc = await serviceUser();
  const config = nginxConf({
    dir,
    port,
    originPort: opts.originPort,
    workers: opts.nginxWorkers ?? "auto",
    user: svc && `${svc.user} ${svc.group}`,
  });
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, config);
  if (svc) await run("chown", ["-R", `${svc.user}:${svc.group}`, dir]);
  const t = await runRaw("nginx", ["-t", "-p", `${dir}/`, "-c", conf]);
  if (t.code !== 0) {
    await removeTempDir(dir);
    throw new Error(`nginx -t rejected the config: ${lastLines(t.stderr, 3)}`);
  }
  const server = spawnServer("nginx", ["-p", `${dir}/`, "-c", conf, "-g", "daemon off;"]);
  try {
    await waitForPort(server, port);
    return {
      name: "nginx",
      mode: "reverse",
      port,
      pid: server.child.pid,
      version,
      config,
      output: () => server.output() + readTail(`${dir}/error.log`),
      stop: () => stopAndClean(server, dir),
    };
  } catch (e) {
    const log = readTail(`${dir}/error.log`);
    await stopAndClean(server, dir);
    throw new Error(`${(e as Error).message} ${lastLines(log, 3)}`);
  }
}

/** squid.conf for a caching forward proxy on loopback (see the results for why each line). */
export function squidConf(o: { dir: string; port: number; user?: string }): string {
  return `# Written by scripts/bench.ts: squid as a caching forward proxy.
http_port 127.0.0.1:${o.port}
${o.user ? `cache_effective_user ${o.user}\n` : ""}pid_filename ${o.dir}/squid.pid
# Before cache_dir: a cache_dir takes the maximum_object_size in force where it is declared.
maximum_object_size 1 GB
cache_dir ufs ${o.dir}/cache 8192 16 256
cache_mem 64 MB
maximum_object_size_in_memory 512 KB
# Collapse concurrent misses into one origin request (off by default).
collapsed_forwarding on
http_access allow localhost
http_access deny all
access_log none
cache_store_log none
cache_log ${o.dir}/cache.log
coredump_dir ${o.dir}
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 0 seconds
`;
}

async function startSquid(): Promise<Contender> {
  await ensurePackage("squid", ["squid"]);
  const version = (await runRaw("squid", ["-v"])).stdout.split("\n")[0]!.replace(
    /^Squid Cache: Version /,
    "squid ",
  );
  const dir = await makeTempDir("hoard-bench-squid-");
  const port = freePort();
  // squid refuses to run as root: it drops to cache_effective_user, who must own the dir.
  const svc = await serviceUser();
  const config = squidConf({ dir, port, user: svc?.user });
  const conf = `${dir}/squid.conf`;
  await Deno.writeTextFile(conf, config);
  if (svc) await run("chown", ["-R", `${svc.user}:${svc.group}`, dir]);
  const z = await runRaw("squid", ["-N", "-z", "-f", conf]);
  if (z.code !== 0) {
    const log = readTail(`${dir}/cache.log`);
    await removeTempDir(dir);
    throw new Error(`squid -z failed: ${lastLines(z.stderr + log, 3)}`);
  }
  const server = spawnServer("squid", ["-N", "-f", conf]);
  try {
    await waitForPort(server, port);
    return {
      name: "squid",
      mode: "forward",
      port,
      pid: server.child.pid,
      version,
      config,
      output: () => server.output() + readTail(`${dir}/cache.log`),
      stop: () => stopAndClean(server, dir),
    };
  } catch (e) {
    const log = readTail(`${dir}/cache.log`);
    await stopAndClean(server, dir);
    throw new Error(`${(e as Error).message} ${lastLines(log, 3)}`);
  }
}
