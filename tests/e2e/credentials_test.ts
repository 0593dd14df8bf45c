/**
 * Responses stored although their request carried Authorization (image blobs
 * and manifests), and who else gets them: with the default single tenancy,
 * every client of the hoard; with `tenancy: "shared"`, a client only once the
 * origin accepted its own credentials (src/request/check.ts) — never one without
 * credentials, never from a stale entry while the origin fails, and never
 * through another client's collapsed request.
 *
 * The origin is a small registry of our own: a real one (with the real
 * clients) is in tests/e2e/clients/oci_test.ts; this one can answer 404 to a
 * user without access, fail on demand, and hold a response back.
 */

import assert from "node:assert/strict";
import { gate, get, pseudoRandom, sha256 } from "../_helpers/cache_origin.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { loggedRequests } from "../_helpers/package_managers.ts";
import { waitFor } from "../_helpers/sockets.ts";

const BLOB = pseudoRandom(64 * 1024, 0xb10b);
const DIGEST = `sha256:${sha256(BLOB)}`;
const PATH = `/v2/team/app/blobs/${DIGEST}`;
const ETAG = `"${DIGEST}"`;

/** Users with access to team/app; `outsider` is known but has none (the registry says 404). */
const USERS: Record<string, string> = { alice: "a1", bob: "b2", outsider: "o3" };
const basic = (user: string, password = USERS[user]!) => `${user}:${password}`;

interface Registry {
  url: string;
  /** Method, Authorization user (or "-"), whether conditional, status: one per request. */
  seen: string[];
  /** The next answers are 503 while set. */
  failing: boolean;
  /** When set, a 200 waits for it. */
  hold?: Promise<void>;
  /** Requests that arrived so far (answered or not). */
  arrived(): number;
  [Symbol.asyncDispose](): Promise<void>;
}

function startRegistry(): Registry {
  const r: Registry = {
    url: "",
    seen: [],
    failing: false,
    arrived: () => 0,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const origin = startOrigin(async (req) => {
    const auth = req.headers.get("authorization");
    const [user, password] = auth?.startsWith("Basic ")
      ? atob(auth.slice(6)).split(":")
      : ["-", ""];
    const conditional = req.headers.get("if-none-match") === ETAG;
    const answer = async (): Promise<Response> => {
      if (r.failing) return new Response("down", { status: 503 });
      if (USERS[user!] === undefined || USERS[user!] !== password) {
        return Response.json({ errors: [{ code: "UNAUTHORIZED" }] }, {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="test"' },
        });
      }
      if (user === "outsider") {
        return Response.json({ errors: [{ code: "BLOB_UNKNOWN" }] }, { status: 404 });
      }
      // As docker-registry answers: max-age but not public, the digest as ETag.
      const headers = { "cache-control": "max-age=31536000", etag: ETAG };
      if (conditional) return new Response(null, { status: 304, headers });
      await r.hold;
      return new Response(BLOB, { headers });
    };
    const res = await answer();
    r.seen.push(`${req.method} ${user} ${conditional ? "conditional" : "plain"} ${res.status}`);
    return res;
  });
  r.url = origin.url;
  r.arrived = () => origin.requests.length;
  r[Symbol.asyncDispose] = origin[Symbol.asyncDispose];
  return r;
}

Deno.test("tenancy single (default): a blob stored for one client's credentials is served to every client", async () => {
  await using registry = startRegistry();
  await using proxy = await startTestProxy();
  const first = await get(proxy, registry.url + PATH, "-u", basic("alice"));
  assert.equal(first.status, 200);
  for (const args of [["-u", basic("bob")], ["-u", "mallory:x"], []]) {
    const r = await get(proxy, registry.url + PATH, ...args);
    assert.equal(r.status, 200, args.join(" "));
    assert.match(r.headers["cache-status"] ?? "", /^hoard; hit/);
    assert.equal(sha256(r.body), sha256(BLOB));
  }
  assert.deepEqual(registry.seen, ["GET alice plain 200"]);
});

Deno.test("tenancy shared: each client's own credentials are checked with a conditional request", async () => {
  await using registry = startRegistry();
  await using proxy = await startTestProxy({ tenancy: "shared", logFormat: "json" });
  const url = registry.url + PATH;
  assert.equal((await get(proxy, url, "-u", basic("alice"))).status, 200);

  // Bob is accepted: a 304 from the registry, the bytes from hoard.
  const bob = await get(proxy, url, "-u", basic("bob"));
  assert.equal(bob.status, 200);
  assert.equal(
    bob.headers["cache-status"],
    "hoard; fwd=request; fwd-status=304; detail=credentials",
  );
  assert.equal(sha256(bob.body), sha256(BLOB));

  // Wrong password, no credentials, or no access: the registry's answer, no blob byte.
  const wrong = await get(proxy, url, "-u", "bob:guess");
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /UNAUTHORIZED/);
  const anonymous = await get(proxy, url);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers["cache-status"], "hoard; fwd=bypass; detail=credentials");
  const outsider = await get(proxy, url, "-u", basic("outsider"));
  assert.equal(outsider.status, 404);
  assert.match(outsider.text, /BLOB_UNKNOWN/);

  // None of those answers replaced the stored blob: alice is still served from it.
  const again = await get(proxy, url, "-u", basic("alice"));
  assert.equal(
    again.headers["cache-status"],
    "hoard; fwd=request; fwd-status=304; detail=credentials",
  );
  assert.equal(sha256(again.body), sha256(BLOB));

  assert.deepEqual(registry.seen, [
    "GET alice plain 200",
    "GET bob conditional 304",
    "GET bob conditional 401",
    "GET - plain 401",
    "GET outsider conditional 404",
    "GET alice conditional 304",
  ]);
  const lines = loggedRequests(proxy.logs);
  assert.deepEqual(lines.map((l) => l.route), ["miss", "check", "check", "pass", "check", "check"]);
});

Deno.test("tenancy shared: no stale-if-error for a blob stored for credentials", async () => {
  await using registry = startRegistry();
  await using proxy = await startTestProxy({ tenancy: "shared" });
  const url = registry.url + PATH;
  assert.equal((await get(proxy, url, "-u", basic("alice"))).status, 200);
  registry.failing = true;
  // The registry cannot say whether alice may have it: its 503 is the answer.
  const down = await get(proxy, url, "-u", basic("alice"));
  assert.equal(down.status, 503);
  assert.equal(down.text, "down");
  registry.failing = false;
  assert.equal((await get(proxy, url, "-u", basic("alice"))).status, 200);
});

Deno.test("tenancy shared: requests collapse onto one origin request only with the same credentials", async () => {
  await using registry = startRegistry();
  await using proxy = await startTestProxy({ tenancy: "shared" });
  const url = registry.url + PATH;
  const held = gate();
  registry.hold = held.opened;
  // Alice's miss is held at the origin; meanwhile a second alice, a wrong password and
  // nobody at all ask for the same blob.
  const aliceFirst = get(proxy, url, "-u", basic("alice"));
  await waitFor(() => registry.arrived() === 1, "alice's request at the registry", 10_000);
  const aliceSecond = get(proxy, url, "-u", basic("alice"));
  const wrong = get(proxy, url, "-u", "alice:guess");
  const anonymous = get(proxy, url);
  // Those two answered by the registry on their own, while alice's is still held.
  assert.equal((await wrong).status, 401);
  assert.equal((await anonymous).status, 401);
  held.open();
  for (const r of [await aliceFirst, await aliceSecond]) {
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), sha256(BLOB));
  }
  // Alice's two requests were one at the origin; the others went on their own. (On a
  // loaded machine the second alice's curl may start only once the first is answered:
  // then it is checked with her credentials, a conditional request, instead.)
  const seen = registry.seen.toSorted().filter((s) => s !== "GET alice conditional 304");
  assert.deepEqual(seen, ["GET - plain 401", "GET alice plain 200", "GET alice plain 401"]);
});

Deno.test("tenancy shared: a blob stored from a signed URL is served only to a URL the store accepts", async () => {
  // An object store: the path names the blob, the query is a signature it checks.
  const valid = new Set(["good1", "good2"]);
  const seen: string[] = [];
  await using store = startOrigin((req) => {
    const sig = new URL(req.url).searchParams.get("sig") ?? "";
    const conditional = req.headers.get("if-none-match") === ETAG;
    const status = !valid.has(sig) ? 403 : conditional ? 304 : 200;
    seen.push(`${sig} ${conditional ? "conditional" : "plain"} ${status}`);
    if (status === 403) return new Response("SignatureDoesNotMatch", { status });
    return new Response(status === 304 ? null : BLOB, { status, headers: { etag: ETAG } });
  });
  const path = `/docker/registry/v2/blobs/sha256/${DIGEST.slice(7, 9)}/${DIGEST.slice(7)}/data`;
  for (const tenancy of ["single", "shared"] as const) {
    await using proxy = await startTestProxy({ tenancy });
    seen.length = 0;
    assert.equal((await get(proxy, `${store.url}${path}?sig=good1`)).status, 200);
    const forged = await get(proxy, `${store.url}${path}?sig=forged`);
    const other = await get(proxy, `${store.url}${path}?sig=good2`);
    assert.equal(sha256(other.body), sha256(BLOB));
    if (tenancy === "single") {
      // Anyone who knows the path gets it: the signature is not part of the key.
      assert.equal(forged.status, 200);
      assert.deepEqual(seen, ["good1 plain 200"]);
    } else {
      assert.equal(forged.status, 403);
      assert.equal(forged.text, "SignatureDoesNotMatch");
      assert.deepEqual(seen, [
        "good1 plain 200",
        "forged conditional 403",
        "good2 conditional 304",
      ]);
    }
  }
});
