import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import {
  encodeLifecycleEvent,
  lifecycleEvent,
  lifecycleEventSubject,
} from "../server/lifecycle.ts";
import { streamsApiSubject } from "../core/protocol/subjects.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import { within } from "../tests/harness/wait.ts";
import { StoreApiError, StoreClient } from "./api.ts";
import { connectAs, registrationPayload } from "./_testing.ts";
import { DataAdapter } from "./adapter.ts";
import { LocalStoreTarget } from "./targets.ts";
import { EVENTS_STREAM, REGISTRATION_STREAM, startStoreService } from "./service.ts";
import { StoreFullError, StreamStore } from "./store.ts";

async function until(what: string, test: () => Promise<boolean> | boolean): Promise<void> {
  await within(
    (async () => {
      while (!(await test())) await new Promise((r) => setTimeout(r, 50));
    })(),
    what,
  );
}

Deno.test("StreamStore reports a full store, keeps what it had and takes more once there is room", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-store-full-" });
  try {
    using store = StreamStore.open(dir, { maxPages: 40 });
    store.addStream({ name: "EV", subjects: ["ev"] });
    const data = new Uint8Array(8_000).fill(1);
    let stored = 0;
    throws(() => {
      for (let i = 0; i < 1_000; i++, stored++) store.append("ev", data);
    }, (e: Error) => e instanceof StoreFullError && /the disk is full/.test(e.message));
    assert(stored > 0);
    assertEquals(store.info("EV").messages, stored);
    assertEquals(store.fetch("EV", { limit: 10_000 }).length, stored);
    store.purge("EV");
    store.append("ev", data);
    assertEquals(store.info("EV").lastSeq, stored + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  throws(() => StreamStore.open(":memory:", { maxPages: 0 }), /'maxPages' must be a whole number/);
});

Deno.test("the store service answers bad requests with errors, manages streams and survives a full disk", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const cert = await pki.issue("server", "streams.test");
  const dir = await Deno.makeTempDir({ prefix: "chorale-service-test-" });
  const nc = await connectAs(pki, "server", "n1.test", broker.port);
  try {
    await using service = await startStoreService({
      dir,
      servers: [`127.0.0.1:${broker.port}`],
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
      maxPages: 600,
    });
    const api = new StoreClient(nc);
    const answer = async (subject: string, body: string) =>
      JSON.parse(new TextDecoder().decode((await nc.request(subject, body)).data));
    assertEquals(
      (await answer(streamsApiSubject("read", "fetch"), "{nope")).error.message,
      "Cannot handle read.fetch as the request is not JSON",
    );
    assertEquals(
      (await answer(streamsApiSubject("read", "frobnicate"), "{}")).error.message,
      "Cannot handle 'read.frobnicate' as the stream store has no such operation",
    );
    await rejects(
      api.fetch("NOPE"),
      (e: Error) =>
        e instanceof StoreApiError && e.remoteName === "StreamNotFoundError" &&
        /Cannot read stream 'NOPE' as it does not exist/.test(e.message),
    );
    await rejects(
      api.publish([{ subject: "nowhere", data: new Uint8Array(1) }]),
      /no stream keeps/,
    );
    await rejects(api.addStream({ name: "bad name", subjects: [] }), /'name' must be/);

    const info = await api.addStream({ name: "AUDIT", subjects: ["audit.>"], maxMsgs: 2 });
    assertEquals(info.config.maxMsgs, 2);
    const acks = await api.publish([1, 2, 3].map((i) => ({
      subject: `audit.${i}`,
      data: new TextEncoder().encode(`a${i}`),
    })));
    assertEquals(acks.map((a) => a.seq), [1, 2, 3]);
    assertEquals((await api.fetch("AUDIT")).messages.map((m) => m.seq), [2, 3]);
    assertEquals(
      (await api.fetch("AUDIT", { from: { lastPerSubject: true }, subject: "audit.3" })).messages
        .length,
      1,
    );
    // A batch larger than the broker takes goes in several requests.
    const large = new TextEncoder().encode("y".repeat(400_000));
    const bigAcks = await api.publish(
      [4, 5, 6].map((i) => ({ subject: `audit.${i}`, data: large })),
    );
    assertEquals(bigAcks.map((a) => a.seq), [4, 5, 6]);
    await rejects(
      api.publish([{ subject: "audit.7", data: new Uint8Array(1_100_000) }]),
      /bytes encoded: the broker takes at most/,
    );
    assertEquals(await api.purge("AUDIT"), 2);
    assertEquals(await api.deleteStream("AUDIT"), true);
    assert(!(await api.streams()).some((s) => s.config.name === "AUDIT"));

    // Machine events must be JSON objects; registration that does not decode is not indexed.
    nc.publish("choria.machine.watcher.state", '{"machine":"m1","state":"ok"}');
    nc.publish("choria.machine.watcher.state", "[1, 2]");
    nc.publish("choria.machine.transition", "not json");
    await nc.flush();
    await until("the machine events", async () => (await api.stats()).invalid === 2);
    assertEquals((await api.fetch("CHORIA_MACHINE")).messages.length, 1);
    await api.publish([{
      subject: "choria.registration.bad",
      data: new TextEncoder().encode("{}"),
    }]);
    assertEquals(await api.discover({}), []);
    assertEquals((await api.stats()).index_errors, 1);
    assertEquals(await api.node("bad"), null);

    // Fill the store, then send events: counted, kept for another try, and the service answers.
    await api.addStream({ name: "FILL", subjects: ["fill"] });
    const block = new Uint8Array(64_000).fill(7);
    await rejects(
      (async () => {
        for (let i = 0; i < 100; i++) await api.publish([{ subject: "fill", data: block }]);
      })(),
      (e: Error) => e instanceof StoreApiError && e.remoteName === "StoreFullError",
    );
    const filled = (await api.streams()).find((s) => s.config.name === "FILL")!.messages;
    assert(filled > 0);
    const pad = "x".repeat(6_000);
    for (let i = 0; i < 30; i++) {
      const event = lifecycleEvent("alive", {
        identity: `n${i}.${pad}`,
        component: "server",
        version: "1",
      });
      nc.publish(lifecycleEventSubject(event), encodeLifecycleEvent(event));
    }
    await nc.flush();
    await until("the store to run out of room", async () => (await api.stats()).store_errors > 0);
    // What was stored is intact; a page too big for the broker comes back shortened.
    const page = (await api.fetch("FILL", { limit: 1_000 })).messages;
    assert(page.length >= 1 && page.length < filled, `${page.length} of ${filled}`);
    assert(page.every((m) => m.data.byteLength === block.byteLength && m.data[0] === 7));
    assertEquals((await api.streams()).find((s) => s.config.name === "FILL")!.messages, filled);
    // Room again: the kept events are stored on the next try.
    await api.deleteStream("FILL");
    await until(
      "the backlog to be stored",
      async () => (await api.fetch(EVENTS_STREAM)).messages.length === 30,
    );
    assertEquals(service.stats().dropped, 0);
  } finally {
    await nc.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("adapters in the store's own process store through the service and wake waiting readers", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const cert = await pki.issue("server", "streams.test");
  const dir = await Deno.makeTempDir({ prefix: "chorale-service-local-" });
  const nc = await connectAs(pki, "server", "reader.test", broker.port);
  try {
    await using service = await startStoreService({
      dir,
      servers: [`127.0.0.1:${broker.port}`],
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
    });
    const adapter = new DataAdapter({
      name: "registration",
      connection: service.connection,
      ingest: { topic: "mcollective.broadcast.agent.registration", protocol: "request" },
      output: { topic: "choria.registration.%s" },
      target: new LocalStoreTarget(service),
    });
    await adapter.start();
    try {
      const started = Date.now();
      const waiting = new StoreClient(nc).fetch(REGISTRATION_STREAM, { waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 200));
      adapter.receive(await registrationPayload(pki, "n1.test"));
      const { messages } = await within(waiting, "the waiting fetch to wake");
      assertEquals(messages.map((m) => m.subject), ["choria.registration.n1.test"]);
      assert(Date.now() - started < 5_000);
    } finally {
      await adapter.close(100);
    }
  } finally {
    await nc.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
