/**
 * A child process for the crash tests, killed with SIGKILL by its parent at
 * some moment of its work. Prints one progress line per step on stdout.
 *
 * ```
 * deno run --allow-read --allow-write crash_child.ts fill DIR     one endless, slow fill
 * deno run --allow-read --allow-write crash_child.ts commits DIR  endless commits, 4 at a time
 * ```
 *
 * In `commits` mode, entry `http://crash.test/<worker>/<n>` holds version `i`
 * (field X-Version): the bytes `bodyBytes(key + "#" + i, crashBodySize(i))`.
 *
 * @module
 */

import { Cache } from "../../../src/cache/cache.ts";
import { DiskStore } from "../../../src/cache/disk_store.ts";
import { Logger } from "../../../src/observe/log.ts";
import { bodyBytes, commitBytes, delay, pendingMeta } from "./entries.ts";

const encoder = new TextEncoder();

function say(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/** Size of version `i` of an entry: from empty to about 200 KiB. */
export function crashBodySize(i: number): number {
  return i % 7 === 0 ? 0 : (i * 7919) % 200_000;
}

async function fill(dir: string): Promise<void> {
  const store = await DiskStore.open(dir);
  const temp = await store.beginBody();
  const chunk = bodyBytes("slow fill", 4096);
  for (;;) {
    await temp.write(chunk);
    say(`wrote ${temp.size} ${temp.path}`);
    await delay(2);
  }
}

async function commits(dir: string): Promise<void> {
  const cache = await Cache.open(dir, Number.MAX_SAFE_INTEGER, new Logger("silent"));
  // Commits racing the start-up scan are another matter (see store_test.ts).
  await cache.ready;
  let i = 0;
  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const version = i++;
      // Workers 0-2 replace their ten entries over and over; worker 3 adds new ones.
      const key = `http://crash.test/${w}/${w === 3 ? version : version % 10}`;
      const meta = pendingMeta(key, { headers: [["X-Version", String(version)]] });
      const stored = await commitBytes(
        cache,
        meta,
        bodyBytes(`${key}#${version}`, crashBodySize(version)),
      );
      if (stored === undefined) throw new Error(`commit ${version} failed`);
      say(`committed ${version}`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
}

if (import.meta.main) {
  const [mode, dir] = Deno.args;
  if (dir === undefined) throw new Error("usage: crash_child.ts fill|commits DIR");
  if (mode === "fill") await fill(dir);
  else if (mode === "commits") await commits(dir);
  else throw new Error(`unknown mode ${mode}`);
}
