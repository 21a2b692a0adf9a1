/**
 * `deno task broker`: the Chorale broker daemon.
 *
 * Permissions it needs: `--allow-net` to listen on the configured client and monitoring
 * addresses (known only from its configuration); `--allow-read` for its configuration file and TLS
 * material (paths from its configuration); `--allow-env=CHORALE_*` for its overrides;
 * `--allow-sys=hostname` for its default server name.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { ConfigError, describeKeys, loadConfig } from "../core/config.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger, type LogLevel, LogLevels } from "../core/log.ts";
import { Broker, type BrokerSettings } from "./broker.ts";
import { BrokerConfigKeys, parseHostPort, settingsFromValues } from "./config.ts";
import { serveMonitor } from "./monitor.ts";

/** Turns loaded values into settings, reading TLS files; throws ConfigError listing every problem. */
export async function settingsFrom(
  values: Record<string, unknown>,
  problems: string[],
): Promise<BrokerSettings> {
  const read = async (key: string) => {
    const path = String(values[key]);
    if (path === "") {
      problems.push(`${key}: required unless insecure is set`);
      return "";
    }
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      problems.push(`${key}: cannot read ${path}: ${(error as Error).message}`);
      return "";
    }
  };
  let tls: BrokerSettings["tls"] = null;
  if (values.insecure !== true) {
    const [cert, key, ca] = [await read("tls.cert"), await read("tls.key"), await read("tls.ca")];
    tls = { cert, key, ca };
  }
  const settings = settingsFromValues(values, tls, problems);
  if (!(String(values.log_level) in LogLevels)) {
    problems.push(`log_level: expected debug, info, warn or error`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...settings, serverName: settings.serverName || Deno.hostname() };
}

async function main(args: string[]): Promise<number> {
  const program = new Command("broker")
    .description("Chorale's NATS-protocol broker: mutual TLS, per-identity permissions, monitoring")
    .option("--config <file>", "YAML configuration file")
    .option("--listen <host:port>", "client listener")
    .option("--monitor <host:port>", "monitoring HTTP listener")
    .option("--tls-cert <file>", "broker certificate (PEM)")
    .option("--tls-key <file>", "broker private key (PEM)")
    .option("--tls-ca <file>", "CA that client certificates must chain to (PEM)")
    .option("--insecure", "serve plaintext without client certificates (development only)")
    .option("--cluster <host:port>", "route listener: join a cluster of brokers")
    .option("--routes <urls>", "route URLs to dial, comma separated (nats-route://host:port)")
    .option("--cluster-name <name>", "cluster name, the same on every broker of the cluster")
    .option("--log-level <level>", "debug, info, warn or error")
    .addHelpText(
      "after",
      `\nConfiguration keys (file < environment < flags):\n${describeKeys(BrokerConfigKeys)}`,
    )
    .exitOverride();
  let opts;
  try {
    opts = program.parse(args, { from: "user" }).opts();
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const problems: string[] = [];
  const file = await readConfigFile(opts.config, problems);
  const loaded = loadConfig(BrokerConfigKeys, {
    ...(file ? { file } : {}),
    env: (name) => Deno.env.get(name),
    flags: {
      listen: opts.listen,
      monitor: opts.monitor,
      "tls.cert": opts.tlsCert,
      "tls.key": opts.tlsKey,
      "tls.ca": opts.tlsCa,
      insecure: opts.insecure,
      "cluster.listen": opts.cluster,
      "cluster.routes": opts.routes,
      "cluster.name": opts.clusterName,
      log_level: opts.logLevel,
    },
  });
  problems.push(...loaded.problems);
  let settings: BrokerSettings;
  try {
    settings = await settingsFrom(loaded.values, problems);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`broker: ${problem}`);
    return 2;
  }
  const logger = jsonLogger({ component: "broker", level: loaded.values.log_level as LogLevel });
  const broker = new Broker(settings, logger);
  try {
    await broker.start();
  } catch (error) {
    logger.error("cannot listen", { error: (error as Error).message });
    return 1;
  }
  let monitor: Deno.HttpServer<Deno.NetAddr> | null = null;
  const monitorAt = String(loaded.values.monitor);
  if (monitorAt !== "") {
    const { host, port } = parseHostPort(monitorAt) as { host: string; port: number };
    monitor = serveMonitor(broker, host, port);
    logger.info("monitoring", { host, port: monitor.addr.port });
  }
  await waitForStopSignal();
  await monitor?.shutdown();
  await broker.shutdown();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
