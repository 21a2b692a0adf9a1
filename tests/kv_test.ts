/**
 * Key-value buckets end to end, under Choria's default broker permissions: `chorale kv` stores a
 * value in the stream store the broker runs (`--store`), and a server's autonomous agent with a
 * `kv` watcher reads it, keeps it in its data and moves to its configured state.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { runChorale } from "../client/_testing.ts";
import { RpcClient } from "../client/rpc_client.ts";
import { streamsPermissionRules } from "../streams/mod.ts";
import { choraleBrokerConfig } from "./harness/chorale_broker.ts";
import { startBroker } from "./harness/broker_process.ts";
import { startChoraleServer } from "./harness/chorale_server.ts";
import { makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

const NODE = "kv1.example.net";

const MACHINE = {
  name: "motd",
  version: "1.0.0",
  initial_state: "unknown",
  transitions: [
    { name: "configure", from: ["unknown", "configured"], destination: "configured" },
    { name: "lost", from: ["unknown", "configured"], destination: "unknown" },
  ],
  watchers: [{
    name: "motd_value",
    type: "kv",
    state_match: ["unknown", "configured"],
    interval: "1s",
    success_transition: "configure",
    properties: { bucket: "settings", key: "motd" },
  }],
};

Deno.test("A kv watcher reads a bucket the CLI writes, through the broker's store", async () => {
  await using pki = await makeTestPki();
  const root = await Deno.makeTempDir({ prefix: "chorale-kv-" });
  try {
    const store = join(root, "machines");
    await Deno.mkdir(join(store, "motd"), { recursive: true });
    await Deno.writeTextFile(join(store, "motd", "machine.yaml"), stringify(MACHINE));
    await using broker = await startBroker({
      config: {
        ...choraleBrokerConfig({ pki }),
        permissions: {
          defaults: "choria",
          identities: streamsPermissionRules({ managers: pki.client.name }),
        },
        store: { dir: join(root, "streams") },
      },
    });
    await using _server = await startChoraleServer({
      pki,
      identity: NODE,
      brokerPort: broker.port,
      policies: { "choria_util.policy": "policy default allow\n" },
      config: { "plugin.choria.machine.store": store, "plugin.choria.machine.poll_interval": "1s" },
    });
    const env = {
      HOME: root,
      CHORALE_BROKERS: `tls://127.0.0.1:${broker.port}`,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const chorale = async (args: string[], code = 0) => {
      const result = await runChorale(args, { cwd: root, env });
      assert.equal(
        result.code,
        code,
        `chorale ${args.join(" ")}\n${result.stdout}${result.stderr}`,
      );
      return result;
    };
    await using client = await RpcClient.connect([`127.0.0.1:${broker.port}`], {
      certname: pki.client.name,
      cert: pki.client.cert,
      key: pki.client.key,
      ca: pki.caPem,
    });
    const state = async () => {
      const [reply] = await client.request({
        agent: "choria_util",
        action: "machine_state",
        data: { name: "motd" },
        node: NODE,
        expect: 1,
      });
      return String(reply?.data.state);
    };

    // The store may take a moment to come up beside the broker.
    await within(
      (async () => {
        while ((await runChorale(["kv", "add", "settings"], { cwd: root, env })).code !== 0) {
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })(),
      "the store to create the bucket",
      15_000,
    );
    assert.equal(await state(), "unknown", "no value yet");
    assert.match((await chorale(["kv", "put", "settings", "motd", '"hello"'])).stdout, /revision/);
    assert.equal((await chorale(["kv", "get", "settings", "motd"])).stdout.trim(), '"hello"');
    await within(
      (async () => {
        while (await state() !== "configured") {
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })(),
      "the machine to read the value and move to configured",
      10_000,
    );
    // Bad names are refused before anything is sent.
    const bad = await chorale(["kv", "put", "settings", "a.b", "x"], 2);
    assert.match(bad.stderr, /not key-value names/);
    const missing = await chorale(["kv", "get", "settings", "nothing"], 2);
    assert.match(missing.stderr, /has no value/);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
