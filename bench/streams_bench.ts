/**
 * `deno task bench:streams`: how fast registration data goes into the stream store and into
 * JetStream, and how long inventory discovery takes over 10,000 and 50,000 registered nodes.
 *
 * Registrations are synthesised as the registration adapter stores them: Choria stream adapter
 * output whose `data` is an `inventory_content` payload (gzip, base64) of a node with 6 agents,
 * 2 classes and 14 facts, about 1.3 KB each. Measured:
 *
 * - ingest into the embedded store in this process (`appendBatch`, 500 a transaction, WAL,
 *   `synchronous = FULL`), as a broker running the store and its adapters does;
 * - ingest through the store service over Chorale's broker (batched publishes, 4 in flight),
 *   as `deno task adapter` does with the store target;
 * - ingest into JetStream on nats-server -js (batches of 500 acknowledged publishes);
 * - the adapter's conversion of signed registration requests, with and without verification;
 * - discovery by one fact (`role=web`, a fifth of the nodes) over the in-memory inventory index,
 *   and the same through the store service's API over the broker, plus the cold index build.
 *
 * Targets: 20,000 registrations a second into the embedded store; discovery over 50,000 nodes by
 * a fact filter under 200 ms.
 *
 * Needs `--allow-run` (brokers), `--allow-read`, `--allow-write` (temporary directories),
 * `--allow-net` (loopback) and `--allow-env`.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { connect } from "nats";
import { selectRegistryNodes } from "../client/discovery_sources.ts";
import { StoreClient } from "../streams/api.ts";
import { toAdapterOutput } from "../streams/adapter.ts";
import { registrationPayload } from "../streams/_testing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import { ADAPTER_OUTPUT_PROTOCOL, InventoryIndex } from "../streams/inventory.ts";
import { defaultStreams, REGISTRATION_STREAM, startStoreService } from "../streams/service.ts";
import { StreamStore } from "../streams/store.ts";
import { JetStreamTarget } from "../streams/targets.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { startJetStream } from "../tests/harness/jetstream_server.ts";
import { makeTestPki } from "../tests/harness/pki.ts";

const encoder = new TextEncoder();
const ROLES = ["web", "db", "cache", "queue", "batch"];

function registration(i: number): { subject: string; data: Uint8Array; id: string } {
  const identity = `node${i}.bench.example.net`;
  const inventory = {
    agents: ["rpcutil", "discovery", "choria_util", "choria_registry", "package", "service"].map((
      name,
    ) => ({
      name,
      description: `${name} agent`,
      author: "Chorale",
      license: "Apache-2.0",
      version: "0.1.0",
      url: "https://example.net/",
      timeout: 10,
    })),
    classes: ["base", ROLES[i % 5]!],
    facts: {
      role: ROLES[i % 5],
      dc: `dc${i % 7}`,
      rack: `r${i % 40}`,
      os: { family: "linux", name: "debian", release: { major: "13", full: "13.1" } },
      kernel: "6.12.0",
      memory_mb: 1024 * (1 + (i % 16)),
      processors: 2 + (i % 8),
      virtual: i % 3 === 0 ? "kvm" : "physical",
      environment: i % 10 === 0 ? "staging" : "production",
      fqdn: identity,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      uptime_seconds: 86_400 + i,
      timezone: "UTC",
      owner: `team${i % 12}`,
    },
    status: null,
    collectives: ["mcollective"],
    build_info: { version: i % 10 === 0 ? "0.1.0" : "0.2.0", sha: "" },
    machines: [],
  };
  const content = JSON.stringify({
    protocol: "choria:registration:inventorycontent:1",
    zcontent: gzipSync(encoder.encode(JSON.stringify(inventory))).toBase64(),
  });
  const output = {
    protocol: ADAPTER_OUTPUT_PROTOCOL,
    data: content,
    sender: identity,
    time: new Date().toISOString(),
    requestid: crypto.randomUUID().replaceAll("-", ""),
  };
  return {
    subject: `choria.registration.${identity}`,
    data: encoder.encode(JSON.stringify(output)),
    id: `${identity}:${output.requestid}`,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  const sizes = [10_000, 50_000];
  console.log("Synthesising 50,000 registrations ...");
  const all = Array.from({ length: 50_000 }, (_, i) => registration(i));
  const avg = all.reduce((s, m) => s + m.data.byteLength, 0) / all.length;
  console.log(`average stored message: ${fmt(avg)} bytes`);
  const rows: string[][] = [];
  const work = await Deno.makeTempDir({ prefix: "chorale-streams-bench-" });
  await using pki = await makeTestPki();
  try {
    // 1. The embedded store in this process.
    for (const n of sizes) {
      const dir = `${work}/local-${n}`;
      using store = StreamStore.open(dir);
      for (const s of defaultStreams()) store.addStream(s);
      const started = performance.now();
      for (let i = 0; i < n; i += 500) store.appendBatch(all.slice(i, Math.min(i + 500, n)));
      const seconds = (performance.now() - started) / 1000;
      rows.push([`ingest into the embedded store, ${fmt(n)} nodes`, `${fmt(n / seconds)} /s`]);
    }

    // 2. Through the store service over Chorale's broker.
    await using broker = await startChoraleBroker({ pki });
    const cert = await pki.issue("server", "streams.bench");
    const tls = { ca: pki.caPem, cert: cert.cert, key: cert.key };
    {
      await using service = await startStoreService({
        dir: `${work}/service`,
        servers: [`127.0.0.1:${broker.port}`],
        tls,
      });
      const nc = await connect({ servers: `127.0.0.1:${broker.port}`, tls });
      const client = new StoreClient(nc, { timeoutMs: 30_000 });
      const n = 50_000;
      const batch = 200;
      let next = 0;
      const started = performance.now();
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < n) {
          const from = next;
          next += batch;
          await client.publish(all.slice(from, Math.min(from + batch, n)));
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      rows.push([
        `ingest through the store service over the broker, ${fmt(n)}`,
        `${fmt(n / seconds)} /s`,
      ]);
      // Discovery through the API: the first request builds the index (cold).
      const filter = { fact: [{ fact: "role", operator: "==" as const, value: "web" }] };
      let t = performance.now();
      const first = await client.discover({ filter });
      rows.push([
        `index build + first discovery over the broker, ${fmt(n)} nodes`,
        `${fmt(performance.now() - t)} ms (${fmt(first.length)} found)`,
      ]);
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        t = performance.now();
        await client.discover({ filter });
        times.push(performance.now() - t);
      }
      rows.push([
        `discovery role=web over the broker, ${fmt(n)} nodes (median of 9)`,
        `${median(times).toFixed(1)} ms`,
      ]);
      void service;
      await nc.close();
    }

    // 3. The in-memory index alone, at both sizes.
    for (const n of sizes) {
      using store = StreamStore.open(`${work}/local-${n}`);
      const index = new InventoryIndex();
      let t = performance.now();
      // Page through the stream as the service does.
      while (true) {
        const page = store.fetch(REGISTRATION_STREAM, {
          from: { seq: index.lastSeq + 1 },
          limit: 5_000,
        });
        if (page.length === 0) break;
        for (const m of page) index.add(m);
      }
      const build = performance.now() - t;
      const filter = { fact: [{ fact: "role", operator: "==" as const, value: "web" }] };
      const times: number[] = [];
      let found = 0;
      for (let i = 0; i < 9; i++) {
        t = performance.now();
        found = selectRegistryNodes(index.nodes(), { collective: "mcollective", filter }).length;
        times.push(performance.now() - t);
      }
      rows.push([`index build from the store, ${fmt(n)} nodes`, `${fmt(build)} ms`]);
      rows.push([
        `discovery role=web in process, ${fmt(n)} nodes (median of 9)`,
        `${median(times).toFixed(1)} ms (${fmt(found)} found)`,
      ]);
    }

    // 4. The adapter's own work per message: decode the signed request, check the registration
    // (and its signature), build the output. This bounds one adapter process.
    {
      const payloads: Uint8Array[] = [];
      for (let i = 0; i < 2_000; i++) {
        payloads.push(await registrationPayload(pki, `node${i % 50}.bench.example.net`));
      }
      const verifier = new CertificateVerifier({ ca: pki.caPem });
      for (const verify of [false, true]) {
        const started = performance.now();
        for (const p of payloads) {
          toAdapterOutput(p, {
            protocol: "request",
            now: new Date(),
            verifier: verify ? verifier : null,
          });
        }
        const seconds = (performance.now() - started) / 1000;
        rows.push([
          `adapter conversion of signed registrations${verify ? ", signatures verified" : ""}`,
          `${fmt(payloads.length / seconds)} /s`,
        ]);
      }
    }

    // 4. JetStream on nats-server -js.
    await using jetstream = await startJetStream(pki);
    const js = await connect({ servers: jetstream.url, tls });
    const target = new JetStreamTarget(js, { ackTimeoutMs: 30_000 });
    await target.ensureStream({
      name: REGISTRATION_STREAM,
      subjects: ["choria.registration.>"],
      maxMsgsPerSubject: 1,
    });
    for (const n of sizes) {
      const started = performance.now();
      for (let i = 0; i < n; i += 500) await target.store(all.slice(i, Math.min(i + 500, n)));
      const seconds = (performance.now() - started) / 1000;
      rows.push([`ingest into JetStream (nats-server -js), ${fmt(n)}`, `${fmt(n / seconds)} /s`]);
    }
    await js.close();
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  const width = Math.max(...rows.map((r) => r[0]!.length));
  console.log("");
  for (const [what, value] of rows) console.log(`${what!.padEnd(width)}  ${value}`);
}

if (import.meta.main) await main();
