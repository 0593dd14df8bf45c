import assert from "node:assert/strict";
import { decide, selfHosts } from "../src/decide.ts";
import { parseRequestHead } from "../src/http1/parse_head.ts";
import { interpretRequest } from "../src/read_request.ts";

const self = { hosts: selfHosts("127.0.0.1"), port: 8080 };

function route(head: string) {
  const req = interpretRequest(parseRequestHead(new TextEncoder().encode(head + "\r\n\r\n")));
  return decide(req, self);
}

Deno.test("decide: CONNECT is a tunnel", () => {
  assert.deepEqual(route("CONNECT h.test:443 HTTP/1.1"), {
    kind: "tunnel",
    origin: { scheme: "http", host: "h.test", port: 443 },
  });
});

Deno.test("decide: absolute-form is passed to its origin", () => {
  assert.deepEqual(route("GET https://h.test/x?y HTTP/1.1\r\nHost: h.test"), {
    kind: "pass",
    origin: { scheme: "https", host: "h.test", port: 443 },
    path: "/x?y",
  });
});

Deno.test("decide: origin-form and hoard's own address are answered locally", () => {
  assert.deepEqual(route("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080"), {
    kind: "local",
    path: "/healthz",
  });
  assert.deepEqual(route("GET http://localhost:8080/healthz HTTP/1.1\r\nHost: localhost:8080"), {
    kind: "local",
    path: "/healthz",
  });
  // Same host, another port: a different server.
  assert.equal(route("GET http://127.0.0.1:8081/ HTTP/1.1\r\nHost: 127.0.0.1:8081").kind, "pass");
});

Deno.test("selfHosts: loopback and wildcard binds are reachable as localhost", () => {
  assert.deepEqual([...selfHosts("0.0.0.0")].sort(), ["0.0.0.0", "127.0.0.1", "::1", "localhost"]);
  assert.deepEqual([...selfHosts("10.1.2.3")], ["10.1.2.3"]);
});
