/**
 * `deno task adapter --config FILE`: data adapters on their own. Each configured adapter reads
 * its ingest topic from the broker and stores Choria stream adapter output in the stream store
 * (over the broker) or in NATS JetStream.
 *
 * ```sh
 * deno task adapter --config /etc/chorale/adapter.yaml
 * deno task adapter --help
 * ```
 *
 * Permissions it needs, and why:
 * - `--allow-net`: the brokers and JetStream servers, chosen by the configuration, and the
 *   metrics port on 127.0.0.1;
 * - `--allow-read`: the configuration and the certificates, chosen at run time;
 * - `--allow-env=CHORALE_*,LOG_TOKENS,LOG_STREAM`: the configuration's variables, and two that
 *   npm:yaml reads while it parses.
 *
 * Exit codes: 0 after SIGINT or SIGTERM, 1 when a broker or target cannot be reached at start,
 * 2 for a configuration problem.
 *
 * @module
 */
import type { NatsConnection } from "nats";
import { describeKeys } from "../core/config.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger } from "../core/log.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import { connectTls, prometheusText, readTls, serveMetrics } from "./_daemon.ts";
import { DataAdapter } from "./adapter.ts";
import { StoreClient } from "./api.ts";
import { AdapterConfigKeys, loadAdaptersConfig, StreamsConfigError } from "./config.ts";
import { type AdapterTarget, JetStreamTarget, StoreApiTarget } from "./targets.ts";

/** Runs the adapters until a stop signal; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const logger = jsonLogger({ component: "adapter" });
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      `Usage: deno task adapter --config FILE\n\nSettings (and an 'adapters' list):\n${
        describeKeys(AdapterConfigKeys)
      }`,
    );
    return 0;
  }
  const problems: string[] = [];
  const at = args.indexOf("--config");
  const file = await readConfigFile(at >= 0 ? args[at + 1] : undefined, problems);
  let config;
  try {
    if (problems.length > 0) throw new StreamsConfigError(problems);
    config = loadAdaptersConfig(file, (name) => Deno.env.get(name));
  } catch (error) {
    logger.error((error as Error).message);
    return 2;
  }
  const connections: NatsConnection[] = [];
  const adapters: DataAdapter[] = [];
  try {
    const tls = await readTls(config);
    const source = await connectTls(config.brokers, tls, "chorale-adapter", logger);
    connections.push(source);
    for (const a of config.adapters) {
      let target: AdapterTarget;
      if (a.target.type === "store") {
        target = new StoreApiTarget(new StoreClient(source));
      } else {
        const js = await connectTls(
          a.target.servers,
          a.target.tls ? tls : undefined,
          `chorale-adapter-${a.name}`,
          logger,
        );
        connections.push(js);
        target = new JetStreamTarget(js);
      }
      const adapter = new DataAdapter({
        name: a.name,
        connection: source,
        ingest: {
          topic: a.ingest.topic,
          protocol: a.ingest.protocol,
          queueSize: a.ingest.queue,
          maxBytes: a.ingest.maxBytes,
          verifier: a.ingest.verify ? new CertificateVerifier({ ca: tls.ca }) : null,
        },
        output: {
          topic: a.stream.topic,
          stream: a.target.stream,
          workers: a.stream.workers,
          batchSize: a.stream.batch,
        },
        target,
        logger,
      });
      await adapter.start();
      adapters.push(adapter);
    }
  } catch (error) {
    logger.error((error as Error).message, { name: (error as Error).name });
    for (const nc of connections) await nc.close();
    return 1;
  }
  await using _metrics = serveMetrics(
    config.metricsPort,
    () =>
      prometheusText(
        "chorale_adapter",
        adapters.map((a) => ({ labels: { adapter: a.name }, counters: { ...a.stats() } })),
      ),
    logger,
  );
  await waitForStopSignal();
  for (const adapter of adapters) await adapter.close();
  for (const nc of connections) await nc.drain().catch(() => {});
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
