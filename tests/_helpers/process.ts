/**
 * hoard as a separate process, started the way users start it
 * (`deno run ... mod.ts`), for tests of the CLI, signals and memory.
 *
 * @module
 */

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

/** A running hoard process. */
export interface HoardProcess {
  /** The child process. */
  child: Deno.ChildProcess;
  /** `http://127.0.0.1:PORT` from its "listening on" line. */
  url: string;
  /** Its port. */
  port: number;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Kills it if still running. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Runs `deno run -A mod.ts ...args` and waits for its listening line. Without
 * `--cache-dir` in `args` it gets a fresh temp directory (never the user's).
 */
export async function startHoardProcess(
  args: string[],
  entry: string = MOD,
  env?: Record<string, string>,
): Promise<HoardProcess> {
  const cacheArgs = args.includes("--cache-dir")
    ? []
    : ["--cache-dir", await Deno.makeTempDir({ prefix: "hoard-proc-" })];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, "--port", "0", ...cacheArgs, ...args],
    ...(env === undefined ? {} : { env }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reader = child.stderr.getReader();
  let listening!: (url: string) => void;
  let failed!: (err: Error) => void;
  const ready = new Promise<string>((res, rej) => {
    listening = res;
    failed = rej;
  });
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) listening(m[1]!);
    }
    failed(new Error(`hoard exited before listening:\n${text}`));
  })();
  const timer = setTimeout(
    () => failed(new Error(`hoard did not start in 20 s:\n${text}`)),
    20_000,
  );
  let url: string;
  try {
    url = await ready;
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await pump;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  let exited: Promise<Deno.CommandStatus> | undefined;
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* exited */ }
    exited ??= child.status;
    const status = await exited;
    await pump;
    return status;
  };
  return {
    child,
    url,
    port: Number(new URL(url).port),
    stderr: () => text,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}

/** Runs `deno run -A mod.ts ...args` to completion. */
export async function runHoard(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    ...(env === undefined ? {} : { env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Peak resident set size (VmHWM) of a Linux process, in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb * 1024;
}

/** Current resident set size (VmRSS) of a Linux process, in bytes. */
export async function currentRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb * 1024;
}
