/**
 * Helpers shared by the end-to-end tests of the CI features (ci_*_test.ts):
 * temp directories, the stored metadata of a cache directory, Prometheus text
 * read back with an independent parser, and environment variables set for the
 * start of a child process.
 *
 * @module
 */

import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** A temp directory removed at the end of the test (`await using`). */
export interface TempDir extends AsyncDisposable {
  /** Its path. */
  path: string;
}

/** Makes a temp directory that is removed when disposed. */
export async function tempDir(prefix = "hoard-ci-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** The metadata files of the response entries stored in cache directory `dir`. */
export async function storedMetas(
  dir: string,
): Promise<{ key: string; status: number; headers: [string, string][] }[]> {
  const out = [];
  for await (const shard of Deno.readDir(`${dir}/data`)) {
    if (!shard.isDirectory) continue;
    for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
      if (!f.name.endsWith(".json")) continue;
      const meta = JSON.parse(await Deno.readTextFile(`${dir}/data/${shard.name}/${f.name}`));
      if (meta.kind === "response") out.push(meta);
    }
  }
  return out;
}

/** One sample as parse-prometheus-text-format returns it. */
export interface PromSample {
  /** Value of a counter or gauge sample. */
  value?: string;
  /** Its labels. */
  labels?: Record<string, string>;
  /** Histogram buckets: upper bound to cumulative count. */
  buckets?: Record<string, string>;
  /** Histogram count. */
  count?: string;
  /** Histogram sum. */
  sum?: string;
}

/** One metric family as parse-prometheus-text-format returns it. */
export interface PromFamily {
  /** Metric name. */
  name: string;
  /** HELP text. */
  help: string;
  /** TYPE, upper-case. */
  type: string;
  /** Its samples. */
  metrics: PromSample[];
}

/** Prometheus text to metric families by name. */
export function parseMetrics(text: string): Map<string, PromFamily> {
  const families = parsePrometheusTextFormat(text) as PromFamily[];
  return new Map(families.map((f) => [f.name, f]));
}

/** The samples of `name`, throwing when it is not exposed. */
export function samples(m: Map<string, PromFamily>, name: string): PromSample[] {
  const f = m.get(name);
  if (f === undefined) throw new Error(`metric ${name} is not exposed`);
  return f.metrics;
}

/** The value of the sample of `name` with exactly these labels (0 when there is none). */
export function valueOf(
  m: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = samples(m, name).find((x) =>
    JSON.stringify(Object.entries(x.labels ?? {}).sort()) === want
  );
  return s === undefined ? 0 : Number(s.value);
}

/**
 * Runs `start` with environment variables set (or removed, for undefined),
 * restoring them afterwards: a child process spawned inside inherits them.
 */
export async function withEnv<T>(
  vars: Record<string, string | undefined>,
  start: () => Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  };
  apply(vars);
  try {
    return await start();
  } finally {
    apply(saved);
  }
}
