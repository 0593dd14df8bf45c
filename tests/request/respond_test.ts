/**
 * The responding pieces (src/request/respond.ts) without sockets: the
 * connection fields that match how the client connection goes on, the text
 * responses hoard writes itself, and how a failure is told to the client.
 */

import assert from "node:assert/strict";
import { ProxyError } from "../../src/errors.ts";
import { FieldList } from "../../src/http1/fields.ts";
import { reasonPhrase, sendError, sendText, startResponse } from "../../src/request/respond.ts";
import { exchange, MemoryClient, response } from "./_memory_client.ts";

/** Starts and ends a response of `status` with `framing` on a fresh exchange. */
async function started(
  framing: Parameters<typeof startResponse>[4],
  { keepAlive = true, minor = 1 as 0 | 1, fields = new FieldList() } = {},
) {
  const client = new MemoryClient();
  const ex = exchange(client, { minor });
  ex.keepAlive = keepAlive;
  const sink = startResponse(ex, 200, "OK", fields, framing);
  assert.equal(ex.headSent, true);
  await sink.end();
  return { ex, ...response(client.text()) };
}

Deno.test("startResponse: keep-alive stays implicit on HTTP/1.1 and is said on HTTP/1.0", async () => {
  const v11 = await started({ kind: "length", length: 0 });
  assert.equal(v11.fields.get("connection"), undefined);
  assert.equal(v11.ex.keepAlive, true);
  const v10 = await started({ kind: "length", length: 0 }, { minor: 0 });
  assert.equal(v10.fields.get("connection"), "keep-alive");
});

Deno.test("startResponse: a connection that will end says close; a body framed by the close ends it", async () => {
  const ending = await started({ kind: "length", length: 0 }, { keepAlive: false });
  assert.equal(ending.fields.get("connection"), "close");
  const untilClose = await started({ kind: "close" });
  assert.equal(untilClose.ex.keepAlive, false);
  assert.equal(untilClose.fields.get("connection"), "close");
});

Deno.test("startResponse: chunked framing is announced; status and Cache-Status go to the log record", async () => {
  const fields = new FieldList();
  fields.add("Cache-Status", "hoard; hit; ttl=5");
  const { ex, status, fields: sent, body } = await started({ kind: "chunked" }, { fields });
  assert.equal(status, "HTTP/1.1 200 OK");
  assert.equal(sent.get("transfer-encoding"), "chunked");
  assert.equal(body, "0\r\n\r\n");
  assert.equal(ex.record.status, 200);
  assert.equal(ex.record.cacheStatus, "hoard; hit; ttl=5");
});

Deno.test("sendText: a complete short response, never stored; extra fields replace the defaults", async () => {
  const client = new MemoryClient();
  const ex = exchange(client);
  await sendText(ex, 503, "later\n", [["Content-Type", "text/html"], ["Retry-After", "5"]]);
  const { status, fields, body } = response(client.text());
  assert.equal(status, "HTTP/1.1 503 Service Unavailable");
  assert.equal(fields.get("content-type"), "text/html");
  assert.equal(fields.get("retry-after"), "5");
  assert.equal(fields.get("cache-control"), "no-store");
  assert.equal(fields.get("content-length"), "6");
  assert.equal(body, "later\n");
  assert.deepEqual([ex.record.status, ex.record.bytes], [503, 6]);
});

Deno.test("sendText: HEAD gets the length of the body it does not get", async () => {
  const client = new MemoryClient();
  const ex = exchange(client, { method: "HEAD" });
  await sendText(ex, 200, "ok\n");
  const { fields, body } = response(client.text());
  assert.equal(fields.get("content-length"), "3");
  assert.equal(body, "");
  assert.equal(ex.record.bytes, 0);
});

Deno.test("sendError: status, Proxy-Status with the detail as a quoted-string, one-line body, logged", async () => {
  const client = new MemoryClient();
  const ex = exchange(client);
  const err = new ProxyError(502, "connection_refused", 'origin "a"\\b said no\x01\nat line 2', {
    fields: [["Retry-After", "1"]],
  });
  await sendError(ex, err);
  const { status, fields, body } = response(client.text());
  assert.equal(status, "HTTP/1.1 502 Bad Gateway");
  assert.equal(
    fields.get("proxy-status"),
    'hoard; error=connection_refused; details="origin \\"a\\"\\\\b said no"',
  );
  assert.equal(fields.get("retry-after"), "1");
  assert.equal(body, '502 Bad Gateway: origin "a"\\b said no\x01\n');
  assert.deepEqual([ex.record.error, ex.record.detail], [
    "connection_refused",
    'origin "a"\\b said no\x01',
  ]);
});

Deno.test("reasonPhrase: the standard phrase, or Unknown", () => {
  assert.equal(reasonPhrase(404), "Not Found");
  assert.equal(reasonPhrase(299), "Unknown");
});
