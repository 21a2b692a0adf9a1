/**
 * The real `chorale`, as a subprocess with exactly the `chorale` task's permissions, against
 * Chorale's broker (Choria's default permissions) and three servers on loopback. The client
 * finds the broker and its certificate through the CHORALE_* variables of client/config.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startChoraleBroker } from "../../tests/harness/chorale_broker.ts";
import { startChoraleServer } from "../../tests/harness/chorale_server.ts";
import { makeTestPki } from "../../tests/harness/pki.ts";
import { type RunResult, spawnChorale } from "../_testing.ts";

const NODES = [
  {
    identity: "n1.example.net",
    facts: { role: "web", os: { family: "linux" } },
    classes: ["apache"],
  },
  {
    identity: "n2.example.net",
    facts: { role: "db", os: { family: "linux" } },
    classes: ["mysql"],
  },
  {
    identity: "n3.example.net",
    facts: { role: "web", os: { family: "freebsd" } },
    classes: ["apache"],
  },
];

async function auditLines(files: string[]): Promise<number> {
  let total = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(file).catch(() => "");
    total += text.split("\n").filter(Boolean).length;
  }
  return total;
}

Deno.test({
  name: "chorale against a live broker and three servers: rpc, ping, facts, discover, inventory",
  async fn(t) {
    await using pki = await makeTestPki();
    const expired = await pki.expired();
    const foreign = await pki.foreign();
    await using broker = await startChoraleBroker({
      pki,
      choraleConfig: { permissions: { defaults: "choria" } },
    });
    await using stack = new AsyncDisposableStack();
    const servers = await Promise.all(
      NODES.map((node) => startChoraleServer({ pki, brokerPort: broker.port, ...node })),
    );
    for (const server of servers) stack.use(server);
    const dir = await Deno.makeTempDir({ prefix: "chorale-live-" });
    stack.defer(() => Deno.remove(dir, { recursive: true }));
    const env = {
      HOME: dir,
      CHORALE_BROKERS: broker.url,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const chorale = async (args: string[], code: number, extra: Record<string, string> = {}) => {
      const result: RunResult = await spawnChorale(args, { cwd: dir, env: { ...env, ...extra } });
      assert.equal(
        result.code,
        code,
        `chorale ${args.join(" ")}\n${result.stdout}${result.stderr}`,
      );
      return result;
    };
    const senders = (stdout: string) =>
      [...stdout.matchAll(/^(n\d\.example\.net)$/gm)].map((m) => m[1]);

    await t.step("rpc rpcutil ping exits 0 with three replies", async () => {
      const { stdout, stderr } = await chorale(["rpc", "rpcutil", "ping"], 0);
      assert.deepEqual(senders(stdout), ["n1.example.net", "n2.example.net", "n3.example.net"]);
      assert.match(stdout, /Timestamp: \d+/);
      assert.match(stdout, /Nodes: 3 \/ 3\n +Pass \/ Fail: 3 \/ 0\n/);
      assert.equal(stderr, "");
    });

    await t.step("rpc --json prints one document that parses", async () => {
      const { stdout } = await chorale(["req", "rpcutil", "collective_info", "--json"], 0);
      const doc = JSON.parse(stdout);
      assert.equal(doc.replies.length, 3);
      assert.ok(doc.replies.every((r: { signed: boolean }) => r.signed));
      assert.deepEqual(doc.aggregates[0].rows, [{ value: "mcollective", count: 3 }]);
      assert.deepEqual(doc.stats.noResponses, []);
    });

    await t.step("rpc -F role=web asks only the web servers", async () => {
      const { stdout } = await chorale([
        "rpc",
        "rpcutil",
        "get_fact",
        "fact=role",
        "-F",
        "role=web",
        "--jsonl",
      ], 0);
      const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
      const replies = lines.filter((l) => l.type === "reply");
      assert.deepEqual(replies.map((r) => r.sender).sort(), ["n1.example.net", "n3.example.net"]);
      assert.ok(replies.every((r) => r.data.value === "web"));
      assert.equal(lines.at(-1).type, "stats");
    });

    await t.step("an invalid input exits 1 and nothing reaches a server", async () => {
      const audit = servers.map((s) => s.auditFile);
      const before = await auditLines(audit);
      assert.ok(before >= 9, "the earlier calls are in the audit logs");
      const { stdout, stderr } = await chorale(["rpc", "rpcutil", "get_facts", "facts=a;b"], 1);
      assert.equal(stdout, "");
      assert.match(
        stderr,
        /^chorale: Cannot accept input 'facts' as it does not match '\^\\s\*\[\\w\\\.\\-\]\+.*': current value is 'a;b'\n/,
      );
      assert.equal(await auditLines(audit), before);
    });

    await t.step("--nodes with a node that does not exist exits 3 naming it", async () => {
      await Deno.writeTextFile(join(dir, "nodes.txt"), "n1.example.net\nghost.example.net\n");
      const { stdout } = await chorale(
        ["rpc", "rpcutil", "ping", "--nodes", "nodes.txt", "--timeout", "1"],
        3,
      );
      assert.deepEqual(senders(stdout), ["n1.example.net"]);
      assert.match(stdout, /No response from:\n\n {3}ghost\.example\.net\n/);
    });

    await t.step("ping reports every node with min, avg and max", async () => {
      const { stdout } = await chorale(["ping"], 0);
      for (const node of NODES) assert.match(stdout, new RegExp(`^${node.identity} +time=`, "m"));
      assert.match(
        stdout,
        /---- ping statistics ----\n3 replies max: \S+ m?s min: \S+ m?s avg: \S+ m?s\n/,
      );
    });

    await t.step("facts role counts each value and names who has it", async () => {
      const { stdout } = await chorale(["facts", "role"], 0);
      assert.match(stdout, /web +found 2 times\n {6}n1\.example\.net, n3\.example\.net\n/);
      assert.match(stdout, /db +found 1 time\n {6}n2\.example\.net\n/);
      assert.match(stdout, /Finished processing 3 \/ 3 hosts/);
    });

    await t.step("discover filters by class, and exits 1 when nothing matches", async () => {
      assert.equal(
        (await chorale(["discover", "-C", "apache"], 0)).stdout,
        "n1.example.net\nn3.example.net\n",
      );
      const none = await chorale(["discover", "-C", "x"], 1);
      assert.equal(none.stdout, "");
      assert.match(none.stderr, /^chorale: Cannot list nodes as no nodes were discovered\n/);
    });

    await t.step("inventory shows a node's classes and facts", async () => {
      const { stdout } = await chorale(["inventory", "n2.example.net"], 0);
      assert.match(stdout, /Configuration Management Classes:\n {6}mysql\n/);
      assert.match(stdout, /os\.family => linux\n {6}role {6}=> db\n/);
    });

    await t.step(
      "an unreachable broker, a bad certificate and a bad configuration each exit apart",
      async () => {
        const port = broker.port;
        const down = await chorale(["ping"], 6, {
          CHORALE_BROKERS: `tls://127.0.0.1:${port === 1 ? 2 : 1}`,
        });
        assert.match(
          down.stderr,
          /^chorale: Cannot connect to tls:\/\/127\.0\.0\.1:\d+ .*\nchorale: hint: /,
        );
        const old = await chorale(["ping"], 7, {
          CHORALE_CERTIFICATE: expired.certFile,
          CHORALE_KEY: expired.keyFile,
        });
        assert.match(old.stderr, /^chorale: .*expired/i);
        const stranger = await chorale(["ping"], 7, {
          CHORALE_CERTIFICATE: foreign.certFile,
          CHORALE_KEY: foreign.keyFile,
        });
        assert.match(
          stranger.stderr,
          /^chorale: Cannot use certificate .* as it was not issued by the CA/,
        );
        const missing = await chorale(["ping"], 7, { CHORALE_CERTIFICATE: join(dir, "nope.pem") });
        assert.match(
          missing.stderr,
          /^chorale: Cannot read certificate .*nope\.pem as it does not exist\n/,
        );
        const config = await chorale(["ping"], 2, {
          CHORALE_BROKERS: "",
          CHORALE_COLLECTIVE: "a b",
        });
        assert.match(config.stderr, /^chorale: Cannot use the configuration: /);
        for (const result of [down, old, stranger, missing, config]) {
          assert.ok(!result.stderr.includes("    at "), "no stack trace");
        }
      },
    );
  },
});

Deno.test("chorale rpc fetches the DDL of an agent it has no local DDL for from the fleet", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({
    pki,
    choraleConfig: { permissions: { defaults: "choria" } },
  });
  const dir = await Deno.makeTempDir({ prefix: "chorale-introspect-" });
  try {
    const fixtures = new URL("../../agents/testdata/external/", import.meta.url).pathname;
    await Deno.copyFile(`${fixtures}echo`, `${dir}/echo`);
    await Deno.copyFile(`${fixtures}echo.json`, `${dir}/echo.json`);
    await Deno.chmod(`${dir}/echo`, 0o755);
    await using server = await startChoraleServer({
      pki,
      brokerPort: broker.port,
      identity: "n1.example.net",
      config: { agents_dir: dir, agents_poll_interval: "1s" },
      extraPermissions: [`--allow-run=${dir}/echo`],
    });
    await server.proc.waitForLine(
      (l) => l.includes('"message":"external agents"') && l.includes('"echo"'),
      "the server to load the echo agent",
    );
    const env = {
      HOME: dir,
      CHORALE_BROKERS: broker.url,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const result: RunResult = await spawnChorale(
      ["rpc", "echo", "echo", "message=hello", "--json"],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.ok(result.stdout.includes("hello"), result.stdout);
    const missing = await spawnChorale(["rpc", "nosuchagent", "go"], { cwd: dir, env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Cannot find agent 'nosuchagent'/);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
