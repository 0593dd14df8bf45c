/**
 * The chunked transfer coding (RFC 9112 §7.1) as a push decoder: feed it bytes
 * as they arrive, get back views of the data. No I/O, no copies of data.
 *
 * @module
 */

import type { FieldList } from "./fields.ts";
import { parseFieldLines, splitHead } from "./parse_head.ts";
import { HttpSyntaxError } from "./syntax_error.ts";

/** Longest chunk-size line (size and extensions) accepted; longer is abuse. */
export const MAX_CHUNK_LINE = 4096;
/** Largest trailer section accepted. */
export const MAX_TRAILER_BYTES = 64 * 1024;

const enum State {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

const CR = 13, LF = 10, SEMI = 0x3b, SP = 0x20, HTAB = 0x09;
const MAX_SIZE_BEFORE_SHIFT = Math.floor(Number.MAX_SAFE_INTEGER / 16);

/**
 * Decodes one chunked body. Call {@linkcode ChunkedDecoder.decode} with each
 * piece of input until {@linkcode ChunkedDecoder.done}; it stops exactly at
 * the end of the body, so bytes after it (a pipelined request) stay unread.
 */
export class ChunkedDecoder {
  #state = State.Size;
  #size = 0;
  #digits = 0;
  #lineLength = 0;
  #sawSemicolon = false;
  #remaining = 0;
  #trailer: number[] = [];
  #trailerLineLength = 0;
  #trailers: FieldList | undefined;

  /** Whether the last chunk and trailer section have been read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Trailer fields, once done (undefined when there were none). */
  get trailers(): FieldList | undefined {
    return this.#trailers;
  }

  /**
   * Decodes from `input`, appending views of chunk data to `out`.
   *
   * @returns the number of bytes of `input` consumed (all of it unless done).
   * @throws {HttpSyntaxError} on malformed chunk framing.
   */
  decode(input: Uint8Array, out: Uint8Array[]): number {
    let i = 0;
    const n = input.length;
    while (i < n) {
      switch (this.#state) {
        case State.Data: {
          const take = Math.min(this.#remaining, n - i);
          out.push(input.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = State.DataCr;
          continue;
        }
        case State.Size:
          this.#sizeByte(input[i++]!);
          continue;
        case State.Ext:
          this.#extByte(input[i++]!);
          continue;
        case State.SizeLf:
          if (input[i++] !== LF) throw new HttpSyntaxError("bare CR after chunk size");
          this.#startData();
          continue;
        case State.DataCr:
          if (input[i++] !== CR) throw new HttpSyntaxError("chunk data does not match its size");
          this.#state = State.DataLf;
          continue;
        case State.DataLf:
          if (input[i++] !== LF) throw new HttpSyntaxError("bare CR after chunk data");
          this.#state = State.Size;
          continue;
        case State.Trailer:
          this.#trailerByte(input[i++]!);
          continue;
        case State.Done:
          return i;
      }
    }
    return i;
  }

  #sizeByte(b: number): void {
    const d = hexValue(b);
    if (d !== -1) {
      if (this.#size > MAX_SIZE_BEFORE_SHIFT) throw new HttpSyntaxError("chunk size too large");
      this.#size = this.#size * 16 + d;
      this.#digits++;
      this.#countLine();
      return;
    }
    if (this.#digits === 0) throw new HttpSyntaxError("invalid chunk size");
    if (b === CR) {
      this.#state = State.SizeLf;
    } else if (b === SEMI || b === SP || b === HTAB) {
      this.#sawSemicolon = b === SEMI;
      this.#state = State.Ext;
      this.#countLine();
    } else {
      throw new HttpSyntaxError("invalid chunk size");
    }
  }

  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): ignored, but
  // must be printable, bounded, and introduced by ";".
  #extByte(b: number): void {
    if (b === CR) {
      if (!this.#sawSemicolon) throw new HttpSyntaxError("whitespace after chunk size");
      this.#state = State.SizeLf;
      return;
    }
    if (b === SEMI) this.#sawSemicolon = true;
    else if (!this.#sawSemicolon && b !== SP && b !== HTAB) {
      throw new HttpSyntaxError("invalid chunk size");
    } else if (b !== HTAB && (b < 0x20 || b === 0x7f)) {
      throw new HttpSyntaxError("control character in chunk extension");
    }
    this.#countLine();
  }

  #countLine(): void {
    if (++this.#lineLength > MAX_CHUNK_LINE) throw new HttpSyntaxError("chunk extension too long");
  }

  #startData(): void {
    const size = this.#size;
    this.#size = 0;
    this.#digits = 0;
    this.#lineLength = 0;
    this.#sawSemicolon = false;
    if (size === 0) {
      this.#state = State.Trailer;
    } else {
      this.#remaining = size;
      this.#state = State.Data;
    }
  }

  #trailerByte(b: number): void {
    if (this.#trailer.length >= MAX_TRAILER_BYTES) {
      throw new HttpSyntaxError("trailer section too large");
    }
    this.#trailer.push(b);
    if (b !== LF) {
      this.#trailerLineLength++;
      return;
    }
    if (this.#trailer.at(-2) !== CR) throw new HttpSyntaxError("bare LF in trailer section");
    // A line holding only its CR is the empty line that ends the section.
    if (this.#trailerLineLength > 1) {
      this.#trailerLineLength = 0;
      return;
    }
    // Done only once the trailers parsed: a refused body never reports done.
    if (this.#trailer.length > 2) {
      this.#trailers = parseFieldLines(splitHead(Uint8Array.from(this.#trailer)));
    }
    this.#state = State.Done;
  }
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** The bytes of the last chunk and an empty trailer section. */
export const LAST_CHUNK: Uint8Array = new TextEncoder().encode("0\r\n\r\n");
