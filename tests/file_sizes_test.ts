/**
 * The house rule that keeps files to one concern: no source file above about
 * 400 lines (issue 14). A file that must grow past it splits by concern.
 */

import assert from "node:assert/strict";

const LIMIT = 400;
const src = new URL("../src/", import.meta.url);

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.isDirectory ? `${e.name}/` : e.name, dir);
    if (e.isDirectory) yield* sources(url);
    else if (e.name.endsWith(".ts")) yield url;
  }
}

Deno.test(`no file under src/ is longer than ${LIMIT} lines`, async () => {
  const long: string[] = [];
  for await (const file of sources(src)) {
    const lines = (await Deno.readTextFile(file)).split("\n").length - 1;
    if (lines > LIMIT) long.push(`${file.pathname.slice(src.pathname.length)}: ${lines}`);
  }
  assert.deepEqual(long, [], `split these by concern: ${long.join(", ")}`);
});
