/**
 * A git server for tests: git's own `git http-backend` (smart HTTP, the
 * protocol users meet on every hosted forge) behind a small CGI shim on
 * Deno.serve, over HTTPS with the test's certificate.
 *
 * @module
 */

import { startOrigin, type TestOrigin } from "./origin.ts";
import type { TestCert } from "./tls.ts";

/** The CGI/1.1 variables (RFC 3875 §4.1) of `req` for a backend serving `root`. */
function cgiEnv(req: Request, root: string): Record<string, string> {
  const url = new URL(req.url);
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: root,
    // Every repository under the root is served, without a git-daemon-export-ok file.
    GIT_HTTP_EXPORT_ALL: "1",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    REQUEST_METHOD: req.method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: "127.0.0.1",
  };
  const type = req.headers.get("content-type");
  if (type !== null) env["CONTENT_TYPE"] = type;
  const length = req.headers.get("content-length");
  if (length !== null) env["CONTENT_LENGTH"] = length;
  // Git-Protocol (protocol v2) and Content-Encoding (gzip'ed requests) reach the backend this way.
  for (const [name, value] of req.headers) {
    env[`HTTP_${name.toUpperCase().replaceAll("-", "_")}`] = value;
  }
  return env;
}

/** Splits a CGI answer into its header fields (with `Status:`) and body. */
function cgiResponse(out: Uint8Array<ArrayBuffer>): Response {
  let end = -1;
  let sep = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== 0x0a) continue;
    if (out[i + 1] === 0x0a) [end, sep] = [i, 2];
    else if (out[i + 1] === 0x0d && out[i + 2] === 0x0a) [end, sep] = [i, 3];
    if (end >= 0) break;
  }
  if (end < 0) return new Response("git http-backend sent no header\n", { status: 502 });
  const headers = new Headers();
  let status = 200;
  for (const line of new TextDecoder().decode(out.subarray(0, end)).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = parseInt(value, 10);
    else headers.append(name, value);
  }
  const body = status === 204 || status === 304 ? null : out.slice(end + sep);
  return new Response(body, { status, headers });
}

/**
 * Serves the bare repositories under `root` (e.g. `root/lab.git` at
 * `/lab.git`) with `git http-backend`, one process per request.
 */
export function startGitServer(root: string, tls: TestCert): TestOrigin {
  return startOrigin(async (req) => {
    const child = new Deno.Command("git", {
      args: ["http-backend"],
      clearEnv: true,
      env: cgiEnv(req, root),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const input = req.body === null ? child.stdin.close() : req.body.pipeTo(child.stdin);
    const [out, err] = await Promise.all([
      new Response(child.stdout).bytes(),
      new Response(child.stderr).text(),
      input,
    ]);
    await child.status;
    if (err.trim() !== "") console.error(`git http-backend: ${err.trim()}`);
    return cgiResponse(out);
  }, tls);
}
