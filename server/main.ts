/**
 * `deno task server --config FILE`: the Chorale node daemon. It connects out to the broker with
 * the node's certificate, hosts the built-in agents (rpcutil, discovery, choria_util, package,
 * service), authenticates, authorizes and audits every request, and publishes registration and
 * lifecycle events.
 *
 * Permissions it needs: `--allow-net` for the brokers (named only in its configuration or by SRV
 * records); `--allow-read` for its configuration, certificates, facts, classes and policies;
 * `--allow-write` for the audit log and status file; `--allow-env` for its `CHORALE_*` overrides
 * and the libraries' colour and debug switches; `--allow-sys=hostname` for the NATS client;
 * `--allow-run` for the package and service agents' dpkg-query, apt-get, apt-cache, systemctl and
 * service, plus each external agent's executable when `agents_dir` is set and each command the
 * autonomous agents and Scout checks run (add them to the task's `--allow-run` list; a command
 * Deno may not run fails its watcher with a message saying so).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { runAction } from "../agents/sdk.ts";
import { choriaRegistryAgent } from "../agents/choria_registry.ts";
import { choriaUtilAgent } from "../agents/choria_util.ts";
import { scoutAgent } from "../agents/scout.ts";
import { defaultPlugins, hostedMachines, MachineHost, type NodeStatus } from "../machines/mod.ts";
import { StoreClient } from "../streams/mod.ts";
import type { NatsConnection } from "nats";
import { discoveryAgent } from "../agents/discovery.ts";
import { packageAgent } from "../agents/package.ts";
import { rpcutilAgent } from "../agents/rpcutil.ts";
import { serviceAgent } from "../agents/service.ts";
import { watchExternalAgents } from "../agents/external.ts";
import { describeKeys, loadConfig } from "../core/config.ts";
import { matchesFilter } from "../core/filter/mod.ts";
import { readConfigFile, waitForStopSignal } from "../core/daemon.ts";
import { jsonLogger, type LogLevel, LogLevels } from "../core/log.ts";
import { AuditLog } from "../core/security/audit.ts";
import { fileProvider, puppetProvider, type SecurityMaterial } from "../core/security/providers.ts";
import { resolveBrokers } from "./brokers.ts";
import { ServerConfigKeys, type ServerSettings, serverSettings } from "./config.ts";
import { Daemon } from "./daemon.ts";
import { watchFacts } from "./facts.ts";
import type { ActionRunner, FilterCheck } from "./server.ts";

/** Chorale's version, reported by agents, registration and lifecycle events. */
export const VERSION = "0.1.0";

/** Loads the security material the settings name. */
export function loadMaterial(settings: ServerSettings): Promise<SecurityMaterial> {
  const s = settings.security;
  const provider = s.provider === "file"
    ? fileProvider({ certificate: s.certificate, key: s.key, ca: s.ca })
    : puppetProvider({
      ...(s.sslDir ? { sslDir: s.sslDir } : {}),
      ...(s.certname ? { certname: s.certname } : {}),
    });
  return provider.load();
}

/** Runs an action for the server through the agent host. */
export const runForServer: ActionRunner = (agent, action, data, context) => {
  const envelope = context.request.request.envelope;
  return runAction(agent, {
    requestId: envelope.requestid,
    callerid: envelope.callerid,
    senderid: envelope.senderid,
    agent: agent.ddl.metadata.name,
    action,
    collective: envelope.collective,
    data,
  }, { node: context.node, logger: context.logger, signal: context.signal });
};

async function main(args: string[]): Promise<number> {
  const program = new Command("server")
    .description("The Chorale node daemon")
    .option("--config <file>", "YAML configuration file")
    .option("--log-level <level>", "debug, info, warn or error")
    .addHelpText(
      "after",
      `\nConfiguration keys (file < environment < flags):\n${describeKeys(ServerConfigKeys)}`,
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
  const loaded = loadConfig(ServerConfigKeys, {
    ...(file ? { file } : {}),
    env: (name) => Deno.env.get(name),
    flags: { log_level: opts.logLevel },
  });
  problems.push(...loaded.problems);
  const settings = serverSettings(loaded.values, problems);
  if (!(String(loaded.values.log_level) in LogLevels)) {
    problems.push("log_level: expected debug, info, warn or error");
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(`server: ${problem}`);
    return 2;
  }
  const logger = jsonLogger({ component: "server", level: loaded.values.log_level as LogLevel });

  // The npm:nats client can throw from a TLS alert outside any promise we hold: log, keep going.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled rejection", { error: String(event.reason) });
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    logger.error("uncaught error", { error: String(event.error ?? event.message) });
  });

  let material: SecurityMaterial;
  try {
    material = await loadMaterial(settings);
  } catch (error) {
    console.error(`server: cannot load the node's certificate: ${(error as Error).message}`);
    return 2;
  }
  for (const warning of material.warnings) logger.warn("security material", { warning });
  const identity = settings.identity || material.certname;

  await using facts = await watchFacts({
    factFiles: settings.factFiles,
    ...(settings.classesFile ? { classesFile: settings.classesFile } : {}),
    logger: logger.child("facts"),
  });
  let brokers: string[];
  try {
    brokers = await resolveBrokers(
      settings.brokers,
      settings.srvDomain,
      (name) => Deno.resolveDns(name, "SRV"),
    );
  } catch (error) {
    console.error(`server: ${(error as Error).message}`);
    return 1;
  }
  let audit: AuditLog | null = null;
  if (settings.audit.enabled) {
    try {
      audit = await AuditLog.open(settings.audit.file);
    } catch (error) {
      console.error(`server: ${(error as Error).message}`);
      return 2;
    }
  }
  // Autonomous agents and Scout checks start once the server is connected, so their first
  // events reach the broker.
  const m = settings.machines;
  const machines: MachineHost | null = m.store === "" && m.checks === "" ? null : new MachineHost({
    store: m.store,
    checks: m.checks,
    identity,
    plugins: defaultPlugins(),
    pollMs: m.pollMs,
    maxCommands: m.maxCommands,
    textfileDir: m.textfileDir,
    publish: (subject, event) => {
      const nc = daemon.server.connection;
      if (nc && !nc.isClosed()) nc.publish(subject, JSON.stringify(event));
    },
    facts: () => facts.current().facts as Record<string, unknown>,
    // kv watchers read buckets from the stream store over the server's own connection.
    kv: async (bucket: string, key: string): Promise<Uint8Array | null> => {
      const nc: NatsConnection | null = daemon.server.connection;
      if (!nc || nc.isClosed()) {
        throw new Error(`Cannot read ${bucket}/${key} as the server is not connected`);
      }
      return (await new StoreClient(nc).kvGet(bucket, key))?.value ?? null;
    },
    nodeStatus: (): NodeStatus => ({
      connected: !(daemon.server.connection?.isClosed() ?? true),
      lastMessageMs: daemon.server.lastMessage?.getTime() ?? null,
      certificateExpiresMs: material.notAfter.getTime(),
    }),
    logger,
  });
  const hosted = machines ? hostedMachines(machines) : null;
  const agents = [
    rpcutilAgent({
      config: () => ({ identity, collectives: settings.collectives, brokers }),
    }),
    discoveryAgent(),
    choriaRegistryAgent(),
    choriaUtilAgent({
      info: () => ({ connector: "nats", connector_tls: true, secure_protocol: true }),
      ...(hosted ? { machines: hosted } : {}),
    }),
    packageAgent(),
    serviceAgent(),
    ...(hosted ? [scoutAgent(hosted)] : []),
  ];
  const selects: FilterCheck = (verified) => {
    const current = facts.current();
    return matchesFilter(verified.request.envelope.filter, {
      identity,
      facts: current.facts,
      classes: current.classes,
      agents: daemon.server.node.agents().map((ddl) => ddl.metadata.name),
    });
  };
  await using daemon = new Daemon({
    settings: { ...settings, identity },
    material,
    agents,
    facts: () => facts.current().facts as Record<string, unknown>,
    classes: () => [...facts.current().classes],
    runAction: runForServer,
    selects,
    audit,
    brokers,
    logger,
    version: VERSION,
  }, {
    ...(machines
      ? {
        machines: () =>
          machines.machines().map((m) => ({ name: m.name, version: m.version, state: m.state })),
      }
      : {}),
  });
  await daemon.start();
  await machines?.start();
  await using _external = settings.agentsDir === ""
    ? null
    : watchExternalAgents(settings.agentsDir, {
      intervalMs: settings.agentsPollMs,
      logger: logger.child("external"),
      onChange: (change) => {
        const builtin = new Set(agents.map((a) => a.ddl.metadata.name));
        daemon.server.updateAgents(
          change.agents.filter((a) => !builtin.has(a.ddl.metadata.name)),
          change.removed.filter((name) => !builtin.has(name)),
        );
        logger.info("external agents", {
          added: change.added,
          changed: change.changed,
          removed: change.removed,
        });
      },
    });
  await waitForStopSignal();
  await machines?.stop();
  await daemon.stop();
  await audit?.close();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
