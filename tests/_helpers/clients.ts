/**
 * Real clients for end-to-end tests: curl, and raw sockets for bytes no
 * client would send.
 *
 * @module
 */

/** What curl got. */
export interface CurlResult {
  /** curl's exit code (0 on success). */
  code: number;
  /** Final HTTP status (0 when none). */
  status: number;
  /** Response headers of the final response, lower-case names, repeats joined by "\n". */
  headers: Record<string, string>;
  /** The body bytes. */
  body: Uint8Array;
  /** The body as text. */
  text: string;
  /** curl's stderr (verbose output when asked). */
  stderr: string;
}

/** Runs curl with `args` (add `-x URL` to go through a proxy) and parses what it printed. */
export async function curl(args: string[], stdin?: Uint8Array): Promise<CurlResult> {
  const headerFile = await Deno.makeTempFile({ prefix: "hoard-curl-h-" });
  const bodyFile = await Deno.makeTempFile({ prefix: "hoard-curl-b-" });
  try {
    const child = new Deno.Command("curl", {
      args: ["-sS", "-D", headerFile, "-o", bodyFile, ...args],
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin) {
      const w = child.stdin.getWriter();
      await w.write(stdin);
      await w.close();
    }
    const out = await child.output();
    const rawHeaders = await Deno.readTextFile(headerFile);
    const body = await Deno.readFile(bodyFile);
    // With several responses (100 Continue, redirects) the last block is the final one.
    const blocks = rawHeaders.split(/\r\n\r\n/).filter((b) => b.startsWith("HTTP/"));
    const last = blocks.at(-1) ?? "";
    const [statusLine = "", ...lines] = last.split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      const name = line.slice(0, i).toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = name in headers ? `${headers[name]}\n${value}` : value;
    }
    return {
      code: out.code,
      status: Number(statusLine.split(" ")[1] ?? 0),
      headers,
      body,
      text: new TextDecoder().decode(body),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(headerFile).catch(() => {});
    await Deno.remove(bodyFile).catch(() => {});
  }
}

/**
 * Sends `request` bytes on a fresh connection to `port` and returns everything
 * received until the server closes (or `timeoutMs` passes, then it closes).
 */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 5000,
): Promise<{
  text: string;
  closed: boolean;
}> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof request === "string"
    ? Uint8Array.from(request, (c) => c.charCodeAt(0))
    : request;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  let text = "";
  try {
    await conn.write(bytes).catch(() => 0);
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder("latin1");
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by timer */ }
  }
  return { text, closed: !timedOut };
}

/** Runs `script` in real Node with `env`, for 15 s at most: its exit code, stdout and stderr. */
export async function runNode(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command("node", {
    args: ["-e", script],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, out: d.decode(out.stdout), err: d.decode(out.stderr) };
}
