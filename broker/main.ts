/**
 * `deno task broker`: the Chorale broker daemon.
 *
 * Permissions it needs: `--allow-net` to listen on the configured client, route and monitoring
 * addresses and to dial routes (all known only from its configuration); `--allow-read` for its
 * configuration file and TLS material (paths from its configuration); `--allow-env=CHORALE_*` for
 * its overrides; `--allow-sys=hostname` for its default server name; `--allow-run=deno` to start
 * its workers under `--workers` (each worker runs with the rest of these, without `--allow-run`)
 * and the stream store under `--store` (with `deno task store`'s permissions, which add
 * `--allow-write` for its directory).
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { ConfigError, describeKeys, loadConfig } from "../core/config.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger, type Logger, type LogLevel, LogLevels } from "../core/log.ts";
import { Broker, type BrokerSettings } from "./broker.ts";
import { BrokerConfigKeys, parseHostPort, settingsFromValues } from "./config.ts";
import { serveMonitor } from "./monitor.ts";
import {
  automaticWorkers,
  superviseWorkers,
  type WorkerEvent,
  workerEventLine,
} from "./workers.ts";
import { freePort } from "./ports.ts";
import { storeChild, storeRules } from "./store_child.ts";

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
    .option("--store <dir>", "run the stream store beside the broker, with its data in <dir>")
    .option("--workers <n>", "broker processes sharing the client port (0: automatic)")
    .addOption(new Option("--worker <index>", "run as one worker of a supervisor").hideHelp())
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
      workers: opts.worker === undefined ? opts.workers : "1",
      "store.dir": opts.store,
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
  const storeDir = String(loaded.values["store.dir"]);
  if (storeDir !== "") {
    if (!settings.tls) {
      console.error(
        "broker: store.dir: needs TLS, as the store connects with the broker's certificate",
      );
      return 2;
    }
    // The broker's own identity runs the store: it gets the store's permissions, first.
    settings.permissions.identities.unshift(...storeRules(settings.tls.cert));
  }
  const logger = jsonLogger({ component: "broker", level: loaded.values.log_level as LogLevel });
  // Only the supervisor (or a broker on its own) runs the store, never a worker.
  const store = (port: number) =>
    storeDir === "" || opts.worker !== undefined ? null : storeChild({
      dir: storeDir,
      broker: String(loaded.values["store.broker"]) ||
        `tls://${settings.host === "0.0.0.0" ? "127.0.0.1" : settings.host}:${port}`,
      cert: String(loaded.values["tls.cert"]),
      key: String(loaded.values["tls.key"]),
      ca: String(loaded.values["tls.ca"]),
    }, logger);
  const configured = loaded.values.workers as number;
  const workers = configured === 0
    ? automaticWorkers(settings.maxConnections, navigator.hardwareConcurrency)
    : configured;
  if (workers > 1) {
    // The workers share one port, known before they start, so the store can dial it.
    if (settings.port === 0) settings.port = await freePort(settings.host);
    const keeper = store(settings.port);
    keeper?.start();
    const code = await runSupervisor(
      args,
      settings,
      String(loaded.values.monitor),
      workers,
      logger,
    );
    await keeper?.stop();
    return code;
  }
  if (opts.worker !== undefined) {
    settings.worker = Number(opts.worker);
    settings.serverName = `${settings.serverName}-w${settings.worker}`;
  }
  const broker = new Broker(settings, logger);
  if (settings.worker !== null && broker.cluster) {
    broker.cluster.onRouteRegistered = () => tellSupervisor("route");
  }
  try {
    await broker.start();
    if (settings.worker !== null) tellSupervisor("listening");
  } catch (error) {
    logger.error("cannot listen", { error: (error as Error).message });
    return 1;
  }
  const keeper = store(broker.port);
  keeper?.start();
  let monitor: Deno.HttpServer<Deno.NetAddr> | null = null;
  const monitorAt = String(loaded.values.monitor);
  if (monitorAt !== "") {
    const { host, port } = parseHostPort(monitorAt) as { host: string; port: number };
    monitor = serveMonitor(broker, host, port);
    logger.info("monitoring", {
      host,
      port: monitor.addr.port,
      ...(settings.worker === null ? {} : { worker: settings.worker, pid: Deno.pid }),
    });
  }
  await waitForStopSignal();
  await keeper?.stop();
  await monitor?.shutdown();
  await broker.shutdown();
  return 0;
}

/** A worker's event for its supervisor, on standard output. */
function tellSupervisor(event: WorkerEvent): void {
  Deno.stdout.writeSync(new TextEncoder().encode(workerEventLine(event)));
}

async function runSupervisor(
  args: string[],
  settings: BrokerSettings,
  monitor: string,
  count: number,
  logger: Logger,
): Promise<number> {
  const stop = new AbortController();
  void waitForStopSignal().then(() => stop.abort());
  return await superviseWorkers(
    {
      count,
      args: withoutFlag(args, "--workers"),
      host: settings.host,
      port: settings.port,
      monitor: monitor === "" ? null : parseHostPort(monitor) as { host: string; port: number },
      cluster: settings.cluster,
      tls: !settings.insecure,
      main: new URL("./main.ts", import.meta.url).pathname,
    },
    logger,
    stop.signal,
  );
}

/** `args` without `flag` and its value (`--flag v` or `--flag=v`). */
function withoutFlag(args: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) i++;
    else if (!args[i]!.startsWith(`${flag}=`)) out.push(args[i]!);
  }
  return out;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
