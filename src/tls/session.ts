/**
 * The server side of an intercepted tunnel's TLS, whichever way it is
 * terminated: on the client's socket itself (in_place.ts) or on a loopback
 * listener the client's bytes are relayed to (loopback.ts).
 *
 * @module
 */

/** A leaf certificate and its key, PEM. */
export interface KeyPair {
  /** Certificate, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
}

/** The client's TLS handshake failed before it was done. */
export class TlsHandshakeError extends Error {
  /** Whether the client never sent a ClientHello (no TLS at all, or it left first). */
  readonly noHello: boolean;

  /** @param noHello see {@linkcode TlsHandshakeError.noHello} */
  constructor(message: string, noHello: boolean) {
    super(message);
    this.name = "TlsHandshakeError";
    this.noHello = noHello;
  }
}

/** hoard's side of a tunnel's TLS: decrypted bytes in and out. */
export interface TlsSession {
  /**
   * Settles when the handshake is done; rejects when it fails (a
   * {@linkcode TlsHandshakeError} when the reason is known).
   */
  handshake(): Promise<void>;
  /** Reads decrypted bytes into `p`; null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Encrypts and sends `p`; `p` may be reused once this resolves. */
  write(p: Uint8Array): Promise<number>;
  /**
   * Ends the TLS side (close_notify, then FIN) and resolves once everything
   * written is on its way to the client: closing before would cut off the end
   * of the last response.
   */
  finish(): Promise<void>;
  /** Cuts the session and closes the client's connection. */
  close(): void;
  /** Settles once the session is over and the client's connection closed. */
  done: Promise<void>;
  /** Whether the client's ClientHello has arrived (a handshake that fails after it is the client's refusal). */
  readonly helloSeen: boolean;
}
