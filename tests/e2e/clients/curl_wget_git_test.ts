/**
 * curl, wget and git end to end, each with the user's own config file
 * pinning the system CA bundle (which does not hold hoard's CA) and, for
 * wget and git, a proxy that goes nowhere; run with exactly what `hoard env`
 * prints.
 *
 * curl and wget download release binaries (immutable, as release hosts serve
 * them) from a static HTTPS origin: cold, warm (no origin request at all)
 * and with the origin stopped. git clones and then fetches a repository
 * served by `git http-backend` (smart HTTP) through the interception; its
 * answers are `no-cache` and POSTs, so hoard relays them and an origin-down
 * run is not expected to work.
 *
 * @module
 */

import assert from "node:assert/strict";
import { pseudoRandom, sha256 } from "../../_helpers/cache_origin.ts";
import { type ClientLab, labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import { startGitServer } from "../../_helpers/git_server.ts";
import {
  exchangeLines,
  httpDate,
  type LoggedRequest,
  loggedRequests,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../../_helpers/package_managers.ts";
import { waitFor } from "../../_helpers/sockets.ts";
import { tempDir } from "../ci_helpers.ts";

/** The CA bundle of the system: it does not hold hoard's CA, as on a user's machine. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
/** A proxy pinned in a config file that goes nowhere: only hoard env's own can make it work. */
const DEAD_PROXY = "http://127.0.0.1:1";

/** Set in the user's own config file: hoard env keeps the rest of that file working. */
const USER_AGENT = "lab-user-agent/1.0";

const skip = (why: string | undefined) => why === undefined ? "" : ` (ignored: ${why})`;
const CURL_MISSING = missingTool([["curl", "--version"]]);
const WGET_MISSING = missingTool([["wget", "--version"]]);
const GIT_MISSING = missingTool([["git", "--version"], ["git", "http-backend", "--help"]]);

/** A release: two binaries and their checksums, as a release page links them. */
const RELEASE = "/hoard-lab/tool/releases/download/v1.4.2";
const ASSETS: [string, Uint8Array<ArrayBuffer>][] = [
  ["tool-1.4.2-linux-amd64.tar.gz", pseudoRandom(3 * 1024 * 1024 + 17, 1)],
  ["tool-1.4.2-linux-arm64.tar.gz", pseudoRandom(2 * 1024 * 1024 + 5, 2)],
];
const SUMS = new TextEncoder().encode(
  ASSETS.map(([name, body]) => `${sha256(body)}  ${name}\n`).join(""),
);
const FILES: [string, Uint8Array<ArrayBuffer>][] = [...ASSETS, ["SHA256SUMS", SUMS]];

/** The release served as release hosts serve assets: immutable, a year fresh, with validators. */
function releaseFiles(): Map<string, ServedFile> {
  const published = httpDate(Date.now() - 40 * 86400_000);
  return new Map(
    FILES.map(([name, body]) => [`${RELEASE}/${name}`, {
      body,
      etag: `"${sha256(body).slice(0, 20)}"`,
      lastModified: published,
      headers: { "cache-control": "public, max-age=31536000, immutable" },
    }]),
  );
}

/** What one run did. */
interface RunReport {
  /** Wall time. */
  ms: number;
  /** hoard's log position before the run. */
  mark: number;
  /** How many requests hoard logged during the run (CONNECTs left out). */
  requests: number;
  /** Requests the origin answered during the run. */
  origin: number;
}

/** One line per client for the README's table. */
function report(client: string, ver: string, runs: RunReport[]): void {
  const [cold, warm, down] = runs;
  console.log(
    `client ${client} (${ver}): cold ${cold?.ms.toFixed(0)} ms, warm ${warm?.ms.toFixed(0)} ms, ` +
      `origin down ${down?.ms.toFixed(0)} ms; origin requests cold ${cold?.origin}, ` +
      `warm ${warm?.origin}, down ${down?.origin}`,
  );
}

/** `path status cache-status` of each GET of a run, ttl left out, sorted. */
function statuses(lab: ClientLab, base: string, r: RunReport): string[] {
  return lab.requests(r.mark).slice(0, r.requests).filter((l: LoggedRequest) => l.method === "GET")
    .map((l) =>
      `${l.url.slice(base.length)} ${l.status} ${l.cacheStatus?.replace(/; ttl=\d+/, "")}`
    ).sort();
}

/** Every request hoard logged went to `base` (or CONNECTed to its host). */
function assertOnlyLab(lab: ClientLab, base: string): void {
  const host = new URL(base).host;
  for (const l of loggedRequests(lab.proxy.logs)) {
    assert.ok(l.url === host || l.url.startsWith(`${base}/`), `${l.method} ${l.url}`);
  }
}

/**
 * The three runs of a download client against the release: `download(dir,
 * env)` fetches every file of FILES into `dir`.
 */
async function releaseRuns(
  client: string,
  labFor: string,
  prepareHome: (home: string) => Promise<void>,
  control: (env: Record<string, string>) => Record<string, string>,
  download: (urls: string[], dir: string, env: Record<string, string>) => Promise<unknown>,
  ver: string,
): Promise<void> {
  const p = await labPki();
  const origin = startFileOrigin(releaseFiles(), { cert: p.cert, key: p.key });
  let originUp = true;
  try {
    await using lab = await startClientLab({ for: labFor, ports: [origin.port], prepareHome });
    const base = labUrl("releases", origin.port);
    const urls = FILES.map(([name]) => `${base}${RELEASE}/${name}`);
    let n = 0;
    const once = async (env: Record<string, string>): Promise<RunReport> => {
      await lab.settled();
      const dir = `${lab.home}/dl-${n++}`;
      await Deno.mkdir(dir);
      const mark = lab.mark();
      const seen = origin.exchanges.length;
      const start = performance.now();
      await download(urls, dir, env);
      const ms = performance.now() - start;
      for (const [name, body] of FILES) {
        assert.equal(sha256(await Deno.readFile(`${dir}/${name}`)), sha256(body), name);
      }
      // hoard logs an exchange once its last byte is written: settled by now.
      await lab.settled();
      return {
        ms,
        mark,
        requests: lab.requests(mark).length,
        origin: origin.exchanges.length - seen,
      };
    };

    // The user's config file alone (hoard env's variable for it taken away): the pin bites.
    await assert.rejects(once(control(lab.env)));
    assert.equal(origin.exchanges.length, 0, "nothing reached the origin with the pinned CA");

    const cold = await once(lab.env);
    assert.deepEqual(
      exchangeLines(origin.exchanges),
      FILES.map(([name]) => `GET ${RELEASE}/${name} 200`).sort(),
    );
    assert.deepEqual(
      statuses(lab, base, cold),
      FILES.map(([name]) => `${RELEASE}/${name} 200 hoard; fwd=uri-miss; stored`).sort(),
    );
    const warm = await once(lab.env);
    await origin.close();
    originUp = false;
    const down = await once(lab.env);
    assert.equal(origin.exchanges.length, FILES.length);
    for (const r of [warm, down]) {
      assert.deepEqual(
        statuses(lab, base, r),
        FILES.map(([name]) => `${RELEASE}/${name} 200 hoard; hit`).sort(),
      );
    }
    assertOnlyLab(lab, base);
    // The user's file is still read: its other settings hold.
    for (const r of origin.requests) assert.equal(r.headers.get("user-agent"), USER_AGENT);
    report(client, ver, [cold, warm, down]);
  } finally {
    if (originUp) await origin.close();
  }
}

Deno.test({
  name: `curl downloads a release with a ~/.curlrc pinning cacert and a proxy, through hoard env${
    skip(CURL_MISSING)
  }`,
  ignore: CURL_MISSING !== undefined,
  async fn() {
    const ver = (await run("curl", ["--version"])).stdout.split(" ").slice(0, 2).join(" ");
    await releaseRuns(
      "curl",
      "curl",
      async (home) => {
        await Deno.writeTextFile(
          `${home}/.curlrc`,
          `# the user's own\ncacert = ${SYSTEM_BUNDLE}\nproxy = ${DEAD_PROXY}\n` +
            `user-agent = "${USER_AGENT}"\n`,
        );
      },
      (env) => Object.fromEntries(Object.entries(env).filter(([n]) => n !== "CURL_HOME")),
      (urls, dir, env) =>
        run("curl", ["-fsS", "--max-time", "60", "--remote-name-all", ...urls], {
          env,
          cwd: dir,
          timeoutMs: 90_000,
        }),
      ver,
    );
  },
});

Deno.test({
  name:
    `wget downloads a release with a ~/.wgetrc pinning ca_certificate and a proxy, through hoard env${
      skip(WGET_MISSING)
    }`,
  ignore: WGET_MISSING !== undefined,
  async fn() {
    const ver = (await run("wget", ["--version"])).stdout.split("\n")[0]!.replace(
      / built on.*/,
      "",
    );
    await releaseRuns(
      "wget",
      "wget",
      async (home) => {
        await Deno.writeTextFile(
          `${home}/.wgetrc`,
          `# the user's own\nca_certificate = ${SYSTEM_BUNDLE}\nuse_proxy = on\n` +
            `https_proxy = ${DEAD_PROXY}\ntries = 1\nuser_agent = ${USER_AGENT}\n`,
        );
      },
      (env) => Object.fromEntries(Object.entries(env).filter(([n]) => n !== "WGETRC")),
      (urls, dir, env) =>
        run("wget", ["-q", "--tries=1", "--timeout=60", "-P", dir, ...urls], {
          env,
          timeoutMs: 90_000,
        }),
      ver,
    );
  },
});

/** Runs git with `env` (a home of its own, fixed identity and dates) in `cwd`. */
function git(args: string[], env: Record<string, string>, cwd?: string) {
  return run("git", args, {
    env: {
      GIT_AUTHOR_NAME: "lab",
      GIT_AUTHOR_EMAIL: "lab@hoard.test",
      GIT_COMMITTER_NAME: "lab",
      GIT_COMMITTER_EMAIL: "lab@hoard.test",
      GIT_AUTHOR_DATE: "2024-01-01T00:00:00Z",
      GIT_COMMITTER_DATE: "2024-01-01T00:00:00Z",
      ...env,
    },
    ...(cwd === undefined ? {} : { cwd }),
    timeoutMs: 90_000,
  });
}

Deno.test({
  name:
    `git clones and fetches over HTTPS through the interception, ~/.gitconfig pinning sslCAInfo and a proxy${
      skip(GIT_MISSING)
    }`,
  ignore: GIT_MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-git-test-");
    // The repository: a commit with a text and a binary file, in a bare repository served.
    const author = { HOME: tmp.path };
    const work = `${tmp.path}/work`;
    await Deno.mkdir(work);
    const blob = pseudoRandom(512 * 1024, 3);
    await git(["init", "-q", "-b", "main"], author, work);
    await Deno.writeTextFile(`${work}/README`, "hoard lab repository\n");
    await Deno.writeFile(`${work}/data.bin`, blob);
    await git(["add", "."], author, work);
    await git(["commit", "-q", "-m", "first"], author, work);
    await git(["init", "-q", "--bare", "-b", "main", `${tmp.path}/srv/lab.git`], author);
    await git(["push", "-q", `${tmp.path}/srv/lab.git`, "main"], author, work);

    const p = await labPki();
    const server = startGitServer(`${tmp.path}/srv`, { cert: p.cert, key: p.key });
    let serverUp = true;
    try {
      await using lab = await startClientLab({
        for: "git",
        ports: [server.port],
        prepareHome: (home) =>
          Deno.writeTextFile(
            `${home}/.gitconfig`,
            `[http]\n\tsslCAInfo = ${SYSTEM_BUNDLE}\n\tproxy = ${DEAD_PROXY}\n` +
              `[user]\n\tname = lab user\n`,
          ),
      });
      const url = `${labUrl("git", server.port)}/lab.git`;
      const clone = `${lab.home}/clone`;

      // Each of hoard env's two settings is needed, and each beats ~/.gitconfig's.
      const without = (drop: (name: string) => boolean) =>
        Object.fromEntries(Object.entries(lab.env).filter(([n]) => !drop(n)));
      await assert.rejects(
        git(["clone", "-q", url, clone], without((n) => n.startsWith("GIT_CONFIG_"))),
        /127\.0\.0\.1 port 1/,
      );
      await assert.rejects(
        git(["clone", "-q", url, clone], without((n) => n === "GIT_SSL_CAINFO")),
        /certificate/i,
      );
      assert.equal(server.requests.length, 0);
      // git (GnuTLS) refuses hoard's certificate after the handshake, without an
      // alert: hoard's log says so instead of showing an empty, successful tunnel.
      await waitFor(
        () => lab.proxy.logs.some((l) => l.includes(`"error":"tls_no_request"`)),
        "the refused tunnel's log line",
      );

      const mark = lab.mark();
      const cloned = await git(["clone", "-q", url, clone], lab.env);
      const head = (await git(["rev-parse", "HEAD"], author, work)).stdout.trim();
      assert.equal((await git(["rev-parse", "HEAD"], lab.env, clone)).stdout.trim(), head);
      assert.equal(sha256(await Deno.readFile(`${clone}/data.bin`)), sha256(blob));
      const cloneRequests = server.requests.length;

      // A second commit on the server; fetch brings it.
      const more = pseudoRandom(256 * 1024, 4);
      await Deno.writeFile(`${work}/more.bin`, more);
      await git(["add", "."], author, work);
      await git(["commit", "-q", "-m", "second"], author, work);
      await git(["push", "-q", `${tmp.path}/srv/lab.git`, "main"], author, work);
      const fetched = await git(["fetch", "-q", "origin"], lab.env, clone);
      const second = (await git(["rev-parse", "HEAD"], author, work)).stdout.trim();
      assert.equal(
        (await git(["rev-parse", "origin/main"], lab.env, clone)).stdout.trim(),
        second,
      );
      const shown = await new Deno.Command("git", {
        args: ["show", "origin/main:more.bin"],
        cwd: clone,
        env: lab.env,
        clearEnv: true,
        stdout: "piped",
      }).output();
      assert.equal(sha256(shown.stdout), sha256(more));

      // Smart HTTP, protocol v2 (Git-Protocol reached the backend), every
      // request through hoard to the origin and answered 200. The ref
      // advertisement is `no-cache, max-age=0, must-revalidate` without a
      // validator: stored, but every later request fetches it again.
      await lab.settled();
      const lines = lab.requests(mark).map((l) =>
        `${l.method} ${l.url.slice(url.length)} ${l.status} ${l.route}`
      );
      assert.deepEqual(lines, [
        "GET /info/refs?service=git-upload-pack 200 miss",
        "POST /git-upload-pack 200 pass",
        "POST /git-upload-pack 200 pass",
        "GET /info/refs?service=git-upload-pack 200 revalidate",
        "POST /git-upload-pack 200 pass",
        "POST /git-upload-pack 200 pass",
      ]);
      assert.equal(server.requests.length, lines.length);
      for (const r of server.requests) assert.equal(r.headers.get("git-protocol"), "version=2");
      assertOnlyLab(lab, labUrl("git", server.port));

      // With the server gone, the stored advertisement is not served in its
      // place (must-revalidate): git fails, it does not see refs it cannot fetch.
      await server.close();
      serverUp = false;
      const downMark = lab.mark();
      await assert.rejects(git(["fetch", "-q", "origin"], lab.env, clone));
      assert.deepEqual(
        lab.requests(downMark).map((l) => `${l.method} ${l.url.slice(url.length)} ${l.status}`),
        ["GET /info/refs?service=git-upload-pack 502"],
      );
      const ver = (await run("git", ["--version"])).stdout.trim();
      console.log(
        `client git (${ver}): clone ${cloned.ms.toFixed(0)} ms, fetch ${
          fetched.ms.toFixed(0)
        } ms; ` +
          `origin requests clone ${cloneRequests}, fetch ${
            server.requests.length - cloneRequests
          }` +
          `; origin down: fails (502: the ref advertisement is must-revalidate)`,
      );
    } finally {
      if (serverUp) await server.close();
    }
  },
});

/** A fast-import stream: one commit on main and `n` annotated tags of it. */
function manyTags(n: number): string {
  const out = [
    "blob\nmark :1\ndata 6\nhello\n",
    "commit refs/heads/main\nmark :2\ncommitter lab <lab@hoard.test> 1700000000 +0000\n" +
    "data 6\nfirst\nM 100644 :1 README\n",
  ];
  for (let i = 0; i < n; i++) {
    const msg = `release ${i}`;
    out.push(
      `tag v${i}\nfrom :2\ntagger lab <lab@hoard.test> 1700000000 +0000\ndata ${msg.length}\n${msg}\n`,
    );
  }
  return out.join("");
}

Deno.test({
  name: `git clones a repository of 1,500 tags: its chunked POST passes the interception${
    skip(GIT_MISSING)
  }`,
  ignore: GIT_MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-git-test-");
    const bare = `${tmp.path}/srv/tags.git`;
    await git(["init", "-q", "--bare", "-b", "main", bare], { HOME: tmp.path });
    const imported = new Deno.Command("git", {
      args: ["fast-import", "--quiet"],
      cwd: bare,
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: tmp.path },
      stdin: "piped",
    }).spawn();
    const w = imported.stdin.getWriter();
    await w.write(new TextEncoder().encode(manyTags(1500)));
    await w.close();
    assert.ok((await imported.status).success);

    const p = await labPki();
    const server = startGitServer(`${tmp.path}/srv`, { cert: p.cert, key: p.key });
    try {
      // A user's http.postBuffer (git's smallest): a want list over it goes out chunked,
      // after a 4-byte probe.
      await using lab = await startClientLab({
        for: "git",
        ports: [server.port],
        prepareHome: (home) =>
          Deno.writeTextFile(`${home}/.gitconfig`, `[http]\n\tpostBuffer = 65536\n`),
      });
      const url = `${labUrl("git", server.port)}/tags.git`;
      const clone = `${lab.home}/clone`;
      const mark = lab.mark();
      await git(["clone", "-q", url, clone], lab.env);
      const tags = (await git(["tag", "-l"], lab.env, clone)).stdout.trim().split("\n");
      assert.equal(tags.length, 1500);
      assert.ok(
        server.requests.some((r) =>
          r.method === "POST" && r.headers.get("transfer-encoding") === "chunked"
        ),
        "a chunked POST reached the server",
      );
      await lab.settled();
      for (const l of lab.requests(mark)) assert.equal(l.status, 200, `${l.method} ${l.url}`);
    } finally {
      await server.close();
    }
  },
});
