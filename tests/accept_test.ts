/** The response a refused connection gets (src/accept.ts); accepting itself is tested end to end. */

import assert from "node:assert/strict";
import { refusal } from "../src/accept.ts";

Deno.test("refusal: one whole response that closes the connection; 503 asks to retry in a second", () => {
  const text = (status: 403 | 503) => new TextDecoder().decode(refusal(status));
  const forbidden = "403 Forbidden: client not allowed\n";
  assert.equal(
    text(403),
    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${forbidden.length}\r\nConnection: close\r\n\r\n${forbidden}`,
  );
  const busy = "503 Service Unavailable: too many connections\n";
  assert.equal(
    text(503),
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${busy.length}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${busy}`,
  );
});
