import assert from "node:assert/strict";
import { startRawOrigin, writeText } from "../_helpers/origin.ts";
import { peakRss, startHoardProcess } from "../_helpers/process.ts";

const MiB = 1024 * 1024;

/** A raw origin that answers with `size` bytes (Content-Length framed), or 1 MiB for /warm. */
function bulkOrigin(bigSize: number) {
  return startRawOrigin(async (conn, readUntil) => {
    const head = await readUntil(/\r\n\r\n/);
    const size = head.startsWith("GET /warm") ? MiB : bigSize;
    await writeText(
      conn,
      `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`,
    );
    const block = new Uint8Array(MiB).fill(0x61);
    for (let sent = 0; sent < size; sent += block.length) {
      const part = block.subarray(0, Math.min(block.length, size - sent));
      let off = 0;
      while (off < part.length) off += await conn.write(part.subarray(off));
    }
  });
}

Deno.test("streaming 1 GiB through hoard raises its peak RSS by less than 64 MiB", async () => {
  const size = 1024 * MiB;
  await using origin = bulkOrigin(size);
  await using hoard = await startHoardProcess(["--log-level", "warn"]);
  // Warm up the code paths first so the baseline includes the JIT and buffers.
  const warm = await new Deno.Command("curl", {
    args: ["-sS", "-x", hoard.url, "-o", "/dev/null", `${origin.url}/warm`],
  }).output();
  assert.equal(warm.code, 0);
  const before = await peakRss(hoard.child.pid);
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-x",
      hoard.url,
      "-o",
      "/dev/null",
      "-w",
      "%{size_download} %{speed_download}",
      `${origin.url}/big`,
    ],
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const [bytes, speed] = new TextDecoder().decode(out.stdout).split(" ").map(Number);
  assert.equal(bytes, size);
  const after = await peakRss(hoard.child.pid);
  const growth = after - before;
  console.log(
    `1 GiB through hoard: ${(speed! / MiB).toFixed(0)} MiB/s, peak RSS ${
      (before / MiB).toFixed(1)
    } -> ${(after / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)} MiB)`,
  );
  assert.ok(growth < 64 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
});

Deno.test("a slow client slows the origin: hoard does not read ahead into memory", async () => {
  const size = 512 * MiB;
  let originSent = 0;
  await using origin = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    // no-store: relayed, not filled into the cache (a fill reads at the origin's pace, into the file).
    await writeText(
      conn,
      `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nCache-Control: no-store\r\n\r\n`,
    );
    const block = new Uint8Array(256 * 1024);
    while (originSent < size) {
      originSent += await conn.write(block.subarray(0, Math.min(block.length, size - originSent)));
    }
  });
  await using hoard = await startHoardProcess(["--log-level", "warn"]);
  // A client that reads the head and a little of the body, then stops reading.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: hoard.port });
  try {
    const o = `127.0.0.1:${origin.port}`;
    await writeText(conn, `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\n\r\n`);
    const buf = new Uint8Array(64 * 1024);
    let got = 0;
    while (got < MiB) got += (await conn.read(buf)) ?? 0;
    await new Promise((r) => setTimeout(r, 1500));
    const rss = await peakRss(hoard.child.pid);
    console.log(
      `stalled client: origin sent ${(originSent / MiB).toFixed(1)} MiB, hoard peak RSS ${
        (rss / MiB).toFixed(1)
      } MiB`,
    );
    // Kernel socket buffers on both hops hold some MiB; hoard itself holds one buffer.
    assert.ok(
      originSent < 96 * MiB,
      `origin managed to send ${(originSent / MiB).toFixed(0)} MiB to a stalled client`,
    );
    assert.ok(rss < 256 * MiB, `hoard's RSS is ${(rss / MiB).toFixed(0)} MiB`);
  } finally {
    conn.close();
  }
});

Deno.test("uploading 1 GiB (chunked) through hoard raises its peak RSS by less than 64 MiB", async () => {
  const size = 1024 * MiB;
  let received = 0;
  await using origin = startRawOrigin(async (conn) => {
    // Count the chunked body's raw bytes until its last chunk; answer with the count.
    const buf = new Uint8Array(256 * 1024);
    let tail = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      received += n;
      tail = (tail + new TextDecoder("latin1").decode(buf.subarray(Math.max(0, n - 16), n))).slice(
        -16,
      );
      if (tail.endsWith("\r\n0\r\n\r\n")) break;
    }
    await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  await using hoard = await startHoardProcess(["--log-level", "warn"]);
  const before = await peakRss(hoard.child.pid);
  const out = await new Deno.Command("sh", {
    args: ["-c", `head -c ${size} /dev/zero | curl -sS -x ${hoard.url} -T - ${origin.url}/upload`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "ok");
  assert.ok(received > size, `origin received ${received} bytes (body plus chunk framing)`);
  const growth = (await peakRss(hoard.child.pid)) - before;
  console.log(`1 GiB upload through hoard: peak RSS +${(growth / MiB).toFixed(1)} MiB`);
  assert.ok(growth < 64 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
});
