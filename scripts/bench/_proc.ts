/**
 * Processes for the benchmark: running commands, starting servers and waiting
 * for their port, installing Debian packages, stopping by pid, and reading the
 * memory of a process tree from /proc.
 *
 * @module
 */

import { tmpdir } from "node:os";
import { fileSystemType } from "../../src/cache/file_system.ts";

const decoder = new TextDecoder();

/** Output of a finished command. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/** Runs a command to completion and returns its output whatever its exit code. */
export async function runRaw(cmd: string, args: string[], cwd?: string): Promise<RunResult> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Runs a command to completion; throws with its standard error unless it exits 0. */
export async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await runRaw(cmd, args, cwd);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${lastLines(r.stderr, 5)}`);
  }
  return r.stdout;
}

/** The last `n` non-empty lines of `text`, joined with " / " for a one-line message. */
export function lastLines(text: string, n: number): string {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").slice(-n).join(" / ");
}

/** Whether `cmd` is on PATH (or is an existing path). */
export async function hasCommand(cmd: string): Promise<boolean> {
  const r = await new Deno.Command("sh", {
    args: ["-c", `command -v "$0"`, cmd],
    stdout: "null",
    stderr: "null",
  }).output();
  return r.code === 0;
}

let aptUpdated = false;

/**
 * Installs the first Debian package of `candidates` that apt-get can install,
 * unless `command` is already on PATH. Services are not started by the
 * install: where no `/usr/sbin/policy-rc.d` exists, one that denies every
 * start is put there for the duration and removed after.
 */
export async function ensurePackage(command: string, candidates: string[]): Promise<void> {
  if (await hasCommand(command)) return;
  if (!(await hasCommand("apt-get"))) {
    throw new Error(`${command} is missing and apt-get is not available to install it`);
  }
  const policy = "/usr/sbin/policy-rc.d";
  let placedPolicy = false;
  try {
    await Deno.lstat(policy);
  } catch {
    try {
      await Deno.writeTextFile(policy, "#!/bin/sh\n# hoard bench: no service starts\nexit 101\n", {
        mode: 0o755,
      });
      placedPolicy = true;
    } catch {
      // Not root: apt-get below will say so.
    }
  }
  try {
    if (!aptUpdated) {
      console.log("apt-get update");
      const u = await runRaw("apt-get", ["update", "-qq"]);
      if (u.code !== 0) throw new Error(`apt-get update failed: ${lastLines(u.stderr, 3)}`);
      aptUpdated = true;
    }
    const errors: string[] = [];
    for (const pkg of candidates) {
      console.log(`installing ${pkg} with apt-get (for ${command})`);
      const r = await new Deno.Command("apt-get", {
        args: ["install", "-y", "-qq", "--no-install-recommends", pkg],
        env: { DEBIAN_FRONTEND: "noninteractive" },
        stdout: "null",
        stderr: "piped",
      }).output();
      if (r.code === 0 && (await hasCommand(command))) return;
      errors.push(`${pkg}: ${lastLines(decoder.decode(r.stderr), 2) || `exit ${r.code}`}`);
    }
    throw new Error(`could not install ${command} (${errors.join("; ")})`);
  } finally {
    if (placedPolicy) await Deno.remove(policy).catch(() => {});
  }
}

/** A server started by the benchmark, with the tail of what it printed. */
export interface Server {
  /** The process. */
  child: Deno.ChildProcess;
  /** The last 64 KiB of its standard output and error, interleaved. */
  output(): string;
}

/** Servers started and not yet stopped, for {@linkcode stopAll}. */
const live = new Set<Deno.ChildProcess>();

/**
 * Starts a server process. Its standard output and error are drained for as
 * long as it runs (a full pipe would stall it), keeping the last 64 KiB.
 */
export function spawnServer(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Server {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  child.status.then(() => live.delete(child));
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > 128 * 1024) text = text.slice(-64 * 1024);
    }
  };
  drain(child.stdout).catch(() => {});
  drain(child.stderr).catch(() => {});
  return { child, output: () => text };
}

/** Waits until `server` prints a line matching `ready`; throws if it exits or times out first. */
export async function waitForOutput(
  server: Server,
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  server.child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    const m = ready.exec(server.output());
    if (m) return m;
    if (exited) throw new Error(`exited before it was ready: ${lastLines(server.output(), 8)}`);
    await sleep(20);
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${lastLines(server.output(), 8)}`);
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(server: Server, port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  server.child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`exited before it was ready: ${lastLines(server.output(), 8)}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`port ${port} not open after ${timeoutMs} ms: ${lastLines(server.output(), 8)}`);
}

/** Stops a child by its pid: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: Deno.ChildProcess, graceMs = 5_000): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, graceMs);
  await child.status;
  clearTimeout(timer);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `pid` and all its descendants (read from /proc). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry.name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU time (user + system, seconds) process `pid` used so far, every thread (Linux), or NaN. */
export async function cpuSeconds(pid: number): Promise<number> {
  const t = await cpuTimes(pid);
  return t.user + t.sys;
}

/**
 * CPU time (seconds) process `pid` used so far, every thread, in user space
 * and in the kernel; NaN each when it is gone.
 */
export async function cpuTimes(pid: number): Promise<{ user: number; sys: number }> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Clock ticks, 100 a second on Linux.
    return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** How the HTTPS part splits the cores: the contender on `server`, everything else on `rest`. */
export interface CpuSplit {
  /** Cores of the contender (a `taskset -c` list). */
  server: string;
  /** Cores of the load generator, the origin and the harness. */
  rest: string;
}

/**
 * The last core for the contender, the others for everything else; undefined
 * on one core or without taskset (util-linux).
 */
export async function cpuSplit(): Promise<CpuSplit | undefined> {
  const n = navigator.hardwareConcurrency;
  if (n < 2 || !(await hasCommand("taskset"))) return undefined;
  return { server: String(n - 1), rest: n === 2 ? "0" : `0-${n - 2}` };
}

/** Moves `pid`, its threads and its descendants to `cpus` (a `taskset -c` list). */
export async function pinTree(pid: number, cpus: string): Promise<void> {
  for (const p of processTree(pid)) {
    const r = await runRaw("taskset", ["-a", "-p", "-c", cpus, String(p)]);
    // A process that exited meanwhile is no error.
    if (r.code !== 0 && memKiB(p, "VmRSS") > 0) {
      throw new Error(`taskset ${cpus} ${p}: ${lastLines(r.stderr, 1)}`);
    }
  }
}

/** One memory field of a process in KiB (0 when the process is gone). */
export function memKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Resets the peak RSS (VmHWM) of each process to its current RSS, by writing
 * 5 to /proc/PID/clear_refs (Linux ≥ 4.0; needs to own the process or root).
 * Returns false when any reset failed.
 */
export function resetPeakRss(pids: number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try {
      Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** The effective user id, or undefined where it cannot be read. */
export function uid(): number | undefined {
  try {
    return Deno.uid() ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the contenders' caches go — the system's temp directory, which
 * `TMPDIR` moves — and its file system's type: a miss costs what creating
 * a file costs there, so the figures say where.
 */
export function cacheFileSystem(): string {
  const dir = Deno.realPathSync(tmpdir());
  return `${dir} (${fileSystemType(dir) ?? "unknown type"})`;
}

/** Temp dirs made and not yet removed, for {@linkcode stopAll}. */
const dirs = new Set<string>();

/** Makes a temp dir that {@linkcode stopAll} removes if the run is interrupted. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  dirs.add(dir);
  return dir;
}

/** Removes a dir made by {@linkcode makeTempDir}. */
export async function removeTempDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  dirs.delete(dir);
}

/** Stops every server still running (each by its pid) and removes the temp dirs. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child, 2_000)));
  await Promise.all([...dirs].map(removeTempDir));
}

/** The last 8 KiB of a log file (empty when it cannot be read). */
export function readTail(path: string): string {
  try {
    return Deno.readTextFileSync(path).slice(-8192);
  } catch {
    return "";
  }
}

/** Whether {@linkcode stopAndClean} leaves directories for {@linkcode stopAll}. */
let removeAtEnd = false;

/**
 * From now on, a stopped server's directory is removed by
 * {@linkcode stopAll} at the end of the run, not when it stops (only its
 * large files go at once, for the space). On an ext4 without a journal
 * (this VM's /tmp) creating a file scans past every inode deleted in the
 * last minutes: removing the thousands of small files of one contender's
 * cache slowed the misses of the next one.
 */
export function removeDirsAtEnd(): void {
  removeAtEnd = true;
}

/** Stops a server and removes its temp directory (see {@linkcode removeDirsAtEnd}). */
export async function stopAndClean(server: Server, dir: string): Promise<void> {
  await stopChild(server.child);
  if (removeAtEnd) await removeLargeFiles(dir);
  else await removeTempDir(dir);
}

/** Removes the files over 1 MiB under `dir`. */
async function removeLargeFiles(dir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await removeLargeFiles(path);
      else if (entry.isFile && (await Deno.stat(path)).size > 1024 * 1024) await Deno.remove(path);
    }
  } catch {
    // gone already, or not ours to read: stopAll removes what is left
  }
}

/** The user an nginx worker or squid runs as when the benchmark runs as root. */
export async function serviceUser(): Promise<{ user: string; group: string } | undefined> {
  if (uid() !== 0) return undefined;
  for (const [user, group] of [["proxy", "proxy"], ["nobody", "nogroup"]] as const) {
    if ((await runRaw("getent", ["passwd", user])).code === 0) return { user, group };
  }
  throw new Error("running as root and neither user proxy nor nobody exists to drop to");
}
