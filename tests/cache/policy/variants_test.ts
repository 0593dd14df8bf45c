import assert from "node:assert/strict";
import { selectsByLanguage } from "../../../src/cache/policy/variants.ts";
import { secondaryKey } from "../../../src/cache/key.ts";
import type { FieldList } from "../../../src/http1/fields.ts";
import { fields } from "./_helpers.ts";

Deno.test("selectsByLanguage: the Content-Language the request wants most, other selecting fields equal", () => {
  const vary = ["accept-language", "accept"];
  const stored = (language: string | undefined, al = "de, en;q=0.5") => ({
    vary,
    secondary: secondaryKey(vary, fields(["Accept-Language", al], ["Accept", "text/html"])),
    headers: language === undefined ? [] : [["Content-Language", language] as [string, string]],
  });
  const req = (al: string | undefined, accept = "text/html") =>
    fields(...(al === undefined ? [] : [["Accept-Language", al] as const]), ["Accept", accept]);
  const cases: [string, ReturnType<typeof stored>, FieldList, boolean][] = [
    ["the language wanted most", stored("de"), req("de"), true],
    ["in any case", stored("DE"), req("De;q=1, fr;q=0.4"), true],
    ["a range matches its sub-tags", stored("de-AT"), req("de"), true],
    ["a sub-tag does not match a wider tag", stored("de"), req("de-AT"), false],
    ["one of equal weights", stored("fr"), req("de, fr"), true],
    ["a list naming it", stored("en, de"), req("de"), true],
    ["wanted, but less than another", stored("de"), req("fr, de;q=0.9"), false],
    ["* wanted most", stored("de"), req("*, de;q=0.5"), false],
    ["not wanted at all", stored("de"), req("de;q=0"), false],
    ["no Accept-Language", stored("de"), req(undefined), false],
    ["no Content-Language", stored(undefined), req("de"), false],
    ["another selecting field differs", stored("de"), req("de", "application/json"), false],
    ["white space in another field does not count", stored("de"), req("de", " text/html"), true],
  ];
  for (const [name, s, f, expected] of cases) assert.equal(selectsByLanguage(s, f), expected, name);
  // Only a response that varies on Accept-Language.
  const accept = {
    vary: ["accept"],
    secondary: "accept=text/html\n",
    headers: stored("de").headers,
  };
  assert.equal(selectsByLanguage(accept, req("de")), false);
});
