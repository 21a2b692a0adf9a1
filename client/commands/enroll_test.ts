import assert from "node:assert/strict";
import { join } from "node:path";
import { fileMode, pathExists } from "../../core/security/pem_files.ts";
import { puppetProvider } from "../../core/security/providers.ts";
import { runChorale } from "../_testing.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-enroll-cmd-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function runner(dir: string) {
  return (args: string[], env: Record<string, string> = {}) =>
    runChorale(args, { cwd: dir, env: { HOME: join(dir, "home"), ...env } });
}

Deno.test("chorale enroll, ca sign and enroll --install round trip into Puppet's layout", async () => {
  await withDir(async (dir) => {
    const run = runner(dir);
    assert.equal((await run(["ca", "init", "--dir", "ca"])).code, 0);
    const enrolled = await run([
      "enroll",
      "n1.example.net",
      "--ssl-dir",
      "ssl",
      "--ip",
      "10.0.0.7",
    ]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const key = join(dir, "ssl", "private_keys", "n1.example.net.pem");
    const csr = join(dir, "ssl", "certificate_requests", "n1.example.net.pem");
    assert.equal(await fileMode(key), 0o600);
    assert.ok(enrolled.stdout.includes(`private key  ${key} (mode 0600)`));
    assert.ok(enrolled.stdout.includes(`request      ${csr}`));
    const signCommand = enrolled.stdout.split("\n").find((l) => l.includes("chorale ca sign"))!;
    assert.equal(
      signCommand.trim(),
      "chorale ca sign ssl/certificate_requests/n1.example.net.pem --kind server --out n1.example.net.crt",
    );

    // Run the printed command as printed (with the CA directory added).
    const signArgs = signCommand.trim().split(/\s+/).slice(1);
    const signed = await run([...signArgs, "--dir", "ca"]);
    assert.equal(signed.code, 0, signed.stderr);
    const installLine = enrolled.stdout.split("\n").find((l) => l.includes("--install"))!;
    assert.match(
      installLine,
      /chorale enroll --install n1\.example\.net\.crt --ca ca\.pem --ssl-dir /,
    );

    const installed = await run([
      "enroll",
      "--install",
      "n1.example.net.crt",
      "--ca",
      "ca/ca.pem",
      "--ssl-dir",
      "ssl",
    ]);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /Installed the certificate of 'n1\.example\.net'/);
    assert.ok(!(await pathExists(csr)));
    const material = await puppetProvider({ sslDir: join(dir, "ssl"), certname: "n1.example.net" })
      .load();
    assert.equal(material.caPem, await Deno.readTextFile(join(dir, "ca", "ca.pem")));
  });
});

Deno.test("chorale enroll uses CHORALE_SSL_DIR and refuses to replace a key", async () => {
  await withDir(async (dir) => {
    const run = runner(dir);
    const env = { CHORALE_SSL_DIR: join(dir, "envssl") };
    assert.equal((await run(["enroll", "alice.mcollective"], env)).code, 0);
    assert.ok(await pathExists(join(dir, "envssl", "private_keys", "alice.mcollective.pem")));
    const again = await run(["enroll", "alice.mcollective"], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot write private key .* as it already exists/);
    assert.match(again.stderr, /hint: pass --force/);
    assert.equal((await run(["enroll", "alice.mcollective", "--force"], env)).code, 0);
  });
});

Deno.test("chorale enroll --install refuses a certificate that does not match the key", async () => {
  await withDir(async (dir) => {
    const run = runner(dir);
    await run(["ca", "init", "--dir", "ca"]);
    await run(["enroll", "n1.example.net", "--ssl-dir", "ssl"]);
    // Issued by the CA for the same name, but with a key the CA made, not the node's.
    await run(["ca", "issue", "server", "n1.example.net", "--dir", "ca", "--out", "issued"]);
    const wrong = await run([
      "enroll",
      "--install",
      "issued/n1.example.net.pem",
      "--ca",
      "ca/ca.pem",
      "--ssl-dir",
      "ssl",
    ]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /private key .* does not belong to certificate .*issued\/n1\.example\.net\.pem/,
    );
    assert.ok(!(await pathExists(join(dir, "ssl", "certs", "n1.example.net.pem"))));

    // Signed by another CA.
    await run(["ca", "init", "--dir", "other"]);
    await run([
      "ca",
      "sign",
      "ssl/certificate_requests/n1.example.net.pem",
      "--dir",
      "other",
      "--out",
      "o.crt",
    ]);
    const foreign = await run([
      "enroll",
      "--install",
      "o.crt",
      "--ca",
      "ca/ca.pem",
      "--ssl-dir",
      "ssl",
    ]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /was not issued by the CA in .*ca\/ca\.pem/);

    // For a key this ssl directory never made.
    const stranger = await run([
      "enroll",
      "--install",
      "issued/n1.example.net.pem",
      "--ca",
      "ca/ca.pem",
      "--ssl-dir",
      "ssl2",
    ]);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /Cannot read private key .*ssl2.* as it does not exist/);
    assert.match(stranger.stderr, /hint: .*chorale enroll n1\.example\.net/);
  });
});

Deno.test("chorale enroll usage errors exit 2", async () => {
  await withDir(async (dir) => {
    const run = runner(dir);
    for (
      const args of [
        ["enroll"],
        ["enroll", "--install", "c.pem"],
        ["enroll", "n1", "--install", "c.pem", "--ca", "ca.pem"],
        ["enroll", "--install", "c.pem", "--ca", "ca.pem", "--kind", "server"],
        ["enroll", "n1", "--ca", "ca.pem"],
        ["enroll", "bob", "--kind", "client"],
        ["enroll", "alice.mcollective", "--ip", "10.0.0.1"],
        ["enroll", "n1", "--kind", "router"],
      ]
    ) {
      const result = await run(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /\S/);
    }
    const help = await run(["enroll", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--install <cert>/);
  });
});
