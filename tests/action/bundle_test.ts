/**
 * The committed bundle is what `deno task action:build` makes from the
 * sources: a change to action/ or to what it imports without a rebuild fails
 * here, so the runner never runs stale code.
 */

import assert from "node:assert/strict";
import { ACTION_BUNDLE, bundleAction } from "../../scripts/build.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("action/dist/index.mjs is fresh: rebuilding it changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-action-bundle-" });
  try {
    const fresh = `${dir}/index.mjs`;
    assert.equal(await bundleAction(fresh), 0);
    const built = await Deno.readTextFile(fresh);
    const committed = await Deno.readTextFile(`${ROOT}${ACTION_BUNDLE}`);
    assert.ok(
      built === committed,
      `${ACTION_BUNDLE} is stale: run \`deno task action:build\` and commit it`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the bundle names no machine path and no package registry host", async () => {
  const text = await Deno.readTextFile(`${ROOT}${ACTION_BUNDLE}`);
  assert.doesNotMatch(text, /\/root\/|\/home\/|\.cache\/deno|\/work\//);
  assert.doesNotMatch(text, /\/npm\/[a-z0-9.-]+\.(org|com|io)\//);
  assert.match(text, /^\/\/ npm:@actions\/cache@6\.3\.0\//m);
});
