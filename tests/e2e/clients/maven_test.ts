/**
 * Maven end to end: a Maven 2 repository written by a real `mvn deploy` (a
 * parent POM, `greeting`, and `app`, which depends on `greeting`), served
 * over HTTPS as static files, and a real Maven 3.8 resolving `app` through
 * hoard with a fresh local repository each run.
 *
 * The user's own configuration pins what users' machines pin: a
 * `~/.m2/settings.xml` whose mirror of `*` is the lab repository and whose
 * `<proxy>` points at a dead port, and a project `.mvn/jvm.config` that sets
 * the JDK's own trust store (which lacks hoard's CA).
 *
 * What Maven 3.8.7 honours, as this test shows it:
 * - no `HTTPS_PROXY`: its transport (wagon) takes `-Dhttps.proxyHost/Port`
 *   and `-Djavax.net.ssl.trustStore` when settings.xml has no `<proxy>`;
 * - `.mvn/jvm.config` comes after `JAVA_TOOL_OPTIONS` on java's command line
 *   and beats it; `MAVEN_OPTS` comes after `.mvn/jvm.config` and beats both;
 * - a `<proxy>` in settings.xml beats every property, and Maven 3.8 takes
 *   the settings' path from no variable: `mvn -s "$HOARD_MAVEN_SETTINGS"`
 *   (the user's settings, hoard's proxies in place of theirs) is the line to add.
 *
 * Resolution needs no plugin (none can be downloaded here): the project
 * declares `app` as a core extension in `.mvn/extensions.xml`, which Maven
 * resolves, with its dependencies, before it reads the project; `mvn validate`
 * then runs no plugin. Building the repository does need Maven's plugins: they
 * come from this machine's `~/.m2/repository`, read as a `file://` mirror.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sha256 } from "../../_helpers/cache_origin.ts";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import { missingTool, run, startFileOrigin } from "../../_helpers/package_managers.ts";
import { filesUnder, threeRuns } from "../../_helpers/static_registry.ts";
import { tempDir } from "../ci_helpers.ts";

/** Plugins `mvn deploy` of a jar runs, at versions whose dependencies this machine holds. */
const PLUGINS: [artifactId: string, version: string][] = [
  ["maven-resources-plugin", "3.3.1"],
  ["maven-compiler-plugin", "3.11.0"],
  ["maven-surefire-plugin", "3.2.5"],
  ["maven-jar-plugin", "3.4.1"],
  ["maven-install-plugin", "3.1.1"],
  ["maven-deploy-plugin", "3.1.1"],
];

const MACHINE_REPO = `${Deno.env.get("HOME")}/.m2/repository`;

function missingPlugin(): string | undefined {
  for (const [a, v] of PLUGINS) {
    try {
      Deno.statSync(`${MACHINE_REPO}/org/apache/maven/plugins/${a}/${v}/${a}-${v}.jar`);
    } catch {
      return `${a} ${v} is not in ${MACHINE_REPO} (mvn deploy needs it; no network repository here)`;
    }
  }
  return undefined;
}

const MISSING = missingTool([["mvn", "-v"], ["javac", "-version"]]) ?? missingPlugin();
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const MAVEN_TIMEOUT_MS = 180_000;

const pom = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n` +
  `  <modelVersion>4.0.0</modelVersion>\n${body}</project>\n`;

const PARENT = "<parent><groupId>test.hoard</groupId><artifactId>lab-parent</artifactId>" +
  "<version>1.0</version></parent>\n";

/** Writes the lab's project and runs `mvn deploy` into `${dir}/repo`; returns the repository. */
async function deployLabRepository(dir: string): Promise<string> {
  const repo = `${dir}/repo`;
  const files: Record<string, string> = {
    "lab/pom.xml": pom(
      `  <groupId>test.hoard</groupId>\n  <artifactId>lab-parent</artifactId>\n` +
        `  <version>1.0</version>\n  <packaging>pom</packaging>\n` +
        `  <modules><module>greeting</module><module>app</module></modules>\n` +
        `  <properties><maven.compiler.release>8</maven.compiler.release>` +
        `<project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>\n` +
        `  <distributionManagement><repository><id>lab</id><url>file://${repo}</url>` +
        `</repository></distributionManagement>\n` +
        `  <build><pluginManagement><plugins>\n` +
        PLUGINS.map(([a, v]) =>
          `    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>${a}</artifactId>` +
          `<version>${v}</version></plugin>\n`
        ).join("") +
        `  </plugins></pluginManagement></build>\n`,
    ),
    "lab/greeting/pom.xml": pom(`  ${PARENT}  <artifactId>greeting</artifactId>\n`),
    "lab/greeting/src/main/java/test/hoard/greeting/Greeting.java":
      `package test.hoard.greeting;\n\npublic class Greeting {\n` +
      `  public static String text() { return "served by hoard"; }\n}\n`,
    "lab/app/pom.xml": pom(
      `  ${PARENT}  <artifactId>app</artifactId>\n  <dependencies><dependency>` +
        `<groupId>test.hoard</groupId><artifactId>greeting</artifactId><version>1.0</version>` +
        `</dependency></dependencies>\n`,
    ),
    "lab/app/src/main/java/test/hoard/app/App.java":
      `package test.hoard.app;\n\npublic class App {\n  public static void main(String[] args) {\n` +
      `    System.out.println(test.hoard.greeting.Greeting.text());\n  }\n}\n`,
    // The machine's local repository, read as a remote one: plugins come from
    // there, and nothing is written into it.
    "build-settings.xml": `<settings><mirrors><mirror><id>machine</id><mirrorOf>*</mirrorOf>` +
      `<url>file://${MACHINE_REPO}</url></mirror></mirrors></settings>\n`,
  };
  await writeFiles(dir, files);
  await run("mvn", [
    "-B",
    "-q",
    "-s",
    `${dir}/build-settings.xml`,
    `-Dmaven.repo.local=${dir}/build-repo`,
    "-f",
    `${dir}/lab/pom.xml`,
    "deploy",
  ], { env: { HOME: dir }, timeoutMs: MAVEN_TIMEOUT_MS });
  return repo;
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const file = `${dir}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
}

/** The JDK's own `java.home` (its lib/security/cacerts is the default trust store). */
async function javaHome(): Promise<string> {
  const r = await run("java", ["-XshowSettings:properties", "-version"]);
  const home = r.stderr.match(/^\s*java\.home = (.+)$/m)?.[1];
  assert.ok(home, r.stderr);
  return home;
}

/** What resolving `app` puts in the local repository, by path under the repository. */
const RESOLVED = [
  "test/hoard/app/1.0/app-1.0.jar",
  "test/hoard/app/1.0/app-1.0.pom",
  "test/hoard/greeting/1.0/greeting-1.0.jar",
  "test/hoard/greeting/1.0/greeting-1.0.pom",
  "test/hoard/lab-parent/1.0/lab-parent-1.0.pom",
];

Deno.test({
  name: `maven: mvn resolves through hoard, settings.xml and .mvn/jvm.config pinned; ` +
    `warm from the cache, then with the repository down${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-maven-test-");
    const repo = await deployLabRepository(tmp.path);
    const served = await filesUnder(repo);
    const origin = startFileOrigin(served, await labPki());
    try {
      const repoUrl = `${labUrl("maven", origin.port)}/`;
      const mirror = `<mirrors><mirror><id>lab</id><mirrorOf>*</mirrorOf><url>${repoUrl}</url>` +
        `</mirror></mirrors>`;
      await using lab = await startClientLab({
        for: "maven",
        ports: [origin.port],
        prepareHome: (home) =>
          writeFiles(home, {
            // The user's settings: the lab repository as the mirror of everything,
            // and a proxy of their own (dead here) for every https repository.
            ".m2/settings.xml": `<settings>\n  <proxies><proxy><id>corp</id><active>true</active>` +
              `<protocol>https</protocol><host>127.0.0.1</host><port>1</port></proxy></proxies>\n` +
              `  ${mirror}\n</settings>\n`,
          }),
      });
      assert.match(lab.env["JAVA_TOOL_OPTIONS"]!, /-Djavax\.net\.ssl\.trustStore=/);
      assert.equal(lab.env["MAVEN_OPTS"], lab.env["JAVA_TOOL_OPTIONS"]);
      const project = `${tmp.path}/project`;
      const jdk = await javaHome();
      await writeFiles(project, {
        "pom.xml": pom(
          `  <groupId>test.hoard</groupId>\n  <artifactId>consumer</artifactId>\n` +
            `  <version>1.0</version>\n  <packaging>pom</packaging>\n`,
        ),
        ".mvn/extensions.xml": `<extensions><extension><groupId>test.hoard</groupId>` +
          `<artifactId>app</artifactId><version>1.0</version></extension></extensions>\n`,
        // The project pins the JDK's own trust store, which lacks hoard's CA.
        // (And user.home: the JVM takes it from the passwd entry, not from HOME,
        // which is the passwd home on users' machines but a temp dir here.)
        ".mvn/jvm.config": `-Djavax.net.ssl.trustStore=${jdk}/lib/security/cacerts ` +
          `-Djavax.net.ssl.trustStorePassword=changeit -Duser.home=${lab.home}\n`,
        // The user's settings without the proxy, given with -s.
        "settings-no-proxy.xml": `<settings>${mirror}</settings>\n`,
      });
      const mvn = (n: string, settings?: string, env = lab.env) =>
        run("mvn", [
          "-B",
          ...(settings === undefined ? [] : ["-s", settings]),
          `-Dmaven.repo.local=${tmp.path}/local-${n}`,
          "validate",
        ], { env, cwd: project, timeoutMs: MAVEN_TIMEOUT_MS });
      const noProxySettings = `${project}/settings-no-proxy.xml`;

      // The user's <proxy> beats every property: without -s, Maven goes to the dead port.
      const mark = lab.mark();
      await assert.rejects(mvn("pinned"), /Connect to 127\.0\.0\.1:1 .*refused/);
      // JAVA_TOOL_OPTIONS alone: the project's trust store in .mvn/jvm.config wins.
      const { MAVEN_OPTS: _, ...toolOptionsOnly } = lab.env;
      await assert.rejects(
        mvn("tool-options", noProxySettings, toolOptionsOnly),
        /PKIX path building failed/,
      );
      assert.deepEqual(lab.requests(mark), [], "nothing reached hoard");

      const install = async (n: number) => {
        const r = await mvn(String(n), lab.env["HOARD_MAVEN_SETTINGS"]);
        assert.match(r.stdout, /BUILD SUCCESS/);
        for (const path of RESOLVED) {
          const got = await Deno.readFile(`${tmp.path}/local-${n}/${path}`);
          assert.equal(sha256(got), sha256(served.get(`/${path}`)!.body), path);
        }
      };
      const version = (await run("mvn", ["-v"], { env: { HOME: tmp.path } })).stdout
        .replace(/\x1b\[[0-9;]*m/g, "").split("\n")[0]!.trim();
      await threeRuns({
        client: version,
        lab,
        origin,
        isArtifact: (path) => /\.(jar|pom)(\.sha1)?$/.test(path),
        install,
      });

      // Settings without a <proxy>: the environment alone is enough (MAVEN_OPTS
      // beating the project's trust store), from the cache with the repository down.
      const plain = await mvn("no-proxy", noProxySettings);
      assert.match(plain.stdout, /BUILD SUCCESS/);
    } finally {
      await origin.close().catch(() => {});
    }
  },
});
