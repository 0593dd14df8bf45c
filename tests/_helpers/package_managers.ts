/**
 * Helpers for the end-to-end tests with real package managers (pip, apt):
 * whether a tool is installed, running it with a clean environment and a
 * time limit, a static-file origin that answers conditional requests and
 * records what it saw, and hoard's JSON request log read back.
 *
 * @module
 */

import type { TestCert } from "./tls.ts";
import { startOrigin, type TestOrigin } from "./origin.ts";

/**
 * Why a test cannot run here: the first of `tools` (command and arguments
 * that must exit 0, e.g. `["dpkg-deb", "--version"]`) that fails, named;
 * undefined when all of them work.
 */
export function missingTool(tools: string[][]): string | undefined {
  for (const [cmd, ...args] of tools) {
    if (cmd === undefined) continue;
    try {
      const out = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" })
        .outputSync();
      if (!out.success) return `\`${[cmd, ...args].join(" ")}\` fails`;
    } catch {
      return `no \`${cmd}\` on PATH`;
    }
  }
  return undefined;
}

/** What {@linkcode run} got. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output, text. */
  stdout: string;
  /** Standard error, text. */
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

/** How {@linkcode run} starts a command. */
export interface RunOptions {
  /** The whole environment (nothing is inherited but `PATH`). @default {{}} */
  env?: Record<string, string>;
  /** Working directory. @default {the test's} */
  cwd?: string;
  /** Killed after this long. @default {20_000} */
  timeoutMs?: number;
}

/**
 * Runs `cmd args` with only `PATH`, `LANG=C` and `env` in its environment (so
 * no proxy or config variable of the machine leaks in) and throws with its
 * output when it exits non-zero.
 */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", LANG: "C", ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
  }).output();
  const ms = performance.now() - start;
  const d = new TextDecoder();
  const result = { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr), ms };
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** One file a {@linkcode startFileOrigin} serves. */
export interface ServedFile {
  /** The bytes. */
  body: Uint8Array<ArrayBuffer>;
  /** Its Content-Type. @default {"application/octet-stream"} */
  type?: string;
  /** An ETag (quoted), answered with 304 to a matching If-None-Match. */
  etag?: string;
  /** An HTTP-date, answered with 304 to an If-Modified-Since not before it. */
  lastModified?: string;
  /** More response fields. */
  headers?: Record<string, string>;
}

/** One request a {@linkcode FileOrigin} answered. */
export interface Exchange {
  /** Method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Whether it carried If-None-Match or If-Modified-Since. */
  conditional: boolean;
  /** The status answered. */
  status: number;
}

/** A static-file origin. */
export interface FileOrigin extends TestOrigin {
  /** Every request answered, in order. */
  readonly exchanges: Exchange[];
}

/**
 * Starts an origin on 127.0.0.1 (https with `tls`) serving `files` by path
 * (query ignored) for GET and HEAD, 404 for other paths, with the
 * conditional requests of RFC 9110 §13.1.1–2: If-None-Match against the ETag,
 * else If-Modified-Since against Last-Modified.
 */
export function startFileOrigin(files: Map<string, ServedFile>, tls?: TestCert): FileOrigin {
  const exchanges: Exchange[] = [];
  const origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    const inm = req.headers.get("if-none-match");
    const ims = req.headers.get("if-modified-since");
    const res = answer(req.method, files.get(path), inm, ims);
    exchanges.push({
      method: req.method,
      path,
      conditional: inm !== null || ims !== null,
      status: res.status,
    });
    return res;
  }, tls);
  return Object.assign(origin, { exchanges });
}

function answer(
  method: string,
  file: ServedFile | undefined,
  inm: string | null,
  ims: string | null,
): Response {
  if (method !== "GET" && method !== "HEAD") return new Response(null, { status: 405 });
  if (file === undefined) {
    return new Response(method === "HEAD" ? null : "not found\n", { status: 404 });
  }
  const headers = new Headers(file.headers);
  if (file.etag !== undefined) headers.set("etag", file.etag);
  if (file.lastModified !== undefined) headers.set("last-modified", file.lastModified);
  const notModified = inm !== null
    ? file.etag !== undefined &&
      inm.split(",").some((t) => t.trim().replace(/^W\//, "") === file.etag!.replace(/^W\//, ""))
    : ims !== null && file.lastModified !== undefined &&
      Date.parse(ims) >= Date.parse(file.lastModified);
  if (notModified) return new Response(null, { status: 304, headers });
  headers.set("content-type", file.type ?? "application/octet-stream");
  return new Response(method === "HEAD" ? null : file.body, { headers });
}

/** Each exchange as `GET /path 200` (`GET? ...` when conditional), sorted. */
export function exchangeLines(exchanges: readonly Exchange[]): string[] {
  return exchanges.map((e) => `${e.method}${e.conditional ? "?" : ""} ${e.path} ${e.status}`)
    .sort();
}

/** One request line of hoard's JSON log (`logFormat: "json"`). */
export interface LoggedRequest {
  /** Method. */
  method: string;
  /** Absolute URL, or `host:port` for CONNECT. */
  url: string;
  /** Status sent. */
  status: number;
  /** Route taken. */
  route: string;
  /** The Cache-Status sent, if any. */
  cacheStatus?: string;
}

/** The request lines among `logs` (JSON log lines), in order. */
export function loggedRequests(logs: readonly string[]): LoggedRequest[] {
  const out: LoggedRequest[] = [];
  for (const line of logs) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (typeof o.url === "string" && typeof o.method === "string") out.push(o);
  }
  return out;
}

/** The HTTP-date of `ms` (epoch milliseconds), rounded down to the second. */
export function httpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}
