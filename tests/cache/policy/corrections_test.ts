import assert from "node:assert/strict";
import fc from "fast-check";
import { semanticResponse } from "../../../src/cache/policy/corrections.ts";
import { fields, httpDate, T0 } from "./_helpers.ts";

/** The Cache-Control the library sees for a 200 carrying `cc`. */
function seen(cc: string): string | undefined {
  return semanticResponse(200, fields(["Cache-Control", cc]), T0).headers["cache-control"];
}

Deno.test("semanticResponse: Cache-Control as the library sees it", () => {
  const cases: [string, string][] = [
    ["max-age=60", "max-age=60"],
    ["public, max-age=31536000, immutable", "public, max-age=31536000, immutable"],
    ["Max-Age=60,Public", "max-age=60, public"],
    ["max-age=60, , public", "max-age=60, public"],
    ["max-age=60, proxy-revalidate", "max-age=60"],
    ["max-age=60, must-revalidate", "max-age=60, must-revalidate"],
    ["max-age=1, max-age=2", "max-age=0"],
    ["max-age=5, max-age=5", "max-age=5, max-age=5"],
    ["s-maxage=1, s-maxage=2, public", "public, max-age=0"],
    ["no-store, must-understand, max-age=60", "must-understand, max-age=60"],
    ['private="set-cookie, x-a", max-age=9', 'private="set-cookie, x-a", max-age=9'],
  ];
  for (const [cc, want] of cases) assert.equal(seen(cc), want, cc);
});

Deno.test("semanticResponse: however a Cache-Control is spaced, the library sees what its plain form gives", () => {
  const directive = fc.constantFrom(
    "public",
    "private",
    "no-cache",
    "no-store",
    "immutable",
    "must-revalidate",
    "proxy-revalidate",
    "must-understand",
    "max-age=0",
    "max-age=60",
    "s-maxage=30",
    "s-maxage=90",
    "stale-if-error=600",
  );
  const separator = fc.constantFrom(",", ", ", " ,", " , ", ",,", ", ,");
  fc.assert(
    fc.property(fc.array(fc.tuple(directive, separator), { minLength: 1, maxLength: 6 }), (ds) => {
      const spaced = ds.map(([d, sep]) => d + sep).join("");
      const plain = ds.map(([d]) => d).join(", ");
      assert.equal(seen(spaced), seen(plain), `${JSON.stringify(spaced)} against ${plain}`);
    }),
    { numRuns: 500 },
  );
});

Deno.test("semanticResponse: each Date is read for itself, one after another", () => {
  const ageFor = (date: string) =>
    semanticResponse(200, fields(["Date", date]), T0 + 10_000).headers["age"];
  assert.equal(ageFor(httpDate(0)), "10");
  assert.equal(ageFor(httpDate(0)), "10", "the same Date again");
  assert.equal(ageFor(httpDate(-5)), "15");
  assert.equal(ageFor("not a date"), undefined);
  assert.equal(ageFor(httpDate(0)), "10");
  const res = semanticResponse(200, fields(["Date", "Monday, 15-Jan-24 12:00:00 GMT"]), T0);
  assert.equal(
    res.headers["date"],
    "Mon, 15 Jan 2024 12:00:00 GMT",
    "an RFC 850 date, as IMF-fixdate",
  );
});
