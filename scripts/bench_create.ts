#!/usr/bin/env -S deno run --allow-all
/**
 * What creating a small cache file costs on the file system `TMPDIR` points
 * to, in hoard's layout (256 shard directories) and in squid's (16 × 256):
 * each stored small response is one such file (a temp name written, then
 * renamed), so a 1 KiB miss pays it. The directories are made first, then
 * `--files` files are created in each layout in turn, `--rounds` times, each
 * into a directory picked at random; the times are of the create, write,
 * close and rename.
 *
 * On an ext4 without a journal the layouts differ: there the kernel skips
 * the inodes deleted in the last minutes when it allocates one, scanning
 * past each, and where a directory's files land depends on the layout.
 *
 * Usage: deno run -A scripts/bench_create.ts [--files N] [--rounds N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cacheFileSystem, makeTempDir, removeTempDir } from "./bench/_proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "500" },
    rounds: { type: "string", default: "2" },
  },
});
const files = Number(values.files), rounds = Number(values.rounds);
if (![files, rounds].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error("--files and --rounds take whole numbers ≥ 1");
  Deno.exit(2);
}

const hex = (n: number, upper = false) => {
  const s = n.toString(16).padStart(2, "0");
  return upper ? s.toUpperCase() : s;
};
const bytes = new Uint8Array(2300); // a 1 KiB response's metadata file, body inside

/** Creates `files` files in random ones of `dirs`; the sorted times, µs. */
function createIn(dirs: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < files; i++) {
    const path = `${dirs[Math.floor(Math.random() * dirs.length)]}/${crypto.randomUUID()}.json`;
    const started = performance.now();
    Deno.writeFileSync(`${path}.tmp`, bytes, { createNew: true, mode: 0o600 });
    Deno.renameSync(`${path}.tmp`, path);
    times.push((performance.now() - started) * 1000);
  }
  return times.sort((a, b) => a - b);
}

const dir = await makeTempDir("hoard-bench-create-");
try {
  const hoard = Array.from({ length: 256 }, (_, i) => `${dir}/hoard/data/${hex(i)}`);
  const squid = Array.from(
    { length: 16 * 256 },
    (_, i) => `${dir}/squid/${hex(i >> 8, true)}/${hex(i & 255, true)}`,
  );
  for (const d of [...hoard, ...squid]) Deno.mkdirSync(d, { recursive: true });
  console.log(`${files} files a layout a round, in ${cacheFileSystem()}:`);
  for (let round = 0; round < rounds; round++) {
    for (const [name, dirs] of [["hoard", hoard], ["squid", squid]] as const) {
      const t = createIn(dirs);
      const mean = t.reduce((a, b) => a + b, 0) / t.length;
      console.log(
        `${name} layout  p50 ${t[t.length >> 1]!.toFixed(0)} µs  ` +
          `p90 ${t[Math.floor(t.length * 0.9)]!.toFixed(0)} µs  mean ${mean.toFixed(0)} µs`,
      );
    }
  }
} finally {
  await removeTempDir(dir);
}
