/**
 * Reading HTTP/1.1 responses off one connection for the benchmark's own
 * clients: the head up to its blank line, then a Content-Length body skipped.
 * Enough for the benchmark's objects, which every contender sends with a
 * Content-Length; not a general parser.
 *
 * @module
 */

const decoder = new TextDecoder();

/** A buffered reader of responses on `conn` (replace it with {@linkcode ResponseReader.reset}). */
export class ResponseReader {
  #conn: Deno.Conn | undefined;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  /** Reads from `conn` from now on, anything buffered dropped. */
  reset(conn: Deno.Conn | undefined): void {
    this.#conn = conn;
    this.#start = this.#end = 0;
  }

  /** Whether bytes beyond what was read are buffered. */
  get buffered(): boolean {
    return this.#start !== this.#end;
  }

  /** The next response head, without its blank line. */
  async head(): Promise<string> {
    for (;;) {
      const b = this.#buf;
      for (let i = this.#start; i + 3 < this.#end; i++) {
        if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
          const head = decoder.decode(b.subarray(this.#start, i));
          this.#start = i + 4;
          return head;
        }
      }
      await this.#fill();
    }
  }

  /** Reads and drops `n` body bytes. */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.#start === this.#end) await this.#fill();
      const take = Math.min(n, this.#end - this.#start);
      this.#start += take;
      n -= take;
    }
  }

  async #fill(): Promise<void> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) throw new Error("response head over 64 KiB");
    const n = await this.#conn!.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Deno.errors.UnexpectedEof("connection closed by the server");
    this.#end += n;
  }
}
