import assert from "node:assert/strict";
import {
  newPolicy,
  type PolicyObject,
  restorePolicy,
  type SemanticsRequest,
  type SemanticsResponse,
} from "../../../src/cache/policy/semantics.ts";
import { at, httpDate, KEY, T0 } from "./_helpers.ts";

const REQ: SemanticsRequest = { method: "GET", url: KEY, headers: { host: "example.com" } };

function response(headers: Record<string, string>, status = 200): SemanticsResponse {
  return { status, headers };
}

// --- the clock ---------------------------------------------------------------

Deno.test("newPolicy: age at the time of receipt is the upstream Age", () => {
  assert.equal(newPolicy(REQ, response({ "cache-control": "max-age=60" }), T0).age(), 0);
  assert.equal(
    newPolicy(REQ, response({ "cache-control": "max-age=60", age: "7" }), T0).age(),
    7,
  );
});

Deno.test("restorePolicy: age() is N + Age, N seconds after receipt", () => {
  const obj = newPolicy(REQ, response({ "cache-control": "max-age=60", age: "7" }), T0).toObject();
  for (const n of [0, 1, 30, 59, 3600, 86400 * 365]) {
    assert.equal(restorePolicy(obj, at(n)).age(), n + 7, `N = ${n}`);
  }
  // Milliseconds count too.
  assert.equal(restorePolicy(obj, T0 + 1500).age(), 8.5);
});

Deno.test("restorePolicy: the clock is the one passed in, not the wall clock", () => {
  // Received in 2001 and asked about a minute later: the age is a minute.
  const t = Date.UTC(2001, 0, 1);
  const obj = newPolicy(REQ, response({ "cache-control": "max-age=600" }), t).toObject();
  assert.equal(obj["t"], t);
  assert.equal(restorePolicy(obj, t + 60_000).age(), 60);
  assert.equal(restorePolicy(obj, t + 60_000).maxAge(), 600);
});

Deno.test("restorePolicy: two policies asked about at different times do not share a clock", () => {
  const obj = newPolicy(REQ, response({ "cache-control": "max-age=60" }), T0).toObject();
  const early = restorePolicy(obj, at(10));
  const late = restorePolicy(obj, at(50));
  assert.equal(early.age(), 10);
  assert.equal(late.age(), 50);
  assert.equal(early.age(), 10);
});

Deno.test("newPolicy: a policy keeps its own clock when another one is made later", () => {
  const first = newPolicy(REQ, response({ "cache-control": "max-age=60", age: "2" }), T0);
  const second = newPolicy(REQ, response({ "cache-control": "max-age=60" }), at(45));
  assert.equal(first.age(), 2);
  assert.equal(second.age(), 0);
  assert.equal(first.toObject()["t"], T0);
  assert.equal(second.toObject()["t"], at(45));
});

Deno.test("newPolicy: Expires is read against Date, heuristics against Last-Modified", () => {
  const expires = newPolicy(
    REQ,
    response({ date: httpDate(0), expires: httpDate(300) }),
    T0,
  );
  assert.equal(expires.maxAge(), 300);
  const heuristic = newPolicy(
    REQ,
    response({ date: httpDate(0), "last-modified": httpDate(-5000) }),
    T0,
  );
  assert.equal(heuristic.maxAge(), 500);
});

Deno.test("newPolicy: the policy is for a shared cache", () => {
  const p = newPolicy(REQ, response({ "cache-control": "max-age=10, s-maxage=99" }), T0);
  assert.equal(p.maxAge(), 99);
  assert.equal(p.toObject()["sh"], true);
  assert.equal(
    newPolicy(REQ, response({ "cache-control": "private, max-age=10" }), T0).storable(),
    false,
  );
});

// --- toObject / restore round trip -------------------------------------------------

Deno.test("toObject/restorePolicy: a round trip through JSON keeps every answer", () => {
  const res = response({
    "cache-control": "max-age=120",
    age: "3",
    etag: '"v1"',
    "last-modified": httpDate(-1000),
    vary: "accept",
  });
  const req: SemanticsRequest = { ...REQ, headers: { ...REQ.headers, accept: "text/html" } };
  const p = newPolicy(req, res, T0);
  const obj = p.toObject();
  const copy = JSON.parse(JSON.stringify(obj)) as PolicyObject;
  assert.deepEqual(copy, obj);
  const back = restorePolicy(copy, T0);
  assert.deepEqual(back.toObject(), obj);
  assert.equal(back.storable(), true);
  assert.equal(back.maxAge(), 120);
  assert.equal(back.age(), 3);
  assert.equal(restorePolicy(copy, at(17)).age(), 20);
  assert.deepEqual(back.revalidationHeaders(req), {
    host: "example.com",
    accept: "text/html",
    "if-none-match": '"v1"',
    "if-modified-since": httpDate(-1000),
  });
});

Deno.test("toObject: holds the receipt time, status, method, URL and response headers", () => {
  const obj = newPolicy(REQ, response({ "cache-control": "max-age=5" }, 203), T0).toObject();
  assert.equal(obj["v"], 1);
  assert.equal(obj["t"], T0);
  assert.equal(obj["st"], 203);
  assert.equal(obj["m"], "GET");
  assert.equal(obj["u"], KEY);
  assert.deepEqual(obj["resh"], { "cache-control": "max-age=5" });
});

Deno.test("restorePolicy: refuses what is not a serialised policy", () => {
  assert.throws(() => restorePolicy({}, T0), /Invalid serialization/);
  assert.throws(() => restorePolicy({ v: 2 }, T0), /Invalid serialization/);
});
