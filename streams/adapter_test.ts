import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { CertificateVerifier } from "../core/security/verify.ts";
import { createSigner } from "../core/security/signing.ts";
import { createRegistrationMessage } from "../server/registration.ts";
import { createReply } from "../core/protocol/reply.ts";
import { createSecureReply } from "../core/protocol/secure_reply.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import { within } from "../tests/harness/wait.ts";
import { AdapterInputError, DataAdapter, toAdapterOutput } from "./adapter.ts";
import { StoreClient } from "./api.ts";
import { connectAs, registrationPayload } from "./_testing.ts";
import { REGISTRATION_STREAM, startStoreService } from "./service.ts";
import { StoreApiTarget } from "./targets.ts";

Deno.test("toAdapterOutput turns a registration request into Choria stream output", async () => {
  await using pki = await makeTestPki();
  const payload = await registrationPayload(pki, "n1.test", { role: "web" });
  const output = toAdapterOutput(payload, {
    protocol: "request",
    now: new Date(0),
    verifier: new CertificateVerifier({ ca: pki.caPem }),
  });
  assertEquals(output.protocol, "choria:adapters:choria_streams:output:1");
  assertEquals(output.sender, "n1.test");
  assertEquals(output.time, "1970-01-01T00:00:00.000Z");
  assertEquals(output.requestid.length, 32);
  assertEquals(JSON.parse(output.data).protocol, "choria:registration:inventorycontent:1");
});

Deno.test("toAdapterOutput reads replies with their sender and request id", async () => {
  const body = JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1 } });
  const reply = createReply({
    requestid: "bbb95c73eadb41c39f82a7eedffecee1",
    senderid: "n1.example.net",
    agent: "rpcutil",
    message: body,
  });
  const wire = encodeTransport(createTransport(await createSecureReply(reply)));
  const output = toAdapterOutput(new TextEncoder().encode(wire), {
    protocol: "reply",
    now: new Date(0),
  });
  assertEquals([output.sender, output.requestid, output.data], [
    "n1.example.net",
    "bbb95c73eadb41c39f82a7eedffecee1",
    body,
  ]);
  // A reply is not a request.
  throws(
    () => toAdapterOutput(new TextEncoder().encode(wire), { protocol: "request", now: new Date() }),
    AdapterInputError,
  );
});

Deno.test("toAdapterOutput refuses corrupt, oversize and forged registration", async () => {
  await using pki = await makeTestPki();
  const opts = { protocol: "request" as const, now: new Date() };
  throws(
    () => toAdapterOutput(new TextEncoder().encode("{garbage"), opts),
    (e: Error) => e instanceof AdapterInputError && /Cannot convert a request/.test(e.message),
  );
  const payload = await registrationPayload(pki, "n1.test");
  throws(
    () => toAdapterOutput(payload, { ...opts, maxBytes: 100 }),
    /Cannot convert a message of \d+ bytes as the limit is 100/,
  );
  // Signed, but its zcontent is not gzip: the registration does not decode.
  const cert = await pki.issue("server", "n2.test");
  const corrupt = await createRegistrationMessage(
    { protocol: "choria:registration:inventorycontent:1", zcontent: "bm90IGd6aXA=" },
    createSigner(cert.cert, cert.key),
    { collective: "mcollective" },
  );
  throws(
    () => toAdapterOutput(new TextEncoder().encode(corrupt.payload), opts),
    (e: Error) => e instanceof AdapterInputError && /zcontent|gzip/i.test(e.message),
  );
  // A node signed by another CA is refused when verifying.
  await using other = await makeTestPki();
  throws(
    () =>
      toAdapterOutput(payload, { ...opts, verifier: new CertificateVerifier({ ca: other.caPem }) }),
    AdapterInputError,
  );
});

Deno.test("DataAdapter keeps messages while the store is down, counts drops past its queue and resumes", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const nc = await connectAs(pki, "server", "adapter.test", broker.port);
  const adapter = new DataAdapter({
    name: "registration",
    connection: nc,
    ingest: {
      topic: "mcollective.broadcast.agent.registration",
      protocol: "request",
      queueSize: 5,
    },
    output: { topic: "choria.registration.%s", batchSize: 2 },
    target: new StoreApiTarget(new StoreClient(nc, { timeoutMs: 500 })),
  });
  const dir = await Deno.makeTempDir({ prefix: "chorale-adapter-test-" });
  try {
    await adapter.start();
    for (let i = 0; i < 8; i++) adapter.receive(await registrationPayload(pki, `n${i}.test`));
    await within(
      (async () => {
        while (adapter.stats().target_errors === 0) await new Promise((r) => setTimeout(r, 50));
      })(),
      "the adapter to find the store down",
    );
    const down = adapter.stats();
    assertEquals(down.stored, 0);
    assertEquals(down.dropped, 3);
    assertEquals(down.queued, 5);
    const cert = await pki.issue("server", "streams.test");
    await using service = await startStoreService({
      dir,
      servers: [`127.0.0.1:${broker.port}`],
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
    });
    await within(
      (async () => {
        while (adapter.stats().stored < 5) await new Promise((r) => setTimeout(r, 50));
      })(),
      "the adapter to resume into the store",
      15_000,
    );
    assertEquals(adapter.stats().queued, 0);
    // Two workers store batches side by side: the order across batches is not kept.
    const stored = service.store.fetch(REGISTRATION_STREAM).map((m) => m.subject).sort();
    assertEquals(stored, [0, 1, 2, 3, 4].map((i) => `choria.registration.n${i}.test`));
    assert(service.stats().stored >= 5);
  } finally {
    await adapter.close(100);
    await nc.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
