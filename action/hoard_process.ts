/**
 * hoard as a process of the job: started detached so that it outlives the
 * step that starts it, waited for until its health check answers, stopped
 * (SIGINT, then SIGKILL) by the post step; and its short commands (`env`,
 * `prune`) run to completion.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { request } from "node:http";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";

/** How hoard is run: the program and the arguments before hoard's own. */
export type HoardCommand = string[];

/** A hoard that answers its health check. */
export interface RunningHoard {
  /** Its process id. */
  pid: number;
  /** `http://127.0.0.1:PORT`, for HTTP_PROXY. */
  url: string;
  /** Its port. */
  port: number;
}

const POLL_MS = 100;

/**
 * Starts `command` with `args`, its output going to `logFile`, and waits up to
 * `timeoutMs` for its "listening on" line and an `ok` from `/_hoard/health`.
 *
 * @throws {Error} with the end of the log when hoard exits or is not healthy in
 *   time (it is then killed).
 */
export async function startHoard(
  command: HoardCommand,
  args: string[],
  { logFile, timeoutMs, env }: { logFile: string; timeoutMs: number; env: NodeJS.ProcessEnv },
): Promise<RunningHoard> {
  const log = openSync(logFile, "a");
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    detached: true,
    stdio: ["ignore", log, log],
    env,
  });
  closeSync(log);
  let exit: string | undefined;
  child.on("exit", (code, signal) => exit = signal ?? `code ${code}`);
  child.on("error", (err) => exit = err.message);
  // The step's process may end while hoard goes on.
  child.unref();
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      throw new Error(`hoard exited (${exit}) before it was ready:\n${logTail(logFile)}`);
    }
    url ??= /listening on (http:\/\/\S+)/.exec(readLog(logFile))?.[1];
    if (url !== undefined && await healthy(url)) {
      return { pid: child.pid!, url, port: Number(new URL(url).port) };
    }
    await sleep(POLL_MS);
  }
  if (child.pid !== undefined) kill(child.pid, "SIGKILL");
  throw new Error(
    `hoard was not healthy within ${timeoutMs / 1000} s, stopped it:\n${logTail(logFile)}`,
  );
}

/** Whether hoard at `url` answers `ok` on `/_hoard/health`, directly (never through a proxy). */
export function healthy(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/_hoard/health`, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => body += d);
      res.on("end", () => resolve(res.statusCode === 200 && body.trim() === "ok"));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Stops hoard: SIGINT (it finishes requests in flight, writes its report and
 * releases the cache directory), SIGKILL after `timeoutMs`.
 *
 * @returns whether it ended by itself.
 */
export async function stopHoard(pid: number, timeoutMs: number): Promise<boolean> {
  if (!alive(pid)) return true;
  kill(pid, "SIGINT");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(POLL_MS);
  }
  kill(pid, "SIGKILL");
  return false;
}

/**
 * Whether process `pid` still runs. hoard's parent (the main step) is gone, so
 * once it exits it may stay a zombie until whoever adopted it reaps it: on
 * Linux a zombie counts as ended.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  try {
    // The state follows the command name, which is in parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a short hoard command (`env`, `prune`) to its end. */
export function runHoardCommand(
  command: HoardCommand,
  args: string[],
  { env, timeoutMs = 60_000 }: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(command[0]!, [...command.slice(1), ...args], {
    encoding: "utf8",
    env,
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr = r.error ? `${r.error.message}\n${r.stderr ?? ""}` : r.stderr ?? "";
  return { ok: r.status === 0, stdout: r.stdout ?? "", stderr };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The last lines of the log, for a warning. */
export function logTail(path: string, lines = 20): string {
  return readLog(path).trimEnd().split("\n").slice(-lines).join("\n");
}
