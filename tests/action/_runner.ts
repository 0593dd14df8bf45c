/**
 * A stand-in for the GitHub runner, as far as a JavaScript action sees it: it
 * runs the committed bundle with `node`, as the runner does, with the step's
 * inputs as `INPUT_*`, fresh `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE` and
 * `GITHUB_STEP_SUMMARY` files for each step, `RUNNER_TEMP`, `RUNNER_OS` and
 * `RUNNER_ARCH`; it carries exported variables into later steps (post steps
 * included) and the main step's state into its post step as `STATE_*`. The
 * cache lives in a directory (`HOARD_ACTION_CACHE_DIR`) instead of the
 * Actions cache service.
 *
 * @module
 */

import { ACTION_BUNDLE } from "../../scripts/build.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The bundle the runner runs for both steps. */
export const BUNDLE: string = `${ROOT}${ACTION_BUNDLE}`;

/** What one step left behind. */
export interface StepResult {
  /** node's exit code. */
  code: number;
  /** What the step logged (workflow commands included: `::warning::…`). */
  stdout: string;
  /** Its stderr. */
  stderr: string;
  /** Variables it exported for the later steps. */
  exported: Record<string, string>;
  /** Its outputs. */
  outputs: Record<string, string>;
  /** Its step summary (Markdown). */
  summary: string;
  /** Annotations it made: `warning: message` lines. */
  warnings: string[];
}

/** One job on the stand-in runner: a temp directory, the job's environment, the main step's state. */
export interface Job extends AsyncDisposable {
  /** `RUNNER_TEMP`. */
  temp: string;
  /** The environment of the next step (the base plus every variable exported so far). */
  env: Record<string, string>;
  /** The main step's saved state. */
  state: Record<string, string>;
  /** Runs the action's main step with these inputs (names as in action.yml). */
  main(inputs?: Record<string, string>): Promise<StepResult>;
  /** Runs the post step (with the same inputs, as the runner does). */
  post(): Promise<StepResult>;
  /** Runs a shell command as a later `run:` step would, with the job's environment. */
  run(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Options of {@linkcode newJob}. */
export interface JobOptions {
  /** The directory standing in for the Actions cache (shared by the jobs of a test). */
  cacheStore: string;
  /** More environment for every step (e.g. `HOARD_ACTION_RELEASE_URL`). */
  env?: Record<string, string>;
}

/** Starts a job: its own `RUNNER_TEMP`; hoard processes left running are killed at disposal. */
export async function newJob({ cacheStore, env = {} }: JobOptions): Promise<Job> {
  const temp = await Deno.makeTempDir({ prefix: "hoard-action-job-" });
  const base: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? temp,
    RUNNER_TEMP: temp,
    RUNNER_TOOL_CACHE: `${temp}/toolcache`,
    RUNNER_OS: "Linux",
    RUNNER_ARCH: "X64",
    GITHUB_ACTIONS: "true",
    GITHUB_REPOSITORY: "example/hoard",
    HOARD_ACTION_CACHE_DIR: cacheStore,
    // Deno's own cache is the machine's: hoard from the checkout starts as fast as in the other tests.
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    ...env,
  };
  let inputs: Record<string, string> = {};
  let steps = 0;
  const job: Job = {
    temp,
    env: { ...base },
    state: {},
    async main(given = {}) {
      inputs = given;
      const r = await step("main");
      job.state = r.state;
      return r;
    },
    async post() {
      return await step("post");
    },
    async run(script) {
      const out = await new Deno.Command("bash", {
        args: ["-c", script],
        env: job.env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
    },
    async [Symbol.asyncDispose]() {
      const pid = hoardPid(job.state);
      if (pid !== undefined) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* stopped */ }
      }
      await Deno.remove(temp, { recursive: true }).catch(() => {});
    },
  };

  async function step(
    which: "main" | "post",
  ): Promise<StepResult & { state: Record<string, string> }> {
    const dir = `${temp}/_step${++steps}`;
    await Deno.mkdir(dir);
    const files = {
      GITHUB_ENV: `${dir}/env`,
      GITHUB_OUTPUT: `${dir}/output`,
      GITHUB_STATE: `${dir}/state`,
      GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
    };
    for (const f of Object.values(files)) await Deno.writeTextFile(f, "");
    const env: Record<string, string> = { ...job.env, ...files };
    for (const [name, value] of Object.entries(inputs)) {
      env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
    }
    if (which === "post") {
      for (const [name, value] of Object.entries(job.state)) env[`STATE_${name}`] = value;
    }
    const out = await new Deno.Command("node", {
      args: [BUNDLE],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const d = new TextDecoder();
    const stdout = d.decode(out.stdout);
    const exported = parseFileCommands(await Deno.readTextFile(files.GITHUB_ENV));
    Object.assign(job.env, exported);
    return {
      code: out.code,
      stdout,
      stderr: d.decode(out.stderr),
      exported,
      outputs: parseFileCommands(await Deno.readTextFile(files.GITHUB_OUTPUT)),
      state: parseFileCommands(await Deno.readTextFile(files.GITHUB_STATE)),
      summary: await Deno.readTextFile(files.GITHUB_STEP_SUMMARY),
      warnings: [...stdout.matchAll(/^::warning(?: [^:]*)?::(.*)$/gm)].map((m) =>
        m[1]!.replace(/%0A/g, "\n").replace(/%0D/g, "\r").replace(/%25/g, "%")
      ),
    };
  }
  return job;
}

/** The pid of the hoard a main step started, from its state. */
export function hoardPid(state: Record<string, string>): number | undefined {
  const text = state["hoard"];
  return text === undefined ? undefined : JSON.parse(text).pid;
}

/**
 * Parses a runner file command file: `name=value` lines and
 * `name<<DELIMITER` … `DELIMITER` blocks (what `@actions/core` writes).
 */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const block = /^([^=<]+)<<(.+)$/.exec(line);
    if (block) {
      const end = lines.indexOf(block[2]!, i + 1);
      if (end < 0) throw new Error(`unterminated value of ${block[1]}`);
      out[block[1]!] = lines.slice(i + 1, end).join("\n");
      i = end;
    } else if (line.includes("=")) {
      out[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
    }
  }
  return out;
}

/** Names of the files in a tar archive. */
export async function tarList(file: string): Promise<string[]> {
  const out = await new Deno.Command("tar", { args: ["-tf", file], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}
