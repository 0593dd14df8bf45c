import assert from "node:assert/strict";
import { type RequestDirectives, requestDirectives } from "../../../src/cache/policy/directives.ts";
import { fields, type Lines } from "./_helpers.ts";
import { CC } from "./_table.ts";

// ---------------------------------------------------------------------------
// requestDirectives()
// ---------------------------------------------------------------------------

const NONE: RequestDirectives = {
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAge: undefined,
  minFresh: undefined,
  maxStale: undefined,
};

const DIRECTIVES: [string, Lines, RequestDirectives][] = [
  ["no fields", [], NONE],
  ["max-age", [[CC, "max-age=30"]], { ...NONE, maxAge: 30 }],
  ["max-age=0", [[CC, "max-age=0"]], { ...NONE, maxAge: 0 }],
  ["quoted max-age", [[CC, 'max-age="30"']], { ...NONE, maxAge: 30 }],
  ["invalid max-age reads as 0", [[CC, "max-age=abc"]], { ...NONE, maxAge: 0 }],
  ["huge max-age is capped at 2^31", [[CC, "max-age=99999999999"]], { ...NONE, maxAge: 2 ** 31 }],
  ["min-fresh", [[CC, "min-fresh=20"]], { ...NONE, minFresh: 20 }],
  ["max-stale with a value", [[CC, "max-stale=15"]], { ...NONE, maxStale: 15 }],
  ["max-stale without a value", [[CC, "max-stale"]], { ...NONE, maxStale: Infinity }],
  ["only-if-cached", [[CC, "only-if-cached"]], { ...NONE, onlyIfCached: true }],
  ["no-cache", [[CC, "no-cache"]], { ...NONE, noCache: true }],
  ["No-Cache", [[CC, "No-Cache"]], { ...NONE, noCache: true }],
  ["no-store", [[CC, "NO-STORE"]], { ...NONE, noStore: true }],
  ["Pragma: no-cache without Cache-Control", [["Pragma", "no-cache"]], { ...NONE, noCache: true }],
  ["Pragma: no-cache among others", [["Pragma", "foo, No-Cache"]], { ...NONE, noCache: true }],
  [
    "Pragma: no-cache beside Cache-Control is ignored",
    [["Pragma", "no-cache"], [CC, "max-age=5"]],
    { ...NONE, maxAge: 5 },
  ],
  [
    "several directives, on several lines",
    [[CC, "max-age=10, min-fresh=2"], [CC, "max-stale=3, only-if-cached"]],
    { ...NONE, onlyIfCached: true, maxAge: 10, minFresh: 2, maxStale: 3 },
  ],
  ["the first of a repeated directive counts", [[CC, "max-age=5, max-age=10"]], {
    ...NONE,
    maxAge: 5,
  }],
  ["white space around names and values", [[CC, " max-age = 7 ,no-cache "]], {
    ...NONE,
    noCache: true,
    maxAge: 7,
  }],
];

for (const [name, lines, expected] of DIRECTIVES) {
  Deno.test(`requestDirectives: ${name}`, () => {
    assert.deepEqual(requestDirectives(fields(...lines)), expected);
  });
}
