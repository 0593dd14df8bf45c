/**
 * Where the cache directory is kept between jobs, behind one small interface:
 * the Actions cache service (`@actions/cache`), or, when
 * `HOARD_ACTION_CACHE_DIR` names a directory, tar files in it (the tests use
 * that; it also suits a self-hosted runner with a persistent disk).
 *
 * @module
 */

import * as cache from "@actions/cache";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";

/** A store of cache archives by key. */
export interface CacheBackend {
  /** What it is, for the log. */
  readonly name: string;
  /**
   * Restores `paths` from the entry `key`, else from the newest entry whose
   * key starts with one of `prefixes` (in order).
   *
   * @returns the key restored, or undefined when nothing matched.
   */
  restore(paths: string[], key: string, prefixes: string[]): Promise<string | undefined>;
  /** Whether an entry `key` exists (then saving it again would upload the same content). */
  has(paths: string[], key: string): Promise<boolean>;
  /** Saves `paths` as the entry `key`. */
  save(paths: string[], key: string): Promise<void>;
}

/** The backend the environment asks for. */
export function cacheBackend(env: NodeJS.ProcessEnv = process.env): CacheBackend {
  const dir = env["HOARD_ACTION_CACHE_DIR"];
  if (dir) return new DirectoryBackend(dir);
  return new ActionsCacheBackend();
}

/** The Actions cache service. */
class ActionsCacheBackend implements CacheBackend {
  readonly name = "the Actions cache";

  async restore(paths: string[], key: string, prefixes: string[]): Promise<string | undefined> {
    if (!cache.isFeatureAvailable()) throw new Error("the Actions cache service is not available");
    return await cache.restoreCache(paths, key, prefixes);
  }

  async has(paths: string[], key: string): Promise<boolean> {
    if (!cache.isFeatureAvailable()) return false;
    return (await cache.restoreCache(paths, key, [], { lookupOnly: true })) === key;
  }

  async save(paths: string[], key: string): Promise<void> {
    if (!cache.isFeatureAvailable()) throw new Error("the Actions cache service is not available");
    // Failures other than a bad path are logged by @actions/cache as warnings and give -1.
    if ((await cache.saveCache(paths, key)) === -1) {
      throw new Error(`the Actions cache did not take ${key} (see the warning above)`);
    }
  }
}

/** One tar file per key in a directory, and an index that keeps the order they were saved in. */
class DirectoryBackend implements CacheBackend {
  readonly name: string;
  #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.name = `the directory ${dir}`;
  }

  async restore(paths: string[], key: string, prefixes: string[]): Promise<string | undefined> {
    const keys = await this.#keys();
    const found = keys.includes(key)
      ? key
      : prefixes.map((p) => keys.findLast((k) => k.startsWith(p))).find((k) => k !== undefined);
    if (found === undefined) return undefined;
    const root = commonDir(paths);
    await mkdir(root, { recursive: true });
    tar(["-xf", this.#file(found), "-C", root]);
    return found;
  }

  async has(_paths: string[], key: string): Promise<boolean> {
    return (await this.#keys()).includes(key);
  }

  async save(paths: string[], key: string): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const temp = `${this.#file(key)}.tmp`;
    // Names relative to the paths' common directory, as the Actions cache keeps
    // them relative to the workspace: a job with another RUNNER_TEMP restores them.
    const root = commonDir(paths);
    const names = paths.filter((p) => existsSync(p)).map((p) => relative(root, p));
    tar(["-cf", temp, "-C", root, ...names]);
    await rename(temp, this.#file(key));
    const keys = (await this.#keys()).filter((k) => k !== key);
    await writeFile(join(this.#dir, "index.json"), JSON.stringify([...keys, key], null, 1) + "\n");
  }

  #file(key: string): string {
    return join(this.#dir, `${encodeURIComponent(key)}.tar`);
  }

  async #keys(): Promise<string[]> {
    try {
      return JSON.parse(await readFile(join(this.#dir, "index.json"), "utf8"));
    } catch {
      return [];
    }
  }
}

/** The deepest directory that holds every one of `paths`. */
function commonDir(paths: string[]): string {
  let dir = dirname(paths[0]!);
  while (!paths.every((p) => p.startsWith(dir + sep)) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function tar(args: string[]): void {
  const r = spawnSync("tar", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
}
