import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { lifecycleEventSubject } from "../server/lifecycle.ts";
import { encodeLifecycleEvent, lifecycleEvent } from "../server/lifecycle.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import { within } from "../tests/harness/wait.ts";
import { StoreClient } from "./api.ts";
import { loadAdaptersConfig, StreamsConfigError } from "./config.ts";
import { parseSince, tailEvents } from "./events.ts";
import { connectAs } from "./_testing.ts";
import { startStoreService } from "./service.ts";

Deno.test("parseSince reads durations and RFC 3339 times, and says what it wants", () => {
  assertEquals(parseSince("90s", 100_000), 10_000);
  assertEquals(parseSince("2026-11-25T20:00:00Z", 0), Date.parse("2026-11-25T20:00:00Z"));
  throws(() => parseSince("yesterday", 0), /give a duration such as 90s/);
});

Deno.test("tailEvents shows the history, then new events as they are stored", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const cert = await pki.issue("server", "streams.test");
  const dir = await Deno.makeTempDir({ prefix: "chorale-events-test-" });
  const nc = await connectAs(pki, "server", "n1.test", broker.port);
  try {
    await using _service = await startStoreService({
      dir,
      servers: [`127.0.0.1:${broker.port}`],
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
    });
    const publish = (type: "startup" | "shutdown", identity: string) => {
      const event = type === "startup"
        ? lifecycleEvent("startup", { identity, component: "server", version: "1" })
        : lifecycleEvent("shutdown", { identity, component: "server" });
      nc.publish(lifecycleEventSubject(event), encodeLifecycleEvent(event));
    };
    publish("startup", "old.test");
    publish("shutdown", "old.test");
    await nc.flush();
    const store = new StoreClient(nc);
    await within(
      (async () => {
        while ((await store.fetch("CHORIA_EVENTS")).messages.length < 2) {
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      "two stored events",
    );
    const stop = new AbortController();
    const seen: string[] = [];
    const tail = (async () => {
      for await (
        const t of tailEvents(store, {
          sinceMs: Date.now() - 60_000,
          types: ["startup"],
          follow: true,
          signal: stop.signal,
          pollMs: 500,
        })
      ) {
        seen.push(t.event!.identity);
        if (seen.length === 2) stop.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    publish("startup", "new.test");
    await nc.flush();
    await within(tail, "the live startup event", 10_000);
    assertEquals(seen, ["old.test", "new.test"]);
  } finally {
    await nc.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("loadAdaptersConfig reports every problem at once", () => {
  throws(
    () =>
      loadAdaptersConfig({
        path: "adapter.yaml",
        text: `
adapters:
  - name: "bad name"
    ingest: { protocol: publish, wokers: 2 }
    target: { type: kafka, max_age: soon }
`,
      }, () => undefined),
    (e: Error) =>
      e instanceof StreamsConfigError &&
      [
        "'brokers' must list",
        "'security.certificate' is required",
        "'adapters[0].name'",
        "'adapters[0].ingest.topic' is required",
        "'adapters[0].ingest' has an unknown key 'wokers'",
        "'adapters[0].ingest.protocol' must be request or reply",
        "'adapters[0].target.max_age' must be a duration",
        "'adapters[0].target.type' must be store or jetstream (kafka is planned)",
      ].every((p) => e.message.includes(p)),
  );
});
