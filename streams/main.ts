/**
 * `deno task store --config FILE`: the stream store on its own. It opens the store directory,
 * creates Choria's default streams (CHORIA_EVENTS, CHORIA_MACHINE, CHORIA_REGISTRATION), keeps the
 * lifecycle and machine events published on the broker and serves the store's API on
 * `chorale.streams.api.>` (see `streams/api.ts`).
 *
 * ```sh
 * deno task store --config /etc/chorale/store.yaml
 * deno task store --help
 * ```
 *
 * Permissions it needs, and why:
 * - `--allow-net`: the brokers, chosen by the configuration, and the metrics port on 127.0.0.1;
 * - `--allow-read`, `--allow-write`: the configuration, the certificates and the store
 *   directory, all chosen at run time;
 * - `--allow-env=CHORALE_*,LOG_TOKENS,LOG_STREAM`: the configuration's variables, and two that
 *   npm:yaml reads while it parses.
 *
 * Exit codes: 0 after SIGINT or SIGTERM, 1 when the store cannot be opened (say another process
 * holds it), 2 for a configuration problem.
 *
 * @module
 */
import { describeKeys } from "../core/config.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger } from "../core/log.ts";
import { prometheusText, readTls, serveMetrics } from "./_daemon.ts";
import { loadStoreConfig, StoreConfigKeys, StreamsConfigError } from "./config.ts";
import { startStoreService } from "./service.ts";

/** Runs the store until a stop signal; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const logger = jsonLogger({ component: "streams" });
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      `Usage: deno task store --config FILE [--dir DIR]\n\nSettings:\n${
        describeKeys(StoreConfigKeys)
      }`,
    );
    return 0;
  }
  const problems: string[] = [];
  const at = args.indexOf("--config");
  const file = await readConfigFile(at >= 0 ? args[at + 1] : undefined, problems);
  const dirAt = args.indexOf("--dir");
  let config;
  try {
    if (problems.length > 0) throw new StreamsConfigError(problems);
    config = loadStoreConfig(
      file,
      (name) => Deno.env.get(name),
      dirAt >= 0 ? { dir: args[dirAt + 1] } : {},
    );
  } catch (error) {
    logger.error((error as Error).message);
    return 2;
  }
  let service;
  try {
    const tls = await readTls(config);
    service = await startStoreService({
      dir: config.dir,
      servers: config.brokers,
      tls,
      logger,
      maxMessageBytes: config.maxMessageBytes,
    });
  } catch (error) {
    logger.error((error as Error).message, { name: (error as Error).name });
    return 1;
  }
  await using _metrics = serveMetrics(
    config.metricsPort,
    () => prometheusText("chorale_streams", [{ labels: {}, counters: { ...service.stats() } }]),
    logger,
  );
  await waitForStopSignal();
  logger.info("stopping", { ...service.stats() });
  await service.close();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
