import assert from "node:assert/strict";
import { freshness } from "../../../src/cache/policy/freshness.ts";
import {
  mergeHeaders,
  refreshed,
  revalidationFields,
} from "../../../src/cache/policy/revalidation.ts";
import { at, fields, httpDate, type Lines, request, store } from "./_helpers.ts";
import { CC, LM, MAX_AGE_60 } from "./_table.ts";

// ---------------------------------------------------------------------------
// mergeHeaders() (RFC 9111 §3.2, §4.3.4)
// ---------------------------------------------------------------------------

Deno.test("mergeHeaders: a 304's field replaces every stored line of its name, in place", () => {
  const stored: [string, string][] = [
    ["Date", httpDate(0)],
    ["X-A", "1"],
    ["Content-Type", "text/plain"],
    ["x-a", "2"],
    ["ETag", '"v1"'],
  ];
  const merged = mergeHeaders(stored, fields(["Date", httpDate(60)], ["X-A", "3"]));
  assert.deepEqual(merged, [
    ["Date", httpDate(60)],
    ["X-A", "3"],
    ["Content-Type", "text/plain"],
    ["ETag", '"v1"'],
  ]);
});

Deno.test("mergeHeaders: repeated lines of the 304 all go in, at the first stored position", () => {
  const stored: [string, string][] = [["A", "0"], ["Link", "<a>"], ["B", "0"], ["Link", "<b>"]];
  const merged = mergeHeaders(stored, fields(["link", "<c>"], ["LINK", "<d>"]));
  assert.deepEqual(merged, [["A", "0"], ["link", "<c>"], ["LINK", "<d>"], ["B", "0"]]);
});

Deno.test("mergeHeaders: the stored body's framing and coding fields are kept", () => {
  const stored: [string, string][] = [
    ["Content-Length", "10"],
    ["Content-Encoding", "gzip"],
    ["Content-Range", "bytes 0-9/100"],
    ["ETag", '"v1"'],
  ];
  const merged = mergeHeaders(
    stored,
    fields(
      ["Content-Length", "0"],
      ["Content-Encoding", "br"],
      ["Content-Range", "bytes 0-0/1"],
      ["Transfer-Encoding", "chunked"],
      ["ETag", '"v1"'],
    ),
  );
  assert.deepEqual(merged, stored);
});

Deno.test("mergeHeaders: new names are appended; hop-by-hop, Set-Cookie and Age are not", () => {
  const stored: [string, string][] = [["Date", httpDate(0)], ["ETag", '"v1"']];
  const merged = mergeHeaders(
    stored,
    fields(
      ["Connection", "X-Hop"],
      ["X-Hop", "1"],
      ["Cache-Control", "max-age=600"],
      ["Age", "5"],
      ["Set-Cookie", "a=1"],
      ["Keep-Alive", "timeout=5"],
      ["Expires", httpDate(600)],
      ["Cache-Control", "public"],
      // Describes a body the 304 does not have: not added either.
      ["Content-Length", "0"],
    ),
  );
  assert.deepEqual(merged, [
    ["Date", httpDate(0)],
    ["ETag", '"v1"'],
    ["Cache-Control", "max-age=600"],
    ["Expires", httpDate(600)],
    ["Cache-Control", "public"],
  ]);
});

Deno.test("mergeHeaders: an empty 304 changes nothing", () => {
  const stored: [string, string][] = [["A", "1"], ["A", "2"], ["B", "3"]];
  assert.deepEqual(mergeHeaders(stored, fields()), stored);
});

// ---------------------------------------------------------------------------
// revalidationFields()
// ---------------------------------------------------------------------------

const ETAG: readonly [string, string] = ["ETag", '"v1"'];

Deno.test("revalidationFields: If-None-Match from ETag, If-Modified-Since from Last-Modified", () => {
  const req = request();
  const cases: [Lines, [string, string][]][] = [
    [[MAX_AGE_60], []],
    [[MAX_AGE_60, ETAG], [["If-None-Match", '"v1"']]],
    [[MAX_AGE_60, ["ETag", 'W/"w1"']], [["If-None-Match", 'W/"w1"']]],
    [[MAX_AGE_60, LM], [["If-Modified-Since", httpDate(-1000)]]],
    [[MAX_AGE_60, LM, ETAG], [["If-None-Match", '"v1"'], ["If-Modified-Since", httpDate(-1000)]]],
  ];
  for (const [res, expected] of cases) {
    const stored = store(req, 200, res);
    assert.deepEqual(revalidationFields(req, stored, at(100)), expected, JSON.stringify(res));
  }
});

Deno.test("revalidationFields: a HEAD revalidates a stored GET with its validators", () => {
  const stored = store(request(), 200, [MAX_AGE_60, ETAG]);
  assert.deepEqual(revalidationFields(request([], "HEAD"), stored, at(100)), [
    ["If-None-Match", '"v1"'],
  ]);
});

Deno.test("revalidationFields: the client's own validators are kept beside the stored ones", () => {
  // revalidate.ts relays a 304 that does not select the stored response.
  const stored = store(request(), 200, [MAX_AGE_60, LM, ETAG]);
  const req = request([["If-None-Match", '"c1"'], ["If-Modified-Since", httpDate(-5)]]);
  assert.deepEqual(revalidationFields(req, stored, at(100)), [
    ["If-None-Match", '"c1", "v1"'],
    ["If-Modified-Since", httpDate(-5)],
  ]);
});

Deno.test({
  name: "revalidationFields: validators are sent whatever Host the revalidating request has",
  fn() {
    const stored = store(request(), 200, [MAX_AGE_60, ETAG]);
    for (const host of [[], [["Host", "example.com:80"]], [["Host", "EXAMPLE.COM"]]] as Lines[]) {
      const req = { ...request(), fields: fields(...host) };
      assert.deepEqual(
        revalidationFields(req, stored, at(100)),
        [["If-None-Match", '"v1"']],
        JSON.stringify(host),
      );
    }
  },
});

// --- refreshed (a 304 to hoard's revalidation, RFC 9111 §3.2, §4.3.4) --------------

const ETAG_V1: Lines = [["Cache-Control", "max-age=60"], ["ETag", '"v1"'], ["Date", httpDate(0)]];

Deno.test("refreshed: a 304 with the stored strong ETag renews freshness from its Date", () => {
  const stored = store(request(), 200, ETAG_V1);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(100)]),
    false,
    at(100),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.age(), 0);
  assert.equal(r.policy.maxAge(), 60);
  assert.deepEqual(r.headers, [["Cache-Control", "max-age=60"], ["ETag", '"v1"'], [
    "Date",
    httpDate(100),
  ]]);
});

Deno.test("refreshed: a Cache-Control the 304 adds sets the new lifetime", () => {
  const stored = store(request(), 200, [
    ["Date", httpDate(0)],
    ["Last-Modified", httpDate(-100000)],
    [
      "ETag",
      '"v1"',
    ],
  ]);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(20)], ["Cache-Control", "max-age=600"]),
    false,
    at(20),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.maxAge(), 600);
  assert.ok(r.headers.some(([n, v]) => n === "Cache-Control" && v === "max-age=600"));
});

Deno.test("refreshed: the 304's Cache-Control gets the same corrections as a stored response's", () => {
  const stored = store(request(), 200, [...ETAG_V1]);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Date", httpDate(10)], [
      "Cache-Control",
      "Max-Age=60, Proxy-Revalidate",
    ]),
    false,
    at(10),
  );
  assert.ok(r !== undefined);
  // Letter case does not matter, and proxy-revalidate does not zero the lifetime.
  assert.equal(r.policy.maxAge(), 60);
  assert.equal(r.policy.age(), 0);
});

Deno.test("refreshed: a 304 with its own Age starts at that age", () => {
  const stored = store(request(), 200, ETAG_V1);
  const r = refreshed(
    request(),
    stored,
    fields(["ETag", '"v1"'], ["Age", "30"], ["Date", httpDate(5)]),
    false,
    at(5),
  );
  assert.ok(r !== undefined);
  assert.equal(r.policy.age(), 30);
});

Deno.test("refreshed: with the client's own validators, only a 304 that selects the stored response applies", () => {
  const stored = store(request(), 200, ETAG_V1);
  const cases: [Lines, boolean][] = [
    [[["ETag", '"v1"']], true],
    [[["ETag", '"v2"']], false],
    [[["ETag", 'W/"v1"']], true],
    [[["ETag", 'W/"v2"']], false],
    [[], false],
  ];
  for (const [fresh, selected] of cases) {
    const r = refreshed(request(), stored, fields(...fresh), true, at(10));
    assert.equal(r !== undefined, selected, JSON.stringify(fresh));
  }
  // Without validators of the client's, any 304 answers hoard's own (a bare 304 included).
  assert.ok(refreshed(request(), stored, fields(), false, at(10)) !== undefined);
  // Last-Modified selects when there is no ETag.
  const lm = store(request(), 200, [["Cache-Control", "max-age=60"], [
    "Last-Modified",
    httpDate(-1000),
  ]]);
  assert.ok(
    refreshed(request(), lm, fields(["Last-Modified", httpDate(-1000)]), true, at(10)) !==
      undefined,
  );
  assert.equal(
    refreshed(request(), lm, fields(["Last-Modified", httpDate(-500)]), true, at(10)),
    undefined,
  );
});

Deno.test("refreshed: a stored must-understand, no-store response of an understood status is renewed", () => {
  for (const status of [200, 400]) {
    const res: Lines = [["ETag", '"v1"'], [CC, "must-understand, no-store, max-age=60"]];
    const stored = store(request(), status, res);
    const r = refreshed(request(), stored, fields(["ETag", '"v1"']), false, at(100));
    assert.ok(r !== undefined);
    assert.equal(r.policy.maxAge(), 60, String(status));
    assert.deepEqual(freshness(request(), { ...stored, policy: r.policy.toObject() }, at(130)), {
      kind: "hit",
      age: 30,
      ttl: 30,
    });
  }
});
