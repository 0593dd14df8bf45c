/**
 * The one error the codec throws.
 *
 * @module
 */

/** Status codes the codec can ask for when it refuses a message. */
export type RefusalStatus = 400 | 413 | 417 | 431 | 501 | 505;

/**
 * Malformed or refused HTTP/1.1 input. `status` is the response a server should
 * answer with; the message is one line a person can act on.
 */
export class HttpSyntaxError extends SyntaxError {
  /** Status to answer a request with (400 unless the input was too large or unsupported). */
  readonly status: RefusalStatus;

  /** @param status 400 by default. */
  constructor(message: string, status: RefusalStatus = 400) {
    super(message);
    this.name = "HttpSyntaxError";
    this.status = status;
  }
}
