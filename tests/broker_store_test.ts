/**
 * `deno task broker --store DIR`: the broker keeps the stream store running beside it, connected
 * with the broker's own certificate under Choria's default permissions plus the store's rule.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect } from "nats";
import { StoreClient, streamsPermissionRules } from "../streams/mod.ts";
import { STORE_PERMISSIONS } from "../broker/store_child.ts";
import { callerId, replyPrefix } from "../core/protocol/subjects.ts";
import { choraleBrokerConfig } from "./harness/chorale_broker.ts";
import { spawnBroker, startBroker } from "./harness/broker_process.ts";
import { makeTestPki } from "./harness/pki.ts";
import { taskPermissions } from "./harness/permissions.ts";
import { within } from "./harness/wait.ts";

Deno.test("Broker's store child runs with the store task's permissions", async () => {
  assert.deepEqual([...STORE_PERMISSIONS], await taskPermissions("store"));
});

async function storeBesideBroker(flags: string[]): Promise<void> {
  await using pki = await makeTestPki();
  const dir = await Deno.makeTempDir({ prefix: "chorale-broker-store-" });
  try {
    const config = {
      ...choraleBrokerConfig({ pki }),
      permissions: {
        defaults: "choria",
        identities: streamsPermissionRules({ readers: pki.client.name }),
      },
      store: { dir },
    };
    await using broker = await startBroker({ config, flags });
    const nc = await connect({
      servers: `127.0.0.1:${broker.port}`,
      tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
      // Choria's client permissions: replies only on the client's own reply subjects.
      inboxPrefix: replyPrefix("mcollective", callerId(pki.client.name)),
    });
    try {
      const store = new StoreClient(nc, { timeoutMs: 2_000 });
      const names = async () => {
        for (;;) {
          try {
            return (await store.streams()).map((s) => s.config.name).sort();
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
      };
      assert.deepEqual(
        await within(names(), "the store to answer over the broker", 20_000),
        ["CHORIA_EVENTS", "CHORIA_MACHINE", "CHORIA_REGISTRATION"],
      );
      await Deno.stat(join(dir, "streams.db"));
      const serving = broker.proc.lines.filter((l) =>
        l.includes('"message":"stream store serving"')
      );
      assert.equal(serving.length, 1, "one store, started by the broker or the supervisor only");
    } finally {
      await nc.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("Broker runs the stream store beside it under Choria's default permissions", async () => {
  await storeBesideBroker([]);
});

Deno.test("Broker with workers runs one stream store, reached through any worker", async () => {
  await storeBesideBroker(["--workers", "2"]);
});

Deno.test("Broker refuses --store without TLS", async () => {
  await using broker = await spawnBroker({
    flags: ["--insecure", "--listen", "127.0.0.1:0", "--store", "/tmp/nowhere"],
  });
  const status = await broker.exited("the broker to refuse the store without TLS");
  assert.equal(status.code, 2);
  assert.ok(broker.proc.lines.some((l) => l.includes("store.dir: needs TLS")));
});
