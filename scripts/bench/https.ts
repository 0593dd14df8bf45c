/**
 * The HTTPS part of the benchmark (issue 18): the same origin over HTTPS on
 * loopback, reached straight (the baseline), through hoard with
 * `--intercept` (on one thread, and as hoard-cores with `--workers auto`:
 * pinned to one core, as every contender is by default, it shows what its
 * threads cost there, not what more cores give), through squid with ssl-bump
 * and a disk cache, and through mitmproxy (interception without a cache, as a
 * reference). Every client
 * trusts the CA of the proxy it goes through; every proxy verifies the
 * origin's certificate.
 *
 * Figures: 1 KiB hit requests/s and p50/p99 at 64 keep-alive TLS connections
 * ({@linkcode load} in tls_load.ts, one process), 100 MiB hit MB/s (curl),
 * new TLS connections per second (a connection, CONNECT and handshake per
 * request, 16 at once), and the p50 latency a 1 KiB miss adds to a direct
 * request (sequential, one kept connection).
 *
 * @module
 */

import { download, flushPageCache, median } from "./measure.ts";
import {
  type CpuSplit,
  ensurePackage,
  freePort,
  lastLines,
  makeTempDir,
  pinTree,
  readTail,
  removeTempDir,
  run,
  runRaw,
  serviceUser,
  spawnServer,
  stopAndClean,
  stopChild,
  waitForOutput,
  waitForPort,
} from "./_proc.ts";
import { spawnHoard, type Target } from "./contenders.ts";
import type { LoadOptions, LoadResult } from "./tls_load.ts";

const KiB = 1024;
const MiB = 1024 * 1024;

/** The contenders of the HTTPS part, in the order they run. */
export const HTTPS_CONTENDERS = ["direct", "hoard", "hoard-cores", "squid", "mitmproxy"] as const;

/** One of {@linkcode HTTPS_CONTENDERS}. */
export type HttpsContenderName = typeof HTTPS_CONTENDERS[number];

/** The figures of the HTTPS part, in table order. */
export const HTTPS_FIGURES = [
  "hit1kRps",
  "hit1kP50Ms",
  "hit1kP99Ms",
  "hit100mMBps",
  "newConnsPerS",
  "miss1kP50Ms",
  "miss1kAddedP50Ms",
  "plainHit1kRps",
  "plainHit100mMBps",
] as const;

/** One of {@linkcode HTTPS_FIGURES}. */
export type HttpsFigureId = typeof HTTPS_FIGURES[number];

/** Label and direction of each figure. */
export const HTTPS_FIGURE_INFO: Record<
  HttpsFigureId,
  { label: string; higherIsBetter: boolean; digits: number }
> = {
  hit1kRps: { label: "1 KiB hit: requests/s (64 TLS conns)", higherIsBetter: true, digits: 0 },
  hit1kP50Ms: { label: "1 KiB hit: p50 latency (ms)", higherIsBetter: false, digits: 3 },
  hit1kP99Ms: { label: "1 KiB hit: p99 latency (ms)", higherIsBetter: false, digits: 3 },
  hit100mMBps: { label: "100 MiB hit: MB/s", higherIsBetter: true, digits: 0 },
  newConnsPerS: {
    label: "new TLS connections/s (1 KiB hit each, 16 at once)",
    higherIsBetter: true,
    digits: 0,
  },
  miss1kP50Ms: {
    label: "1 KiB miss: p50 latency (ms, sequential)",
    higherIsBetter: false,
    digits: 3,
  },
  plainHit1kRps: {
    label: "plain HTTP, same clients: 1 KiB hit requests/s",
    higherIsBetter: true,
    digits: 0,
  },
  plainHit100mMBps: {
    label: "plain HTTP, same clients: 100 MiB hit MB/s",
    higherIsBetter: true,
    digits: 0,
  },
  miss1kAddedP50Ms: {
    label: "1 KiB miss: p50 added vs direct (ms)",
    higherIsBetter: false,
    digits: 3,
  },
};

/** Options of the HTTPS part. */
export interface HttpsOptions {
  /** Measured seconds of the keep-alive and new-connection runs. */
  seconds: number;
  /** Unmeasured seconds before each. */
  warmSeconds: number;
  /** 100 MiB hit downloads (median). */
  hitRuns: number;
  /** Sequential 1 KiB misses measured. */
  missRequests: number;
  /** Unmeasured ones before them. */
  missWarmup: number;
  /** Rounds of every contender in turn; figures are medians over the rounds. */
  rounds: number;
  /** The checkout whose mod.ts is measured as hoard. */
  hoardRoot: string;
  /**
   * Where processes run: the contender alone on `server`, so that the load
   * generator and the origin do not take its core at random moments (which
   * made the same tree's figures swing 2× from one run to the next).
   * Undefined: wherever the scheduler puts them.
   */
  pin?: CpuSplit;
}

/** What one contender measured (medians over the rounds). */
export interface HttpsContenderResult {
  status: "ok" | "skipped";
  reason?: string;
  version?: string;
  config?: string;
  figures: Partial<Record<HttpsFigureId, number>>;
  errors: Record<string, string>;
  notes: string[];
  /** Per-round figures and the raw measurements. */
  details: Record<string, unknown>;
}

/** A running HTTPS contender. */
export interface HttpsContender {
  name: HttpsContenderName;
  /** Proxy port; undefined for direct. */
  port?: number;
  /** PEM file of the CA a client must trust through it. */
  caFile: string;
  version: string;
  config?: string;
  /** The processes that serve (pinned to the contender's core). */
  pids: number[];
  output(): string;
  stop(): Promise<void>;
}

/** The HTTPS origin: bench_origin.ts over TLS, with a certificate for localhost. */
export interface HttpsOrigin {
  port: number;
  /** The same origin over plain HTTP, for the plain baseline of the same clients. */
  plainPort: number;
  /** Its certificate (self-signed), PEM file: what direct clients and the proxies trust. */
  certFile: string;
  /** Its processes (the TLS and the plain one). */
  pids: number[];
  /** Body requests it served so far. */
  count(): Promise<number>;
  stop(): Promise<void>;
}

/** Makes an ECDSA P-256 key and certificate with openssl (`ca`: a CA, else a leaf for localhost). */
async function makeCert(dir: string, name: string, ca: boolean): Promise<void> {
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    `${dir}/${name}.pem`,
    "-days",
    "2",
    "-subj",
    ca ? "/CN=hoard bench squid CA" : "/CN=localhost",
    ...(ca
      ? ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]
      : [
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        // Not a CA: rustls refuses a CA certificate as a server's own (CaUsedAsEndEntity).
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
      ]),
  ]);
}

/** Starts the origin of `root`'s checkout over TLS and over plain HTTP, its certificate in `dir`. */
export async function startOrigin(root: string, dir: string): Promise<HttpsOrigin> {
  await makeCert(dir, "origin", false);
  const certFile = `${dir}/origin.pem`;
  const server = spawnServer(Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-read",
    "scripts/bench_origin.ts",
    "0",
    "--tls",
    certFile,
    `${dir}/origin.key`,
  ], { cwd: root });
  const plain = spawnServer(Deno.execPath(), [
    "run",
    "--allow-net",
    "scripts/bench_origin.ts",
  ], { cwd: root });
  const m = await waitForOutput(server, /origin listening on (\d+)/);
  const port = Number(m[1]);
  const plainPort = Number((await waitForOutput(plain, /origin listening on (\d+)/))[1]);
  return {
    port,
    plainPort,
    certFile,
    pids: [server.child.pid, plain.child.pid],
    count: async () =>
      Number(
        await run("curl", [
          "-sS",
          "--noproxy",
          "*",
          "--cacert",
          certFile,
          `https://localhost:${port}/count`,
        ]),
      ),
    stop: async () => {
      await stopChild(server.child);
      await stopChild(plain.child);
    },
  };
}

/** Starts `root`'s hoard intercepting `origin` (`cores`: with `--workers auto`). */
export async function startHoard(
  root: string,
  origin: HttpsOrigin,
  cores: boolean,
): Promise<HttpsContender> {
  const dir = await makeTempDir("hoard-bench-hoard-tls-");
  const h = await spawnHoard(root, dir, [
    "--cache-dir",
    `${dir}/cache`,
    "--ca-dir",
    `${dir}/ca`,
    "--intercept=localhost",
    "--connect-ports",
    String(origin.port),
    "--upstream-ca",
    origin.certFile,
    ...(cores ? ["--workers", "auto"] : []),
  ], { workers: cores });
  return {
    name: cores ? "hoard-cores" : "hoard",
    port: h.port,
    pids: [h.pid],
    caFile: `${dir}/ca/ca.pem`,
    version: `${h.version} --intercept${
      cores ? " --workers auto" : ""
    } (deno ${Deno.version.deno})`,
    output: h.output,
    stop: h.stop,
  };
}

/** squid.conf for a caching forward proxy that bumps (decrypts) every CONNECT. */
export function squidBumpConf(
  o: { dir: string; port: number; certgen: string; user?: string },
): string {
  return `# Written by scripts/bench.ts: squid with ssl-bump as a caching, intercepting forward proxy.
http_port 127.0.0.1:${o.port} ssl-bump tls-cert=${o.dir}/ca.pem tls-key=${o.dir}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program ${o.certgen} -s ${o.dir}/ssl_db -M 16MB
sslcrtd_children 4 startup=1 idle=1
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
# Verify the origin against its own certificate, as every contender does.
tls_outgoing_options cafile=${o.dir}/origin.pem
${o.user ? `cache_effective_user ${o.user}\n` : ""}pid_filename ${o.dir}/squid.pid
maximum_object_size 1 GB
cache_dir ufs ${o.dir}/cache 8192 16 256
cache_mem 64 MB
maximum_object_size_in_memory 512 KB
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

/** Starts squid with ssl-bump and a disk cache, intercepting `origin`. */
export async function startSquid(origin: HttpsOrigin): Promise<HttpsContender> {
  await ensurePackage("squid", ["squid-openssl"]);
  const v = (await runRaw("squid", ["-v"])).stdout;
  if (!/--with-openssl/.test(v)) {
    throw new Error("this squid has no OpenSSL (no ssl-bump): install squid-openssl");
  }
  const certgen = ["/usr/lib/squid/security_file_certgen", "/usr/lib/squid/ssl_crtd"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (certgen === undefined) throw new Error("no security_file_certgen in /usr/lib/squid");
  const dir = await makeTempDir("hoard-bench-squid-tls-");
  try {
    await makeCert(dir, "ca", true);
    await Deno.copyFile(origin.certFile, `${dir}/origin.pem`);
    await run(certgen, ["-c", "-s", `${dir}/ssl_db`, "-M", "16MB"]);
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
  const port = freePort();
  const svc = await serviceUser();
  const config = squidBumpConf({ dir, port, certgen, user: svc?.user });
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
      port,
      pids: [server.child.pid],
      caFile: `${dir}/ca.pem`,
      version: `${v.split("\n")[0]!.replace(/^Squid Cache: Version /, "squid ")} ssl-bump`,
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

async function startMitmproxy(origin: HttpsOrigin): Promise<HttpsContender> {
  await ensurePackage("mitmdump", ["mitmproxy"]);
  const version = lastLines(
    (await runRaw("mitmdump", ["--version"])).stdout.split("\n")[0]!,
    1,
  ).replace(/^Mitmproxy: /, "mitmproxy ");
  const dir = await makeTempDir("hoard-bench-mitmproxy-");
  const port = freePort();
  const args = [
    "--listen-host",
    "127.0.0.1",
    "--listen-port",
    String(port),
    "--set",
    `confdir=${dir}`,
    "--set",
    `ssl_verify_upstream_trusted_ca=${origin.certFile}`,
    // Stream bodies over 1 MiB instead of holding each whole in memory (its default).
    "--set",
    "stream_large_bodies=1m",
    "-q",
  ];
  const server = spawnServer("mitmdump", args);
  try {
    await waitForPort(server, port);
    return {
      name: "mitmproxy",
      port,
      pids: [server.child.pid],
      caFile: `${dir}/mitmproxy-ca-cert.pem`,
      version,
      config: `mitmdump ${args.join(" ")}`,
      output: server.output,
      stop: () => stopAndClean(server, dir),
    };
  } catch (e) {
    await stopAndClean(server, dir);
    throw e;
  }
}

function startContender(
  name: HttpsContenderName,
  root: string,
  origin: HttpsOrigin,
): Promise<HttpsContender> {
  switch (name) {
    case "direct":
      return Promise.resolve({
        name,
        caFile: origin.certFile,
        version: "bench_origin.ts over TLS (Deno.listenTls)",
        // The origin is the server here.
        pids: origin.pids,
        output: () => "",
        stop: () => Promise.resolve(),
      });
    case "hoard":
      return startHoard(root, origin, false);
    case "hoard-cores":
      return startHoard(root, origin, true);
    case "squid":
      return startSquid(origin);
    case "mitmproxy":
      return startMitmproxy(origin);
  }
}

/** Runs tls_load.ts in a process of its own (so that its CPU is not the harness's). */
export async function tlsLoad(root: string, o: LoadOptions): Promise<LoadResult> {
  const out = await run(Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-read",
    "scripts/bench/tls_load.ts",
    JSON.stringify(o),
  ], root);
  return JSON.parse(out) as LoadResult;
}

/** A curl target for `path` on the HTTPS origin through `c`. */
function curlTarget(c: HttpsContender, origin: HttpsOrigin, path: string): Target {
  const url = `https://localhost:${origin.port}${path}`;
  const via = c.port === undefined ? ["--noproxy", "*"] : ["-x", `http://127.0.0.1:${c.port}`];
  return {
    port: c.port ?? origin.port,
    requestTarget: url,
    host: `localhost:${origin.port}`,
    curl: ["--http1.1", "--cacert", c.caFile, ...via, url],
    wrkUrl: url,
  };
}

async function measureOne(
  c: HttpsContender,
  root: string,
  origin: HttpsOrigin,
  o: HttpsOptions,
  round: number,
): Promise<Omit<HttpsContenderResult, "status">> {
  const f: HttpsContenderResult["figures"] = {};
  const errors: Record<string, string> = {};
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  const tag = `${c.name}-${round}`;
  const base = {
    proxyPort: c.port,
    host: "localhost",
    port: origin.port,
    caFile: c.caFile,
  };
  const step = async (name: string, fn: () => Promise<void>) => {
    const started = performance.now();
    try {
      await fn();
      console.log(`  ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = (e as Error).message;
      errors[name] = msg;
      console.log(`  ${name}: FAILED — ${msg}`);
      const out = lastLines(c.output(), 3);
      if (out) console.log(`    ${c.name} said: ${out}`);
    }
  };
  const counted = async <T>(what: string, fn: () => Promise<T>, expect?: number) => {
    const before = await origin.count();
    const r = await fn();
    const served = (await origin.count()) - before;
    if (c.name !== "direct" && served !== (expect ?? 0) && c.name !== "mitmproxy") {
      notes.push(`${what}: the origin served ${served} requests (expected ${expect ?? 0})`);
    }
    return { r, served };
  };

  await step("1 KiB hit (TLS)", async () => {
    const path = `/1k?hit-${tag}`;
    await download(curlTarget(c, origin, path), KiB); // stores it
    const { r, served } = await counted("1 KiB hit", () =>
      tlsLoad(root, {
        ...base,
        mode: "keepalive",
        path,
        size: KiB,
        connections: 64,
        seconds: o.seconds,
        warmSeconds: o.warmSeconds,
      }));
    f.hit1kRps = r.rate;
    f.hit1kP50Ms = r.p50ms;
    f.hit1kP99Ms = r.p99ms;
    details["hit1k"] = { ...r, originRequests: served };
    if (r.errors > 0) notes.push(`1 KiB hit: ${r.errors} errors, first: ${r.firstError}`);
  });

  await step("100 MiB hit (TLS)", async () => {
    const t = curlTarget(c, origin, `/100m?hit-${tag}`);
    await download(t, 100 * MiB); // stores it
    const { r, served } = await counted("100 MiB hit", async () => {
      const runs: number[] = [];
      for (let i = 0; i < o.hitRuns; i++) {
        await flushPageCache();
        runs.push(await download(t, 100 * MiB));
      }
      return runs;
    });
    f.hit100mMBps = median(r) / 1e6;
    details["hit100m"] = { runsMBps: r.map((s) => s / 1e6), originRequests: served };
  });

  await step("new TLS connections", async () => {
    const path = `/1k?conn-${tag}`;
    await download(curlTarget(c, origin, path), KiB);
    const { r, served } = await counted("new connections", () =>
      tlsLoad(root, {
        ...base,
        mode: "connect",
        path,
        size: KiB,
        connections: 16,
        seconds: o.seconds,
        warmSeconds: o.warmSeconds,
      }));
    f.newConnsPerS = r.rate;
    details["connect"] = { ...r, originRequests: served };
    if (r.errors > 0) notes.push(`new connections: ${r.errors} errors, first: ${r.firstError}`);
  });

  await step("1 KiB miss latency (TLS)", async () => {
    await flushPageCache();
    const { r, served } = await counted(
      "1 KiB miss",
      () =>
        tlsLoad(root, {
          ...base,
          mode: "sequential",
          path: `/1k?miss-${tag}`,
          size: KiB,
          count: o.missRequests,
          warmup: o.missWarmup,
        }),
      o.missRequests + o.missWarmup,
    );
    f.miss1kP50Ms = r.p50ms;
    details["miss1k"] = { ...r, originRequests: served };
  });
  if (c.name === "hoard" || c.name === "hoard-cores" || c.name === "direct") {
    // The targets compare interception with plain HTTP through the same proxy and clients.
    await step("plain HTTP hits, same clients", async () => {
      const path = `/1k?plain-${tag}`;
      const http = (p: string): Target => ({
        ...curlTarget(c, origin, p),
        curl: [
          ...(c.port === undefined ? ["--noproxy", "*"] : ["-x", `http://127.0.0.1:${c.port}`]),
          `http://127.0.0.1:${origin.plainPort}${p}`,
        ],
      });
      await download(http(path), KiB);
      const r = await tlsLoad(root, {
        ...base,
        host: "127.0.0.1",
        port: origin.plainPort,
        plain: true,
        mode: "keepalive",
        path,
        size: KiB,
        connections: 64,
        seconds: o.seconds,
        warmSeconds: o.warmSeconds,
      });
      f.plainHit1kRps = r.rate;
      const big = http(`/100m?plain-${tag}`);
      await download(big, 100 * MiB);
      const runs: number[] = [];
      for (let i = 0; i < o.hitRuns; i++) {
        await flushPageCache();
        runs.push(await download(big, 100 * MiB));
      }
      f.plainHit100mMBps = median(runs) / 1e6;
      details["plain"] = { hit1k: r, hit100mMBps: runs.map((s) => s / 1e6) };
    });
  }
  return { figures: f, errors, notes, details };
}

/** Runs the HTTPS part for `names` and returns each contender's medians over the rounds. */
export async function runHttps(
  root: string,
  names: HttpsContenderName[],
  o: HttpsOptions,
): Promise<Partial<Record<HttpsContenderName, HttpsContenderResult>>> {
  await ensurePackage("openssl", ["openssl"]);
  const pin = o.pin;
  // What the harness starts from now on (origin, load generator, curl) inherits this.
  if (pin) await pinTree(Deno.pid, pin.rest);
  const dir = await makeTempDir("hoard-bench-https-");
  const origin = await startOrigin(root, dir).catch(async (e) => {
    await removeTempDir(dir);
    throw new Error(`the HTTPS origin did not start: ${(e as Error).message}`);
  });
  const rounds: Partial<Record<HttpsContenderName, HttpsContenderResult[]>> = {};
  try {
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) console.log(`\nHTTPS round ${round} of ${o.rounds}`);
      for (const name of HTTPS_CONTENDERS.filter((n) => names.includes(n))) {
        console.log(`\n${name} (HTTPS)`);
        let c: HttpsContender;
        try {
          c = await startContender(name, o.hoardRoot, origin);
        } catch (e) {
          const reason = (e as Error).message;
          console.log(`  skipped: could not set up ${name}: ${reason}`);
          (rounds[name] ??= []).push({
            status: "skipped",
            reason,
            figures: {},
            errors: {},
            notes: [],
            details: {},
          });
          continue;
        }
        console.log(`  ${c.version}${c.port ? ` on 127.0.0.1:${c.port}` : ""}`);
        try {
          if (pin) { for (const pid of c.pids) await pinTree(pid, pin.server); }
          const r = await measureOne(c, root, origin, o, round);
          (rounds[name] ??= []).push({
            status: "ok",
            version: c.version,
            config: c.config,
            ...r,
          });
        } finally {
          await c.stop();
          if (pin && c.name === "direct") {
            for (const pid of c.pids) await pinTree(pid, pin.rest);
          }
        }
      }
    }
  } finally {
    await origin.stop();
    await removeTempDir(dir);
    if (pin) await pinTree(Deno.pid, `${pin.rest},${pin.server}`);
  }
  const out: Partial<Record<HttpsContenderName, HttpsContenderResult>> = {};
  for (const name of HTTPS_CONTENDERS) {
    const rs = rounds[name];
    if (rs === undefined) continue;
    const ok = rs.filter((r) => r.status === "ok");
    if (ok.length === 0) {
      out[name] = rs[0]!;
      continue;
    }
    const figures: HttpsContenderResult["figures"] = {};
    for (const id of HTTPS_FIGURES) {
      const vs = ok.map((r) => r.figures[id]).filter((v): v is number => v !== undefined);
      if (vs.length > 0) figures[id] = median(vs);
    }
    out[name] = {
      ...ok[ok.length - 1]!,
      figures,
      errors: Object.fromEntries(
        rs.flatMap((r, i) =>
          Object.entries(r.errors).map(([k, v]) => [`${k} (round ${i + 1})`, v])
        ),
      ),
      notes: rs.flatMap((r, i) => r.notes.map((n) => `round ${i + 1}: ${n}`)),
      details: { rounds: rs.map((r) => ({ figures: r.figures, details: r.details })) },
    };
  }
  const d = out.direct?.figures.miss1kP50Ms;
  for (const name of HTTPS_CONTENDERS) {
    const r = out[name];
    if (name !== "direct" && d !== undefined && r?.figures.miss1kP50Ms !== undefined) {
      r.figures.miss1kAddedP50Ms = r.figures.miss1kP50Ms - d;
    }
  }
  return out;
}

/** Issue 18's targets for the HTTPS figures, as text for the table. */
function httpsTarget(
  id: HttpsFigureId,
  r: Partial<Record<HttpsContenderName, HttpsContenderResult>>,
  plain?: { hit1kRps?: number; hit100mMBps?: number },
): string {
  const hoard = r.hoard?.figures[id];
  const squid = r.squid?.figures[id];
  if (hoard === undefined) return "";
  const info = HTTPS_FIGURE_INFO[id];
  const parts: string[] = [];
  if (squid !== undefined && id !== "miss1kP50Ms" && !id.startsWith("plain")) {
    const ahead = info.higherIsBetter ? hoard > squid : hoard < squid;
    parts.push(`ahead of squid ${ahead ? "✓" : "✗"}`);
  }
  plain = {
    hit1kRps: r.hoard?.figures.plainHit1kRps ?? plain?.hit1kRps,
    hit100mMBps: r.hoard?.figures.plainHit100mMBps ?? plain?.hit100mMBps,
  };
  const base = id === "hit100mMBps"
    ? plain.hit100mMBps
    : id === "hit1kRps"
    ? plain.hit1kRps
    : undefined;
  if (base !== undefined) {
    const share = id === "hit100mMBps" ? 0.5 : 0.8;
    parts.push(
      `≥ ${share}× plain-HTTP hit (${(hoard / base).toFixed(2)}×${
        ceiling(r.direct?.figures[id], base)
      }) ${hoard >= share * base ? "✓" : "✗"}`,
    );
  }
  return parts.join(", ");
}

/**
 * What the same client reached over TLS with no proxy at all, as a share of
 * hoard's plain-HTTP figure: where the client's own TLS, not the proxy, sets
 * the bound of a target against plain HTTP.
 */
function ceiling(direct: number | undefined, plain: number): string {
  return direct === undefined ? "" : `; no proxy over TLS: ${(direct / plain).toFixed(2)}×`;
}

/**
 * The HTTPS table in Markdown: one column per contender, hoard/squid, and the
 * targets (`plain`: hoard's plain-HTTP figures of the same run, when measured).
 */
export function httpsTable(
  r: Partial<Record<HttpsContenderName, HttpsContenderResult>>,
  plain?: { hit1kRps?: number; hit100mMBps?: number },
): string {
  const names = HTTPS_CONTENDERS.filter((n) => r[n]?.status === "ok");
  const fmt = (v: number | undefined, digits: number) =>
    v === undefined || !Number.isFinite(v)
      ? "—"
      : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const rows = [
    ["figure", ...names, "hoard/squid", "target (hoard)"],
    ...HTTPS_FIGURES.map((id) => {
      const info = HTTPS_FIGURE_INFO[id];
      const h = r.hoard?.figures[id];
      const s = r.squid?.figures[id];
      const ratio = h !== undefined && s !== undefined && s > 0 && h > 0
        ? `${(h / s).toFixed(2)}×`
        : "—";
      return [
        info.label,
        ...names.map((n) => fmt(r[n]!.figures[id], info.digits)),
        ratio,
        httpsTarget(id, r, plain),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    `| ${
      row.map((c, i) =>
        i === 0 || i === row.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)
      ).join(" | ")
    } |`;
  return [
    line(rows[0]!),
    `| ${
      widths.map((w, i) =>
        i === 0 || i === widths.length - 1 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`
      ).join(" | ")
    } |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

/** results_https.md: the table, versions, notes, errors and configs. */
export function httpsMd(
  r: Partial<Record<HttpsContenderName, HttpsContenderResult>>,
  meta: { date: string; command: string; machine: string; options: HttpsOptions },
  plain?: { hit1kRps?: number; hit100mMBps?: number },
): string {
  const out = [
    "# hoard benchmark over HTTPS (interception)",
    "",
    `${meta.date}, \`${meta.command}\`, ${meta.machine}; ${meta.options.rounds} round(s), ` +
    "each figure the median over the rounds.",
    "",
    httpsTable(r, plain),
    "",
    "The origin is `scripts/bench_origin.ts` over TLS (Deno.listenTls, ECDSA P-256 certificate for " +
    "localhost). Clients: `scripts/bench/tls_load.ts` (one Deno process: CONNECT, then TLS with " +
    "Deno.startTls, trusting the proxy's CA, HTTP/1.1 without ALPN) for the 1 KiB, connection and " +
    "miss figures; curl `--http1.1` for the 100 MiB hit. hoard, squid and mitmproxy each verify " +
    "the origin's certificate. mitmproxy caches nothing: its hits are origin requests. Each " +
    "cache started empty in a temp dir of its own, removed at the end of the run.",
    "",
    meta.options.pin
      ? `Each contender ran alone on core ${meta.options.pin.server} (\`taskset\`, its threads and ` +
        `children too; for direct, the origin), the load generator, the origin and curl on ` +
        `${meta.options.pin.rest}: a proxy's own core, as on a build box where the clients are ` +
        "elsewhere, and figures that no longer swing with where the scheduler puts the processes. " +
        "hoard-cores' threads share that one core: its figures say what they cost there, not " +
        "what more cores give (`--no-pin` for that)."
      : "Processes ran wherever the scheduler put them (`--no-pin`).",
    "",
  ];
  for (const name of HTTPS_CONTENDERS) {
    const c = r[name];
    if (c === undefined) continue;
    out.push(`## ${name}`, "");
    if (c.status === "skipped") {
      out.push(`Skipped: ${c.reason}`, "");
      continue;
    }
    out.push(`Version: ${c.version}`, "");
    for (const n of c.notes) out.push(`- note: ${n}`);
    for (const [k, v] of Object.entries(c.errors)) out.push(`- error in ${k}: ${v}`);
    if (c.config) out.push("", "```", c.config.trimEnd(), "```");
    out.push("");
  }
  return out.join("\n");
}
