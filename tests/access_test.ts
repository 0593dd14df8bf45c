import assert from "node:assert/strict";
import {
  Access,
  inCidr,
  isLoopbackHost,
  isPrivateAddress,
  parseCidr,
  parseIp,
} from "../src/access.ts";
import { ProxyError } from "../src/errors.ts";
import { FieldList } from "../src/http1/fields.ts";

Deno.test("parseIp: IPv4, IPv6 with ::, brackets and embedded IPv4; junk refused", () => {
  assert.deepEqual([...parseIp("10.1.2.3")!], [10, 1, 2, 3]);
  assert.deepEqual([...parseIp("::1")!], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...parseIp("[fe80::1:2]")!].slice(0, 2), [0xfe, 0x80]);
  assert.deepEqual([...parseIp("::ffff:10.0.0.1")!].slice(10), [0xff, 0xff, 10, 0, 0, 1]);
  assert.equal(parseIp("1:2:3:4:5:6:7:8")!.length, 16);
  for (
    const bad of ["256.1.1.1", "1.2.3", "example.com", "1::2::3", "1:2:3:4:5:6:7:8:9", ":::", ""]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("inCidr: prefixes of every length, IPv4-mapped IPv6 as IPv4", () => {
  assert.equal(inCidr("10.200.3.4", parseCidr("10.0.0.0/8")), true);
  assert.equal(inCidr("11.0.0.1", parseCidr("10.0.0.0/8")), false);
  assert.equal(inCidr("172.31.255.255", parseCidr("172.16.0.0/12")), true);
  assert.equal(inCidr("172.32.0.0", parseCidr("172.16.0.0/12")), false);
  assert.equal(inCidr("192.168.1.7", parseCidr("192.168.1.7")), true);
  assert.equal(inCidr("192.168.1.8", parseCidr("192.168.1.7")), false);
  assert.equal(inCidr("::ffff:10.1.1.1", parseCidr("10.0.0.0/8")), true);
  assert.equal(inCidr("fd00::5", parseCidr("fc00::/7")), true);
  assert.equal(inCidr("1.2.3.4", parseCidr("0.0.0.0/0")), true);
  assert.equal(inCidr("not an ip", parseCidr("0.0.0.0/0")), false);
  assert.throws(() => parseCidr("10.0.0.0/33"), /prefix/);
  assert.throws(() => parseCidr("ten/8"), /not an IP/);
});

Deno.test("isPrivateAddress and isLoopbackHost", () => {
  for (
    const ip of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.5",
      "192.168.0.1",
      "169.254.1.1",
      "::1",
      "fe80::1",
      "fd12::1",
    ]
  ) {
    assert.equal(isPrivateAddress(ip), true, ip);
  }
  for (const ip of ["8.8.8.8", "1.1.1.1", "2001:db8::1", "172.32.0.1"]) {
    assert.equal(isPrivateAddress(ip), false, ip);
  }
  assert.equal(isLoopbackHost("127.0.0.1"), true);
  assert.equal(isLoopbackHost("127.1.2.3"), true);
  assert.equal(isLoopbackHost("::1"), true);
  assert.equal(isLoopbackHost("localhost"), true);
  assert.equal(isLoopbackHost("0.0.0.0"), false);
  assert.equal(isLoopbackHost("192.168.1.1"), false);
});

Deno.test("Access: clients, credentials (407 with Proxy-Authenticate), host patterns", () => {
  const a = new Access({
    allowClients: ["10.0.0.0/8", "::1"],
    auth: "ci:s3cret",
    allowHosts: ["*.example.test", "pkgs.test"],
    denyHosts: ["bad.example.test"],
  });
  assert.equal(a.clientAllowed("10.9.9.9"), true);
  assert.equal(a.clientAllowed("::1"), true);
  assert.equal(a.clientAllowed("127.0.0.1"), false);
  const withAuth = (v?: string) => {
    const f = new FieldList();
    if (v !== undefined) f.add("Proxy-Authorization", v);
    return f;
  };
  a.authenticate(withAuth(`Basic ${btoa("ci:s3cret")}`));
  for (
    const bad of [undefined, `Basic ${btoa("ci:wrong")}`, "Basic", `Bearer ${btoa("ci:s3cret")}`]
  ) {
    assert.throws(() => a.authenticate(withAuth(bad)), (err: unknown) => {
      assert.ok(err instanceof ProxyError);
      assert.equal(err.status, 407);
      assert.deepEqual(err.fields, [["Proxy-Authenticate", 'Basic realm="hoard"']]);
      assert.ok(!err.message.includes("s3cret"));
      return true;
    });
  }
  a.checkHost("files.example.test");
  a.checkHost("pkgs.test");
  for (const host of ["bad.example.test", "other.test", "example.test"]) {
    assert.throws(
      () => a.checkHost(host),
      (err: unknown) => err instanceof ProxyError && err.status === 403,
    );
  }
  // Without rules everything is allowed.
  const open = new Access({});
  assert.equal(open.clientAllowed("203.0.113.9"), true);
  open.authenticate(withAuth());
  open.checkHost("anything.test");
});
