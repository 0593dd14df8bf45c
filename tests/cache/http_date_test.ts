import assert from "node:assert/strict";
import { formatHttpDate, parseHttpDate } from "../../src/cache/http_date.ts";

const T = Date.UTC(1994, 10, 6, 8, 49, 37);

Deno.test("parseHttpDate: the three forms of RFC 9110 §5.6.7, all GMT", () => {
  assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), T);
  assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), T);
  assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), T);
  assert.equal(parseHttpDate("  Sun, 06 Nov 1994 08:49:37 GMT "), T);
  assert.equal(parseHttpDate("sun, 06 nov 1994 08:49:37 gmt"), T);
});

Deno.test("parseHttpDate: anything else is not a date", () => {
  for (
    const v of [
      "2099",
      "0",
      "-1",
      "",
      "2024-01-15T12:00:00Z",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 25:49:37 GMT",
      "Sun, 06 Nov 1994 08:61:37 GMT",
    ]
  ) {
    assert.equal(parseHttpDate(v), undefined, JSON.stringify(v));
  }
});

Deno.test("parseHttpDate: RFC 850 two-digit years more than 50 years ahead are last century", () => {
  assert.equal(parseHttpDate("Monday, 15-Jan-24 12:00:00 GMT"), Date.UTC(2024, 0, 15, 12));
  assert.equal(parseHttpDate("Friday, 01-Jan-99 00:00:00 GMT"), Date.UTC(1999, 0, 1));
});

Deno.test("formatHttpDate: IMF-fixdate, which parses back", () => {
  assert.equal(formatHttpDate(T), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(parseHttpDate(formatHttpDate(T)), T);
});
