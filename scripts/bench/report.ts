/**
 * The figures of the benchmark, the targets of issue 7 (and issue 18's for
 * serving on every core), and their outputs: a text table, `results.json`,
 * `results.md` and `ratios.svg` (horizontal bars of hoard/nginx and
 * hoard/squid per figure on a log scale, targets marked). hoard-cores (hoard
 * with `--workers auto`) gets its own ratios to the peers and to hoard, in the
 * table and the results but not in the chart. Everything here is pure: it
 * turns a {@linkcode Results} into strings.
 *
 * @module
 */

import type { ContenderName } from "./contenders.ts";

/** Identifiers of the figures, in table order. */
export const FIGURES = [
  "hit1kRps",
  "hit1kP50Ms",
  "hit1kP99Ms",
  "hit100mMBps",
  "hit100mRssPerStreamMiB",
  "miss1kP50Ms",
  "miss1kAddedP50Ms",
  "miss100mMBps",
  "miss100mVsDirect",
  "collapseOriginRequests",
  "collapseMs",
] as const;

/** One of {@linkcode FIGURES}. */
export type FigureId = typeof FIGURES[number];

/** How a figure is shown and compared. */
export interface FigureInfo {
  /** Label in the table. */
  label: string;
  /** Shorter label in the chart. */
  short: string;
  /** Unit, shown after values in prose. */
  unit: string;
  /** Whether a larger value is better. */
  higherIsBetter: boolean;
  /** Decimal places in the table. */
  digits: number;
  /** Whether hoard/nginx and hoard/squid ratios are computed. */
  ratio: boolean;
  /** Whether they are charted (not when another figure already shows the same). */
  chart: boolean;
  /**
   * The resolution of the measurement: smaller values are taken as this for
   * ratios, so that two negligible values compare as equal rather than 30×
   * apart. Undefined: no floor (a ratio needs both values above 0).
   */
  floor?: number;
}

/** Label, unit and direction of every figure. */
export const FIGURE_INFO: Record<FigureId, FigureInfo> = {
  hit1kRps: {
    label: "1 KiB hit: requests/s (64 conns)",
    short: "1 KiB hit: requests/s",
    unit: "req/s",
    higherIsBetter: true,
    digits: 0,
    ratio: true,
    chart: true,
  },
  hit1kP50Ms: {
    label: "1 KiB hit: p50 latency (ms)",
    short: "1 KiB hit: p50 latency",
    unit: "ms",
    higherIsBetter: false,
    digits: 3,
    ratio: true,
    chart: true,
  },
  hit1kP99Ms: {
    label: "1 KiB hit: p99 latency (ms)",
    short: "1 KiB hit: p99 latency",
    unit: "ms",
    higherIsBetter: false,
    digits: 3,
    ratio: true,
    chart: true,
  },
  hit100mMBps: {
    label: "100 MiB hit: MB/s",
    short: "100 MiB hit: MB/s",
    unit: "MB/s",
    higherIsBetter: true,
    digits: 0,
    ratio: true,
    chart: true,
  },
  hit100mRssPerStreamMiB: {
    label: "100 MiB hit: RSS growth per stream (MiB, 4 streams)",
    short: "100 MiB hit: RSS per stream",
    unit: "MiB",
    higherIsBetter: false,
    digits: 2,
    ratio: true,
    chart: true,
    floor: 0.25,
  },
  miss1kP50Ms: {
    label: "1 KiB miss: p50 latency (ms, sequential)",
    short: "1 KiB miss: p50 latency",
    unit: "ms",
    higherIsBetter: false,
    digits: 3,
    ratio: true,
    chart: false,
  },
  miss1kAddedP50Ms: {
    label: "1 KiB miss: p50 added vs direct (ms)",
    short: "1 KiB miss: added p50",
    unit: "ms",
    higherIsBetter: false,
    digits: 3,
    ratio: true,
    chart: true,
  },
  miss100mMBps: {
    label: "100 MiB miss: MB/s",
    short: "100 MiB miss: MB/s",
    unit: "MB/s",
    higherIsBetter: true,
    digits: 0,
    ratio: true,
    chart: true,
  },
  miss100mVsDirect: {
    label: "100 MiB miss: fraction of direct",
    short: "100 MiB miss vs direct",
    unit: "×",
    higherIsBetter: true,
    digits: 2,
    ratio: true,
    chart: false,
  },
  collapseOriginRequests: {
    label: "100 concurrent misses (10 MiB): origin requests",
    short: "Collapsing: origin requests",
    unit: "origin request(s)",
    higherIsBetter: false,
    digits: 0,
    ratio: true,
    chart: true,
  },
  collapseMs: {
    label: "100 concurrent misses (10 MiB): total time (ms)",
    short: "Collapsing: total time",
    unit: "ms",
    higherIsBetter: false,
    digits: 0,
    ratio: true,
    chart: true,
  },
};

/** The peers hoard is compared with. */
export const PEERS = ["nginx", "squid"] as const;

/** One of {@linkcode PEERS}. */
export type Peer = typeof PEERS[number];

/** What hoard-cores is compared with: the peers, and hoard on one thread. */
export const CORES_PEERS = [...PEERS, "hoard"] as const;

/** One of {@linkcode CORES_PEERS}. */
export type CoresPeer = typeof CORES_PEERS[number];

/** The hoards with targets: on one thread, and on every core (`--workers auto`). */
export type Subject = "hoard" | "hoard-cores";

/** Ratios of a subject's figures to each peer's. */
export type Ratios<P extends string> = Partial<Record<FigureId, Partial<Record<P, number>>>>;

/**
 * A target of issue 7 (or 18): on a hoard's ratio to a peer, or on hoard's own value.
 */
export interface Target {
  /** Whose figure. @default "hoard" */
  subject?: Subject;
  /** The figure it is about. */
  figure: FigureId;
  /** The peer of a ratio target; undefined for a target on hoard's own value. */
  peer?: Peer;
  /** Comparison that must hold. */
  op: ">=" | "<=" | "<" | "==";
  /** The bound. */
  value: number;
  /** As the issue says it. */
  text: string;
}

/** The targets of issue 7. */
export const TARGETS: Target[] = [
  { figure: "hit1kRps", peer: "nginx", op: ">=", value: 1.2, text: "≥ 1.2× nginx" },
  { figure: "hit1kRps", peer: "squid", op: ">=", value: 2, text: "≥ 2× squid" },
  { figure: "hit100mMBps", peer: "nginx", op: ">=", value: 1, text: "≥ 1.0× nginx" },
  { figure: "hit100mRssPerStreamMiB", op: "<=", value: 8, text: "≤ 8 MiB" },
  { figure: "miss1kAddedP50Ms", op: "<", value: 0.5, text: "< 0.5 ms" },
  { figure: "miss100mVsDirect", op: ">=", value: 0.8, text: "≥ 0.8× direct" },
  { figure: "collapseOriginRequests", op: "==", value: 1, text: "exactly 1" },
  // Issue 18's for every core. Its other half, no figure worse on one core, is about hoard's
  // own figures (one thread unless told) against an earlier run's; cores/hoard in the table
  // says what the threads change on this machine.
  {
    subject: "hoard-cores",
    figure: "hit1kRps",
    peer: "nginx",
    op: ">=",
    value: 1.2,
    text: "≥ 1.2× nginx",
  },
];

/** What one contender measured. */
export interface ContenderResult {
  /** `ok`, or `skipped` when it could not be set up. */
  status: "ok" | "skipped";
  /** Why it was skipped. */
  reason?: string;
  /** Version string. */
  version?: string;
  /** The figures it has (a failed measurement leaves its figures out). */
  figures: Partial<Record<FigureId, number>>;
  /** Measurements that failed, by step, with the reason. */
  errors: Record<string, string>;
  /** Things a reader should know: wrk errors, origin requests during hit runs, … */
  notes: string[];
  /** Raw data of each step. */
  details: Record<string, unknown>;
  /** Config written for it. */
  config?: string;
}

/** Everything one run produced. */
export interface Results {
  /** ISO date of the run. */
  date: string;
  /** The command that produced it. */
  command: string;
  /** Machine facts. */
  machine: {
    target: string;
    cores: number;
    memoryGiB: number;
    kernel: string;
    /** Where the caches were, and the file system's type (older results lack it). */
    caches?: string;
  };
  /** Tool versions. */
  tools: Record<string, string>;
  /** Settings of the run. */
  settings: Record<string, number | string | boolean>;
  /** Wall time of the whole run, s. */
  durationSeconds: number;
  /** By contender. */
  contenders: Partial<Record<ContenderName, ContenderResult>>;
  /** hoard/peer for each figure with `ratio`, where both were measured. */
  ratios: Ratios<Peer>;
  /** hoard-cores/peer and hoard-cores/hoard, likewise; absent from results before it ran. */
  coresRatios?: Ratios<CoresPeer>;
  /** Each target with whether it was met (undefined: not measured). */
  targets: (Target & { actual?: number; met?: boolean })[];
}

/**
 * subject/peer ratios of every figure that has both values (and both > 0):
 * hoard's to {@linkcode PEERS} unless told otherwise.
 */
export function computeRatios(
  contenders: Results["contenders"],
  subject: Subject = "hoard",
  peers: readonly CoresPeer[] = PEERS,
): Ratios<CoresPeer> {
  const out: Ratios<CoresPeer> = {};
  const hoard = contenders[subject]?.figures ?? {};
  for (const f of FIGURES) {
    if (!FIGURE_INFO[f].ratio) continue;
    const floor = FIGURE_INFO[f].floor;
    for (const peer of peers) {
      let h = hoard[f];
      let p = contenders[peer]?.figures[f];
      if (h === undefined || p === undefined) continue;
      if (floor !== undefined) [h, p] = [Math.max(h, floor), Math.max(p, floor)];
      if (!(h > 0 && p > 0)) continue;
      (out[f] ??= {})[peer] = h / p;
    }
  }
  return out;
}

/** Evaluates {@linkcode TARGETS} against each subject's figures and ratios. */
export function evaluateTargets(
  contenders: Results["contenders"],
  ratios: Results["ratios"],
  coresRatios: Ratios<CoresPeer> = {},
): Results["targets"] {
  return TARGETS.map((t) => {
    const subject = t.subject ?? "hoard";
    const own = subject === "hoard" ? ratios : coresRatios;
    const actual = t.peer ? own[t.figure]?.[t.peer] : contenders[subject]?.figures[t.figure];
    if (actual === undefined) return { ...t };
    const met = t.op === ">="
      ? actual >= t.value
      : t.op === "<="
      ? actual <= t.value
      : t.op === "<"
      ? actual < t.value
      : actual === t.value;
    return { ...t, actual, met };
  });
}

const NAMES: ContenderName[] = ["direct", "hoard", "hoard-cores", "nginx", "squid"];

/** The contenders in the table: hoard-cores only where it was run (older results lack it). */
function shown(r: Results): ContenderName[] {
  return NAMES.filter((n) => n !== "hoard-cores" || r.contenders[n] !== undefined);
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  return v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function withUnit(v: number | undefined, info: FigureInfo): string {
  const n = fmt(v, info.digits);
  return info.unit === "×" ? `${n}×` : `${n} ${info.unit}`;
}

function fmtRatio(v: number | undefined): string {
  return v === undefined ? "—" : `${v.toFixed(2)}×`;
}

/** Whether `t` is on hoard's (one thread's) figures: the chart shows only those. */
function ofHoard(t: Target): boolean {
  return (t.subject ?? "hoard") === "hoard";
}

function targetCell(r: Results, f: FigureId): string {
  return r.targets.filter((t) => t.figure === f).map((t) =>
    `${ofHoard(t) ? "" : `${t.subject} `}${t.text} ${
      t.met === undefined ? "(n/a)" : t.met ? "✓" : "✗"
    }`
  ).join(", ");
}

/** The results table as Markdown rows (also what the script prints). */
export function table(r: Results): string {
  const names = shown(r);
  const cores = names.includes("hoard-cores");
  const head = [
    "figure",
    ...names,
    "hoard/nginx",
    "hoard/squid",
    ...(cores ? ["cores/nginx", "cores/hoard"] : []),
    "target (hoard)",
  ];
  const rows = FIGURES.map((f) => {
    const info = FIGURE_INFO[f];
    return [
      info.label,
      ...names.map((n) => {
        const c = r.contenders[n];
        return c === undefined
          ? "not run"
          : c.status === "ok"
          ? fmt(c.figures[f], info.digits)
          : "skipped";
      }),
      fmtRatio(r.ratios[f]?.nginx),
      fmtRatio(r.ratios[f]?.squid),
      ...(cores ? [fmtRatio(r.coresRatios?.[f]?.nginx), fmtRatio(r.coresRatios?.[f]?.hoard)] : []),
      targetCell(r, f),
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(head),
    line(head.map((_, i) => i === 0 || i === head.length - 1 ? "---" : "---:")),
    ...rows.map(line),
  ].join("\n");
}

/** Notes, errors and skip reasons of every contender, one line each. */
export function issues(r: Results): string[] {
  const out: string[] = [];
  for (const n of shown(r)) {
    const c = r.contenders[n];
    if (!c) continue;
    if (c.status === "skipped") out.push(`${n}: skipped — ${c.reason}`);
    for (const [step, e] of Object.entries(c.errors)) out.push(`${n}: ${step} failed — ${e}`);
    for (const note of c.notes) out.push(`${n}: ${note}`);
  }
  return out;
}

/** `results.json`: the whole {@linkcode Results}. */
export function resultsJson(r: Results): string {
  return JSON.stringify(r, null, 2) + "\n";
}

/** `results.md`: the table, the targets, how it was measured and the configs. */
export function resultsMd(r: Results): string {
  const tools = Object.entries(r.tools).map(([k, v]) => `${k} ${v}`).join("; ");
  const versions = shown(r).filter((n) => n !== "direct").map((n) => r.contenders[n]?.version)
    .filter(Boolean).join("; ");
  const short = r.targets.filter((t) => t.met === false);
  const met = r.targets.filter((t) => t.met === true);
  const targetLine = (t: Results["targets"][number]) =>
    `- ${t.subject ? `${t.subject}, ` : ""}${
      FIGURE_INFO[t.figure].label
    }: target ${t.text}, measured ${
      t.actual === undefined
        ? "n/a"
        : t.peer
        ? fmtRatio(t.actual)
        : withUnit(t.actual, FIGURE_INFO[t.figure])
    }`;
  const notes = issues(r);
  const configs = shown(r).flatMap((n) => {
    const cfg = r.contenders[n]?.config;
    return cfg
      ? [
        `<details><summary>${n} config</summary>\n\n\`\`\`\n${cfg.trimEnd()}\n\`\`\`\n\n</details>\n`,
      ]
      : [];
  });
  return `# hoard benchmark results

${r.date} · \`${r.command}\` · ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}${
    r.machine.caches === undefined ? "" : ` · caches in ${r.machine.caches}`
  } · ${r.durationSeconds.toFixed(0)} s

${table(r)}

Ratios are hoard ÷ peer for the figure as measured, so above 1 is better for hoard where higher is
better (requests/s, MB/s) and worse where lower is better (latency, memory, origin requests, time);
cores/… are hoard-cores' (\`--workers auto\`) likewise, cores/hoard what the threads change.
RSS growth below 0.25 MiB per stream is within the noise of the measurement and is taken as 0.25
for the ratio. Chart: [ratios.svg](ratios.svg).

## Targets (issue 7; hoard-cores: issue 18)

Met:
${met.length ? met.map(targetLine).join("\n") : "- none"}

Short of target:
${short.length ? short.map(targetLine).join("\n") : "- none"}

## How it was measured

All on one machine over loopback, one contender at a time against the same origin
(\`scripts/bench_origin.ts\`: raw TCP, keep-alive, \`Cache-Control: max-age=3600\`), each with an
empty cache in its own temp dir, removed at the end of the run (removing one's many small files
slows the file creations of the next on an ext4 without a journal). Versions: ${versions}.
Tools: ${tools}.${
    Number(r.settings["rounds"] ?? 1) > 1
      ? `\nEach figure is the median of ${
        r.settings["rounds"]
      } rounds; in every round each contender ran in\nturn, so that the machine's drift during the run weighs on all alike.`
      : ""
  }

- **1 KiB hit**: one request stores the object, wrk warms for ${r.settings["warmSeconds"]} s, then
  \`wrk -t2 -c64 -d${r.settings["seconds"]}s --latency\`. Forward proxies (hoard, squid) get
  absolute-form requests (a Lua script sets \`wrk.path\` to the full URL); nginx gets origin-form
  requests on its reverse-proxy port; direct goes to the origin.
- **100 MiB hit**: one download stores it, one is piped to \`sha256sum\` and checked against the
  SHA-256 of the origin's bytes, then the median of ${r.settings["hitRuns"]} curl downloads to
  /dev/null (MB = 10^6 bytes). Before each timed 100 MiB download (hit or miss) and the collapsing
  run, \`sync\` writes dirty pages back, so that one run's stored body is not written back
  during, and slowing, the next.
- **RSS per stream**: ${r.settings["streams"]} concurrent 100 MiB hit downloads; (peak − before) ÷
  ${r.settings["streams"]}, summed over the contender's process tree (nginx master and workers,
  squid and its helpers, hoard's one process, threads and all); the peak is the kernel's VmHWM
  after resetting it through \`/proc/PID/clear_refs\`.
- **1 KiB miss**: ${r.settings["missRequests"]} sequential requests (after ${
    r.settings["missWarmup"]
  }
  unmeasured) to unique URLs on one kept client connection, from a small Deno client; p50 of each
  request's time; "added" is that minus direct's p50.
- **100 MiB miss**: median of ${r.settings["missRuns"]} downloads of unique URLs (each stored as it
  passes). Before each, and before the collapsing run, the page cache is also dropped (when run as
  root): in a VM, filling page cache on memory the guest never used before is slow, and without
  this whoever writes first pays for it (consecutive 100 MiB misses fell from 1.1 to 0.4 GB/s).
- **Collapsing**: ${r.settings["collapseClients"]} concurrent curl transfers (one connection each)
  of one uncached 10 MiB URL; origin requests from the origin's own counter; every response checked
  for 200 and the full size.

Configured fairly for each: nginx with \`worker_processes ${
    r.settings["nginxWorkers"]
  }\` (both cores), \`sendfile on\`,
upstream keep-alive, \`proxy_cache_lock on\` (nginx's way to collapse misses, off by default) and
a high \`keepalive_requests\`; squid with \`collapsed_forwarding on\` (off by default),
\`cache_mem 64 MB\`, a \`ufs\` cache_dir and \`maximum_object_size 1 GB\`; hoard with its defaults
(one process, one thread); hoard-cores the same with \`--workers auto\` (one process, a thread per
core on one port and one cache directory). wrk, curl and the origin share the same ${r.machine.cores}
cores with the contender.

## Notes

${notes.length ? notes.map((n) => `- ${n}`).join("\n") : "- none"}

## Reproduce

\`\`\`sh
deno task bench               # all contenders, wrk for ${
    r.settings["seconds"]
  } s (installs wrk, curl, nginx, squid with apt-get if missing)
deno task bench --seconds 20  # longer wrk runs
deno task bench --quick       # smoke check, writes nothing unless --out DIR
\`\`\`

${configs.join("\n")}`;
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/**
 * `ratios.svg`: per figure, a bar for hoard/nginx and one for hoard/squid on
 * a log2 scale centred on 1×; green where hoard is better, red where worse;
 * ratio targets as a black tick on their bar, absolute targets as text.
 */
export function ratiosSvg(r: Results): string {
  const figures = FIGURES.filter((f) => FIGURE_INFO[f].chart);
  const W = 1060, left = 300, plotW = 420, right = left + plotW;
  const top = 88, groupH = 58, barH = 16;
  const H = top + figures.length * groupH + 70;
  const logs = figures.flatMap((f) => PEERS.map((p) => r.ratios[f]?.[p]))
    .filter((v): v is number => v !== undefined)
    .map((v) => Math.abs(Math.log2(v)));
  for (const t of r.targets) if (t.peer && ofHoard(t)) logs.push(Math.abs(Math.log2(t.value)));
  const D = Math.min(6, Math.max(2, Math.ceil(Math.max(0, ...logs))));
  const x = (v: number) => {
    const l = Math.max(-D, Math.min(D, Math.log2(v)));
    return left + (l + D) / (2 * D) * plotW;
  };
  const x1 = x(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="20" y="26" font-size="17" font-weight="bold">hoard ÷ nginx and hoard ÷ squid, per figure (log scale)</text>`,
    `<text x="20" y="46" fill="#555">${
      esc(`${r.date.slice(0, 10)} · ${r.machine.cores} cores · loopback · ${r.command}`)
    }</text>`,
  );
  // Grid: powers of two.
  for (let k = -D; k <= D; k++) {
    const gx = left + (k + D) / (2 * D) * plotW;
    const label = k === 0 ? "1×" : k > 0 ? `${2 ** k}×` : `1/${2 ** -k}×`;
    out.push(
      `<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${H - 60}" stroke="${
        k === 0 ? "#333" : "#e3e3e3"
      }" stroke-width="${k === 0 ? 1.5 : 1}"/>`,
      `<text x="${gx}" y="${top - 12}" text-anchor="middle" fill="#555">${label}</text>`,
      `<text x="${gx}" y="${H - 46}" text-anchor="middle" fill="#555">${label}</text>`,
    );
  }
  out.push(
    `<text x="${right + 20}" y="${top - 12}" fill="#555">target on hoard's own value</text>`,
  );
  figures.forEach((f, i) => {
    const info = FIGURE_INFO[f];
    const gy = top + i * groupH;
    if (i % 2 === 0) {
      out.push(`<rect x="10" y="${gy}" width="${W - 20}" height="${groupH}" fill="#f7f7f7"/>`);
    }
    out.push(
      `<text x="20" y="${gy + 20}" font-weight="bold">${esc(info.short)}</text>`,
      `<text x="20" y="${gy + 37}" fill="#666">${
        info.higherIsBetter ? "higher is better" : "lower is better"
      }</text>`,
    );
    PEERS.forEach((peer, j) => {
      const by = gy + 8 + j * (barH + 8);
      const v = r.ratios[f]?.[peer];
      out.push(
        `<text x="${left - 8}" y="${
          by + barH - 4
        }" text-anchor="end" fill="#333">vs ${peer}</text>`,
      );
      if (v === undefined) {
        const pv = r.contenders[peer]?.figures[f];
        const why = pv === undefined ? "not measured" : `${peer} ${withUnit(pv, info)}: no ratio`;
        out.push(`<text x="${x1 + 6}" y="${by + barH - 4}" fill="#999">${esc(why)}</text>`);
      } else {
        const xv = x(v);
        const better = info.higherIsBetter ? v >= 1 : v <= 1;
        const color = Math.abs(v - 1) < 0.005 ? "#888" : better ? "#2e7d32" : "#c62828";
        const bx = Math.min(x1, xv), bw = Math.max(1.5, Math.abs(xv - x1));
        out.push(
          `<rect x="${bx.toFixed(1)}" y="${by}" width="${
            bw.toFixed(1)
          }" height="${barH}" fill="${color}" rx="2"/>`,
        );
        const clipped = Math.abs(Math.log2(v)) > D;
        const label = `${v >= 10 ? v.toFixed(1) : v.toFixed(2)}×${clipped ? " (off scale)" : ""}`;
        out.push(
          v >= 1
            ? `<text x="${(xv + 5).toFixed(1)}" y="${by + barH - 4}" fill="#222">${label}</text>`
            : `<text x="${(xv - 5).toFixed(1)}" y="${
              by + barH - 4
            }" text-anchor="end" fill="#222">${label}</text>`,
        );
      }
      for (const t of r.targets.filter((t) => ofHoard(t) && t.figure === f && t.peer === peer)) {
        const tx = x(t.value).toFixed(1);
        const ok = t.met === undefined ? "" : t.met ? " ✓" : " ✗";
        out.push(
          `<line x1="${tx}" y1="${by - 3}" x2="${tx}" y2="${
            by + barH + 3
          }" stroke="#000" stroke-width="2.5" stroke-dasharray="3,2"/>`,
          `<line x1="${right + 22}" y1="${by}" x2="${right + 22}" y2="${
            by + barH
          }" stroke="#000" stroke-width="2.5" stroke-dasharray="3,2"/>`,
          `<text x="${right + 32}" y="${by + barH - 4}" fill="#000">target ${
            esc(t.text)
          }${ok}</text>`,
        );
      }
    });
    // Targets on hoard's own value; the one on the fraction of direct shows with miss MB/s.
    const own = r.targets.filter((t) =>
      !t.peer && ofHoard(t) &&
      (t.figure === f || (f === "miss100mMBps" && t.figure === "miss100mVsDirect"))
    );
    for (const t of own) {
      const tInfo = FIGURE_INFO[t.figure];
      const v = t.actual === undefined ? "n/a" : withUnit(t.actual, tInfo);
      out.push(
        `<text x="${right + 20}" y="${gy + 34}" fill="${
          t.met === undefined ? "#999" : t.met ? "#2e7d32" : "#c62828"
        }">hoard ${esc(v)}: target ${esc(t.text)}${
          t.met === undefined ? "" : t.met ? " ✓" : " ✗"
        }</text>`,
      );
    }
  });
  const ly = H - 22;
  out.push(
    `<rect x="20" y="${
      ly - 11
    }" width="14" height="12" fill="#2e7d32"/><text x="40" y="${ly}">hoard better</text>`,
    `<rect x="140" y="${
      ly - 11
    }" width="14" height="12" fill="#c62828"/><text x="160" y="${ly}">hoard worse</text>`,
    `<line x1="260" y1="${ly - 12}" x2="260" y2="${
      ly + 2
    }" stroke="#000" stroke-width="2.5" stroke-dasharray="3,2"/><text x="268" y="${ly}">target from issue 7 (on the ratio)</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}
