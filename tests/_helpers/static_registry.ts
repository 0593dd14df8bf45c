/**
 * Registries that are static files (a Maven repository, a GOPROXY directory,
 * a cargo sparse index), served as written by the real tools, and the three
 * runs every client test makes through hoard: cold, warm with the client's
 * own cache emptied, and with the registry stopped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256 } from "./cache_origin.ts";
import type { ClientLab } from "./client_lab.ts";
import type { FileOrigin, ServedFile } from "./package_managers.ts";

/**
 * Every file under `dir` by URL path (`prefix` + its path under `dir`), for
 * {@linkcode startFileOrigin}, each with a strong ETag from its bytes, as
 * static file servers and object stores send one. `keep` picks the files.
 */
export async function filesUnder(
  dir: string,
  keep: (path: string) => boolean = () => true,
  prefix = "",
): Promise<Map<string, ServedFile>> {
  const files = new Map<string, ServedFile>();
  const walk = async (sub: string) => {
    for await (const e of Deno.readDir(`${dir}${sub}`)) {
      const path = `${sub}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile && keep(path)) {
        files.set(`${prefix}${path}`, servedFile(await Deno.readFile(`${dir}${path}`)));
      }
    }
  };
  await walk("");
  return files;
}

/** `body` as a static server sends it: with an ETag from its bytes. */
export function servedFile(body: Uint8Array<ArrayBuffer>, type?: string): ServedFile {
  return { body, etag: `"${sha256(body).slice(0, 20)}"`, ...(type === undefined ? {} : { type }) };
}

/** What {@linkcode threeRuns} needs. */
export interface ThreeRunsOptions {
  /** The client and its version, for the summary line (`Apache Maven 3.8.7`). */
  client: string;
  /** hoard and the client's environment. */
  lab: ClientLab;
  /** The registry (stopped before the third run). */
  origin: FileOrigin;
  /** Whether a URL path is an immutable artifact (the rest is metadata). */
  isArtifact: (path: string) => boolean;
  /**
   * Runs the client once (`n` = 1, 2, 3) with its own cache empty and checks
   * what it installed, bytes included.
   */
  install: (n: number) => Promise<void>;
}

/** What the three runs took: wall times (ms) and requests that reached the origin. */
export interface ThreeRunsResult {
  /** Wall time of each run, ms. */
  ms: [number, number, number];
  /** Requests the registry answered in each run (none in the third: it is stopped). */
  originRequests: [number, number, number];
  /** Requests of the third run that hoard answered from a stale entry when the origin failed. */
  staleIfError: number;
}

/**
 * The three runs of a client test, each with the client's own cache empty:
 * 1. cold: each artifact reaches the origin once, through hoard;
 * 2. warm: no artifact reaches the origin (every artifact request a hit in
 *    hoard's log), metadata at most revalidated (a conditional request, 304);
 * 3. registry stopped: the install still succeeds, artifacts hits again.
 * Prints one line with the times and origin requests.
 */
export async function threeRuns(o: ThreeRunsOptions): Promise<ThreeRunsResult> {
  const { lab, origin, isArtifact } = o;
  const ms: number[] = [];
  const counts: number[] = [];
  const runOnce = async (n: number) => {
    const mark = lab.mark();
    const seen = origin.exchanges.length;
    const start = performance.now();
    await o.install(n);
    ms.push(performance.now() - start);
    // What the run stored is committed before the next run asks for it.
    await lab.settled();
    counts.push(origin.exchanges.length - seen);
    return { logged: lab.requests(mark), exchanges: origin.exchanges.slice(seen) };
  };
  const pathOf = (url: string) => new URL(url).pathname;

  const cold = await runOnce(1);
  const coldArtifacts = cold.exchanges.filter((e) => isArtifact(e.path));
  assert.ok(coldArtifacts.length > 0, "the cold run fetched no artifact");
  assert.deepEqual(
    coldArtifacts.map((e) => `${e.method} ${e.path} ${e.status}`).sort(),
    [...new Set(coldArtifacts.map((e) => e.path))].map((p) => `GET ${p} 200`).sort(),
    "cold: each artifact from the origin once, whole",
  );

  const warm = await runOnce(2);
  assert.deepEqual(
    warm.exchanges.filter((e) => isArtifact(e.path)).map((e) => e.path),
    [],
    "warm: no artifact from the origin",
  );
  assert.deepEqual(
    warm.exchanges.filter((e) => !(e.conditional && e.status === 304))
      .map((e) => `${e.method} ${e.path} ${e.status}`),
    [],
    "warm: metadata at most revalidated",
  );
  const notHits = (logged: typeof warm.logged) =>
    logged.filter((l) => isArtifact(pathOf(l.url)) && l.route !== "hit")
      .map((l) => `${l.method} ${l.url} ${l.route} ${l.cacheStatus}`);
  assert.ok(warm.logged.some((l) => isArtifact(pathOf(l.url))), "warm: no artifact asked for");
  assert.deepEqual(notHits(warm.logged), [], "warm: every artifact a hit");

  await origin.close();
  const down = await runOnce(3);
  assert.deepEqual(notHits(down.logged), [], "registry down: every artifact a hit");

  const result: ThreeRunsResult = {
    ms: [ms[0]!, ms[1]!, ms[2]!],
    originRequests: [counts[0]!, counts[1]!, counts[2]!],
    staleIfError: down.logged.filter((l) => l.cacheStatus?.includes("stale-if-error")).length,
  };
  console.log(
    `${o.client}: cold ${ms[0]!.toFixed(0)} ms, warm ${ms[1]!.toFixed(0)} ms, ` +
      `registry down ${ms[2]!.toFixed(0)} ms; origin requests cold ${counts[0]} ` +
      `(${coldArtifacts.length} artifacts), warm ${counts[1]} ` +
      `(${warm.exchanges.length} revalidated, 304), registry down ${result.staleIfError} ` +
      `served stale-if-error`,
  );
  return result;
}
