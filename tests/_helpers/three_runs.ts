/**
 * The three runs of a real-client test through a {@linkcode ClientLab}: cold
 * (the origin is asked), warm (the artifacts come from hoard's cache) and with
 * the origin stopped (the install still succeeds), each after the test has
 * emptied the client's own cache; and the one line per client that the
 * README's table is made from.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ClientLab } from "./client_lab.ts";
import type { LoggedRequest } from "./package_managers.ts";

/** What one run did. */
export interface LabRun {
  /** Wall time of the client's commands, in milliseconds. */
  ms: number;
  /** Every request hoard logged during the run (CONNECTs left out). */
  requests: LoggedRequest[];
  /** Those hoard did not answer from its cache alone (misses, revalidations, …). */
  origin: LoggedRequest[];
}

/** The three runs. */
export interface ThreeRuns {
  /** Nothing cached yet. */
  cold: LabRun;
  /** Everything cached. */
  warm: LabRun;
  /** Everything cached, the origin stopped. */
  down: LabRun;
}

/** Which run `install` is asked for. */
export type RunName = keyof ThreeRuns;

/**
 * Runs `install` three times: cold, warm, then after `stopOrigin`. `install`
 * empties the client's own caches first and asserts on what it installed.
 */
export async function threeRuns(
  lab: ClientLab,
  stopOrigin: () => Promise<void>,
  install: (run: RunName) => Promise<void>,
): Promise<ThreeRuns> {
  const once = async (name: RunName): Promise<LabRun> => {
    const mark = lab.mark();
    const start = performance.now();
    await install(name);
    const ms = performance.now() - start;
    // What this run stored is committed before the next one asks for it.
    await lab.settled();
    return { ms, requests: lab.requests(mark), origin: lab.originRequests(mark) };
  };
  const cold = await once("cold");
  const warm = await once("warm");
  await stopOrigin();
  const down = await once("down");
  return { cold, warm, down };
}

/**
 * Asserts that the artifacts of `run` (the requests whose URL `isArtifact`
 * says is one; at least one) were all cache hits, and that everything else
 * was a hit or a revalidation, but for the requests `forwarded` allows (a
 * client's probe that hoard does not store, say).
 */
export function assertArtifactsHit(
  run: LabRun,
  isArtifact: (url: string) => boolean,
  what = "run",
  forwarded: (r: LoggedRequest) => boolean = () => false,
): void {
  const artifacts = run.requests.filter((r) => isArtifact(r.url));
  assert.ok(artifacts.length > 0, `${what}: no artifact was requested`);
  for (const r of artifacts) {
    assert.equal(r.route, "hit", `${what}: ${r.url} was ${r.route} (${r.cacheStatus})`);
  }
  for (const r of run.requests) {
    assert.ok(
      r.route === "hit" || r.route === "revalidate" || forwarded(r),
      `${what}: ${r.method} ${r.url} was ${r.route} (${r.cacheStatus})`,
    );
  }
}

/** `METHOD path STATUS route` of each request, sorted: what a test compares. */
export function requestLines(requests: readonly LoggedRequest[]): string[] {
  return requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status} ${r.route}`)
    .sort();
}

/**
 * The line for the README's table: the client and its version, the wall
 * time of each run and the requests hoard sent to (or tried on) the origin.
 */
export function runsLine(client: string, version: string, runs: ThreeRuns): string {
  const ms = (r: LabRun) => `${r.ms.toFixed(0)} ms`;
  return `${client} ${version}: cold ${ms(runs.cold)}, warm ${ms(runs.warm)}, ` +
    `origin down ${ms(runs.down)}; origin requests ${runs.cold.origin.length} / ` +
    `${runs.warm.origin.length} / ${runs.down.origin.length} (tried)`;
}
