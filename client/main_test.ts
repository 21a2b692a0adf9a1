import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { Broker, defaultBrokerSettings } from "../broker/mod.ts";
import { silentLogger } from "../core/log.ts";
import { callerId, directedSubject, replyPrefix } from "../core/protocol/subjects.ts";
import { fileMode } from "../core/security/pem_files.ts";
import { puppetProvider } from "../core/security/providers.ts";
import { choraleTaskFlags, spawnChorale } from "./_testing.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("chorale task runs with exact permissions, never -A", async () => {
  const flags = await choraleTaskFlags();
  assert.deepEqual(flags, [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env=HOME,XDG_CONFIG_HOME,USER,CHORALE_*,LOG_TOKENS,LOG_STREAM,NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE",
    "--allow-sys=uid",
  ]);
});

Deno.test("chorale as a subprocess: help exits 0, usage errors exit 2", async () => {
  await withDir(async (dir) => {
    const help = await spawnChorale(["--help"], { cwd: dir, env: { HOME: dir } });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: chorale/);
    assert.match(help.stdout, /ca\b/);
    assert.match(help.stdout, /enroll\b/);
    const bogus = await spawnChorale(["bogus"], { cwd: dir, env: { HOME: dir } });
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /unknown command 'bogus'/);
    const noDir = await spawnChorale(["ca", "init"], { cwd: dir, env: {} });
    assert.equal(noDir.code, 2);
    assert.match(noDir.stderr, /neither XDG_CONFIG_HOME nor HOME is set/);
  });
});

Deno.test("chorale as a subprocess: init in XDG_CONFIG_HOME, issue, enroll, sign, install, list", async () => {
  await withDir(async (dir) => {
    const env = { HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const run = async (args: string[], expected = 0) => {
      const result = await spawnChorale(args, { cwd: dir, env });
      assert.equal(result.code, expected, `chorale ${args.join(" ")}: ${result.stderr}`);
      return result;
    };
    await run(["ca", "init", "--name", "Subprocess CA"]);
    const caDir = join(dir, "xdg", "chorale", "ca");
    assert.equal(await fileMode(join(caDir, "ca.key")), 0o600);
    await run(["ca", "init"], 1);
    await run(["ca", "issue", "server", "localhost", "--ip", "127.0.0.1", "--out", "broker"]);
    assert.equal(await fileMode(join(dir, "broker", "localhost.key")), 0o600);
    await run(["ca", "issue", "client", "alice", "--out", "alice"], 2);
    await run(["ca", "issue", "client", "alice.mcollective", "--out", "alice"]);
    await run(["enroll", "n1.example.net", "--ssl-dir", "ssl"]);
    assert.equal(await fileMode(join(dir, "ssl", "private_keys", "n1.example.net.pem")), 0o600);
    await run([
      "ca",
      "sign",
      "ssl/certificate_requests/n1.example.net.pem",
      "--out",
      "n1.crt",
      "--days",
      "90",
    ]);
    await run(["enroll", "--install", "n1.crt", "--ca", join(caDir, "ca.pem"), "--ssl-dir", "ssl"]);
    const list = await run(["ca", "list"]);
    assert.match(list.stdout, /CA 'Subprocess CA'/);
    assert.match(list.stdout, /alice\.mcollective +client +ed25519 +\S+ \S+ UTC +365/);
    assert.match(list.stdout, /localhost +server +ed25519 +\S+ \S+ UTC +365/);
    assert.match(list.stdout, /n1\.example\.net +server +ed25519 +\S+ \S+ UTC +90/);
    const json = JSON.parse((await run(["ca", "list", "--json"])).stdout) as { name: string }[];
    assert.deepEqual(json.map((e) => e.name), ["alice.mcollective", "localhost", "n1.example.net"]);
    // CHORALE_CA_DIR overrides XDG_CONFIG_HOME.
    const other = await spawnChorale(["ca", "list"], {
      cwd: dir,
      env: { ...env, CHORALE_CA_DIR: join(dir, "elsewhere") },
    });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /elsewhere/);
  });
});

async function connectWith(
  port: number,
  material: { cert: string; key: string; ca: string },
  name: string,
  inboxPrefix?: string,
): Promise<NatsConnection> {
  return await connect({
    servers: `127.0.0.1:${port}`,
    name,
    tls: { ca: material.ca, cert: material.cert, key: material.key },
    reconnect: false,
    timeout: 5_000,
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
}

Deno.test("certificates made by the CLI work for mutual TLS with Chorale's broker", async () => {
  await withDir(async (dir) => {
    const env = { HOME: join(dir, "home"), CHORALE_CA_DIR: join(dir, "ca") };
    const run = async (args: string[]) => {
      const result = await spawnChorale(args, { cwd: dir, env });
      assert.equal(result.code, 0, `chorale ${args.join(" ")}: ${result.stderr}`);
    };
    await run(["ca", "init"]);
    await run(["ca", "issue", "server", "localhost", "--ip", "127.0.0.1", "--out", "broker"]);
    await run([
      "ca",
      "issue",
      "client",
      "alice.mcollective",
      "--out",
      "alice",
      "--algorithm",
      "ecdsa",
    ]);
    await run(["enroll", "n1.example.net", "--ssl-dir", "ssl", "--algorithm", "rsa"]);
    await run(["ca", "sign", "ssl/certificate_requests/n1.example.net.pem", "--out", "n1.crt"]);
    await run(["enroll", "--install", "n1.crt", "--ca", "ca/ca.pem", "--ssl-dir", "ssl"]);
    await run(["ca", "init", "--dir", "foreign"]);
    await run([
      "ca",
      "issue",
      "client",
      "mallory.mcollective",
      "--dir",
      "foreign",
      "--out",
      "mallory",
    ]);

    const read = (path: string) => Deno.readTextFile(join(dir, path));
    const ca = await read("ca/ca.pem");
    await using broker = new Broker(
      defaultBrokerSettings({
        host: "127.0.0.1",
        port: 0,
        tls: {
          cert: await read("broker/localhost.pem"),
          key: await read("broker/localhost.key"),
          ca,
        },
        serverName: "cli-test",
      }),
      silentLogger,
    );
    const { port } = await broker.start();

    // The node connects with what the Puppet provider reads from the ssl directory enroll made.
    const node = await puppetProvider({ sslDir: join(dir, "ssl"), certname: "n1.example.net" })
      .load();
    assert.deepEqual(node.warnings, []);
    const nodeConn = await connectWith(
      port,
      { cert: node.certPem, key: node.keyPem, ca: node.caPem },
      node.certname,
    );
    const clientConn = await connectWith(
      port,
      {
        cert: await read("alice/alice.mcollective.pem"),
        key: await read("alice/alice.mcollective.key"),
        ca: await read("alice/ca.pem"),
      },
      "alice.mcollective",
      replyPrefix("mcollective", callerId("alice.mcollective")),
    );
    try {
      nodeConn.subscribe(directedSubject("mcollective", "n1.example.net"), {
        callback: (error, msg) => {
          if (!error) msg.respond(new TextEncoder().encode(`pong from ${node.certname}`));
        },
      });
      await nodeConn.flush();
      const reply = await clientConn.request(
        directedSubject("mcollective", "n1.example.net"),
        new TextEncoder().encode("ping"),
        { timeout: 5_000 },
      );
      assert.equal(new TextDecoder().decode(reply.data), "pong from n1.example.net");

      // A client certificate from another CLI-made CA is refused, in the handshake or, under
      // TLS 1.3, just after it: either way the connection never carries a message.
      let refused: string;
      try {
        const mallory = await connectWith(port, {
          cert: await read("mallory/mallory.mcollective.pem"),
          key: await read("mallory/mallory.mcollective.key"),
          ca,
        }, "mallory.mcollective");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const waited = new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve("still open after 5 s"), 5_000);
        });
        refused = await Promise.race([
          mallory.flush().then(() => mallory.closed()).then(() => "closed", () => "closed"),
          waited,
        ]);
        clearTimeout(timer);
        await mallory.close().catch(() => {});
      } catch {
        refused = "closed";
      }
      assert.equal(refused, "closed", "the broker refuses a certificate from a foreign CA");
    } finally {
      await clientConn.close();
      await nodeConn.close();
    }
  });
});
