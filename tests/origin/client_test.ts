import assert from "node:assert/strict";
import { ProxyError } from "../../src/errors.ts";
import { FieldList } from "../../src/http1/fields.ts";
import type { ResponseHead } from "../../src/http1/parse_head.ts";
import type { BodyReader } from "../../src/io/body.ts";
import { type BufferedConn, UnexpectedEofError } from "../../src/io/buffered_conn.ts";
import { whenIdle } from "../../src/io/idle_work.ts";
import {
  type ExchangeTimeouts,
  OriginClient,
  type OriginRequest,
  type OriginResponse,
} from "../../src/origin/client.ts";
import type { Origin } from "../../src/origin/origin.ts";
import { OriginPool } from "../../src/origin/pool.ts";
import {
  type RawOrigin,
  startRawHttpOrigin,
  startRawOrigin,
  writeText,
} from "../_helpers/origin.ts";
import { bytes, ConnReader, delay, text, waitFor } from "../_helpers/sockets.ts";

/** A pool that counts the connections handed back to it. */
class SpyPool extends OriginPool {
  released = 0;
  override release(origin: Origin, io: BufferedConn): void {
    this.released++;
    super.release(origin, io);
  }
}

const TIMEOUTS: ExchangeTimeouts = {
  responseTimeoutMs: 5000,
  idleTimeoutMs: 5000,
  continueTimeoutMs: 5000,
};

/** A client over a fresh pool; close the pool when done. */
function setup(timeouts: Partial<ExchangeTimeouts> = {}) {
  const pool = new SpyPool({ connectTimeoutMs: 2000, maxIdlePerOrigin: 8, idleTimeoutMs: 10_000 });
  const client = new OriginClient(pool, { ...TIMEOUTS, ...timeouts });
  return { pool, client, [Symbol.dispose]: () => pool.close() };
}

/** A raw origin whose connections are scripted with a {@linkcode ConnReader} each. */
function scriptedOrigin(
  script: (conn: Deno.TcpConn, r: ConnReader, index: number) => Promise<void>,
): RawOrigin & { readers: ConnReader[] } {
  const readers: ConnReader[] = [];
  const raw = startRawOrigin((conn) => {
    const r = new ConnReader(conn);
    return script(conn, r, readers.push(r) - 1);
  });
  return Object.assign(raw, { readers });
}

function originOf(raw: RawOrigin): Origin {
  return { scheme: "http", host: "127.0.0.1", port: raw.port };
}

function hostOf(raw: RawOrigin): string {
  return `127.0.0.1:${raw.port}`;
}

function request(raw: RawOrigin, method = "GET", target = "/", extra: [string, string][] = []) {
  const fields = new FieldList();
  fields.add("Host", hostOf(raw));
  for (const [n, v] of extra) fields.add(n, v);
  return { origin: originOf(raw), method, target, fields } satisfies OriginRequest;
}

/** A request body yielding `parts`, calling `onPull` each time a piece is asked for. */
function bodyOf(parts: string[], onPull: () => void = () => {}): BodyReader {
  return (async function* () {
    for (const p of parts) {
      onPull();
      yield bytes(p);
    }
    return undefined;
  })();
}

async function readAll(res: OriginResponse): Promise<string> {
  let s = "";
  for (;;) {
    const step = await res.body.next();
    if (step.done) return s;
    s += text(step.value);
  }
}

function proxyError(status: number, type: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ProxyError, `expected a ProxyError, got ${err}`);
    assert.equal(err.status, status);
    assert.equal(err.type, type);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const HEAD_END = /\r\n\r\n/;
/** Matches once `n` complete request heads were received. */
const heads = (n: number) => new RegExp(`^(?:[^]*?\\r\\n\\r\\n){${n}}`);

Deno.test("client: a GET goes out byte for byte and its response is read", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello");
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(
    request(origin, "GET", "/path?q=1", [["Accept", "*/*"]]),
  );
  assert.equal(res.head.status, 200);
  assert.equal(res.head.reason, "OK");
  assert.equal(res.head.minor, 1);
  assert.deepEqual([...res.head.fields], [["Content-Length", "5"], ["X-Test", "yes"]]);
  assert.deepEqual(res.framing, { kind: "length", length: 5 });
  assert.equal(await readAll(res), "hello");
  assert.equal(res.finish(true), true);
  assert.equal(s.pool.released, 1);
  assert.equal(
    origin.readers[0]!.text,
    `GET /path?q=1 HTTP/1.1\r\nHost: ${hostOf(origin)}\r\nAccept: */*\r\n\r\n`,
  );
});

Deno.test("client: work put off until idle runs once the request is out, before the answer", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    for (let n = 1; n <= 2; n++) {
      await r.until(heads(n));
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    await r.toEnd();
  });
  using s = setup();
  // A kept connection first: the second request goes out at once.
  const first = await s.client.exchange(request(origin));
  assert.equal(await readAll(first), "ok");
  first.finish(true);
  let ran = false;
  whenIdle(() => ran = true);
  const res = await s.client.exchange(request(origin));
  // Without that moment the task would wait for its timer (MAX_DELAY_MS), after this answer.
  assert.equal(ran, true, "ran while the origin answered");
  assert.equal(await readAll(res), "ok");
  res.finish(true);
});

Deno.test("client: a response head split across writes", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    for (const piece of ["HTTP/1.1 2", "00 OK\r\nContent-Le", "ngth: 2\r\n\r", "\nok"]) {
      await writeText(conn, piece);
      await delay(20);
    }
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.equal(res.head.status, 200);
  assert.deepEqual([...res.head.fields], [["Content-Length", "2"]]);
  assert.equal(await readAll(res), "ok");
  assert.equal(res.finish(true), true);
});

Deno.test("client: a 103 goes to onInterim, an unasked 100 is dropped, then the final response", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 100 Continue\r\n\r\n");
    await writeText(conn, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
    await delay(20);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
    await r.toEnd();
  });
  using s = setup();
  const interims: [number, string, [string, string][]][] = [];
  const res = await s.client.exchange({
    ...request(origin),
    onInterim: (head: ResponseHead) => {
      interims.push([head.status, head.reason, [...head.fields]]);
      return Promise.resolve();
    },
  });
  assert.deepEqual(interims, [[103, "Early Hints", [["Link", "</a.css>; rel=preload"]]]]);
  assert.equal(res.head.status, 200);
  assert.equal(await readAll(res), "body");
  assert.equal(res.finish(true), true);
});

Deno.test("client: with Expect: 100-continue the body waits for the origin's 100", async () => {
  const events: string[] = [];
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    events.push("origin: head");
    // A client that did not wait would have sent the body by now.
    if (!r.text.endsWith("\r\n\r\n") || !(await r.silentFor(300))) {
      events.push("origin: body bytes before 100");
    }
    events.push("origin: sending 100");
    const sent = Date.now();
    await writeText(conn, "HTTP/1.1 100 Continue\r\n\r\n");
    await r.until(/\r\n\r\nhello$/);
    // Prompt: sent because of the 100, not because continueTimeoutMs (5 s) ran out.
    events.push(Date.now() - sent < 1000 ? "origin: body" : "origin: body, late");
    await writeText(conn, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    await r.toEnd();
  });
  using s = setup({ continueTimeoutMs: 5000 });
  const res = await s.client.exchange({
    ...request(origin, "POST", "/upload", [["Content-Length", "5"], ["Expect", "100-continue"]]),
    body: {
      framing: { kind: "length", length: 5 },
      reader: bodyOf(["hel", "lo"], () => events.push("client: body pulled")),
    },
    onContinue: () => {
      events.push("client: onContinue");
      return Promise.resolve();
    },
  });
  assert.equal(res.head.status, 201);
  assert.equal(await readAll(res), "ok");
  assert.equal(res.finish(true), true, "the whole body was sent");
  assert.deepEqual(events, [
    "origin: head",
    "origin: sending 100",
    "client: onContinue",
    "client: body pulled",
    "client: body pulled",
    "origin: body",
  ]);
  assert.equal(
    origin.readers[0]!.text,
    `POST /upload HTTP/1.1\r\nHost: ${hostOf(origin)}\r\nContent-Length: 5\r\n` +
      "Expect: 100-continue\r\n\r\nhello",
  );
});

Deno.test("client: with Expect and no 100, the body goes after continueTimeoutMs", async () => {
  let waited = -1;
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    const t0 = Date.now();
    await r.until(/\r\n\r\nhello$/);
    waited = Date.now() - t0;
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    await r.toEnd();
  });
  using s = setup({ continueTimeoutMs: 300 });
  let continued = 0;
  const res = await s.client.exchange({
    ...request(origin, "PUT", "/f", [["Content-Length", "5"], ["Expect", "100-continue"]]),
    body: { framing: { kind: "length", length: 5 }, reader: bodyOf(["hello"]) },
    onContinue: () => {
      continued++;
      return Promise.resolve();
    },
  });
  assert.equal(res.head.status, 200);
  assert.equal(await readAll(res), "");
  assert.equal(res.finish(true), true);
  assert.equal(continued, 1);
  assert.ok(waited >= 280, `the body came ${waited} ms after the head, before the timeout`);
  assert.ok(waited < 300 + 1000, `the body came only ${waited} ms after the head`);
});

Deno.test("client: a final response before 100 means the body is never sent", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nlogin!");
    await r.toEnd();
  });
  using s = setup({ continueTimeoutMs: 150 });
  let pulled = 0, continued = 0;
  const res = await s.client.exchange({
    ...request(origin, "POST", "/", [["Content-Length", "5"], ["Expect", "100-continue"]]),
    body: { framing: { kind: "length", length: 5 }, reader: bodyOf(["hello"], () => pulled++) },
    onContinue: () => {
      continued++;
      return Promise.resolve();
    },
  });
  assert.equal(res.head.status, 401);
  assert.equal(await readAll(res), "login!");
  await delay(300); // past continueTimeoutMs: the timer must have been cancelled
  assert.equal(res.finish(true), false, "finish reports the body as not sent");
  assert.equal(continued, 0);
  assert.equal(pulled, 0);
  assert.equal(s.pool.released, 0, "a connection with an unsent body is not reused");
  const r = origin.readers[0]!;
  await waitFor(() => r.eof, "the client to close the connection");
  assert.ok(r.text.endsWith("100-continue\r\n\r\n"), `origin received ${JSON.stringify(r.text)}`);
});

Deno.test("client: a GET on a reused connection the origin drops is retried once on a new one", async () => {
  await using origin = scriptedOrigin(async (conn, r, i) => {
    if (i === 0) {
      await r.until(heads(1));
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
      await r.until(heads(2));
      return; // closes as the second request arrives, without answering
    }
    await r.until(heads(1));
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
    await r.toEnd();
  });
  using s = setup();
  const first = await s.client.exchange(request(origin, "GET", "/one"));
  assert.equal(await readAll(first), "first");
  first.finish(true);
  assert.equal(s.pool.released, 1);
  const second = await s.client.exchange(request(origin, "GET", "/two"));
  assert.equal(second.head.status, 200);
  assert.equal(await readAll(second), "second");
  second.finish(true);
  assert.equal(origin.connections, 2);
  assert.match(origin.readers[0]!.text, /\r\n\r\nGET \/two HTTP\/1\.1\r\n/);
  assert.match(origin.readers[1]!.text, /^GET \/two HTTP\/1\.1\r\n/);
});

Deno.test("client: the retry happens once only", async () => {
  await using origin = scriptedOrigin(async (conn, r, i) => {
    if (i === 0) {
      await r.until(heads(1));
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      await r.until(heads(2));
      return;
    }
    await r.until(heads(1)); // the retry is dropped too
  });
  using s = setup();
  const first = await s.client.exchange(request(origin));
  await readAll(first);
  first.finish(true);
  await assert.rejects(
    s.client.exchange(request(origin)),
    proxyError(502, "connection_terminated", /closed the connection without answering/),
  );
  await delay(50);
  assert.equal(origin.connections, 2);
});

Deno.test("client: a GET on a new connection closed without an answer is not retried", async () => {
  await using origin = scriptedOrigin(async (_conn, r) => {
    await r.until(HEAD_END);
  });
  using s = setup();
  await assert.rejects(
    s.client.exchange(request(origin)),
    proxyError(502, "connection_terminated", /without answering/),
  );
  await delay(50);
  assert.equal(origin.connections, 1);
});

Deno.test("client: a POST with a body on a dropped reused connection is not retried", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(heads(1));
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    await r.until(/\r\n\r\nhello$/); // the POST and its body, then close unanswered
  });
  using s = setup();
  const first = await s.client.exchange(request(origin));
  await readAll(first);
  first.finish(true);
  await assert.rejects(
    s.client.exchange({
      ...request(origin, "POST", "/", [["Content-Length", "5"]]),
      body: { framing: { kind: "length", length: 5 }, reader: bodyOf(["hello"]) },
    }),
    proxyError(502, "connection_terminated"),
  );
  await delay(50);
  assert.equal(origin.connections, 1, "a request with a body must not be sent twice");
});

Deno.test("client: no response within responseTimeoutMs is 504", async () => {
  await using origin = scriptedOrigin(async (_conn, r) => {
    await r.until(HEAD_END);
    await r.toEnd();
  });
  using s = setup({ responseTimeoutMs: 200 });
  const t0 = Date.now();
  await assert.rejects(
    s.client.exchange(request(origin)),
    proxyError(504, "connection_read_timeout", /no response within 200 ms/),
  );
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 200 && elapsed < 200 + 100 + 500, `gave up after ${elapsed} ms`);
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: an origin stalling mid-body for idleTimeoutMs is 504 on the body", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    await r.toEnd();
  });
  using s = setup({ idleTimeoutMs: 200 });
  const res = await s.client.exchange(request(origin));
  assert.equal(res.head.status, 200);
  const first = await res.body.next();
  assert.equal(text(first.value as Uint8Array), "abc");
  const t0 = Date.now();
  await assert.rejects(
    res.body.next(),
    proxyError(504, "connection_read_timeout", /stalled for 200 ms in the body/),
  );
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 200 + 100 + 500, `gave up after ${elapsed} ms`);
  res.finish(false);
  assert.equal(s.pool.released, 0);
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: connection refused is 502 connection_refused", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  using s = setup();
  const fields = new FieldList();
  fields.add("Host", `127.0.0.1:${port}`);
  await assert.rejects(
    s.client.exchange({
      origin: { scheme: "http", host: "127.0.0.1", port },
      method: "GET",
      target: "/",
      fields,
    }),
    proxyError(502, "connection_refused", new RegExp(`127\\.0\\.0\\.1:${port}`)),
  );
});

Deno.test("client: a close-delimited body is read to EOF and its connection not pooled", async () => {
  await using origin = scriptedOrigin(async (conn, r, i) => {
    await r.until(HEAD_END);
    if (i === 0) {
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc");
      await delay(20);
      await writeText(conn, "def");
      return;
    }
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.deepEqual(res.framing, { kind: "close" });
  assert.equal(await readAll(res), "abcdef");
  assert.equal(res.finish(true), true);
  assert.equal(s.pool.released, 0);
  const next = await s.client.exchange(request(origin));
  assert.equal(await readAll(next), "ok");
  next.finish(true);
  assert.equal(origin.connections, 2);
});

Deno.test("client: a response with Connection: close is not pooled; the client closes it", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    await r.toEnd(); // the origin leaves the closing to the client
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.equal(await readAll(res), "ok");
  assert.equal(res.finish(true), true);
  assert.equal(s.pool.released, 0);
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: an HTTP/1.0 response without keep-alive is not pooled", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.equal(res.head.minor, 0);
  assert.equal(await readAll(res), "ok");
  res.finish(true);
  assert.equal(s.pool.released, 0);
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: a clean keep-alive response is pooled and its connection reused", async () => {
  await using origin = startRawHttpOrigin((_head, i) =>
    `HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n#${i}!`
  );
  using s = setup();
  for (const expected of ["#0!", "#1!", "#2!"]) {
    const res = await s.client.exchange(request(origin, "GET", `/${expected}`));
    assert.equal(await readAll(res), expected);
    assert.equal(res.finish(true), true);
  }
  assert.equal(s.pool.released, 3);
  assert.equal(origin.connections, 1, "three exchanges, one connection");
  assert.deepEqual(origin.heads.map((h) => h.split("\r\n")[0]), [
    "GET /#0! HTTP/1.1",
    "GET /#1! HTTP/1.1",
    "GET /#2! HTTP/1.1",
  ]);
});

Deno.test("client: a chunked response with trailers, then reuse", async () => {
  await using origin = startRawHttpOrigin(() =>
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
  );
  using s = setup();
  for (let i = 0; i < 2; i++) {
    const res = await s.client.exchange(request(origin));
    assert.deepEqual(res.framing, { kind: "chunked" });
    let body = "";
    let step;
    while (!(step = await res.body.next()).done) body += text(step.value);
    assert.equal(body, "abc");
    assert.deepEqual([...(step.value ?? [])], [["X-T", "1"]]);
    res.finish(true);
  }
  assert.equal(origin.connections, 1);
});

Deno.test("client: a HEAD response has no body even with Content-Length, and is pooled", async () => {
  await using origin = startRawHttpOrigin(() => "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  using s = setup();
  for (let i = 0; i < 2; i++) {
    const res = await s.client.exchange(request(origin, "HEAD"));
    assert.deepEqual(res.framing, { kind: "none" });
    assert.equal(await readAll(res), "");
    assert.equal(res.finish(true), true);
  }
  assert.equal(origin.connections, 1);
});

Deno.test("client: bytes after the body mean the connection is not reused", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK");
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.equal(await readAll(res), "ok");
  res.finish(true);
  await waitFor(() => origin.readers[0]!.eof, "the connection to be closed");
});

Deno.test("client: finish(false) closes the connection instead of pooling it", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
    await r.toEnd();
  });
  using s = setup();
  const res = await s.client.exchange(request(origin));
  assert.equal(res.finish(false), true);
  assert.equal(s.pool.released, 0);
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: a 101 response is 502 http_protocol_error", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(
      conn,
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    await r.toEnd();
  });
  using s = setup();
  await assert.rejects(
    s.client.exchange(request(origin)),
    proxyError(502, "http_protocol_error", /switched protocols/),
  );
  await waitFor(() => origin.readers[0]!.eof, "the client to close the connection");
});

Deno.test("client: a malformed response head is 502 http_protocol_error", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n");
    await r.toEnd();
  });
  using s = setup();
  await assert.rejects(s.client.exchange(request(origin)), proxyError(502, "http_protocol_error"));
});

Deno.test("client: a response cut off in its head is 502 http_response_incomplete", async () => {
  await using origin = scriptedOrigin(async (conn, r) => {
    await r.until(HEAD_END);
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Le");
  });
  using s = setup();
  await assert.rejects(
    s.client.exchange(request(origin)),
    proxyError(502, "http_response_incomplete"),
  );
});

/** A request body that yields `parts` with `pauseMs` before each: a slow uploader. */
function slowBody(parts: string[], pauseMs: number): BodyReader {
  return (async function* () {
    for (const p of parts) {
      await delay(pauseMs);
      yield bytes(p);
    }
    return undefined;
  })();
}

Deno.test({
  name: "client: a slow upload after 100 Continue is not cut by responseTimeoutMs",
  async fn() {
    await using origin = scriptedOrigin(async (conn, r) => {
      await r.until(HEAD_END);
      await writeText(conn, "HTTP/1.1 100 Continue\r\n\r\n");
      await r.until(/\r\n\r\nabcde$/);
      // The origin answers at once when the body is complete.
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      await r.toEnd();
    });
    using s = setup({ responseTimeoutMs: 300 });
    // The upload takes ~600 ms, twice the response timeout, but bytes flow all along.
    const res = await s.client.exchange({
      ...request(origin, "PUT", "/big", [["Content-Length", "5"], ["Expect", "100-continue"]]),
      body: { framing: { kind: "length", length: 5 }, reader: slowBody([..."abcde"], 120) },
      onContinue: () => Promise.resolve(),
    });
    assert.equal(res.head.status, 200);
    assert.equal(await readAll(res), "ok");
    assert.equal(res.finish(true), true);
  },
});

Deno.test({
  name: "client: a slow upload without Expect is not cut by responseTimeoutMs",
  async fn() {
    await using origin = scriptedOrigin(async (conn, r) => {
      await r.until(/\r\n\r\nabcde$/);
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      await r.toEnd();
    });
    using s = setup({ responseTimeoutMs: 300 });
    const res = await s.client.exchange({
      ...request(origin, "PUT", "/big", [["Content-Length", "5"]]),
      body: { framing: { kind: "length", length: 5 }, reader: slowBody([..."abcde"], 120) },
    });
    assert.equal(res.head.status, 200);
    assert.equal(await readAll(res), "ok");
    assert.equal(res.finish(true), true);
  },
});

Deno.test({
  name: "client: a consumer slower than idleTimeoutMs does not get an origin-stalled 504",
  async fn() {
    await using origin = scriptedOrigin(async (conn, r) => {
      await r.until(HEAD_END);
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc");
      await delay(30);
      await writeText(conn, "def"); // the origin sends everything promptly
      await r.toEnd();
    });
    using s = setup({ idleTimeoutMs: 200 });
    const res = await s.client.exchange(request(origin));
    const first = await res.body.next();
    assert.equal(text(first.value as Uint8Array), "abc");
    await delay(400); // e.g. writing the first piece to a slow client
    assert.equal(await readAll(res), "def");
    assert.equal(res.finish(true), true);
  },
});

Deno.test("client: a client body failing mid-upload is a 400 for the client, origin closed", async () => {
  await using origin = scriptedOrigin(async (_conn, r) => {
    await r.toEnd();
  });
  using s = setup();
  const reader = (async function* (): BodyReader {
    yield bytes("hel");
    throw new UnexpectedEofError("body");
  })();
  await assert.rejects(
    s.client.exchange({
      ...request(origin, "POST", "/", [["Content-Length", "5"]]),
      body: { framing: { kind: "length", length: 5 }, reader },
    }),
    proxyError(400, "http_request_error", /body/),
  );
  await waitFor(() => origin.readers[0]?.eof === true, "the origin connection to be closed");
  assert.match(origin.readers[0]!.text, /\r\n\r\nhel$/);
});

Deno.test({
  name: "client: onContinue failing (the client left) ends the exchange promptly",
  async fn() {
    await using origin = scriptedOrigin(async (conn, r) => {
      await r.until(HEAD_END);
      await writeText(conn, "HTTP/1.1 100 Continue\r\n\r\n");
      await r.toEnd(); // waits for a body that will not come
    });
    using s = setup({ responseTimeoutMs: 1500 });
    const t0 = Date.now();
    const err = await s.client.exchange({
      ...request(origin, "POST", "/", [["Content-Length", "5"], ["Expect", "100-continue"]]),
      body: { framing: { kind: "length", length: 5 }, reader: bodyOf(["hello"]) },
      onContinue: () => Promise.reject(new Deno.errors.BrokenPipe("client went away")),
    }).then(() => undefined, (e) => e);
    const elapsed = Date.now() - t0;
    assert.ok(err instanceof ProxyError, `expected a ProxyError, got ${err}`);
    assert.notEqual(err.type, "connection_read_timeout", "the origin is not to blame");
    assert.ok(elapsed < 500, `took ${elapsed} ms`);
    await waitFor(() => origin.readers[0]!.eof, "the origin connection to be closed");
  },
});

Deno.test({
  name: "client: the retry goes to a new connection, not another pooled one",
  async fn() {
    await using origin = scriptedOrigin(async (conn, r) => {
      await r.until(heads(1));
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      // A second request on a connection finds it closed (stands in for a close
      // that crossed the request on the wire); a fresh connection answers it.
      await r.until(heads(2));
    });
    using s = setup();
    // Two concurrent exchanges: two connections, both pooled afterwards.
    const [a, b] = await Promise.all([
      s.client.exchange(request(origin)),
      s.client.exchange(request(origin)),
    ]);
    for (const res of [a, b]) {
      assert.equal(await readAll(res), "ok");
      res.finish(true);
    }
    assert.equal(s.pool.released, 2);
    const res = await s.client.exchange(request(origin, "GET", "/third"));
    assert.equal(res.head.status, 200);
    assert.equal(await readAll(res), "ok");
    res.finish(true);
    assert.equal(origin.connections, 3);
  },
});
