/**
 * `deno task federation --config FILE`: the federation broker. It joins member collectives into
 * one federation, Choria's way: clients on the federation network publish to
 * `choria.federation.<member>.federation`; this broker re-publishes each request into the member
 * collective and sends the replies back. See federation/mod.ts for the whole story and
 * federation/config.ts for the configuration keys (`--help` lists them).
 *
 * Permissions it needs, and why:
 * - `--allow-net`: the federation network's and the member collectives' brokers, named only in
 *   its configuration (or found by SRV records, which needs DNS), and the metrics port;
 * - `--allow-read`: its configuration file, certificate, key and CA, chosen at run time;
 * - `--allow-env=CHORALE_*`: its configuration's environment variables; `LOG_TOKENS,LOG_STREAM`,
 *   which npm:yaml reads while parsing the configuration;
 * - `--allow-sys=hostname`: the NATS client reads the host name for its connect options.
 *
 * It writes no files and starts no subprocesses.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { ConfigError, describeKeys } from "../core/config.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger, type Logger } from "../core/log.ts";
import { fileProvider } from "../core/security/providers.ts";
import { FederationBroker } from "./broker.ts";
import { FederationConfigKeys, type FederationSettings, loadFederationSettings } from "./config.ts";
import { FederationMetrics } from "./metrics.ts";
import { resolveFederationBrokers } from "./srv.ts";

function isTlsAlert(error: unknown): boolean {
  const e = error as { message?: unknown; code?: unknown } | null;
  return typeof e?.message === "string" &&
    (/fatal alert|alert: /i.test(e.message) || String(e.code ?? "").startsWith("ERR_SSL_"));
}

// npm:nats can let a TLS alert or a socket error escape as an uncaught error while it
// reconnects; a daemon logs it and carries on, since the connection retries by itself.
function guardProcess(log: Logger): void {
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log.warn(isTlsAlert(event.error) ? "TLS alert from a broker" : "uncaught error", {
      error: event.error instanceof Error ? event.error.message : String(event.error),
    });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log.warn("unhandled rejection", {
      error: event.reason instanceof Error ? event.reason.message : String(event.reason),
    });
  });
}

function serveMetrics(
  settings: NonNullable<FederationSettings["metrics"]>,
  metrics: FederationMetrics,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: settings.hostname, port: settings.port, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/metrics"
        ? new Response(metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        })
        : new Response("Cannot find it: try /metrics\n", { status: 404 }),
  );
}

/** Runs the federation broker with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = new Command("federation")
    .description("The Chorale federation broker")
    .option("--config <file>", "YAML configuration file")
    .option("--log-level <level>", "debug, info, warn or error")
    .addHelpText(
      "after",
      `\nConfiguration keys (file < environment < flags):\n${describeKeys(FederationConfigKeys)}`,
    )
    .exitOverride();
  let opts;
  try {
    opts = program.parse(args, { from: "user" }).opts();
  } catch (error) {
    return (error as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const problems: string[] = [];
  const file = await readConfigFile(opts.config, problems);
  let settings: FederationSettings;
  try {
    if (problems.length > 0) throw new ConfigError(problems);
    settings = loadFederationSettings(file, {
      env: (name) => Deno.env.get(name),
      flags: { log_level: opts.logLevel },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`federation: ${problem}`);
    return 2;
  }
  const log = jsonLogger({ component: "federation", level: settings.logLevel });

  let material;
  try {
    material = await fileProvider(settings.security).load();
  } catch (error) {
    log.error("cannot load the certificate", { error: (error as Error).message });
    return 2;
  }
  for (const warning of material.warnings) log.warn(warning);
  let federationBrokers: string[];
  try {
    federationBrokers = await resolveFederationBrokers(
      settings.federation.brokers,
      settings.federation.srvDomain,
      (name) => Deno.resolveDns(name, "SRV"),
    );
  } catch (error) {
    log.error("cannot find the federation network's brokers", {
      error: (error as Error).message,
    });
    return 1;
  }

  const metrics = new FederationMetrics();
  let metricsServer: Deno.HttpServer<Deno.NetAddr> | null = null;
  if (settings.metrics) {
    try {
      metricsServer = serveMetrics(settings.metrics, metrics);
    } catch (error) {
      log.error(
        `Cannot serve metrics on ${settings.metrics.hostname}:${settings.metrics.port}: ${
          (error as Error).message
        }`,
      );
      return 1;
    }
    log.info("metrics", { port: metricsServer.addr.port });
  }
  guardProcess(log);
  const stopping = waitForStopSignal();
  const broker = await Promise.race([
    FederationBroker.start({
      identity: material.certname,
      tls: { cert: material.certPem, key: material.keyPem, ca: material.caPem },
      federationBrokers,
      members: settings.members,
      connectTimeoutMs: settings.connectTimeoutMs,
      logger: log,
      metrics,
    }),
    stopping.then(() => null),
  ]);
  if (broker !== null) await stopping;
  await broker?.stop();
  await metricsServer?.shutdown();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
