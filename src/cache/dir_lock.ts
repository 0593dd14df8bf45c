/**
 * One hoard process per cache directory. A second one would empty the first
 * one's `tmp/` (fills in flight) at start-up, and neither would see what the
 * other stores (after its start-up scan, a process answers misses from its
 * own index). The lock is an advisory lock on `hoard.lock`, which names the
 * pid holding it; the kernel releases it when that process ends, however it
 * ends.
 *
 * @module
 */

/** A held lock on a cache directory. */
export interface DirLock {
  /** Releases the lock (safe to call more than once). */
  release(): void;
}

/**
 * Locks cache directory `dir` (creating it, mode 0700) for this process.
 *
 * @returns the lock, or undefined when the directory cannot be used at all
 *   (the cache then runs disabled and says why).
 * @throws when another process holds the lock.
 */
export async function lockCacheDir(dir: string): Promise<DirLock | undefined> {
  const path = `${dir}/hoard.lock`;
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch {
    return undefined;
  }
  if (!(await file.tryLock(true))) {
    file.close();
    const owner = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new Error(
      `the cache directory ${dir} is in use by another hoard process${
        /^\d+$/.test(owner) ? ` (pid ${owner})` : ""
      }: give each process its own --cache-dir`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      file.close();
    },
  };
}
