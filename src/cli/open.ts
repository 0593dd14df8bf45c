/**
 * A cache directory opened for a command, with its lock.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import { Logger } from "../observe/log.ts";
import { Cache } from "../cache/cache.ts";
import { type DirLock, lockCacheDir } from "../cache/dir_lock.ts";
import { print } from "./print.ts";

/**
 * Opens an existing cache directory for a command, holding its lock; one a
 * running hoard uses is opened read-only (`inUse: "read"`) or refused.
 */
export async function openExisting(
  dir: string,
  { inUse }: { inUse: "read" | "refuse" },
): Promise<{ cache: Cache; release: () => void; note: string } | undefined> {
  try {
    await Deno.stat(`${dir}/hoard-cache.json`);
  } catch {
    print(`hoard: ${dir} is not a hoard cache directory`, "stderr");
    return undefined;
  }
  let lock: DirLock | undefined;
  try {
    lock = await lockCacheDir(dir);
  } catch (err) {
    if (inUse === "refuse") {
      print(`hoard: ${errorLine(err)}`, "stderr");
      return undefined;
    }
    const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("warn"), {
      readOnly: true,
    });
    return { cache, release: () => {}, note: " (in use by a running hoard)" };
  }
  const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("warn"));
  return { cache, release: () => lock?.release(), note: "" };
}
