import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

Deno.test("curl -x: GET through hoard reaches the origin once and returns its bytes", async () => {
  await using origin = startOrigin(() =>
    new Response("hello from origin", { headers: { "x-origin": "yes" } })
  );
  await using proxy = await startTestProxy();
  const r = await curl(["-x", proxy.url, `${origin.url}/greeting?x=1`]);
  assert.equal(r.code, 0);
  assert.equal(r.status, 200);
  assert.equal(r.text, "hello from origin");
  assert.equal(r.headers["x-origin"], "yes");
  assert.equal(r.headers["via"], "1.1 hoard");
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.path, "/greeting?x=1");
});
