import assert from "node:assert/strict";
import { assertActionError, callAction as call } from "./_testing.ts";
import { type CommandRunner, runCommand } from "./_command.ts";
import { packageAgent, parsePackageSpec } from "./package.ts";

/** The tiny package the install cycle puts on and takes off this machine (53 kB, no new deps). */
const TEST_PACKAGE = "hello";
const ABSENT_PACKAGE = "chorale-no-such-package";

/** A real runner that also records what it ran. */
function recordingRunner(): { runner: CommandRunner; ran: string[][] } {
  const ran: string[][] = [];
  return {
    ran,
    runner: (argv, options) => {
      ran.push([...argv]);
      return runCommand(argv, options);
    },
  };
}

const isRoot = (await runCommand(["/usr/bin/id", "-u"])).stdout.trim() === "0";

/** Why the install cycle cannot run here, or undefined when it can; tries `apt-get update` first. */
async function installBlocker(): Promise<string | undefined> {
  if (!isRoot) return "it needs root for apt-get";
  const known = await runCommand(["/usr/bin/dpkg-query", "-W", "-f=${Status}", TEST_PACKAGE]);
  if (known.code === 0 && known.stdout.endsWith(" installed")) {
    return `'${TEST_PACKAGE}' was already installed here and the test only removes what it installs`;
  }
  const candidate = async () =>
    /Candidate: (?!\(none\))/.test(
      (await runCommand(["/usr/bin/apt-cache", "policy", TEST_PACKAGE])).stdout,
    );
  if (!await candidate()) {
    const update = await runCommand(["/usr/bin/apt-get", "-q", "update"], {
      signal: AbortSignal.timeout(120_000),
    });
    if (!await candidate()) {
      return `apt has no candidate for '${TEST_PACKAGE}' even after apt-get update (exit ${update.code}): ${update.stderr.trim()}`;
    }
  }
  const download = await runCommand(
    ["/usr/bin/apt-get", "-q", "-y", "--download-only", "install", TEST_PACKAGE],
    { signal: AbortSignal.timeout(120_000) },
  );
  if (download.code !== 0) {
    return `no repository served '${TEST_PACKAGE}' (apt-get --download-only exit ${download.code}): ${download.stderr.trim()}`;
  }
  return undefined;
}

const blocker = await installBlocker();
if (blocker !== undefined) {
  console.warn(`Skipping the ${TEST_PACKAGE} install cycle: ${blocker}`);
}

Deno.test("packageAgent status reports installed packages from dpkg", async () => {
  const agent = packageAgent();
  for (const name of ["bash", "dpkg"]) {
    const reply = await call(agent, "status", { package: name });
    assert.equal(reply.name, name);
    assert.equal(reply.provider, "dpkg");
    assert.equal(reply.output, null);
    assert.match(String(reply.arch), /^[a-z0-9-]+$/);
    assert.match(String(reply.ensure), /^[0-9]/);
    const epoch = reply.epoch === "0" ? "" : `${reply.epoch}:`;
    const release = reply.release === "" ? "" : `-${reply.release}`;
    assert.equal(`${epoch}${reply.version}${release}`, reply.ensure);
  }
  const bash = await call(agent, "status", { package: "bash" });
  assert.notEqual(bash.release, "", "bash is not a native package: it has a Debian revision");
  const dpkg = await call(agent, "status", { package: "dpkg" });
  assert.equal(dpkg.release, "", "dpkg is a native package: it has no Debian revision");
});

Deno.test("packageAgent status reports an unknown package as purged", async () => {
  const reply = await call(packageAgent(), "status", { package: ABSENT_PACKAGE });
  assert.deepEqual(reply, {
    name: ABSENT_PACKAGE,
    ensure: "purged",
    version: null,
    release: null,
    epoch: null,
    arch: null,
    provider: "dpkg",
    output: null,
  });
});

Deno.test("packageAgent refuses bad package names before running anything", async () => {
  const { runner, ran } = recordingRunner();
  const agent = packageAgent({ runner });
  const hostile = [
    "bash; rm -rf /",
    "$(id)",
    "`id`",
    "bash|cat",
    "bash && id",
    "-o",
    "-oAPT::Get::AllowUnauthenticated=true",
    "--purge",
    "--",
    "bash hello",
    "bash\nhello",
    "bash\t",
    "../../etc/passwd",
    "Bash",
    "b",
    "bash*",
    "hello=$(id)",
    "hello=1.0 -y",
    "hello=-1",
    "x".repeat(91),
  ];
  for (const action of ["status", "install", "update", "uninstall", "purge", "search"]) {
    for (const name of hostile) {
      await assertActionError(
        call(agent, action, { package: name }),
        4,
        /^Cannot use ".*" as a package name: /s,
      );
    }
  }
  // A version belongs to install and update only.
  for (const action of ["status", "uninstall", "purge", "search"]) {
    await assertActionError(call(agent, action, { package: "bash=5.2" }), 4, /takes no version/);
  }
  await assertActionError(
    call(agent, "install", { package: "hello", version: "--allow-unauthenticated" }),
    4,
    /the version must be a Debian version/,
  );
  await assertActionError(
    call(agent, "install", { package: "hello=2.10-3", version: "2.10-3" }),
    4,
    /a version is given twice/,
  );
  await assertActionError(call(agent, "status", { package: 42 }), 4, /must be a string/);
  await assertActionError(call(agent, "status", {}), 3, /Cannot find the 'package' input/);
  assert.deepEqual(ran, [], "no program should have run");
});

Deno.test("parsePackageSpec accepts Debian names, arch qualifiers and versions", () => {
  assert.deepEqual(parsePackageSpec("libc6:amd64"), { name: "libc6:amd64" });
  assert.deepEqual(parsePackageSpec("g++-12"), { name: "g++-12" });
  assert.deepEqual(parsePackageSpec("python3.11"), { name: "python3.11" });
  assert.deepEqual(parsePackageSpec("hello=2.10-3", { allowVersion: true }), {
    name: "hello",
    version: "2.10-3",
  });
  assert.deepEqual(parsePackageSpec("vim=2:9.0.1378-2~bpo12+1", { allowVersion: true }), {
    name: "vim",
    version: "2:9.0.1378-2~bpo12+1",
  });
});

Deno.test("packageAgent refuses to remove or update what is not installed", async () => {
  const { runner, ran } = recordingRunner();
  const agent = packageAgent({ runner });
  await assertActionError(
    call(agent, "uninstall", { package: ABSENT_PACKAGE }),
    1,
    /not installed/,
  );
  await assertActionError(call(agent, "update", { package: ABSENT_PACKAGE }), 1, /not installed/);
  await assertActionError(call(agent, "purge", { package: ABSENT_PACKAGE }), 1, /not present/);
  assert.ok(ran.every((argv) => argv[0] === "/usr/bin/dpkg-query"), "only dpkg-query should run");
});

Deno.test("packageAgent refuses to install what is already installed", async () => {
  await assertActionError(
    call(packageAgent(), "install", { package: "bash" }),
    1,
    /^Cannot install 'bash' as it is already installed: version /,
  );
});

Deno.test("packageAgent count and md5 summarise the installed packages", async () => {
  const agent = packageAgent();
  const count = await call(agent, "count");
  assert.equal(count.exitcode, 0);
  assert.match(String(count.output), /^[1-9][0-9]*$/);
  const md5 = await call(agent, "md5");
  assert.equal(md5.exitcode, 0);
  assert.match(String(md5.output), /^[0-9a-f]{32}$/);
  assert.deepEqual(await call(agent, "md5"), md5, "the digest should be stable");
});

Deno.test("packageAgent checkupdates lists upgrades from a simulated dist-upgrade", async () => {
  const agent = packageAgent();
  const reply = await call(agent, "checkupdates");
  assert.equal(reply.package_manager, "apt");
  assert.equal(reply.exitcode, 0);
  assert.match(String(reply.output), /^(Reading package lists|NOTE: This is only a simulation)/m);
  const outdated = reply.outdated_packages as Record<string, string>[];
  assert.ok(Array.isArray(outdated));
  for (const entry of outdated) {
    assert.deepEqual(Object.keys(entry), ["package", "version", "repo"]);
    assert.match(entry.package!, /^[a-z0-9][a-z0-9+.:-]+$/);
    assert.match(entry.version!, /^[0-9]/);
  }
  const apt = await call(agent, "apt_checkupdates");
  assert.deepEqual(Object.keys(apt).sort(), ["exitcode", "outdated_packages", "output"]);
});

Deno.test("packageAgent search lists the versions apt can install", async () => {
  const agent = packageAgent();
  const found = await call(agent, "search", { package: "bash" });
  assert.ok((found.package_count as number) >= 1, JSON.stringify(found));
  const first = (found.available_packages as Record<string, string>[])[0]!;
  assert.equal(first.package, "bash");
  const none = await call(agent, "search", { package: ABSENT_PACKAGE });
  assert.deepEqual(none, { package_count: 0, available_packages: [] });
});

Deno.test("packageAgent refuses yum actions on Debian", async () => {
  const agent = packageAgent();
  for (const action of ["yum_clean", "yum_checkupdates"]) {
    await assertActionError(
      call(agent, action, { mode: "all" }),
      5,
      /not supported on this platform/,
    );
  }
});

Deno.test("packageAgent covers every action of its DDL", () => {
  const agent = packageAgent();
  assert.equal(agent.ddl.metadata.name, "package");
  assert.deepEqual(
    Object.keys(agent.actions).sort(),
    agent.ddl.actions.map((a) => a.action).sort(),
  );
});

Deno.test("packageAgent turns an aborted command into status 1", async () => {
  const agent = packageAgent();
  await assertActionError(
    call(agent, "status", { package: "bash" }, AbortSignal.abort(new Error("timeout"))),
    1,
    /^Cannot query the status of 'bash' as it was aborted/,
  );
  await assertActionError(
    call(agent, "apt_checkupdates", {}, AbortSignal.timeout(5)),
    1,
    /^Cannot check for updates as it was aborted/,
  );
});

Deno.test({
  name: "packageAgent reports apt's lock error when another apt holds the lock",
  ignore: !isRoot,
  fn: async () => {
    // Holds dpkg's frontend lock the way apt does (an fcntl write lock) until stdin closes.
    const holder = new Deno.Command("/usr/bin/python3", {
      args: [
        "-c",
        "import fcntl, sys\n" +
        "f = open('/var/lib/dpkg/lock-frontend', 'w')\n" +
        "fcntl.lockf(f, fcntl.LOCK_EX)\n" +
        "print('locked', flush=True)\n" +
        "sys.stdin.read()\n",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = holder.stdout.getReader();
      const first = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error("waited 10s for the lock holder to say 'locked'")),
            10_000,
          )
        ),
      ]);
      assert.equal(new TextDecoder().decode(first.value).trim(), "locked");
      reader.releaseLock();
      await assertActionError(
        call(packageAgent({ lockTimeoutSeconds: 0 }), "install", { package: TEST_PACKAGE }),
        1,
        /^Cannot install 'hello' as apt-get failed with exit code 100: Could not get lock \/var\/lib\/dpkg\/lock-frontend/,
      );
    } finally {
      await holder.stdin.close();
      await holder.stdout.cancel().catch(() => {});
      await holder.status;
    }
  },
});

Deno.test({
  name: "packageAgent installs, reports, uninstalls and purges a real package",
  ignore: blocker !== undefined,
  fn: async () => {
    const agent = packageAgent();
    let installed = false;
    try {
      assert.equal((await call(agent, "status", { package: TEST_PACKAGE })).ensure, "purged");

      const install = await call(agent, "install", { package: TEST_PACKAGE });
      installed = true;
      assert.equal(install.name, TEST_PACKAGE);
      assert.equal(install.provider, "dpkg");
      assert.match(String(install.ensure), /^[0-9]/);
      assert.match(String(install.output), /Setting up hello/);

      const status = await call(agent, "status", { package: TEST_PACKAGE });
      assert.deepEqual(status, { ...install, output: null });
      const ran = await runCommand(["/usr/bin/hello"]);
      assert.equal(ran.stdout, "Hello, world!\n");

      await assertActionError(
        call(agent, "install", { package: TEST_PACKAGE }),
        1,
        /already installed/,
      );
      const update = await call(agent, "update", { package: TEST_PACKAGE });
      assert.equal(update.ensure, install.ensure);

      const uninstall = await call(agent, "uninstall", { package: TEST_PACKAGE });
      assert.match(String(uninstall.output), /Removing hello/);
      assert.ok(["absent", "purged"].includes(String(uninstall.ensure)), String(uninstall.ensure));
      assert.equal(uninstall.version, null);

      // Put it back at its pinned version, then purge it.
      const pinned = await call(agent, "install", {
        package: TEST_PACKAGE,
        version: install.ensure,
      });
      assert.equal(pinned.ensure, install.ensure);
      const purge = await call(agent, "purge", { package: TEST_PACKAGE });
      assert.equal(purge.ensure, "purged");
      installed = false;
      await assertActionError(call(agent, "purge", { package: TEST_PACKAGE }), 1, /not present/);
    } finally {
      if (installed) {
        await runCommand(["/usr/bin/apt-get", "-q", "-y", "purge", TEST_PACKAGE]);
      }
    }
  },
});

Deno.test({
  name: "packageAgent install reports apt's error for a package no repository has",
  ignore: !isRoot,
  fn: async () => {
    await assertActionError(
      call(packageAgent(), "install", { package: ABSENT_PACKAGE }),
      1,
      /^Cannot install 'chorale-no-such-package' as apt-get failed with exit code 100: Unable to locate package chorale-no-such-package/,
    );
  },
});
