/**
 * Faults under a burst of replies: a client that disconnects while 300 responders answer it does
 * not disturb another client's replies, and the broker's connections and subscriptions return to
 * where they were (the memory they hold is released with them).
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { choraleBrokerConfig } from "./harness/chorale_broker.ts";
import { startBroker } from "./harness/broker_process.ts";
import { makeTestPki, type TestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

const RESPONDERS = 300;

async function client(pki: TestPki, port: number): Promise<NatsConnection> {
  return await connect({
    servers: `127.0.0.1:${port}`,
    tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
    reconnect: false,
  });
}

async function varz(port: number): Promise<{ connections: number; subscriptions: number }> {
  return await (await fetch(`http://127.0.0.1:${port}/varz`)).json();
}

Deno.test("A client leaving mid-burst loses no other client's replies and leaves nothing behind", async () => {
  await using pki = await makeTestPki();
  await using broker = await startBroker({
    config: { ...choraleBrokerConfig({ pki }), monitor: "127.0.0.1:0" },
  });
  const monitor = broker.monitorPort!;
  const baseline = await varz(monitor);
  // 300 responders, each on its own connection, answer every request with 2 KiB.
  const responders = await Promise.all(
    Array.from({ length: RESPONDERS }, () => client(pki, broker.port)),
  );
  const answer = new Uint8Array(2_048);
  for (const nc of responders) {
    nc.subscribe("fleet.ping", { callback: (_e, m) => m.respond(answer) });
  }
  await Promise.all(responders.map((nc) => nc.flush()));
  try {
    const leaver = await client(pki, broker.port);
    const stayer = await client(pki, broker.port);
    const inbox = (nc: NatsConnection, name: string) => {
      const subject = `${name}.replies`;
      const state = { count: 0 };
      nc.subscribe(subject, { callback: () => state.count++ });
      return { subject, state };
    };
    const left = inbox(leaver, "leaver");
    const stay = inbox(stayer, "stayer");
    await Promise.all([leaver.flush(), stayer.flush()]);
    // Both ask every responder; the leaver goes away while its 300 replies are on their way.
    leaver.publish("fleet.ping", "", { reply: left.subject });
    stayer.publish("fleet.ping", "", { reply: stay.subject });
    await leaver.flush();
    leaver.close().catch(() => {});
    await within(
      (async () => {
        while (stay.state.count < RESPONDERS) await new Promise((r) => setTimeout(r, 20));
      })(),
      `all ${RESPONDERS} replies at the client that stayed`,
      15_000,
    );
    assert.equal(stay.state.count, RESPONDERS);
    await stayer.close();
  } finally {
    await Promise.all(responders.map((nc) => nc.close()));
  }
  await within(
    (async () => {
      for (;;) {
        const now = await varz(monitor);
        if (
          now.connections === baseline.connections && now.subscriptions === baseline.subscriptions
        ) {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    "connections and subscriptions to return to their level before the burst",
    10_000,
  );
});
