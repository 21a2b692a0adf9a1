import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { createCertificateRequest } from "../../core/security/ca.ts";
import { openCaStore } from "../../core/security/ca_store.ts";
import { fileMode } from "../../core/security/pem_files.ts";
import { runChorale } from "../_testing.ts";
import { daysLeft } from "./ca.ts";

const DAY_MS = 86_400_000;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-ca-cmd-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function usage(dir: string) {
  return (args: string[], env: Record<string, string> = {}, now?: Date) =>
    runChorale(args, {
      cwd: dir,
      env: { HOME: join(dir, "home"), ...env },
      ...(now ? { now } : {}),
    });
}

Deno.test("chorale ca init makes the CA under XDG_CONFIG_HOME and refuses to overwrite it", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    const env = { XDG_CONFIG_HOME: join(dir, "xdg") };
    const made = await run(["ca", "init", "--name", "Test CA", "--days", "30"], env);
    assert.equal(made.code, 0, made.stderr);
    const caDir = join(dir, "xdg", "chorale", "ca");
    assert.match(made.stdout, /Made CA 'Test CA' \(ed25519\), valid until/);
    assert.equal(await fileMode(join(caDir, "ca.key")), 0o600);
    const again = await run(["ca", "init"], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot make a CA in .* as one already exists there/);
    assert.match(again.stderr, /hint: pass --force/);
    const forced = await run(["ca", "init", "--force", "--algorithm", "ecdsa"], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /the previous CA was moved to .*replaced-/);
    assert.equal((await openCaStore(caDir)).ca.algorithm, "ecdsa");
  });
});

Deno.test("chorale ca issue writes certificate, 0600 key and CA copy with the right usages", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    assert.equal((await run(["ca", "init", "--dir", "ca"])).code, 0);
    const server = await run([
      "ca",
      "issue",
      "server",
      "broker.example.net",
      "--dir",
      "ca",
      "--dns",
      "nats.example.net",
      "--ip",
      "127.0.0.1",
      "--ip",
      "::1",
      "--algorithm",
      "rsa",
      "--out",
      "out",
    ]);
    assert.equal(server.code, 0, server.stderr);
    const cert = new X509Certificate(
      await Deno.readTextFile(join(dir, "out", "broker.example.net.pem")),
    );
    assert.equal(cert.subject, "CN=broker.example.net");
    assert.match(cert.subjectAltName ?? "", /DNS:nats\.example\.net/);
    assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.equal(cert.publicKey.asymmetricKeyType, "rsa");
    assert.equal(await fileMode(join(dir, "out", "broker.example.net.key")), 0o600);
    const ca = new X509Certificate(await Deno.readTextFile(join(dir, "out", "ca.pem")));
    assert.ok(cert.verify(ca.publicKey));

    const client = await run(["ca", "issue", "client", "alice.mcollective", "--dir", "ca"]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(await fileMode(join(dir, "alice.mcollective.key")), 0o600);
    const { entries } = await (await openCaStore(join(dir, "ca"))).list();
    assert.deepEqual(entries.map((e) => [e.name, e.kind]), [
      ["alice.mcollective", "client"],
      ["broker.example.net", "server"],
    ]);
  });
});

Deno.test("chorale ca issue refuses bad client names, reissues and overwrites unless forced", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    await run(["ca", "init", "--dir", "ca"]);
    const bad = await run(["ca", "issue", "client", "alice", "--dir", "ca"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'alice' as a client certificate name .* '\\\.mcollective\$'/);
    assert.match(bad.stderr, /hint: pass --force to use it anyway/);
    const syntax = await run(["ca", "issue", "client", "Bad Name", "--dir", "ca", "--force"]);
    assert.equal(syntax.code, 2);
    const server = await run(["ca", "issue", "server", "eve.mcollective", "--dir", "ca"]);
    assert.equal(server.code, 2);
    assert.match(server.stderr, /would treat it as a client/);
    const badIp = await run(["ca", "issue", "server", "n1", "--dir", "ca", "--ip", "1.2.3"]);
    assert.equal(badIp.code, 2);

    assert.equal((await run(["ca", "issue", "client", "alice", "--dir", "ca", "--force"])).code, 0);
    assert.equal((await run(["ca", "issue", "client", "dave.mcollective", "--dir", "ca"])).code, 0);
    const key = await Deno.readTextFile(join(dir, "dave.mcollective.key"));
    const again = await run(["ca", "issue", "client", "dave.mcollective", "--dir", "ca"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already issued one/);
    assert.equal(
      await Deno.readTextFile(join(dir, "dave.mcollective.key")),
      key,
      "not overwritten",
    );
    const files = await run(["ca", "issue", "client", "dave.mcollective", "--dir", "ca2x"]);
    assert.equal(files.code, 1, "no CA there");
    const reissued = await run([
      "ca",
      "issue",
      "client",
      "dave.mcollective",
      "--dir",
      "ca",
      "--force",
    ]);
    assert.equal(reissued.code, 0, reissued.stderr);
    assert.notEqual(await Deno.readTextFile(join(dir, "dave.mcollective.key")), key);
    assert.equal(await fileMode(join(dir, "dave.mcollective.key")), 0o600);

    const elsewhere = await run(["ca", "issue", "client", "bob.choria", "--dir", "ca"]);
    assert.equal(elsewhere.code, 0);
    // A different CA's ca.pem in the output directory is not replaced silently.
    await run(["ca", "init", "--dir", "ca2"]);
    const clash = await run(["ca", "issue", "client", "carol.choria", "--dir", "ca2"]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /a different CA certificate is there/);
    const existing = await run(["ca", "issue", "client", "dave.mcollective", "--dir", "ca2"]);
    assert.equal(existing.code, 1);
    assert.match(
      existing.stderr,
      /Cannot write certificate .*dave\.mcollective\.pem as it already exists/,
    );
  });
});

Deno.test("chorale ca issue without a CA says how to make one", async () => {
  await withDir(async (dir) => {
    const result = await usage(dir)(["ca", "issue", "client", "a.choria", "--dir", "none"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Cannot open the CA in .*none as .*ca\.pem does not exist/);
    assert.match(result.stderr, /hint: run 'chorale ca init' first/);
  });
});

Deno.test("chorale ca list shows expiry as a table and as JSON", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    await run(["ca", "init", "--dir", "ca"]);
    const empty = await run(["ca", "list", "--dir", "ca"]);
    assert.match(empty.stdout, /No certificates issued yet/);
    await run(["ca", "issue", "server", "n1.example.net", "--dir", "ca", "--days", "30"]);
    const store = await openCaStore(join(dir, "ca"));
    const late = await store.ca.issue("client", "late.mcollective", {
      notBefore: new Date(Date.now() - 20 * DAY_MS),
      notAfter: new Date(Date.now() - 3 * DAY_MS - 60_000),
    });
    await store.record("late.mcollective", late.cert);

    const table = await run(["ca", "list", "--dir", "ca"]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split("\n");
    assert.match(
      lines.find((l) => l.startsWith("NAME"))!,
      /NAME +KIND +ALGORITHM +NOT AFTER +DAYS LEFT/,
    );
    assert.match(
      lines.find((l) => l.startsWith("n1.example.net"))!,
      /server +ed25519 +\d{4}-\d\d-\d\d \d\d:\d\d UTC +30$/,
    );
    assert.match(
      lines.find((l) => l.startsWith("late.mcollective"))!,
      /client .* EXPIRED 3 days ago$/,
    );
    assert.match(table.stdout, /1 of 2 expired/);

    const json = await run(["ca", "list", "--dir", "ca", "--json"]);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => [r.name, r.kind, r.expired, r.daysLeft]), [
      ["late.mcollective", "client", true, -3],
      ["n1.example.net", "server", false, 30],
    ]);
    assert.equal(typeof rows[0]!.notAfter, "string");
  });
});

Deno.test("chorale ca sign signs a request, prints or writes it, and refuses bad ones", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    await run(["ca", "init", "--dir", "ca"]);
    const request = await createCertificateRequest("n1.example.net", { ipAddresses: ["10.1.1.1"] });
    await Deno.writeTextFile(join(dir, "n1.csr"), request.csr);
    const printed = await run(["ca", "sign", "n1.csr", "--dir", "ca", "--days", "7"]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^-----BEGIN CERTIFICATE-----/);
    assert.match(printed.stderr, /Signed server certificate 'n1\.example\.net'.*IP 10\.1\.1\.1/);
    const cert = new X509Certificate(printed.stdout);
    assert.ok(new Date(cert.validTo).getTime() - Date.now() <= 7 * DAY_MS);

    const twice = await run(["ca", "sign", "n1.csr", "--dir", "ca", "--out", "n1.crt"]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already issued one/);
    const written = await run([
      "ca",
      "sign",
      "n1.csr",
      "--dir",
      "ca",
      "--out",
      "n1.crt",
      "--force",
    ]);
    assert.equal(written.code, 0, written.stderr);
    assert.match(await Deno.readTextFile(join(dir, "n1.crt")), /BEGIN CERTIFICATE/);

    // A request whose signature was altered.
    const lines = request.csr.trim().split("\n");
    const body = lines.slice(1, -1).join("");
    const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
    der[der.length - 4]! ^= 0x01;
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${
      btoa(String.fromCharCode(...der))
    }\n-----END CERTIFICATE REQUEST-----\n`;
    await Deno.writeTextFile(join(dir, "bad.csr"), bad);
    const refused = await run(["ca", "sign", "bad.csr", "--dir", "ca"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /signature does not verify/);
    assert.equal(refused.stdout, "");

    const client = await createCertificateRequest("mallory");
    await Deno.writeTextFile(join(dir, "m.csr"), client.csr);
    const named = await run(["ca", "sign", "m.csr", "--dir", "ca", "--kind", "client"]);
    assert.equal(named.code, 1);
    assert.match(named.stderr, /client certificate name/);
    const missing = await run(["ca", "sign", "nope.csr", "--dir", "ca"]);
    assert.match(
      missing.stderr,
      /Cannot read certificate request .*nope\.csr as it does not exist/,
    );
  });
});

Deno.test("chorale ca usage errors exit 2 and --help works on every command", async () => {
  await withDir(async (dir) => {
    const run = usage(dir);
    for (
      const args of [
        ["ca", "init", "--days", "zero"],
        ["ca", "init", "--algorithm", "dsa"],
        ["ca", "issue", "server"],
        ["ca", "issue", "web", "x"],
        ["ca", "sign"],
        ["ca", "list", "extra"],
        ["ca"],
      ]
    ) {
      const result = await run(args);
      assert.equal(result.code, 2, args.join(" "));
    }
    for (
      const args of [
        ["--help"],
        ["ca", "--help"],
        ["ca", "init", "--help"],
        ["ca", "issue", "--help"],
        ["ca", "issue", "server", "--help"],
        ["ca", "issue", "client", "--help"],
        ["ca", "list", "--help"],
        ["ca", "sign", "--help"],
        ["help", "ca"],
      ]
    ) {
      const result = await run(args);
      assert.equal(result.code, 0, args.join(" "));
      assert.match(result.stdout, /Usage: chorale/);
    }
  });
});

Deno.test("daysLeft rounds valid days up and counts expired days back", () => {
  const now = Date.UTC(2026, 0, 10);
  assert.deepEqual(daysLeft(new Date(now + 365 * DAY_MS - 1_000), now), {
    daysLeft: 365,
    expired: false,
  });
  assert.deepEqual(daysLeft(new Date(now - 1_000), now), { daysLeft: -0, expired: true });
  assert.deepEqual(daysLeft(new Date(now - 2.5 * DAY_MS), now), { daysLeft: -2, expired: true });
});
