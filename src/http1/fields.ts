/**
 * Header and trailer fields as they travel: an ordered list in which names keep
 * their case and repeated fields (Set-Cookie) stay separate lines.
 *
 * `Headers` from the Fetch standard is not used because it lower-cases names,
 * merges repeats and rejects obs-text that real origins send.
 *
 * @module
 */

import { Recent } from "../recent.ts";

/** An ordered list of HTTP fields. Lookups take the lower-case field name. */
export class FieldList {
  #names: string[] = [];
  #lower: string[] = [];
  #values: string[] = [];

  /** Number of field lines. */
  get size(): number {
    return this.#names.length;
  }

  /** Appends a field line. */
  add(name: string, value: string): void {
    this.#names.push(name);
    this.#lower.push(lowerName(name));
    this.#values.push(value);
  }

  /** The first value of `lowerName`, or `undefined`. */
  get(lowerName: string): string | undefined {
    const i = this.#lower.indexOf(lowerName);
    return i === -1 ? undefined : this.#values[i];
  }

  /** Every value of `lowerName`, in order. */
  getAll(lowerName: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.#lower.length; i++) {
      if (this.#lower[i] === lowerName) out.push(this.#values[i]!);
    }
    return out;
  }

  /** All values of `lowerName` joined as one list value (RFC 9110 §5.3), or `undefined`. */
  combined(lowerName: string): string | undefined {
    const i = this.#lower.indexOf(lowerName);
    if (i === -1) return undefined;
    // Most fields come once: no list to build for them (this runs on every hit).
    if (this.#lower.indexOf(lowerName, i + 1) === -1) return this.#values[i];
    return this.getAll(lowerName).join(", ");
  }

  /** Whether a field named `lowerName` is present. */
  has(lowerName: string): boolean {
    return this.#lower.includes(lowerName);
  }

  /** Removes every line named `lowerName`. */
  delete(lowerName: string): void {
    if (!this.has(lowerName)) return;
    this.#keep((lower) => lower !== lowerName);
  }

  /** Replaces every line named like `name` with one line, kept at the first one's position. */
  set(name: string, value: string): void {
    const lower = lowerName(name);
    const i = this.#lower.indexOf(lower);
    if (i === -1) return this.add(name, value);
    this.#values[i] = value;
    if (this.#lower.indexOf(lower, i + 1) !== -1) this.#keep((l, j) => l !== lower || j === i);
  }

  /** A new list holding the lines whose lower-case name passes `keep`. */
  filter(keep: (lowerName: string) => boolean): FieldList {
    const out = new FieldList();
    for (let i = 0; i < this.#names.length; i++) {
      if (keep(this.#lower[i]!)) out.add(this.#names[i]!, this.#values[i]!);
    }
    return out;
  }

  /** A copy, to change without changing this one. */
  clone(): FieldList {
    const out = new FieldList();
    out.#names = this.#names.slice();
    out.#lower = this.#lower.slice();
    out.#values = this.#values.slice();
    return out;
  }

  /** The field lines as they go on the wire, each `name: value` ending in CRLF. */
  block(): string {
    let s = "";
    for (let i = 0; i < this.#names.length; i++) s += `${this.#names[i]}: ${this.#values[i]}\r\n`;
    return s;
  }

  /**
   * The fields as one object by lower-case name, repeated lines joined by
   * ", " (RFC 9110 §5.3): the form a cache policy library reads.
   */
  byLowerName(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.#lower.length; i++) {
      const l = this.#lower[i]!;
      out[l] = Object.hasOwn(out, l) ? `${out[l]}, ${this.#values[i]}` : this.#values[i]!;
    }
    return out;
  }

  /** Yields `[name, value]` pairs in wire order, names in their received case. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i]!, this.#values[i]!];
  }

  #keep(pred: (lower: string, index: number) => boolean): void {
    const names: string[] = [], lower: string[] = [], values: string[] = [];
    for (let i = 0; i < this.#names.length; i++) {
      if (!pred(this.#lower[i]!, i)) continue;
      names.push(this.#names[i]!);
      lower.push(this.#lower[i]!);
      values.push(this.#values[i]!);
    }
    this.#names = names;
    this.#lower = lower;
    this.#values = values;
  }
}

// The lower-case forms of recent names: lower-casing makes a new string, for
// every field of every head (and of every hit's response).
const lowerNames = new Recent<string, string>(512);

function lowerName(name: string): string {
  const lower = lowerNames.get(name);
  if (lower !== undefined) return lower;
  return name.length <= 64 ? lowerNames.set(name, name.toLowerCase()) : name.toLowerCase();
}

/**
 * Splits a list-valued field (RFC 9110 §5.6.1) into lower-case, trimmed members,
 * dropping empty ones. Quoted strings are not special-cased: the fields this is
 * used for (Connection, Transfer-Encoding, Expect) carry plain tokens.
 */
export function listTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    const t = trimOws(part).toLowerCase();
    if (t !== "") out.push(t);
  }
  return out;
}

/**
 * Strips optional whitespace (SP and HTAB only, RFC 9110 §5.6.3). `String#trim`
 * would also strip U+00A0 and friends, letting `chunked\xA0` pass as `chunked`.
 */
export function trimOws(s: string): string {
  let a = 0, b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
