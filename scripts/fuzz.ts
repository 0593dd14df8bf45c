#!/usr/bin/env -S deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run --allow-env
/**
 * Fuzzing hoard, the long run. Two phases:
 *
 * 1. **codec**: random bytes, "token soup" and mutated valid request heads
 *    through the server's parsing path (`leadingEmptyLines`, the start-byte
 *    check, `findHeadEnd`, `parseRequestHead`, `interpretRequest`,
 *    `requestFraming`, and `BufferedConn.readHead` fed in pieces), and valid
 *    and mutated chunked bodies through `ChunkedDecoder`, split at random
 *    points. Every input must parse or be refused with an `HttpSyntaxError`
 *    carrying a refusal status; parsed heads must round-trip; valid chunked
 *    bodies must decode to exactly their data; no decoder may consume or
 *    return more than it was given.
 * 2. **live**: a hoard process (as users start it) and a local origin; single,
 *    pipelined, chunked, CONNECT and mutated requests and garbage, each on a
 *    fresh connection that is then half-closed. hoard must answer with
 *    well-formed HTTP/1.1 responses or close, as a model built from the codec
 *    predicts (refusal statuses, its own pages, no more responses than
 *    requests, nothing smuggled to the origin); afterwards its open-connection
 *    gauge is back at the baseline, it still serves and caches, it logged no
 *    internal error, and it exits 0 on SIGTERM.
 *
 * The generators, the model and the checks live here; `tests/http1/fuzz_test.ts`
 * and `tests/e2e/fuzz_test.ts` run them with small, seeded counts in CI. Only
 * 127.0.0.1 is ever contacted (hoard runs with `--allow-hosts 127.0.0.1`, so a
 * mutated host name never leads to a DNS lookup).
 *
 * Usage: deno run -A scripts/fuzz.ts [--runs 100000] [--live-runs RUNS/20] [--seed N]
 *
 * Prints the counts and exits 1 when any invariant broke (the first few
 * inputs that broke one are printed with their seed, to reproduce).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { ChunkedDecoder } from "../src/http1/chunked.ts";
import { trimOws } from "../src/http1/fields.ts";
import { type BodyFraming, requestFraming, responseFraming } from "../src/http1/framing.ts";
import { findHeadEnd, leadingEmptyLines } from "../src/http1/head_end.ts";
import {
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "../src/http1/parse_head.ts";
import { serializeRequestHead } from "../src/http1/serialize.ts";
import { HttpSyntaxError, type RefusalStatus } from "../src/http1/syntax_error.ts";
import { BufferedConn, MAX_HEAD_BYTES, UnexpectedEofError } from "../src/io/buffered_conn.ts";
import {
  interpretRequest,
  isRequestStart,
  type ProxyRequest,
} from "../src/request/read_request.ts";
import { curl } from "../tests/_helpers/clients.ts";
import { startHoardProcess } from "../tests/_helpers/process.ts";
import { bytes as latin1, ScriptedConn, text, writeAll } from "../tests/_helpers/sockets.ts";
import { concat } from "../tests/http1/_codec.ts";

// ---------------------------------------------------------------------------
// Common.

/** The seed every property here runs with (a failure names its own seed and path too). */
export const FUZZ_SEED = 20261125;

/** The statuses the codec may refuse with. */
export const REFUSAL_STATUSES: ReadonlySet<number> = new Set([400, 413, 417, 431, 501, 505]);

/** An invariant of the codec did not hold for an input (as opposed to a refusal). */
export class CodecViolation extends Error {
  /** @param message what broke, with the input quoted. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CodecViolation";
  }
}

/** Quotes bytes for a failure message (latin1, JSON-escaped, cut at 400 chars). */
export function quote(input: Uint8Array): string {
  const s = JSON.stringify(text(input.subarray(0, 400)));
  return input.length > 400 ? `${s}… (${input.length} bytes)` : s;
}

// ---------------------------------------------------------------------------
// Generators: request heads.

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-.";
const PATH_CHARS =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%";

const chars = (set: string) => fc.constantFrom(...set);
const token = (max = 10) => fc.string({ unit: chars(TCHAR), minLength: 1, maxLength: max });
const vchar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const obsText = fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c));
/** A field value as a client may send it: VCHAR, obs-text, and inner or surrounding OWS. */
const fieldValue = fc.string({
  unit: fc.oneof(
    { arbitrary: vchar, weight: 12 },
    { arbitrary: fc.constantFrom(" ", "\t"), weight: 2 },
    { arbitrary: obsText, weight: 1 },
  ),
  maxLength: 30,
});

const hostName = fc.oneof(
  { arbitrary: fc.string({ unit: chars(HOST_CHARS), minLength: 1, maxLength: 20 }), weight: 4 },
  {
    arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join(".")),
    weight: 2,
  },
  { arbitrary: fc.constantFrom("[::1]", "[2001:db8::1]", "files.example.test"), weight: 1 },
);
const port = fc.integer({ min: 1, max: 65535 });
const authority = fc.tuple(hostName, fc.option(port)).map(([h, p]) => p === null ? h : `${h}:${p}`);
const path = fc.tuple(
  fc.string({ unit: chars(PATH_CHARS), maxLength: 20 }),
  fc.option(fc.string({ unit: chars(PATH_CHARS + "?"), maxLength: 12 })),
).map(([p, q]) => `/${p}${q === null ? "" : `?${q}`}`);
const absolute = fc.tuple(
  fc.constantFrom("http", "https", "HTTP"),
  authority,
  fc.oneof(
    path,
    fc.constantFrom("", "?q=1"),
  ),
).map(([s, a, p]) => `${s}://${a}${p}`);

/** A valid request as a spec: what it is, and the framing it must get. */
export interface HeadSpec {
  /** Method token. */
  method: string;
  /** Request-target. */
  target: string;
  /** HTTP/1.minor. */
  minor: 0 | 1;
  /** Field lines in wire order. */
  fields: [string, string][];
  /** The framing `interpretRequest` must find. */
  framing: BodyFraming;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"];

/** Valid request heads: every one must parse and be interpreted with the framing it names. */
export const validHeads: fc.Arbitrary<HeadSpec> = fc.record({
  method: fc.oneof({ arbitrary: fc.constantFrom(...METHODS), weight: 6 }, {
    arbitrary: token(8),
    weight: 1,
  }),
  minor: fc.constantFrom<0 | 1>(1, 1, 1, 0),
  framingKind: fc.constantFrom("none", "none", "length", "chunked"),
  length: fc.nat(999_999),
  hostValue: fc.oneof({ arbitrary: authority, weight: 5 }, {
    arbitrary: fc.constant(""),
    weight: 1,
  }),
  connection: fc.option(fc.constantFrom("close", "keep-alive", "Keep-Alive, Upgrade")),
  expect: fc.boolean(),
  extras: fc.array(fc.tuple(token(12).map((t) => `X-${t}`), fieldValue), { maxLength: 5 }),
  shuffle: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
}).chain((r) => {
  const target = r.method === "CONNECT"
    ? fc.tuple(hostName, port).map(([h, p]) => `${h}:${p}`)
    : r.method === "OPTIONS"
    ? fc.oneof(fc.constant("*"), path, absolute)
    : fc.oneof(path, absolute);
  return target.map((t): HeadSpec => {
    const fields: [string, string][] = [];
    if (r.method !== "CONNECT" || r.minor === 1) fields.push(["Host", r.hostValue]);
    let framing: BodyFraming = { kind: "none" };
    // Transfer-Encoding is refused in HTTP/1.0: such requests get a length instead.
    const kind = r.framingKind === "chunked" && r.minor === 0 ? "length" : r.framingKind;
    if (kind === "length") {
      fields.push(["Content-Length", String(r.length)]);
      framing = { kind: "length", length: r.length };
    } else if (kind === "chunked") {
      fields.push(["Transfer-Encoding", "chunked"]);
      framing = { kind: "chunked" };
    }
    if (r.connection !== null) fields.push(["Connection", r.connection]);
    if (r.expect) fields.push(["Expect", "100-continue"]);
    fields.push(...r.extras);
    // A permutation of the field lines: order must not matter to validity.
    const order = fields.map((f, i) => ({ f, k: r.shuffle[i % r.shuffle.length]! + i / 100 }));
    order.sort((a, b) => a.k - b.k);
    return {
      method: r.method,
      target: t,
      minor: r.minor,
      fields: order.map((o) => o.f),
      framing,
    };
  });
});

/** A head spec as bytes: request-line, field lines, empty line. */
export function headBytes(spec: Pick<HeadSpec, "method" | "target" | "minor" | "fields">): string {
  const lines = [
    `${spec.method} ${spec.target} HTTP/1.${spec.minor}`,
    ...spec.fields.map(([n, v]) => `${n}: ${v}`),
  ];
  return lines.join("\r\n") + "\r\n\r\n";
}

/** One edit of a head: of its bytes, or of its lines. */
export type Mutation =
  | { op: "insert"; at: number; bytes: string }
  | { op: "replace"; at: number; byte: string }
  | { op: "delete"; at: number; length: number }
  | { op: "dupLine"; line: number }
  | { op: "swapLines"; a: number; b: number }
  | { op: "dropLine"; line: number }
  | { op: "addLine"; line: number; text: string };

/** Bytes that matter to a parser: line ends, NUL, controls, obs-text, separators. */
export const INTERESTING_BYTES: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom("\r", "\n", "\r\n", "\x00", " ", "\t", ":", ",", ";"), weight: 8 },
  {
    arbitrary: fc.constantFrom("\x7f", "\x0b", "\x0c", "\r\n\r\n", "\n\n", "\r\r", '"'),
    weight: 2,
  },
  { arbitrary: obsText, weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), weight: 2 },
  { arbitrary: fc.constantFrom("0", "5", "9", "a", "F", "-", "+", "x"), weight: 2 },
);

const INTERESTING_LINES = [
  "Transfer-Encoding: chunked",
  "Transfer-Encoding: chunked, chunked",
  "Transfer-Encoding: gzip, chunked",
  "Transfer-Encoding: identity",
  "Transfer-Encoding : chunked",
  "transfer-encoding:\tchunked ",
  "Content-Length: 0",
  "Content-Length: 5",
  "Content-Length: 5, 5",
  "Content-Length: +5",
  "Content-Length: 99999999999999999999",
  "Host: a.example.test",
  "Host: ",
  "Host: a b",
  "Host: [::1]:8080",
  " folded",
  "\tfolded",
  "Expect: 100-continue",
  "Expect: 200-ok",
  "Connection: close",
  "Connection: keep-alive",
  "X-Nul: a\x00b",
  ":",
  ": empty-name",
  "",
  "GET / HTTP/1.1",
  "Upgrade: h2c",
];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: INTERESTING_BYTES,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      at: fc.nat(),
      byte: INTERESTING_BYTES.map((b) => b[0]!),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("delete" as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 8 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant("dupLine" as const), line: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant("swapLines" as const), a: fc.nat(), b: fc.nat() }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant("dropLine" as const), line: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("addLine" as const),
      line: fc.nat(),
      text: fc.constantFrom(...INTERESTING_LINES),
    }),
    weight: 3,
  },
);

/**
 * Applies `mutations` to a head: line edits first (on the lines before the
 * empty one), then byte edits; with `keepEnd` the byte edits leave the final
 * CRLFCRLF alone, so most mutants still reach the parser.
 */
export function mutate(head: string, mutations: readonly Mutation[], keepEnd: boolean): string {
  const lines = head.slice(0, -4).split("\r\n");
  const byteOps: Mutation[] = [];
  for (const m of mutations) {
    const n = lines.length;
    switch (m.op) {
      case "dupLine":
        lines.splice(m.line % n, 0, lines[m.line % n]!);
        break;
      case "swapLines": {
        const a = m.a % n, b = m.b % n;
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        break;
      }
      case "dropLine":
        if (n > 1) lines.splice(m.line % n, 1);
        break;
      case "addLine":
        lines.splice(m.line % (n + 1), 0, m.text);
        break;
      default:
        byteOps.push(m);
    }
  }
  const edited = applyByteEdits(lines.join("\r\n") + (keepEnd ? "" : "\r\n\r\n"), byteOps);
  return keepEnd ? edited + "\r\n\r\n" : edited;
}

/** Applies the byte edits among `edits` (positions taken modulo the length) to `s`. */
export function applyByteEdits(s: string, edits: readonly Mutation[]): string {
  for (const m of edits) {
    if (m.op !== "insert" && m.op !== "replace" && m.op !== "delete") continue;
    const i = m.at % (s.length + 1);
    if (m.op === "insert") s = s.slice(0, i) + m.bytes + s.slice(i);
    else if (m.op === "replace") s = s.slice(0, i) + m.byte + s.slice(i + 1);
    else s = s.slice(0, i) + s.slice(i + m.length);
  }
  return s;
}

/** Mutated valid heads (one to four edits). */
export const mutatedHeads: fc.Arbitrary<Uint8Array> = fc.tuple(
  validHeads,
  fc.array(mutation, { minLength: 1, maxLength: 4 }),
  fc.integer({ min: 0, max: 9 }),
).map(([spec, ms, k]) => latin1(mutate(headBytes(spec), ms, k < 8)));

const SOUP = [
  "GET",
  "POST",
  "CONNECT",
  "OPTIONS",
  " ",
  "/",
  "*",
  "http://",
  "a.example.test",
  ":80",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/1.1\r\n",
  "\r\n",
  "\r\n\r\n",
  "\n",
  "\r",
  ":",
  ": ",
  "Host",
  "Transfer-Encoding",
  "Content-Length",
  "Expect",
  "Connection",
  "chunked",
  "100-continue",
  "close",
  "0",
  "5",
  ",",
  "\t",
  "\x00",
  "\x80",
  "\xff",
  "\x7f",
];

/** Concatenated pieces of HTTP: reaches deeper than uniform random bytes. */
export const tokenSoup: fc.Arbitrary<Uint8Array> = fc.array(fc.constantFrom(...SOUP), {
  maxLength: 40,
}).map((parts) => latin1(parts.join("")));

/** Heads near the limits: about 100 field lines (431 above it), or a field of about 64 KiB. */
export const largeHeads: fc.Arbitrary<Uint8Array> = fc.tuple(
  validHeads,
  fc.integer({ min: 90, max: 110 }),
  fc.oneof(fc.constant(0), fc.integer({ min: 65_000, max: 66_000 })),
).map(([spec, n, big]) => {
  const extra: [string, string][] = big > 0
    ? [["X-Big", "b".repeat(big)]]
    : Array.from({ length: Math.max(0, n - spec.fields.length) }, (_, i) => [`X-F${i}`, `${i}`]);
  return latin1(headBytes({ ...spec, fields: [...spec.fields, ...extra] }));
});

/** Every kind of request input, mostly mutated heads. */
export const requestInputs: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: mutatedHeads, weight: 12 },
  { arbitrary: tokenSoup, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 2 },
  { arbitrary: validHeads.map((s) => latin1(headBytes(s))), weight: 2 },
  { arbitrary: largeHeads, weight: 1 },
);

// ---------------------------------------------------------------------------
// The request path as the server runs it.

/** Where the codec stopped with an input. */
export type CodecOutcome =
  /** No complete head (the server would wait for more bytes, then give up). */
  | { kind: "incomplete" }
  /** Refused: the status the client gets. */
  | {
    kind: "refused";
    status: RefusalStatus;
    message: string;
    /** The method, when the head parsed (a refusal to HEAD has no body). */
    method?: string;
  }
  /** A request that passed every check. */
  | { kind: "parsed"; head: RequestHead; request: ProxyRequest; end: number; skipped: number };

/** Longest a single input may take through the codec before it counts as a hang. */
export const SLOW_INPUT_MS = 500;

function refusal(
  err: unknown,
  stage: string,
  input: Uint8Array,
): Extract<CodecOutcome, { kind: "refused" }> {
  if (!(err instanceof HttpSyntaxError)) {
    throw new CodecViolation(
      `${stage} threw ${String(err)} (not HttpSyntaxError) for ${quote(input)}`,
      {
        cause: err,
      },
    );
  }
  if (err.name !== "HttpSyntaxError" || !REFUSAL_STATUSES.has(err.status)) {
    throw new CodecViolation(`${stage} refused with status ${err.status} for ${quote(input)}`);
  }
  if (err.message === "" || err.message.includes("\n")) {
    throw new CodecViolation(
      `${stage}: refusal message is not one line: ${JSON.stringify(err.message)}`,
    );
  }
  return { kind: "refused", status: err.status, message: err.message };
}

/**
 * Runs `input` through the request path the way the server does (leading
 * empty lines skipped, the start byte checked, the head found, parsed and
 * interpreted), checking the codec's invariants on the way: refusals are
 * `HttpSyntaxError`s with a refusal status, `requestFraming` agrees with
 * `interpretRequest`, and a parsed head round-trips.
 *
 * @throws {CodecViolation} when an invariant breaks.
 */
export function checkRequestCodec(input: Uint8Array): CodecOutcome {
  const started = performance.now();
  const outcome = requestCodec(input);
  const ms = performance.now() - started;
  if (ms > SLOW_INPUT_MS) {
    throw new CodecViolation(
      `${ms.toFixed(0)} ms for one input (${input.length} bytes): ${quote(input)}`,
    );
  }
  return outcome;
}

function requestCodec(input: Uint8Array): CodecOutcome {
  const skipped = leadingEmptyLines(input);
  const rest = input.subarray(skipped);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === 13)) return { kind: "incomplete" };
  if (!isRequestStart(rest[0]!)) {
    return { kind: "refused", status: 400, message: "not an HTTP message" };
  }
  let end: number;
  try {
    end = findHeadEnd(rest);
  } catch (err) {
    return refusal(err, "findHeadEnd", input);
  }
  if (end === -1) {
    if (rest.length >= MAX_HEAD_BYTES) {
      return { kind: "refused", status: 431, message: "header section too large" };
    }
    return { kind: "incomplete" };
  }
  if (end > MAX_HEAD_BYTES) {
    return { kind: "refused", status: 431, message: "header section too large" };
  }
  const headBytes = rest.subarray(0, end);
  let head: RequestHead;
  try {
    head = parseRequestHead(headBytes);
  } catch (err) {
    return refusal(err, "parseRequestHead", input);
  }
  checkRoundTrip(head, input);
  let framing: BodyFraming | undefined, framingError: CodecOutcome | undefined;
  try {
    framing = requestFraming(head);
  } catch (err) {
    framingError = refusal(err, "requestFraming", input);
  }
  let request: ProxyRequest;
  try {
    request = interpretRequest(head);
  } catch (err) {
    return { ...refusal(err, "interpretRequest", input), method: head.method };
  }
  if (framingError !== undefined || !sameFraming(framing!, request.framing)) {
    throw new CodecViolation(
      `interpretRequest accepted framing ${
        JSON.stringify(request.framing)
      } but requestFraming says ${JSON.stringify(framingError ?? framing)} for ${quote(input)}`,
    );
  }
  return { kind: "parsed", head, request, end: skipped + end, skipped };
}

function sameFraming(a: BodyFraming, b: BodyFraming): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * parse → serialize → parse gives the same method, target and fields (the
 * version becomes 1.1: hoard only speaks 1.1), and serializing that again
 * gives the same bytes. For an HTTP/1.1 head the interpretation is the same.
 */
function checkRoundTrip(head: RequestHead, input: Uint8Array): void {
  const fail = (what: string) => {
    throw new CodecViolation(`round trip: ${what} for ${quote(input)}`);
  };
  const once = serializeRequestHead(head.method, head.target, head.fields);
  let end: number;
  let again: RequestHead;
  try {
    end = findHeadEnd(once);
    again = parseRequestHead(once.subarray(0, end));
  } catch (err) {
    return fail(`the serialized head does not parse (${String(err)}): ${quote(once)}`);
  }
  if (end !== once.length) fail(`head end ${end} of ${once.length} serialized bytes`);
  if (again.method !== head.method || again.target !== head.target || again.minor !== 1) {
    fail(`request-line changed: ${again.method} ${again.target} 1.${again.minor}`);
  }
  if (JSON.stringify([...again.fields]) !== JSON.stringify([...head.fields])) {
    fail(`fields changed: ${JSON.stringify([...again.fields])}`);
  }
  const twice = serializeRequestHead(again.method, again.target, again.fields);
  if (text(twice) !== text(once)) fail("serializing twice gave other bytes");
  if (head.minor !== 1) return;
  const a = interpretOrStatus(head), b = interpretOrStatus(again);
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    fail(`interpretation changed: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
}

function interpretOrStatus(head: RequestHead): unknown {
  try {
    const r = interpretRequest(head);
    return [r.target, r.framing, r.keepAlive, r.expectContinue, r.url];
  } catch (err) {
    return err instanceof HttpSyntaxError ? err.status : String(err);
  }
}

/** What `BufferedConn.readHead` made of an input fed in pieces. */
export type ReadHeadResult =
  | { kind: "head"; bytes: string }
  | { kind: "none" }
  | { kind: "eof" }
  | { kind: "refused"; status: number };

/** Feeds `input` in pieces of `sizes` (cycling) to `BufferedConn.readHead`. */
export async function readHeadInPieces(
  input: Uint8Array,
  sizes: readonly number[],
): Promise<ReadHeadResult> {
  const pieces: Uint8Array[] = [];
  for (let at = 0, k = 0; at < input.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    pieces.push(input.subarray(at, at + n));
    at += n;
  }
  const io = new BufferedConn(new ScriptedConn(pieces).conn);
  try {
    const head = await io.readHead(isRequestStart);
    return head === null ? { kind: "none" } : { kind: "head", bytes: text(head) };
  } catch (err) {
    if (err instanceof UnexpectedEofError) return { kind: "eof" };
    if (err instanceof HttpSyntaxError) return { kind: "refused", status: err.status };
    throw new CodecViolation(`readHead threw ${String(err)} for ${quote(input)}`, { cause: err });
  }
}

/**
 * The server's real head reader, fed `input` in pieces, agrees with
 * {@linkcode checkRequestCodec}: the same head bytes, the same refusal status
 * (or a head the parser refuses later), EOF where the codec needs more.
 *
 * @throws {CodecViolation}
 */
export async function checkReadHead(
  input: Uint8Array,
  sizes: readonly number[],
  codec: CodecOutcome = checkRequestCodec(input),
): Promise<ReadHeadResult> {
  const got = await readHeadInPieces(input, sizes);
  let want: string;
  if (codec.kind === "parsed") {
    want = JSON.stringify({ kind: "head", bytes: text(input.subarray(codec.skipped, codec.end)) });
  } else if (codec.kind === "incomplete") {
    want = JSON.stringify({ kind: leadingEmptyLines(input) === input.length ? "none" : "eof" });
  } else if (got.kind === "refused") {
    // Refused by readHead itself (start byte, bare LF, size)…
    want = JSON.stringify({ kind: "refused", status: codec.status });
  } else {
    // …or only later, by the parser, on a head readHead returned.
    want = got.kind === "head" ? JSON.stringify(got) : "a head";
  }
  if (JSON.stringify(got) !== want) {
    throw new CodecViolation(
      `readHead (pieces ${JSON.stringify(sizes)}) gave ${JSON.stringify(got).slice(0, 200)}, ` +
        `the codec says ${want.slice(0, 200)} for ${quote(input)}`,
    );
  }
  return got;
}

/**
 * A valid head parses, is interpreted with the framing its spec names, and
 * keeps its request-line and fields (values without their surrounding OWS).
 *
 * @throws {CodecViolation}
 */
export function checkValidHead(spec: HeadSpec): CodecOutcome {
  const input = latin1(headBytes(spec));
  const out = checkRequestCodec(input);
  const fail = (what: string): never => {
    throw new CodecViolation(`valid head: ${what} for ${quote(input)}`);
  };
  if (out.kind !== "parsed") return fail(`not parsed: ${JSON.stringify(out)}`);
  if (out.end !== input.length) fail(`head ends at ${out.end} of ${input.length}`);
  const { head, request } = out;
  if (head.method !== spec.method || head.target !== spec.target || head.minor !== spec.minor) {
    fail(`request-line read as ${head.method} ${head.target} 1.${head.minor}`);
  }
  if (!sameFraming(request.framing, spec.framing)) {
    fail(`framing ${JSON.stringify(request.framing)}`);
  }
  const fields = JSON.stringify(spec.fields.map(([n, v]) => [n, trimOws(v)]));
  if (JSON.stringify([...head.fields]) !== fields) {
    fail(`fields ${JSON.stringify([...head.fields])}`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Generators and checks: chunked bodies.

/** One chunk of a valid chunked body. */
export interface ChunkSpec {
  /** Its data (1 byte or more). */
  data: Uint8Array;
  /** Leading zeros of the size. */
  zeros: number;
  /** Upper-case hex digits. */
  upper: boolean;
  /** chunk-ext, with its leading BWS and ";". */
  ext: string;
}

/** A valid chunked body. */
export interface ChunkedSpec {
  /** Data chunks. */
  chunks: ChunkSpec[];
  /** Leading zeros of the last chunk's "0". */
  lastZeros: number;
  /** The last chunk's extensions. */
  lastExt: string;
  /** Trailer fields (name, value as sent). */
  trailers: [string, string][];
}

const quoted = fc.string({
  unit: fc.oneof(vchar.filter((c) => c !== '"' && c !== "\\"), fc.constant(" ")),
  maxLength: 10,
}).map((s) => `"${s}"`);
const chunkExt = fc.array(
  fc.tuple(
    fc.constantFrom("", "", " ", "\t", " \t"),
    fc.constantFrom("", "", " "),
    token(8),
    fc.option(fc.oneof(token(8), quoted)),
  ),
  { maxLength: 3 },
).map((exts) =>
  exts.map(([bws, bws2, name, value], i) =>
    // BWS before ";" is allowed only right after the size.
    `${i === 0 ? bws : ""};${bws2}${name}${value === null ? "" : `=${value}`}`
  ).join("")
);

/** Valid chunked bodies: sizes, extensions, trailers. */
export const validChunked: fc.Arbitrary<ChunkedSpec> = fc.record({
  chunks: fc.array(
    fc.record({
      data: fc.oneof(
        { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }), weight: 6 },
        { arbitrary: fc.uint8Array({ minLength: 65, maxLength: 5000 }), weight: 1 },
      ),
      zeros: fc.constantFrom(0, 0, 0, 1, 3),
      upper: fc.boolean(),
      ext: fc.oneof({ arbitrary: fc.constant(""), weight: 3 }, { arbitrary: chunkExt, weight: 1 }),
    }),
    { maxLength: 8 },
  ),
  lastZeros: fc.constantFrom(0, 0, 2),
  lastExt: fc.oneof({ arbitrary: fc.constant(""), weight: 3 }, { arbitrary: chunkExt, weight: 1 }),
  trailers: fc.array(fc.tuple(token(12), fieldValue), { maxLength: 3 }),
});

/** A chunked body spec as bytes. */
export function encodeChunked(spec: ChunkedSpec): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const c of spec.chunks) {
    const hex = c.data.length.toString(16);
    parts.push(latin1(`${"0".repeat(c.zeros)}${c.upper ? hex.toUpperCase() : hex}${c.ext}\r\n`));
    parts.push(c.data, latin1("\r\n"));
  }
  parts.push(latin1(`${"0".repeat(spec.lastZeros + 1)}${spec.lastExt}\r\n`));
  for (const [n, v] of spec.trailers) parts.push(latin1(`${n}: ${v}\r\n`));
  parts.push(latin1("\r\n"));
  return concat(parts);
}

/**
 * A valid chunked body (followed, with `pipelined`, by a request that must
 * stay unread) decodes in pieces of `sizes` to exactly its data and trailers,
 * consuming exactly its bytes; cut short anywhere, it is incomplete.
 *
 * @throws {CodecViolation}
 */
export function checkValidChunked(
  spec: ChunkedSpec,
  sizes: readonly number[],
  pipelined: boolean,
): ChunkedOutcome {
  const body = encodeChunked(spec);
  const next = latin1("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const input = pipelined ? concat([body, next]) : body;
  const fail = (what: string): never => {
    throw new CodecViolation(
      `valid chunked: ${what} (pieces ${JSON.stringify(sizes)}) for ${quote(input)}`,
    );
  };
  const out = checkChunked(input, sizes);
  if (out.kind !== "done") fail(`${out.kind}: ${out.message}`);
  if (out.consumed !== body.length) fail(`consumed ${out.consumed} of ${body.length}`);
  if (text(out.data) !== text(concat(spec.chunks.map((c) => c.data)))) fail("other data");
  const trailers = out.decoder.trailers;
  const want = spec.trailers.length === 0
    ? undefined
    : spec.trailers.map(([n, v]) => [n, trimOws(v)]);
  if (JSON.stringify(trailers === undefined ? undefined : [...trailers]) !== JSON.stringify(want)) {
    fail(`trailers ${JSON.stringify(trailers === undefined ? undefined : [...trailers])}`);
  }
  const cut = body.subarray(0, (sizes[0]! * 7919) % body.length);
  if (checkChunked(cut, sizes).kind !== "partial") fail(`cut at ${cut.length}: not incomplete`);
  return out;
}

/** Piece sizes to split an input at (cycled). */
export const pieceSizes: fc.Arbitrary<number[]> = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 400 })),
  { minLength: 1, maxLength: 8 },
);

/** What a decoder made of an input. */
export interface ChunkedOutcome {
  /** done: the body ended; partial: more input needed; refused: HttpSyntaxError. */
  kind: "done" | "partial" | "refused";
  /** Input bytes consumed (up to the piece that failed, when refused). */
  consumed: number;
  /** The decoded data. */
  data: Uint8Array;
  /** The refusal's message. */
  message?: string;
  /** The decoder (for trailers). */
  decoder: ChunkedDecoder;
}

/**
 * Decodes `input` in pieces, checking on every call that the decoder takes
 * no more than the piece, takes all of it unless done, and returns only views
 * of bytes it consumed; at the end, that it returned no more data than the
 * input held. Refusals must be `HttpSyntaxError` 400.
 *
 * @throws {CodecViolation}
 */
export function checkChunkedPieces(input: Uint8Array, sizes: readonly number[]): ChunkedOutcome {
  const decoder = new ChunkedDecoder();
  const data: Uint8Array[] = [];
  let at = 0, k = 0;
  const fail = (what: string): never => {
    throw new CodecViolation(
      `chunked: ${what} (pieces ${JSON.stringify(sizes)}) for ${quote(input)}`,
    );
  };
  while (at < input.length && !decoder.done) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    const piece = input.subarray(at, Math.min(at + size, input.length));
    const out: Uint8Array[] = [];
    let used: number | undefined;
    let refused: HttpSyntaxError | undefined;
    try {
      used = decoder.decode(piece, out);
    } catch (err) {
      if (!(err instanceof HttpSyntaxError)) {
        throw new CodecViolation(`chunked: decode threw ${String(err)} for ${quote(input)}`, {
          cause: err,
        });
      }
      if (err.status !== 400) fail(`refused with ${err.status}`);
      refused = err;
    }
    const limit = piece.byteOffset + (used ?? piece.length);
    for (const v of out) {
      if (
        v.buffer !== input.buffer || v.byteOffset < piece.byteOffset ||
        v.byteOffset + v.length > limit
      ) {
        fail("returned data outside the bytes it consumed");
      }
    }
    data.push(...out);
    if (refused !== undefined) {
      // A refused decoder never reports done (tests/http1/fuzz_test.ts checks it).
      return {
        kind: "refused",
        consumed: at,
        data: concat(data),
        message: refused.message,
        decoder,
      };
    }
    if (used! > piece.length || used! < 0) fail(`consumed ${used} of a ${piece.length}-byte piece`);
    if (!decoder.done && used !== piece.length) {
      fail("a decoder that is not done left input unread");
    }
    at += used!;
  }
  const joined = concat(data);
  if (at > input.length || joined.length > at) {
    fail(`returned ${joined.length} bytes of data for ${at} consumed of ${input.length}`);
  }
  if (decoder.done && joined.length > at - 5) fail("done without room for the last chunk");
  return { kind: decoder.done ? "done" : "partial", consumed: at, data: joined, decoder };
}

/**
 * {@linkcode checkChunkedPieces}, plus: the outcome does not depend on where
 * the input was split (same as in one piece).
 *
 * @throws {CodecViolation}
 */
export function checkChunked(input: Uint8Array, sizes: readonly number[]): ChunkedOutcome {
  const split = checkChunkedPieces(input, sizes);
  const whole = checkChunkedPieces(input, [input.length]);
  const same = split.kind === whole.kind && split.message === whole.message &&
    text(split.data) === text(whole.data) &&
    (split.kind !== "done" || split.consumed === whole.consumed);
  if (!same) {
    throw new CodecViolation(
      `chunked: split at ${
        JSON.stringify(sizes)
      } gave ${split.kind}/${split.message}/${split.data.length}B, ` +
        `whole gave ${whole.kind}/${whole.message}/${whole.data.length}B for ${quote(input)}`,
    );
  }
  return split;
}

const CHUNK_BYTES = fc.oneof(
  { arbitrary: INTERESTING_BYTES, weight: 4 },
  { arbitrary: fc.constantFrom("=", "0", "f", "F", "g", ";a", "\r\n0\r\n\r\n"), weight: 1 },
);

const byteEdit = fc.oneof(
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: CHUNK_BYTES }),
  fc.record({
    op: fc.constant("replace" as const),
    at: fc.nat(),
    byte: CHUNK_BYTES.map((b) => b[0]!),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 6 }),
  }),
);

/** Mutated valid chunked bodies (one to four byte edits). */
export const mutatedChunked: fc.Arbitrary<Uint8Array> = fc.tuple(
  validChunked,
  fc.array(byteEdit, { minLength: 1, maxLength: 4 }),
).map(([spec, edits]) => latin1(applyByteEdits(text(encodeChunked(spec)), edits)));

/** Chunk-ish soup and random bytes. */
export const chunkedNoise: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(
    fc.constantFrom("0", "1", "a", "F", "\r\n", "\r", "\n", ";", " ", "x=y", "abc", "\x00"),
    {
      maxLength: 40,
    },
  ).map((p) => latin1(p.join(""))),
);

// ---------------------------------------------------------------------------
// Live: the ports, and what a violation is.

/** Where the live proxy and its origin listen. */
export interface LivePorts {
  /** hoard's port. */
  proxy: number;
  /** The fuzz origin's port (also the one port CONNECT may reach). */
  origin: number;
}

/** hoard did something the model says it must not. */
export class LiveViolation extends Error {
  /** What hoard sent back, when known. */
  readonly received?: Uint8Array;

  /**
   * @param message what, with the input and what came back quoted.
   * @param received what hoard sent back.
   */
  constructor(message: string, received?: Uint8Array) {
    super(message);
    this.name = "LiveViolation";
    this.received = received;
  }
}

/**
 * Names a known, tolerated bug a violation is an instance of, or undefined for
 * a new one (none is tolerated today).
 */
export function knownBug(_err: unknown, _input: Uint8Array): string | undefined {
  // None left: the HEAD collapsed onto a GET's fill is fixed (src/request/miss.ts).
  return undefined;
}

// ---------------------------------------------------------------------------
// Live: the origin.

/** The origin the fuzz inputs reach. */
export interface FuzzOrigin {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Requests that reached it so far. */
  readonly requests: number;
  /** Stops it. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the origin the fuzz inputs reach: it reads every request body and
 * answers by path — `/c/N` cacheable, `/echo` the body's length, `/chunked/*`
 * streamed (chunked), `/nostore`, `/empty` (204), anything else `ok:METHOD`.
 * Requests it cannot make sense of (a mutated request sent through a tunnel)
 * get a quiet 400.
 */
export function startFuzzOrigin(): FuzzOrigin {
  let requests = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError: () => new Response("bad request", { status: 400 }),
  }, async (req) => {
    requests++;
    const body = new Uint8Array(await req.arrayBuffer());
    const p = URL.parse(req.url)?.pathname ?? "";
    if (p === "/echo") return new Response(`echo:${body.length}`);
    if (/^\/c\/\d+$/.test(p)) {
      return new Response(`cached:${p}`, { headers: { "cache-control": "max-age=300" } });
    }
    if (p.startsWith("/chunked")) {
      const parts = ["one,", "two,", "three"];
      return new Response(
        new ReadableStream({
          pull(c) {
            const next = parts.shift();
            if (next === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(next));
          },
        }),
      );
    }
    if (p === "/nostore") {
      return new Response("nostore", { headers: { "cache-control": "no-store" } });
    }
    if (p === "/empty") return new Response(null, { status: 204 });
    return new Response(`ok:${req.method}`);
  });
  return {
    port: server.addr.port,
    get requests() {
      return requests;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The options the fuzzed hoard runs with: only 127.0.0.1 may be reached, so no DNS lookups. */
export function liveProxyOptions(
  originPort: number,
): { allowHosts: string[]; connectPorts: number[] } {
  return { allowHosts: ["127.0.0.1"], connectPorts: [originPort] };
}

// ---------------------------------------------------------------------------
// Live: generators.

const LOCAL_PATHS = [
  "/_hoard/health",
  "/healthz",
  "/_hoard/metrics",
  "/",
  "/nope",
  "/_hoard/ca.pem",
];
const ORIGIN_PATHS = fc.oneof(
  { arbitrary: fc.nat(9).map((n) => `/c/${n}`), weight: 4 },
  {
    arbitrary: fc.constantFrom("/chunked/a", "/echo", "/nostore", "/empty", "/ok?x=1"),
    weight: 4,
  },
);

/** One request as latin1 text, aimed at the origin, hoard itself, or somewhere refused. */
function liveRequest(p: LivePorts): fc.Arbitrary<string> {
  return fc.record({
    where: fc.constantFrom(
      ...Array(8).fill("origin"),
      "local",
      "local",
      "self",
      "denied",
      "closed",
      "connect",
      "connect-denied",
      "too-big",
    ),
    method: fc.constantFrom("GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"),
    minor: fc.constantFrom(1, 1, 1, 1, 0),
    close: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
    expect: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
    path: ORIGIN_PATHS,
    local: fc.constantFrom(...LOCAL_PATHS),
    body: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 3 },
      {
        arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ length: text(b) })),
        weight: 2,
      },
      { arbitrary: validChunked.map((s) => ({ chunked: text(encodeChunked(s)) })), weight: 2 },
    ),
  }).map((r) => {
    const origin = `127.0.0.1:${p.origin}`;
    let method: string = r.method, target: string, host = origin;
    const fields: string[] = [];
    let body = r.body;
    let tail = "";
    switch (r.where) {
      case "origin":
        target = `http://${origin}${r.path}`;
        if (
          method !== "POST" && method !== "PUT" && r.body !== undefined && !("length" in r.body)
        ) {
          body = undefined;
        }
        break;
      case "local":
      case "self":
        // No body here: hoard closes a connection whose request to its pages had one.
        host = `127.0.0.1:${p.proxy}`;
        target = r.where === "local" ? r.local : `http://${host}${r.local}`;
        body = undefined;
        break;
      case "denied":
        target = "http://denied.example.test/x";
        host = "denied.example.test";
        break;
      case "closed":
        target = "http://127.0.0.1:1/x";
        host = "127.0.0.1:1";
        break;
      case "connect":
      case "connect-denied":
        method = "CONNECT";
        target = r.where === "connect" ? origin : "127.0.0.1:1";
        body = undefined;
        tail = `GET /ok HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`;
        break;
      default: // too-big: a GET announcing a body over maxRequestBody (1 MiB)
        method = "GET";
        target = `http://${origin}/c/1`;
        fields.push("Content-Length: 2000000");
        body = undefined;
    }
    fields.unshift(`Host: ${host}`);
    let payload = "";
    if (body !== undefined && "length" in body) {
      fields.push(`Content-Length: ${body.length.length}`);
      payload = body.length;
    } else if (body !== undefined) {
      fields.push("Transfer-Encoding: chunked");
      payload = body.chunked;
    }
    if (r.expect && payload !== "") fields.push("Expect: 100-continue");
    if (r.close) fields.push("Connection: close");
    fields.push("User-Agent: hoard-fuzz");
    return `${method} ${target} HTTP/1.${r.minor}\r\n${
      fields.join("\r\n")
    }\r\n\r\n${payload}${tail}`;
  });
}

const lineEdit: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: INTERESTING_BYTES }),
  fc.record({
    op: fc.constant("replace" as const),
    at: fc.nat(),
    byte: INTERESTING_BYTES.map((b) => b[0]!),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ op: fc.constant("dupLine" as const), line: fc.nat() }),
  fc.record({ op: fc.constant("swapLines" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant("dropLine" as const), line: fc.nat() }),
  fc.record({
    op: fc.constant("addLine" as const),
    line: fc.nat(),
    text: fc.constantFrom(
      "Transfer-Encoding: chunked",
      "Content-Length: 3",
      "Content-Length: 0",
      "Connection: close",
      "Expect: 100-continue",
      "Host: 127.0.0.1",
      " folded",
    ),
  }),
);

/** Mutates the first head of `input` (line and byte edits), keeping what follows it. */
function mutateFirstHead(input: string, edits: Mutation[], keepEnd: boolean): string {
  const end = input.indexOf("\r\n\r\n");
  if (end === -1) return applyByteEdits(input, edits);
  return mutate(input.slice(0, end + 4), edits, keepEnd) + input.slice(end + 4);
}

/** Inputs for a live hoard: single and pipelined requests, mutants of both, and garbage. */
export function liveInputs(p: LivePorts): fc.Arbitrary<Uint8Array> {
  const one = liveRequest(p);
  const pair = fc.tuple(one, one).map(([a, b]) => a + b);
  const valid = fc.oneof(one, pair);
  return fc.oneof(
    { arbitrary: one.map(latin1), weight: 3 },
    { arbitrary: pair.map(latin1), weight: 3 },
    {
      arbitrary: fc.tuple(valid, fc.array(lineEdit, { minLength: 1, maxLength: 3 }), fc.boolean())
        .map(([s, e, keep]) => latin1(mutateFirstHead(s, e, keep))),
      weight: 3,
    },
    {
      arbitrary: fc.tuple(valid, fc.array(lineEdit, { minLength: 1, maxLength: 3 }))
        .map(([s, e]) => latin1(applyByteEdits(s, e))),
      weight: 2,
    },
    { arbitrary: fc.oneof(requestInputs, tokenSoup, fc.uint8Array({ maxLength: 200 })), weight: 1 },
  );
}

// ---------------------------------------------------------------------------
// Live: the model of an input.

/** What the model expects hoard to answer to one request. */
export interface Expectation {
  /** The request's method (HEAD responses have no body). */
  method: string;
  /** The exact status, when the model knows it. */
  status?: number;
  /** Set for refusals: hoard's own error response, with Proxy-Status. */
  refusal?: boolean;
  /** The exact body, when the model knows it (for a 200). */
  body?: string;
  /**
   * After the response: `next` the connection goes on; `maybe` it may close;
   * `close` it must close; `stop` the model cannot say what follows
   * (`tunnel`: what follows is tunnel bytes, not hoard's).
   */
  after: "next" | "maybe" | "close" | "stop" | "tunnel";
}

/** The model of one input. */
export interface Model {
  /** Expectations for the requests in order. */
  expects: Expectation[];
  /** Requests that may reach the origin (when no expectation is `stop`/`tunnel`). */
  forwarded: number;
  /** Every request the model ran into, by what the model made of it (for the counts). */
  kinds: string[];
}

function localStatus(method: string, path: string): number {
  const p = path.split("?")[0]!;
  if (!["/", "/healthz", "/_hoard/health", "/_hoard/metrics"].includes(p)) return 404;
  return method === "GET" || method === "HEAD" ? 200 : 405;
}

/** Runs the codec over `input` as hoard will, request after request. */
export function modelOf(input: Uint8Array, p: LivePorts): Model {
  const expects: Expectation[] = [];
  const kinds: string[] = [];
  let forwarded = 0;
  let pos = 0;
  while (pos < input.length) {
    const out = checkRequestCodec(input.subarray(pos));
    if (out.kind === "incomplete") {
      kinds.push("incomplete");
      break;
    }
    if (out.kind === "refused") {
      kinds.push(`refused ${out.status}`);
      expects.push({
        method: out.method ?? "?",
        status: out.status,
        refusal: true,
        after: "close",
      });
      break;
    }
    const { request } = out;
    const method = request.head.method;
    const headEnd = pos + out.end;
    // Where the body ends, and what it holds; undefined when it is cut or malformed.
    let bodyEnd: number | undefined = headEnd, bodyLength = 0;
    const framing: BodyFraming = request.framing;
    if (framing.kind === "length") {
      bodyLength = framing.length;
      bodyEnd = headEnd + framing.length <= input.length ? headEnd + framing.length : undefined;
    } else if (framing.kind === "chunked") {
      const c = checkChunkedPieces(input.subarray(headEnd), [input.length]);
      bodyEnd = c.kind === "done" ? headEnd + c.consumed : undefined;
      bodyLength = c.data.length;
    }
    const keep = request.keepAlive;
    const t = request.target;
    if (t.form === "authority") {
      kinds.push("connect");
      expects.push({ method, after: "tunnel" });
      break;
    }
    const isSelf = t.form !== "absolute" ||
      (t.port === p.proxy && ["127.0.0.1", "localhost", "::1"].includes(t.host));
    if (isSelf) {
      const path = t.form === "asterisk" ? "*" : t.path;
      const status = localStatus(method, path);
      kinds.push(`local ${status}`);
      if (framing.kind !== "none") {
        // hoard answers and closes without reading such a body: nothing follows.
        expects.push({ method, status, after: "stop" });
        break;
      }
      expects.push({ method, status, after: status === 200 && keep ? "next" : "close" });
      if (status !== 200 || !keep) break;
      pos = headEnd;
      continue;
    }
    if (t.host !== "127.0.0.1") {
      kinds.push("denied");
      expects.push({ method, status: 403, refusal: true, after: "close" });
      break;
    }
    if (t.port !== p.origin) {
      kinds.push("elsewhere");
      // Port 1 refuses; another port might be anything listening on loopback.
      expects.push(
        t.port === 1 ? { method, status: 502, refusal: true, after: "close" } : {
          method,
          after: "stop",
        },
      );
      break;
    }
    if (
      (method === "GET" || method === "HEAD") && framing.kind === "length" &&
      framing.length > 1024 * 1024
    ) {
      kinds.push("too big");
      expects.push({ method, status: 413, refusal: true, after: "close" });
      break;
    }
    forwarded++;
    if (bodyEnd === undefined) {
      kinds.push("forwarded, body cut or malformed");
      expects.push({ method, after: "stop" });
      break;
    }
    kinds.push("forwarded");
    let body: string | undefined;
    // (Deno.serve hands its handler no body for GET and HEAD.)
    if (t.path === "/echo" && method !== "GET" && method !== "HEAD") body = `echo:${bodyLength}`;
    else if (/^\/c\/\d+$/.test(t.path) && method === "GET") body = `cached:${t.path}`;
    // A request body, or an HTTP/1.0 client (a response without a length ends at
    // close for it), may end the connection; without either it must go on.
    const after = !keep
      ? "close"
      : framing.kind !== "none" || request.head.minor === 0
      ? "maybe"
      : "next";
    expects.push({ method, body, after });
    if (!keep) break;
    pos = bodyEnd;
  }
  return { expects, forwarded, kinds };
}

// ---------------------------------------------------------------------------
// Live: reading what hoard sent.

/** One response as read off the wire. */
interface WireResponse {
  head: ResponseHead;
  headText: string;
  body: Uint8Array;
  end: number;
}

/**
 * Reads the response at `pos`: a strict HTTP/1.1 status-line, a head the
 * codec parses, and a body whose framing is unambiguous and complete (a body
 * cut short is allowed only when `cutAllowed`, for the last response).
 */
function readResponse(
  buf: Uint8Array,
  pos: number,
  method: string,
  cutAllowed: boolean,
): WireResponse {
  const rest = buf.subarray(pos);
  let end: number;
  try {
    end = findHeadEnd(rest);
  } catch (err) {
    throw new LiveViolation(`response head with a bare LF (${String(err)})`);
  }
  if (end === -1) throw new LiveViolation("response head cut short");
  const headText = text(rest.subarray(0, end));
  if (!/^HTTP\/1\.1 [1-5]\d\d [\x20-\x7e]*\r\n/.test(headText)) {
    throw new LiveViolation(`malformed status-line ${JSON.stringify(headText.slice(0, 80))}`);
  }
  let head: ResponseHead;
  try {
    head = parseResponseHead(rest.subarray(0, end));
  } catch (err) {
    throw new LiveViolation(`response head does not parse: ${String(err)}`);
  }
  const cl = head.fields.getAll("content-length"), te = head.fields.getAll("transfer-encoding");
  if (cl.length > 1 || (cl.length > 0 && te.length > 0)) {
    throw new LiveViolation(`ambiguous framing in ${JSON.stringify(headText)}`);
  }
  if (te.length > 0 && te.join(",").toLowerCase() !== "chunked") {
    throw new LiveViolation(`Transfer-Encoding ${te.join(",")}`);
  }
  if (method === "CONNECT" && head.status >= 200 && head.status < 300) {
    return { head, headText, body: new Uint8Array(0), end: pos + end };
  }
  let framing: BodyFraming;
  try {
    framing = responseFraming(method === "?" ? "GET" : method, head);
  } catch (err) {
    throw new LiveViolation(`response framing: ${String(err)}`);
  }
  const bodyStart = pos + end;
  switch (framing.kind) {
    case "none":
      return { head, headText, body: new Uint8Array(0), end: bodyStart };
    case "length": {
      const bodyEnd = bodyStart + framing.length;
      if (bodyEnd > buf.length && !cutAllowed) {
        throw new LiveViolation(`body cut short: ${buf.length - bodyStart} of ${framing.length}`);
      }
      return {
        head,
        headText,
        body: buf.subarray(bodyStart, bodyEnd),
        end: Math.min(bodyEnd, buf.length),
      };
    }
    case "chunked": {
      const d = new ChunkedDecoder();
      const out: Uint8Array[] = [];
      let used: number;
      try {
        used = d.decode(buf.subarray(bodyStart), out);
      } catch (err) {
        throw new LiveViolation(`malformed chunked body: ${String(err)}`);
      }
      if (!d.done && !cutAllowed) throw new LiveViolation("chunked body without its last chunk");
      return { head, headText, body: concat(out), end: bodyStart + used };
    }
    case "close":
      if (!/\r\nConnection: close\r\n/i.test(headText)) {
        throw new LiveViolation("a body that ends at close without Connection: close");
      }
      return { head, headText, body: buf.subarray(bodyStart), end: buf.length };
  }
}

/** What one live input came to. */
export interface LiveOutcome {
  /** The model of the input. */
  model: Model;
  /** Final statuses received, in order. */
  statuses: number[];
  /** hoard closed before answering every request the model expected an answer to. */
  closedEarly: boolean;
  /** Requests that reached the origin. */
  originRequests: number;
}

/**
 * Checks what hoard sent back for `input` against the model.
 *
 * @throws {LiveViolation}
 */
export function checkLiveResponses(input: Uint8Array, received: Uint8Array, model: Model): {
  statuses: number[];
  closedEarly: boolean;
} {
  const statuses: number[] = [];
  let pos = 0, i = 0;
  let free = false; // past a `stop`: responses are checked for form only
  const guessable = !text(input).includes("HEAD");
  while (pos < received.length) {
    const exp: Expectation | undefined = model.expects[i];
    if (exp === undefined && !free) {
      throw new LiveViolation(
        `${statuses.length + 1} responses to ${model.expects.length} requests`,
      );
    }
    if (free && !guessable) break; // a HEAD somewhere: bodies cannot be told apart
    const method = exp?.method ?? "GET";
    const last = model.expects.length - 1 === i || free;
    const r = readResponse(received, pos, method, last && (free || exp?.after !== "next"));
    pos = r.end;
    if (r.head.status < 200) {
      if (r.head.status !== 100 && r.head.status !== 103) {
        throw new LiveViolation(`interim response ${r.head.status}`);
      }
      continue;
    }
    statuses.push(r.head.status);
    i++;
    if (exp === undefined) continue;
    if (exp.status !== undefined && r.head.status !== exp.status) {
      throw new LiveViolation(`status ${r.head.status}, expected ${exp.status}`);
    }
    if (exp.refusal) {
      const ps = r.head.fields.get("proxy-status") ?? "";
      if (!/^hoard; error=[a-z_]+; details="(?:[^"\\]|\\.)*"$/.test(ps)) {
        throw new LiveViolation(`a refusal without Proxy-Status: ${JSON.stringify(r.headText)}`);
      }
      if (method !== "HEAD" && !/^\d{3} [^\r\n]*\n$/.test(text(r.body))) {
        throw new LiveViolation(
          `a refusal body that is not one line: ${JSON.stringify(text(r.body))}`,
        );
      }
    }
    if (exp.body !== undefined && r.head.status === 200 && text(r.body) !== exp.body) {
      throw new LiveViolation(
        `body ${JSON.stringify(text(r.body))}, expected ${JSON.stringify(exp.body)}`,
      );
    }
    const saidClose = /\r\nConnection: close\r\n/i.test(r.headText);
    if ((saidClose || exp.after === "close") && pos < received.length) {
      throw new LiveViolation("bytes after a response that ended the connection");
    }
    if (exp.after === "tunnel") break;
    if (exp.after === "stop") free = true;
  }
  // Every request before the first that may end the connection must be answered.
  let mustAnswer = 0;
  while (mustAnswer < model.expects.length && model.expects[mustAnswer]!.after === "next") {
    mustAnswer++;
  }
  const closedEarly = statuses.length < Math.min(mustAnswer + 1, model.expects.length);
  if (statuses.length < mustAnswer) {
    throw new LiveViolation(
      `only ${statuses.length} responses; ${mustAnswer} requests kept the connection`,
    );
  }
  return { statuses, closedEarly };
}

// ---------------------------------------------------------------------------
// Live: one exchange.

/** Longest one input may take before it counts as a hang. */
export const LIVE_INPUT_TIMEOUT_MS = 5000;

/** Sends `input` on a new connection, half-closes, and reads until hoard closes. */
export async function exchange(port: number, input: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, LIVE_INPUT_TIMEOUT_MS);
  const parts: Uint8Array[] = [];
  try {
    const reading = (async () => {
      const buf = new Uint8Array(65536);
      for (;;) {
        // A reset (hoard closed with our bytes unread) ends the reading like a close.
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        parts.push(buf.slice(0, n));
      }
    })();
    // hoard may close before taking all of it: that is its right.
    await writeAll(conn, input).catch(() => {});
    await conn.closeWrite().catch(() => {});
    await reading;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  if (timedOut) throw new LiveViolation(`no close within ${LIVE_INPUT_TIMEOUT_MS} ms`);
  return concat(parts);
}

/**
 * Runs one input against a live hoard and checks it.
 *
 * @throws {LiveViolation} (with the input and the response quoted).
 */
export async function checkLiveInput(
  p: LivePorts,
  origin: FuzzOrigin,
  input: Uint8Array,
): Promise<LiveOutcome> {
  const model = modelOf(input, p);
  const before = origin.requests;
  const received = await exchange(p.proxy, input);
  const originRequests = origin.requests - before;
  try {
    const r = checkLiveResponses(input, received, model);
    const predictable = model.expects.every((e) => e.after !== "stop" && e.after !== "tunnel");
    if (predictable && originRequests > model.forwarded) {
      throw new LiveViolation(
        `${originRequests} requests reached the origin, at most ${model.forwarded} were sent`,
      );
    }
    return { model, ...r, originRequests };
  } catch (err) {
    if (!(err instanceof LiveViolation)) throw err;
    throw new LiveViolation(
      `${err.message}\n  input: ${quote(input)}\n  model: ${JSON.stringify(model)}\n  received: ${
        quote(received)
      }`,
      received,
    );
  }
}

// ---------------------------------------------------------------------------
// Live: after the fuzz.

/** The value of hoard's `hoard_open_connections` gauge (this request's own connection included). */
export async function openConnections(proxyPort: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  try {
    await writeAll(
      conn,
      "GET /_hoard/metrics HTTP/1.1\r\nHost: hoard\r\nConnection: close\r\n\r\n",
    );
    let s = "";
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      s += text(buf.subarray(0, n));
    }
    const m = /^hoard_open_connections (\d+)$/m.exec(s);
    if (m === null) {
      throw new Error(`no hoard_open_connections in ${JSON.stringify(s.slice(0, 200))}`);
    }
    return Number(m[1]);
  } finally {
    conn.close();
  }
}

/** Waits until the gauge is back at `baseline`; returns the last value read. */
export async function settleConnections(
  proxyPort: number,
  baseline: number,
  ms = 3000,
): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    const n = await openConnections(proxyPort);
    if (n === baseline || Date.now() > until) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Log lines that say hoard hit an error of its own (not a client's or an origin's). */
export function internalErrors(logs: readonly string[]): string[] {
  return logs.filter((l) => / error: /.test(l) || /proxy_internal_error|connection failed/.test(l));
}

/** A normal request and a cache hit still work; throws when not. */
export async function checkStillServes(proxyUrl: string, origin: FuzzOrigin): Promise<void> {
  const url = `http://127.0.0.1:${origin.port}/c/424242`;
  const first = await curl(["--max-time", "10", "-x", proxyUrl, url]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.status, 200);
  assert.equal(first.text, "cached:/c/424242");
  // The entry is committed after the client got the body; give it a moment.
  let second = first;
  for (let i = 0; i < 50; i++) {
    second = await curl(["--max-time", "10", "-x", proxyUrl, url]);
    if (/\bhit\b/.test(second.headers["cache-status"] ?? "")) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(second.text, "cached:/c/424242");
  assert.match(second.headers["cache-status"] ?? "", /hoard; hit/);
  const echo = await curl([
    "--max-time",
    "10",
    "-x",
    proxyUrl,
    "--data-binary",
    "hello fuzz",
    `http://127.0.0.1:${origin.port}/echo`,
  ]);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.text, "echo:10");
}

// ---------------------------------------------------------------------------
// The long run.

/** Counts of one kind of thing, printed biggest first. */
class Tally {
  #counts = new Map<string, number>();

  add(key: string | number, n = 1): void {
    const k = String(key);
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + n);
  }

  get(key: string | number): number {
    return this.#counts.get(String(key)) ?? 0;
  }

  toString(): string {
    return [...this.#counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(", ");
  }
}

/**
 * Inputs that broke something, counted in two kinds: an error of an
 * unexpected type (the codec threw something other than HttpSyntaxError, or
 * hoard logged an internal error) and any other broken invariant. The first
 * few are kept to print.
 */
class Failures {
  unexpectedTypes = 0;
  invariants = 0;
  readonly first: string[] = [];

  get count(): number {
    return this.unexpectedTypes + this.invariants;
  }

  add(where: string, seed: number, err: unknown, unexpectedType = isUnexpectedType(err)): void {
    if (unexpectedType) this.unexpectedTypes++;
    else this.invariants++;
    if (this.first.length < 5) {
      const name = err instanceof Error ? err.name : "thrown";
      const message = err instanceof Error ? err.message : String(err);
      this.first.push(`[${where}, batch seed ${seed}] ${name}: ${message.slice(0, 2000)}`);
    }
  }
}

/** Whether a failure is the codec throwing something other than an HttpSyntaxError. */
function isUnexpectedType(err: unknown): boolean {
  if (!(err instanceof CodecViolation)) return !(err instanceof LiveViolation);
  return err.cause !== undefined && !(err.cause instanceof HttpSyntaxError);
}

/** `n` values of `arb`, in batches of fresh seeds derived from `seed`. */
function* samples<T>(arb: fc.Arbitrary<T>, n: number, seed: number): Generator<[T, number]> {
  const BATCH = 2000;
  for (let done = 0, b = 0; done < n; b++) {
    const batchSeed = (seed + b * 7919) | 0;
    const values = fc.sample(arb, { numRuns: Math.min(BATCH, n - done), seed: batchSeed });
    for (const v of values) yield [v, batchSeed];
    done += values.length;
  }
}

async function codecPhase(runs: number, seed: number, failures: Failures): Promise<void> {
  const started = performance.now();
  const heads = Math.round(runs * 0.5), valid = Math.round(runs * 0.1);
  const chunkedValid = Math.round(runs * 0.2), chunkedBad = runs - heads - valid - chunkedValid;
  const outcome = new Tally(), refused = new Tally(), framing = new Tally();
  let readHeads = 0;
  for (const [input, s] of samples(fc.tuple(requestInputs, pieceSizes), heads, seed)) {
    try {
      const out = checkRequestCodec(input[0]);
      outcome.add(out.kind);
      if (out.kind === "refused") refused.add(out.status);
      if (out.kind === "parsed") framing.add(out.request.framing.kind);
      // The real reader on every tenth input (it is async, so slower).
      if (
        readHeads * 10 < outcome.get("parsed") + outcome.get("refused") + outcome.get("incomplete")
      ) {
        readHeads++;
        await checkReadHead(input[0], input[1], out);
      }
    } catch (err) {
      outcome.add("unexpected");
      failures.add("request codec", s, err);
    }
  }
  let validOk = 0;
  for (const [spec, s] of samples(validHeads, valid, seed + 1)) {
    try {
      checkValidHead(spec);
      validOk++;
    } catch (err) {
      failures.add("valid head", s, err);
    }
  }
  let chunkedOk = 0;
  const chunkedArb = fc.tuple(validChunked, pieceSizes, fc.boolean());
  for (const [[spec, sizes, pipelined], s] of samples(chunkedArb, chunkedValid, seed + 2)) {
    try {
      checkValidChunked(spec, sizes, pipelined);
      chunkedOk++;
    } catch (err) {
      failures.add("valid chunked", s, err);
    }
  }
  const bad = new Tally();
  const badArb = fc.tuple(fc.oneof(mutatedChunked, chunkedNoise), pieceSizes);
  for (const [[input, sizes], s] of samples(badArb, chunkedBad, seed + 3)) {
    try {
      bad.add(checkChunked(input, sizes).kind);
    } catch (err) {
      bad.add("unexpected");
      failures.add("mutated chunked", s, err);
    }
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`codec: ${runs} inputs in ${secs} s`);
  console.log(
    `  request inputs: ${heads}: parsed ${outcome.get("parsed")} (${framing}), refused ${
      outcome.get("refused")
    } (by status ${refused}), incomplete ${outcome.get("incomplete")}, unexpected ${
      outcome.get("unexpected")
    }; BufferedConn.readHead cross-checked on ${readHeads}`,
  );
  console.log(`  valid heads: ${valid}: ${validOk} parsed as specified and round-tripped`);
  console.log(`  valid chunked bodies: ${chunkedValid}: ${chunkedOk} decoded exactly`);
  console.log(`  mutated chunked bodies and noise: ${chunkedBad}: ${bad}`);
}

async function livePhase(runs: number, seed: number, failures: Failures): Promise<void> {
  const started = performance.now();
  await using origin = startFuzzOrigin();
  const cacheDir = await Deno.makeTempDir({ prefix: "hoard-fuzz-" });
  const hoard = await startHoardProcess([
    "--cache-dir",
    cacheDir,
    "--allow-hosts",
    "127.0.0.1",
    "--connect-ports",
    String(origin.port),
    "--log-level",
    "info",
  ]);
  try {
    const p: LivePorts = { proxy: hoard.port, origin: origin.port };
    const baseline = await openConnections(p.proxy);
    const kinds = new Tally(), statuses = new Tally();
    let silent = 0, early = 0, unexpected = 0;
    const known = new Tally();
    for (const [input, s] of samples(liveInputs(p), runs, seed)) {
      try {
        const out = await checkLiveInput(p, origin, input);
        for (const k of out.model.kinds) kinds.add(k);
        for (const st of out.statuses) statuses.add(st);
        if (out.statuses.length === 0) silent++;
        if (out.closedEarly) early++;
      } catch (err) {
        const bug = knownBug(err, input);
        if (bug !== undefined) known.add(bug);
        else {
          unexpected++;
          failures.add("live", s, err);
        }
      }
    }
    const after = await settleConnections(p.proxy, baseline);
    if (after !== baseline) {
      failures.add(
        "live",
        seed,
        new Error(`${after} connections open after, ${baseline} before`),
        false,
      );
    }
    let serves = "yes";
    try {
      await checkStillServes(hoard.url, origin);
    } catch (err) {
      serves = "NO";
      failures.add("live", seed, err, false);
    }
    const alive = await Promise.race([
      hoard.child.status.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), 50)),
    ]);
    const status = await hoard.stop("SIGTERM");
    if (!alive || status.code !== 0) {
      failures.add(
        "live",
        seed,
        new Error(`hoard ${alive ? "exited" : "crashed"}: ${status.code}`),
      );
    }
    const logs = hoard.stderr().split("\n");
    const internal = internalErrors(logs);
    for (const line of internal) failures.add("live log", seed, new Error(line), true);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`live: ${runs} inputs in ${secs} s against a hoard process`);
    console.log(`  requests by what the model made of them: ${kinds}`);
    console.log(`  final responses by status: ${statuses}`);
    console.log(
      `  inputs answered by a close alone: ${silent}; closed before the last request was answered: ${early}`,
    );
    console.log(
      `  origin requests: ${origin.requests}; violations: ${unexpected}; internal errors logged: ${internal.length}`,
    );
    console.log(`  violations that are known bugs (ignored tests): ${known.toString() || "none"}`);
    console.log(
      `  open connections after: ${after} (baseline ${baseline}); still serves: ${serves}; ` +
        `alive until SIGTERM: ${alive ? "yes" : "NO"}, exit code ${status.code}`,
    );
  } finally {
    await hoard.stop("SIGKILL").catch(() => {});
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "100000" },
      "live-runs": { type: "string" },
      seed: { type: "string", default: String(FUZZ_SEED) },
    },
  });
  const runs = Number(values.runs);
  const liveRuns = Number(values["live-runs"] ?? Math.round(runs / 20));
  const seed = Number(values.seed);
  if (!Number.isInteger(runs) || !Number.isInteger(liveRuns) || !Number.isInteger(seed)) {
    console.error("usage: deno run -A scripts/fuzz.ts [--runs N] [--live-runs N] [--seed N]");
    Deno.exit(2);
  }
  const started = performance.now();
  const failures = new Failures();
  console.log(`seed ${seed}`);
  await codecPhase(runs, seed, failures);
  if (liveRuns > 0) await livePhase(liveRuns, seed, failures);
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `errors of unexpected types: ${failures.unexpectedTypes}; other broken invariants: ${failures.invariants}; total ${secs} s`,
  );
  for (const f of failures.first) console.log(`  ${f}`);
  if (failures.count > 0) Deno.exit(1);
}

if (import.meta.main) await main();
