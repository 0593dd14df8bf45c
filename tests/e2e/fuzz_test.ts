/**
 * Fuzzing a live hoard over raw sockets: well-formed, pipelined, chunked,
 * CONNECT and mutated requests, and garbage. Each input is sent on a fresh
 * connection, which is then half-closed; whatever hoard sends back must be a
 * sequence of well-formed HTTP/1.1 responses (or nothing: a close).
 *
 * A model built from the pure codec (the functions hoard parses with) says
 * what each input is: where each request ends, which are refused and with
 * what status, which hoard answers itself, which reach the origin, and after
 * which the connection must close. hoard must agree: the status of every
 * refusal, its own pages, no more responses than requests, no more origin
 * requests than the model forwards (nothing smuggled), nothing after a
 * response that ended the connection.
 *
 * Afterwards hoard must still serve and cache normal requests, its
 * open-connections gauge must be back at the baseline, and it must have
 * logged no internal error. The generators, the model and the checks are
 * shared with the long run, `scripts/fuzz.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { startOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { bytes as latin1, text } from "../_helpers/sockets.ts";
import {
  checkLiveInput,
  checkLiveResponses,
  checkStillServes,
  exchange,
  FUZZ_SEED,
  internalErrors,
  liveInputs,
  type LivePorts,
  liveProxyOptions,
  modelOf,
  openConnections,
  settleConnections,
  startFuzzOrigin,
} from "../../scripts/fuzz.ts";

Deno.test("fuzz (live): 300 inputs get well-formed answers or a close, as the codec predicts", async () => {
  await using origin = startFuzzOrigin();
  await using proxy = await startTestProxy({ ...liveProxyOptions(origin.port) });
  const p: LivePorts = { proxy: proxy.port, origin: origin.port };
  const baseline = await openConnections(p.proxy);
  assert.equal(baseline, 1, "only the metrics request's own connection");
  const kinds = new Map<string, number>();
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(liveInputs(p), async (input) => {
      const out = await checkLiveInput(p, origin, input);
      for (const k of out.model.kinds) kinds.set(k, (kinds.get(k) ?? 0) + 1);
      for (const s of out.statuses) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }),
    { seed: FUZZ_SEED, numRuns: 300, endOnFailure: true },
  );
  // The inputs must have reached every part of the model, or the checks above say little.
  for (const k of ["forwarded", "refused 400", "local 200", "connect", "denied", "incomplete"]) {
    assert.ok(
      (kinds.get(k) ?? 0) >= 3,
      `"${k}" only ${kinds.get(k) ?? 0} times: ${JSON.stringify([...kinds])}`,
    );
  }
  assert.ok((statuses.get(200) ?? 0) >= 100, JSON.stringify([...statuses]));
  assert.ok(origin.requests >= 50, `${origin.requests} origin requests`);

  assert.equal(await settleConnections(p.proxy, baseline), baseline, "connections left open");
  await checkStillServes(proxy.url, origin);
  assert.deepEqual(internalErrors(proxy.logs), []);
});

Deno.test({
  name: "fuzz (live): a body sent to hoard's own pages is never read as a request",
  async fn() {
    await using origin = startFuzzOrigin();
    await using proxy = await startTestProxy({ ...liveProxyOptions(origin.port) });
    const p: LivePorts = { proxy: proxy.port, origin: origin.port };
    const bodies = fc.tuple(
      fc.constantFrom("/_hoard/health", "/healthz", "/_hoard/metrics", "/"),
      fc.constantFrom(
        `GET /_hoard/metrics HTTP/1.1\r\nHost: y\r\n\r\n`,
        `GET http://127.0.0.1:${origin.port}/smuggled HTTP/1.1\r\nHost: y\r\n\r\n`,
      ),
      fc.boolean(),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async ([page, inner, chunked]) => {
        const framing = chunked
          ? `Transfer-Encoding: chunked\r\n\r\n${
            inner.length.toString(16)
          }\r\n${inner}\r\n0\r\n\r\n`
          : `Content-Length: ${inner.length}\r\n\r\n${inner}`;
        const input = latin1(`GET ${page} HTTP/1.1\r\nHost: x\r\n${framing}`);
        const before = origin.requests;
        const received = text(await exchange(p.proxy, input));
        assert.equal(received.match(/^HTTP\/1\.1 \d{3}/gm)?.length, 1, received);
        assert.equal(
          origin.requests,
          before,
          "a request smuggled in a body reached the origin",
        );
      }),
      { seed: FUZZ_SEED, numRuns: 8 },
    );
  },
});

Deno.test({
  name: "fuzz (live): a HEAD collapsed onto a GET's revalidation gets no body",
  async fn() {
    let n = 0;
    await using origin = startOrigin(async () => {
      n++;
      await new Promise((r) => setTimeout(r, 300));
      // Stored, but stale at once: every later request revalidates.
      return new Response(`body-${n}`, { headers: { "cache-control": "max-age=0" } });
    });
    await using proxy = await startTestProxy();
    const o = `127.0.0.1:${origin.port}`;
    const ask = (method: string, then = "") =>
      exchange(proxy.port, latin1(`${method} http://${o}/x HTTP/1.1\r\nHost: ${o}\r\n\r\n${then}`));
    const close =
      `GET http://${o}/healthz-after HTTP/1.1\r\nHost: ${o}\r\nConnection: close\r\n\r\n`;
    await ask("GET", close);
    const [, head] = await Promise.all([
      ask("GET", close),
      new Promise((r) => setTimeout(r, 50)).then(() => ask("HEAD", close)),
    ]);
    const responses = text(head).split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.equal(responses.length, 2, text(head));
    assert.match(responses[0]!, /collapsed/, "the HEAD followed the GET's fill");
    assert.match(responses[0]!, /\r\n\r\n$/, `a body after the HEAD response: ${text(head)}`);
  },
});

Deno.test("fuzz (live): the model and checker catch a hoard that answers wrongly", () => {
  // The checks above must be able to fail: fed made-up answers, they do.
  const p: LivePorts = { proxy: 1111, origin: 2222 };
  const refused = latin1("GET http://127.0.0.1:2222/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  const model = modelOf(refused, p);
  assert.deepEqual(model.expects.map((e) => [e.status, e.after]), [[400, "close"]]);
  const ok400 = latin1(
    'HTTP/1.1 400 Bad Request\r\nProxy-Status: hoard; error=http_request_error; details="x"\r\nContent-Length: 20\r\nConnection: close\r\n\r\n400 Bad Request: x\r\n',
  );
  assert.throws(() => checkLiveResponses(refused, ok400, model), /not one line/);
  const good = latin1(
    'HTTP/1.1 400 Bad Request\r\nProxy-Status: hoard; error=http_request_error; details="x"\r\nContent-Length: 19\r\nConnection: close\r\n\r\n400 Bad Request: x\n',
  );
  assert.deepEqual(checkLiveResponses(refused, good, model).statuses, [400]);
  assert.doesNotThrow(() => checkLiveResponses(refused, new Uint8Array(0), model));
  assert.throws(
    () => checkLiveResponses(refused, latin1(text(good).replace("400", "200")), model),
    /status 200/,
  );
  assert.throws(
    () => checkLiveResponses(refused, latin1(text(good) + text(good)), model),
    /after a response/,
  );

  const two = latin1(
    "GET /_hoard/health HTTP/1.1\r\nHost: a\r\n\r\nGET /_hoard/health HTTP/1.1\r\nHost: a\r\n\r\n",
  );
  const m2 = modelOf(two, p);
  assert.deepEqual(m2.expects.map((e) => [e.status, e.after]), [[200, "next"], [200, "next"]]);
  const health = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  assert.deepEqual(checkLiveResponses(two, latin1(health + health), m2).statuses, [200, 200]);
  assert.throws(() => checkLiveResponses(two, latin1(health), m2), /only 1 responses/);
  assert.throws(() => checkLiveResponses(two, latin1(health + health + health), m2), /3 responses/);
  assert.throws(
    () => checkLiveResponses(two, latin1(health + health.slice(0, -1)), m2),
    /cut short/,
  );
  assert.throws(
    () =>
      checkLiveResponses(two, latin1(health + "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), m2),
    /bare LF/,
  );
  assert.throws(
    () =>
      checkLiveResponses(
        two,
        latin1(
          health + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        m2,
      ),
    /ambiguous/,
  );
  // A smuggled request: the origin saw more than was forwarded.
  assert.equal(
    modelOf(
      latin1("POST http://127.0.0.1:2222/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
      p,
    ).forwarded,
    1,
  );
});
