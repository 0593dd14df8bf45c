import assert from "node:assert/strict";
import type { Origin } from "../../src/origin/origin.ts";
import { OriginPool, type PoolOptions } from "../../src/origin/pool.ts";
import { startRawOrigin, writeText } from "../_helpers/origin.ts";
import { delay, spyIntervals, text, waitFor } from "../_helpers/sockets.ts";

/**
 * A raw origin that holds every connection open until the client closes it
 * (counted in `closedByClient`), or until the test calls `hangUp(i)`, or that
 * sends `greeting` first when given.
 */
function holdingOrigin(greeting?: string) {
  let closedByClient = 0;
  const hangUps: (() => void)[] = [];
  const raw = startRawOrigin(async (conn, readUntil) => {
    const { promise, resolve } = Promise.withResolvers<"hangup">();
    hangUps.push(() => resolve("hangup"));
    if (greeting !== undefined) await writeText(conn, greeting);
    const eof = readUntil(/(?!)/).then(() => "eof" as const); // returns at EOF only
    if ((await Promise.race([eof, promise])) === "eof") closedByClient++;
  });
  return {
    port: raw.port,
    get connections() {
      return raw.connections;
    },
    get closedByClient() {
      return closedByClient;
    },
    /** Makes the origin close its `i`-th connection (0-based). */
    hangUp(i: number) {
      hangUps[i]!();
    },
    [Symbol.asyncDispose]: () => raw.close(),
  };
}

function originOf(raw: { port: number }): Origin {
  return { scheme: "http", host: "127.0.0.1", port: raw.port };
}

const OPTIONS: PoolOptions = { connectTimeoutMs: 2000, maxIdlePerOrigin: 4, idleTimeoutMs: 10_000 };

Deno.test("pool: acquire opens a new connection", async () => {
  await using origin = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  try {
    const lease = await pool.acquire(originOf(origin));
    assert.equal(lease.reused, false);
    assert.equal(lease.io.closed, false);
    await waitFor(() => origin.connections === 1, "the origin to accept");
    lease.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: release then acquire reuses the same connection", async () => {
  using spy = spyIntervals();
  await using origin = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  try {
    const first = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), first.io);
    assert.equal(first.io.closed, false, "a released connection stays open");
    const second = await pool.acquire(originOf(origin));
    assert.equal(second.reused, true);
    assert.equal(second.io, first.io);
    pool.release(originOf(origin), second.io);
    const third = await pool.acquire(originOf(origin));
    assert.equal(third.io, first.io);
    await delay(50);
    assert.equal(origin.connections, 1, "the origin saw one connection");
    third.io.close();
  } finally {
    pool.close();
  }
  assert.equal(spy.running, 0, "the sweeper stops on close()");
});

Deno.test("pool: origins are pooled separately", async () => {
  await using a = holdingOrigin();
  await using b = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  try {
    const la = await pool.acquire(originOf(a));
    pool.release(originOf(a), la.io);
    const lb = await pool.acquire(originOf(b));
    assert.equal(lb.reused, false, "b gets its own connection, not a's");
    assert.notEqual(lb.io, la.io);
    pool.release(originOf(b), lb.io);
    assert.equal((await pool.acquire(originOf(a))).io, la.io);
    assert.equal((await pool.acquire(originOf(b))).io, lb.io);
    la.io.close();
    lb.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: an idle connection the origin closes is dropped", async () => {
  using spy = spyIntervals();
  await using origin = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  try {
    const first = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), first.io);
    await waitFor(() => origin.connections === 1, "the origin to accept");
    origin.hangUp(0);
    await waitFor(() => first.io.closed, "the pool to notice the close");
    const next = await pool.acquire(originOf(origin));
    assert.equal(next.reused, false);
    assert.notEqual(next.io, first.io);
    await waitFor(() => origin.connections === 2, "a second connection");
    next.io.close();
    assert.equal(spy.running, 0, "nothing idle: the sweeper stopped");
  } finally {
    pool.close();
  }
});

Deno.test("pool: stray bytes on an idle connection end it", async () => {
  await using origin = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  try {
    const first = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), first.io);
    await waitFor(() => origin.connections === 1, "the origin to accept");
    // Send bytes the client never asked for from the origin side.
    const origin2 = holdingOrigin("HTTP/1.1 408 Request Timeout\r\n\r\n");
    try {
      const lease = await pool.acquire(originOf(origin2));
      pool.release(originOf(origin2), lease.io);
      await waitFor(() => lease.io.closed, "the pool to drop the connection that spoke");
      const again = await pool.acquire(originOf(origin2));
      assert.equal(again.reused, false);
      again.io.close();
    } finally {
      await origin2[Symbol.asyncDispose]();
    }
    // The silent one was not affected.
    assert.equal(first.io.closed, false);
    first.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: maxIdlePerOrigin is enforced by closing the oldest", async () => {
  await using origin = holdingOrigin();
  const pool = new OriginPool({ ...OPTIONS, maxIdlePerOrigin: 2 });
  try {
    const o = originOf(origin);
    const leases = [await pool.acquire(o), await pool.acquire(o), await pool.acquire(o)];
    assert.deepEqual(leases.map((l) => l.reused), [false, false, false]);
    for (const l of leases) pool.release(o, l.io);
    assert.deepEqual(leases.map((l) => l.io.closed), [true, false, false]);
    await waitFor(() => origin.closedByClient === 1, "the origin to see the extra closed");
    // Most recently released first.
    assert.equal((await pool.acquire(o)).io, leases[2]!.io);
    assert.equal((await pool.acquire(o)).io, leases[1]!.io);
    const fresh = await pool.acquire(o);
    assert.equal(fresh.reused, false);
    assert.equal(origin.connections, 4);
    for (const io of [leases[1]!.io, leases[2]!.io, fresh.io]) io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: maxIdlePerOrigin 0 keeps nothing", async () => {
  await using origin = holdingOrigin();
  const pool = new OriginPool({ ...OPTIONS, maxIdlePerOrigin: 0 });
  try {
    const lease = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), lease.io);
    assert.equal(lease.io.closed, true);
    const next = await pool.acquire(originOf(origin));
    assert.equal(next.reused, false);
    next.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: idle connections are closed by the sweeper after idleTimeoutMs", async () => {
  using spy = spyIntervals();
  await using origin = holdingOrigin();
  const pool = new OriginPool({ ...OPTIONS, idleTimeoutMs: 150 });
  try {
    const lease = await pool.acquire(originOf(origin));
    const releasedAt = Date.now();
    pool.release(originOf(origin), lease.io);
    assert.equal(spy.running, 1, "the sweeper runs while something is idle");
    await delay(75);
    assert.equal(lease.io.closed, false, "closed before its idle time was up");
    await waitFor(() => lease.io.closed, "the sweeper to close it", 2000);
    const after = Date.now() - releasedAt;
    assert.ok(after >= 150 && after < 150 + 75 + 250, `closed after ${after} ms`);
    await waitFor(() => origin.closedByClient === 1, "the origin to see the close");
    assert.equal(spy.running, 0, "the sweeper stops when nothing is idle");
    const next = await pool.acquire(originOf(origin));
    assert.equal(next.reused, false);
    next.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: the sweeper stops once the last idle connection is taken", async () => {
  using spy = spyIntervals();
  await using origin = holdingOrigin();
  const pool = new OriginPool({ ...OPTIONS, idleTimeoutMs: 100 });
  try {
    const lease = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), lease.io);
    assert.equal(spy.running, 1);
    const again = await pool.acquire(originOf(origin));
    assert.equal(again.io, lease.io);
    // Nothing is idle any more: the next sweep (every 50 ms here) ends the sweeper.
    await waitFor(() => spy.running === 0, "the sweeper to stop", 1000);
    assert.equal(again.io.closed, false, "the sweeper leaves connections in use alone");
    again.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: acquire itself refuses a connection idle too long", async () => {
  await using origin = holdingOrigin();
  const pool = new OriginPool({ ...OPTIONS, idleTimeoutMs: 100 });
  try {
    const lease = await pool.acquire(originOf(origin));
    pool.release(originOf(origin), lease.io);
    // Block the event loop so the sweeper cannot run first.
    const until = Date.now() + 150;
    while (Date.now() < until) { /* busy */ }
    const pending = pool.acquire(originOf(origin));
    assert.equal(lease.io.closed, true, "the stale connection is closed by acquire");
    const next = await pending;
    assert.equal(next.reused, false);
    assert.notEqual(next.io, lease.io);
    next.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: close() closes idle connections and stops pooling", async () => {
  using spy = spyIntervals();
  await using origin = holdingOrigin();
  const pool = new OriginPool(OPTIONS);
  const o = originOf(origin);
  const a = await pool.acquire(o);
  const b = await pool.acquire(o);
  const busy = await pool.acquire(o);
  pool.release(o, a.io);
  pool.release(o, b.io);
  pool.close();
  assert.equal(a.io.closed, true);
  assert.equal(b.io.closed, true);
  assert.equal(busy.io.closed, false, "a connection in use is its user's to close");
  assert.equal(spy.running, 0);
  await waitFor(() => origin.closedByClient === 2, "the origin to see both closes");
  // Released after close: closed instead of pooled.
  pool.release(o, busy.io);
  assert.equal(busy.io.closed, true);
  await waitFor(() => origin.closedByClient === 3, "the origin to see the third close");
  assert.equal(spy.running, 0);
});

Deno.test("pool: a connection released with unread bytes is closed, not pooled", async () => {
  await using origin = holdingOrigin("EXTRA");
  const pool = new OriginPool(OPTIONS);
  try {
    const lease = await pool.acquire(originOf(origin));
    assert.equal(await lease.io.fill(), true);
    assert.equal(text(lease.io.buffered), "EXTRA");
    pool.release(originOf(origin), lease.io);
    assert.equal(lease.io.closed, true);
    const next = await pool.acquire(originOf(origin));
    assert.equal(next.reused, false);
    next.io.close();
  } finally {
    pool.close();
  }
});

Deno.test("pool: connection refused is a ProxyError 502", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const pool = new OriginPool(OPTIONS);
  try {
    await assert.rejects(pool.acquire({ scheme: "http", host: "127.0.0.1", port }), {
      name: "ProxyError",
      status: 502,
      type: "connection_refused",
    });
  } finally {
    pool.close();
  }
});
