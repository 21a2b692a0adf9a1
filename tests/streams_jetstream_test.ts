/**
 * The registration data adapter with a JetStream target on Debian's nats-server 2.9.10 (`-js`):
 * servers register through Chorale's broker, the adapter creates the stream with its retention and
 * stores Choria stream output there; when the JetStream server restarts, messages wait in the
 * queue and are stored once it is back, with what was stored before intact.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { connect } from "nats";
import { silentLogger } from "../core/log.ts";
import { DataAdapter } from "../streams/adapter.ts";
import { parseAdapterOutput } from "../streams/inventory.ts";
import { connectAs, registrationPayload } from "../streams/_testing.ts";
import { JetStreamTarget } from "../streams/targets.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";
import { startChoraleServer } from "./harness/chorale_server.ts";
import { startJetStream } from "./harness/jetstream_server.ts";
import { makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

async function until(what: string, test: () => Promise<boolean> | boolean, ms = 15_000) {
  await within(
    (async () => {
      while (!(await Promise.resolve(test()).catch(() => false))) {
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    what,
    ms,
  );
}

Deno.test("the registration adapter stores into JetStream and rides out a JetStream restart", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  await using jetstream = await startJetStream(pki);
  const source = await connectAs(pki, "server", "adapter.test", broker.port);
  const cert = await pki.issue("server", "adapter.test");
  const js = await connect({
    servers: jetstream.url,
    tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
  const adapter = new DataAdapter({
    name: "registration",
    connection: source,
    ingest: { topic: "mcollective.broadcast.agent.registration", protocol: "request" },
    output: {
      topic: "choria.registration.%s",
      stream: {
        name: "CHORIA_REGISTRATION",
        subjects: ["choria.registration.>"],
        maxAgeMs: 86_400_000,
        maxMsgsPerSubject: 1,
      },
    },
    target: new JetStreamTarget(js, { ackTimeoutMs: 1_000 }),
    logger: silentLogger,
  });
  try {
    await adapter.start();
    const jsm = await js.jetstreamManager();
    const servers = await Promise.all(
      ["web1.test", "db1.test"].map((identity) =>
        startChoraleServer({
          pki,
          identity,
          brokerPort: broker.port,
          facts: { role: identity.slice(0, -7) },
          config: { registration: { interval: "1m", splay: 0 } },
        })
      ),
    );
    try {
      await until(
        "two registrations in JetStream",
        async () => (await jsm.streams.info("CHORIA_REGISTRATION")).state.messages === 2,
      );
      const info = await jsm.streams.info("CHORIA_REGISTRATION");
      assertEquals(info.config.max_msgs_per_subject, 1);
      assertEquals(info.config.max_age, 86_400_000 * 1_000_000);
      const last = await jsm.streams.getMessage("CHORIA_REGISTRATION", {
        last_by_subj: "choria.registration.db1.test",
      });
      const output = parseAdapterOutput(last.data);
      assertEquals(output.sender, "db1.test");
      assert(output.data.includes("choria:registration:inventorycontent:1"));
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }

    // JetStream goes away: messages wait, and are stored once it is back.
    await jetstream.stop();
    for (const n of ["n1.test", "n2.test", "n3.test"]) {
      adapter.receive(await registrationPayload(pki, n));
    }
    await until("the adapter to find JetStream down", () => adapter.stats().target_errors > 0);
    assertEquals(adapter.stats().queued, 3);
    await jetstream.restart();
    await until("the queue to drain into JetStream", () => adapter.stats().stored === 5, 30_000);
    const after = await jsm.streams.info("CHORIA_REGISTRATION");
    assertEquals(after.state.messages, 5);
    assertEquals(adapter.stats().dropped, 0);
  } finally {
    await adapter.close(100);
    await source.close();
    await js.close();
  }
});
