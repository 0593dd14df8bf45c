/**
 * Helpers for the end-to-end cache tests: curl through a proxy, an origin with
 * one handler per path that counts what reached it, deterministic bodies, and
 * slow streamed bodies.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { curl, type CurlResult } from "./clients.ts";
import { startOrigin, type TestOrigin } from "./origin.ts";

// So that a proxy which stops answering fails a test instead of hanging it.
const LIMIT = ["--max-time", "20"];

/** The parts of a test proxy {@linkcode get} needs. */
export interface ProxyAt {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Its cache directory. */
  cacheDir: string;
}

/**
 * `curl -x proxy url ...args`; fails the test when curl itself fails. When the
 * response was being stored, waits until the store has committed it (see
 * {@linkcode cacheSettled}), so that the next request sees the entry.
 */
export async function get(proxy: ProxyAt, url: string, ...args: string[]): Promise<CurlResult> {
  const r = await curl([...LIMIT, "-x", proxy.url, ...args, url]);
  if (r.code !== 0) throw new Error(`curl ${args.join(" ")} ${url} exited ${r.code}: ${r.stderr}`);
  if (/; stored\b/.test(r.headers["cache-status"] ?? "")) await cacheSettled(proxy.cacheDir);
  return r;
}

/**
 * Waits until no commit is in progress in the cache directory `dir`: nothing
 * in `tmp/`, no half-written metadata, every body named by exactly one
 * metadata file. hoard answers the client that led a fill before the entry is
 * committed (fsync, rename, metadata), and a request in that window joins the
 * finished fill instead of hitting the entry.
 */
export async function cacheSettled(dir: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await quiet(dir))) {
    if (Date.now() > until) throw new Error(`cache ${dir} did not settle in ${timeoutMs} ms`);
    await sleep(2);
  }
  // What follows the last file operation of a commit is in-memory bookkeeping.
  await sleep(5);
}

async function quiet(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(`${dir}/tmp`)) return false;
    for await (const shard of Deno.readDir(`${dir}/data`)) {
      const names: string[] = [];
      for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) names.push(f.name);
      const metas = new Set(names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, 64)));
      const bodies = names.filter((n) => n.endsWith(".body")).map((n) => n.slice(0, 64));
      if (names.some((n) => n.endsWith(".tmp"))) return false;
      if (bodies.some((id) => !metas.has(id)) || new Set(bodies).size !== bodies.length) {
        return false;
      }
    }
    return true;
  } catch (err) {
    // A directory that is gone (or never was) has nothing in progress.
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return true;
    }
    throw err;
  }
}

/** Answers one request; `n` is how many requests for this path came before it (0 for the first). */
export type RouteHandler = (req: Request, n: number) => Response | Promise<Response>;

/** A test origin that routes by path (query included) and counts requests per path. */
export interface RoutedOrigin extends TestOrigin {
  /** Requests for `path` (path and query) that reached the origin so far. */
  count(path: string): number;
}

/** Starts an origin answering each path with its handler; unknown paths get 599 (so a test sees it). */
export function startRoutedOrigin(routes: Record<string, RouteHandler>): RoutedOrigin {
  const seen = new Map<string, number>();
  const origin = startOrigin((req) => {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    const n = seen.get(path) ?? 0;
    seen.set(path, n + 1);
    const handler = routes[path];
    return handler === undefined ? new Response("no route", { status: 599 }) : handler(req, n);
  });
  return Object.assign(origin, {
    count: (path: string) => origin.requests.filter((r) => r.path === path).length,
  });
}

/** SHA-256 of `data`, hex. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (xorshift), so a body can be checked byte for byte. */
export function pseudoRandom(length: number, seed = 0x9e3779b9): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A promise opened from outside. */
export interface Gate {
  /** Settles once opened. */
  readonly opened: Promise<void>;
  /** Opens it (again is harmless). */
  open(): void;
}

/** A closed gate. */
export function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((r) => open = r);
  return { opened, open };
}

/**
 * A body stream that sends `data` in pieces of `piece` bytes, `delayMs` apart.
 * With `pauseAfter`, it stops after that many bytes until `resume` opens.
 */
export function slowBody(
  data: Uint8Array<ArrayBuffer>,
  piece: number,
  delayMs: number,
  pause?: { after: number; resume: Gate },
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let at = 0;
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(c) {
      if (at >= data.length) return c.close();
      if (pause !== undefined && at >= pause.after) await pause.resume.opened;
      if (at > 0 && delayMs > 0) await sleep(delayMs);
      const end = Math.min(at + piece, data.length);
      c.enqueue(data.slice(at, end));
      at = end;
    },
  });
}

/** An HTTP-date `secondsAgo` seconds in the past. */
export function httpDateAgo(secondsAgo: number): string {
  return new Date(Date.now() - secondsAgo * 1000).toUTCString();
}
