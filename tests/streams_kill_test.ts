/**
 * The store process killed with SIGKILL while messages are being published loses none that it
 * acknowledged: every acknowledged sequence is there, with its data, after a restart.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { StoreClient } from "../streams/api.ts";
import { connectAs, startStoreProcess } from "../streams/_testing.ts";
import { REGISTRATION_STREAM } from "../streams/service.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";
import { makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

Deno.test("the stream store loses no acknowledged message when killed mid-ingest", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const work = await Deno.makeTempDir({ prefix: "chorale-streams-kill-" });
  const nc = await connectAs(pki, "server", "writer.test", broker.port);
  try {
    await using store = await startStoreProcess(pki, {
      identity: "streams.test",
      brokerPort: broker.port,
      dir: join(work, "store"),
    });
    const client = new StoreClient(nc, { timeoutMs: 1_000 });
    const acked = new Map<number, string>();
    let failures = 0;
    let n = 0;
    let killed = false;
    // Publishers keep going while the store dies; what was acknowledged must survive.
    const publisher = async () => {
      while (!killed || failures < 3) {
        const batch = Array.from({ length: 20 }, () => {
          const i = n++;
          return { subject: `choria.registration.n${i}`, data: new TextEncoder().encode(`m${i}`) };
        });
        try {
          const acks = await client.publish(batch);
          acks.forEach((ack, j) => acked.set(ack.seq, `m${batch[j]!.subject.slice(21)}`));
        } catch {
          failures++;
        }
      }
    };
    const running = [publisher(), publisher()];
    await within(
      (async () => {
        while (acked.size < 2_000) await new Promise((r) => setTimeout(r, 5));
      })(),
      "2,000 acknowledged messages",
      20_000,
    );
    await store.kill();
    killed = true;
    await within(Promise.all(running), "the publishers to notice the store is gone", 15_000);
    await store.restart();
    const stored = new Map<number, string>();
    let from = 1;
    while (true) {
      const { messages } = await client.fetch(REGISTRATION_STREAM, {
        from: { seq: from },
        limit: 5_000,
      });
      if (messages.length === 0) break;
      for (const m of messages) stored.set(m.seq, new TextDecoder().decode(m.data));
      from = messages.at(-1)!.seq + 1;
    }
    assert(acked.size >= 2_000);
    const missing = [...acked].filter(([seq, data]) => stored.get(seq) !== data);
    assertEquals(missing, []);
  } finally {
    await nc.close();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
