import assert from "node:assert/strict";
import { poetryPinnedSources, writeEnvFiles } from "../src/env_files.ts";
import { labPki } from "./_helpers/client_lab.ts";
import { tempDir } from "./e2e/ci_helpers.ts";

const PROXY = { proxyUrl: "http://127.0.0.1:8080", noProxy: "localhost" };

Deno.test("writeEnvFiles: wgetrc and curlrc hold the user's own file, and a second run does not stack ours", async () => {
  await using tmp = await tempDir("hoard-env-files-");
  const home = `${tmp.path}/home`;
  await Deno.mkdir(home);
  await Deno.writeTextFile(`${home}/.wgetrc`, "tries = 2\n");
  await Deno.writeTextFile(`${home}/.curlrc`, "user-agent = own/1\n");
  const dir = `${tmp.path}/ca`;
  const ca = (await labPki()).ca;
  const first = await writeEnvFiles(dir, `${dir}/ca.pem`, ca, PROXY, (n) => ({ HOME: home })[n]);
  assert.equal(first.curlHome, `${dir}/curl`);
  const curlrc = await Deno.readTextFile(`${dir}/curl/.curlrc`);
  assert.equal(curlrc, `user-agent = own/1\n# hoard env\ncacert = "${first.bundleFile}"\n`);
  const wgetrc = await Deno.readTextFile(first.wgetrcFile);
  assert.ok(wgetrc.startsWith("tries = 2\n# hoard env\n"), wgetrc);

  // `eval "$(hoard env)"` again in the same shell: CURL_HOME and WGETRC name ours now.
  const again = { HOME: home, CURL_HOME: first.curlHome, WGETRC: first.wgetrcFile };
  await writeEnvFiles(dir, `${dir}/ca.pem`, ca, PROXY, (n) => (again as Record<string, string>)[n]);
  assert.equal(await Deno.readTextFile(`${dir}/curl/.curlrc`), curlrc);
  assert.equal(await Deno.readTextFile(first.wgetrcFile), wgetrc);
});

Deno.test("writeEnvFiles: the user's curlrc is the one curl would read ($CURL_HOME before ~)", async () => {
  await using tmp = await tempDir("hoard-env-files-");
  const home = `${tmp.path}/home`;
  const own = `${tmp.path}/own-curl`;
  await Deno.mkdir(home);
  await Deno.mkdir(own);
  await Deno.writeTextFile(`${home}/.curlrc`, "user-agent = home/1\n");
  await Deno.writeTextFile(`${own}/.curlrc`, "proxy = http://corp:3128\n");
  const dir = `${tmp.path}/ca`;
  const env: Record<string, string> = { HOME: home, CURL_HOME: own };
  const files = await writeEnvFiles(
    dir,
    `${dir}/ca.pem`,
    (await labPki()).ca,
    PROXY,
    (n) => env[n],
  );
  assert.equal(
    await Deno.readTextFile(`${files.curlHome}/.curlrc`),
    `proxy = http://corp:3128\n# hoard env\ncacert = "${files.bundleFile}"\n` +
      `proxy = "http://127.0.0.1:8080"\nnoproxy = "localhost"\n`,
  );
});

Deno.test("poetryPinnedSources: the sources whose certificate poetry's config.toml or auth.toml pins", async () => {
  await using tmp = await tempDir("hoard-env-files-");
  const dir = `${tmp.path}/home/.config/pypoetry`;
  await Deno.mkdir(dir, { recursive: true });
  // As `poetry config certificates.NAME.cert PATH` writes it (into auth.toml), and by hand.
  await Deno.writeTextFile(
    `${dir}/auth.toml`,
    `[http-basic.lab]\nusername = "u"\n\n[certificates.lab]\ncert = "/etc/ssl/certs/ca-certificates.crt"\n\n` +
      `[certificates.other]\nclient-cert = "/y.pem"\n`,
  );
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    `[virtualenvs]\nin-project = true\n[certificates]\ncorp-mirror = { cert = "/corp.pem" }\n` +
      `"dotted.name".cert = "/d.pem"\n# certificates.commented.cert = "/c.pem"\n` +
      `[certificates."bad name"]\ncert = "/b.pem"\n`,
  );
  // And a project's own poetry.toml.
  const project = `${tmp.path}/project`;
  await Deno.mkdir(project);
  await Deno.writeTextFile(`${project}/poetry.toml`, `[certificates.local]\ncert = "/l.pem"\n`);
  const env: Record<string, string> = { HOME: `${tmp.path}/home` };
  assert.deepEqual(await poetryPinnedSources((n) => env[n], project), [
    "corp-mirror",
    "dotted.name",
    "lab",
    "local",
  ]);
  // POETRY_CONFIG_DIR moves the user's files.
  env["POETRY_CONFIG_DIR"] = `${tmp.path}/nowhere`;
  assert.deepEqual(await poetryPinnedSources((n) => env[n], tmp.path), []);
});
