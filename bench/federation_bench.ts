/**
 * `deno task bench:federation`: the latency one federation hop adds. Two Chorale brokers on
 * loopback (a member collective with one server, and a federation network) and one federation
 * broker between them; a client straight on the member's broker and a federated client on the
 * federation network call `rpcutil#ping` on the server one request at a time, alternating
 * (direct, federated, direct, ...) so the shared machine's drift hits both alike. The figure is
 * the median federated round trip minus the median direct one, against the target of 1 ms. The
 * time spent inside the federation broker on each leg, from traces, is reported too.
 *
 * ```sh
 * deno task bench:federation              # 500 round trips each way
 * deno task bench:federation --count 1000
 * ```
 *
 * Permissions: `--allow-net` (loopback brokers), `--allow-read` (deno.json, certificates),
 * `--allow-write` (temporary PKI and configurations), `--allow-run` (brokers, server, federation
 * broker), `--allow-env` and `--allow-sys` (the NATS client and the harness).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { Client } from "../client/client.ts";
import { startFederationBroker } from "../federation/_testing.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { startChoraleServer } from "../tests/harness/chorale_server.ts";
import { makeTestPki } from "../tests/harness/pki.ts";

/** The target: a federation hop adds under this much at the median, ms. */
export const TARGET_MS = 1;

/**
 * The value at quantile `q` (0..1) of `values`, by nearest rank.
 *
 * @example The median
 * ```ts
 * import { quantile } from "./federation_bench.ts";
 * console.log(quantile([3, 1, 2], 0.5)); // 2
 * ```
 */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function roundTrip(client: Client, node: string): Promise<number> {
  const started = performance.now();
  const set = await client.rpc({
    agent: "rpcutil",
    action: "ping",
    nodes: [node],
    timeoutMs: 5_000,
  })
    .done();
  const elapsed = performance.now() - started;
  if (set.stats.ok !== 1) throw new Error(`Cannot measure a round trip as ${node} did not answer`);
  return elapsed;
}

async function run(count: number): Promise<void> {
  await using pki = await makeTestPki();
  await using fedNet = await startChoraleBroker({ pki, choraleConfig: { workers: 1 } });
  await using memberNet = await startChoraleBroker({ pki, choraleConfig: { workers: 1 } });
  await using server = await startChoraleServer({
    pki,
    identity: "n1",
    brokerPort: memberNet.port,
  });
  await using _federation = await startFederationBroker({
    pki,
    identity: "fed1.federation",
    federationPort: fedNet.port,
    members: { east: memberNet.port },
  });
  const identity = {
    certname: pki.client.name,
    cert: pki.client.cert,
    key: pki.client.key,
    ca: pki.caPem,
  };
  await using direct = await Client.connect({ brokers: [memberNet.url], identity });
  await using federated = await Client.connect({
    brokers: [fedNet.url],
    identity,
    federations: ["east"],
  });
  const warmup = Math.min(50, Math.ceil(count / 5));
  for (let i = 0; i < warmup; i++) {
    await roundTrip(direct, server.identity);
    await roundTrip(federated, server.identity);
  }
  const directMs: number[] = [];
  const federatedMs: number[] = [];
  for (let i = 0; i < count; i++) {
    directMs.push(await roundTrip(direct, server.identity));
    federatedMs.push(await roundTrip(federated, server.identity));
  }
  const inBroker: number[] = [];
  for (let i = 0; i < Math.min(50, count); i++) {
    const trace = await federated.trace(server.identity);
    const spent = trace.steps
      .filter((s) => s.via.startsWith("fed1.federation"))
      .reduce((sum, s) => sum + (s.spentMs ?? 0), 0);
    inBroker.push(spent);
  }
  const median = (v: number[]) => quantile(v, 0.5);
  const added = median(federatedMs) - median(directMs);
  const f = (n: number) => n.toFixed(3);
  console.log(`federation hop latency (rpcutil#ping, ${count} round trips each, loopback, mTLS)`);
  console.log(
    `  direct     median ${f(median(directMs))} ms   p90 ${f(quantile(directMs, 0.9))} ms`,
  );
  console.log(
    `  federated  median ${f(median(federatedMs))} ms   p90 ${f(quantile(federatedMs, 0.9))} ms`,
  );
  console.log(
    `  inside the federation broker, both legs: median ${f(median(inBroker))} ms (from traces)`,
  );
  console.log(
    `  added by one federation hop: median ${f(added)} ms (target < ${TARGET_MS} ms): ${
      added < TARGET_MS ? "met" : "NOT met"
    }`,
  );
}

if (import.meta.main) {
  const opts = new Command("bench:federation")
    .option("--count <n>", "round trips each way", (v) => Number.parseInt(v, 10), 500)
    .parse(Deno.args, { from: "user" })
    .opts();
  if (!Number.isInteger(opts.count) || opts.count < 1) {
    console.error(
      `Cannot run as '--count' must be a positive integer: current value is ${opts.count}`,
    );
    Deno.exit(2);
  }
  await run(opts.count);
}
