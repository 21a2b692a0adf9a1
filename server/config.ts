/**
 * The server's configuration schema: every key with its default, environment variable and doc,
 * and the typed settings the daemon runs with.
 *
 * @module
 */
import type { ConfigKey } from "../core/config.ts";
import { DEFAULT_CLIENT_PATTERNS, DEFAULT_PRIVILEGED_PATTERNS } from "../core/security/identity.ts";

/** Every server setting. Durations are milliseconds once loaded. */
export const ServerConfigKeys: readonly ConfigKey[] = [
  {
    key: "identity",
    type: "string",
    default: "",
    env: "CHORALE_IDENTITY",
    doc: "The node's name; defaults to its certificate's name",
  },
  {
    key: "collectives",
    type: "list",
    default: ["mcollective"],
    env: "CHORALE_COLLECTIVES",
    doc: "Collectives the node belongs to",
  },
  {
    key: "main_collective",
    type: "string",
    default: "",
    env: "CHORALE_MAIN_COLLECTIVE",
    doc: "The main collective; defaults to the first of collectives",
  },
  {
    key: "brokers",
    type: "list",
    default: [],
    env: "CHORALE_BROKERS",
    doc: "Broker URLs, tls://host:port; empty means SRV lookup in srv_domain",
  },
  {
    key: "randomize_brokers",
    type: "boolean",
    default: false,
    env: "CHORALE_RANDOMIZE_BROKERS",
    doc:
      "Try the brokers in random order (Choria's randomize_middleware_hosts); by default in the order given, the next on failure",
  },
  {
    key: "srv_domain",
    type: "string",
    default: "",
    env: "CHORALE_SRV_DOMAIN",
    doc: "Domain for _mcollective-server._tcp and _x-puppet-mcollective._tcp SRV records",
  },
  {
    key: "security.provider",
    type: "string",
    default: "file",
    env: "CHORALE_SECURITY_PROVIDER",
    doc: "file or puppet",
  },
  {
    key: "security.certificate",
    type: "string",
    default: "",
    env: "CHORALE_CERTIFICATE",
    doc: "file provider: the node's certificate (PEM)",
  },
  {
    key: "security.key",
    type: "string",
    default: "",
    env: "CHORALE_KEY",
    doc: "file provider: its private key (PEM)",
  },
  {
    key: "security.ca",
    type: "string",
    default: "",
    env: "CHORALE_CA",
    doc: "file provider: the CA bundle (PEM)",
  },
  {
    key: "security.ssl_dir",
    type: "string",
    default: "",
    env: "CHORALE_SSL_DIR",
    doc: "puppet provider: Puppet's ssl directory",
  },
  {
    key: "security.certname",
    type: "string",
    default: "",
    env: "CHORALE_CERTNAME",
    doc: "puppet provider: the certname",
  },
  {
    key: "security.client_patterns",
    type: "list",
    default: [...DEFAULT_CLIENT_PATTERNS],
    doc: "Regular expressions of client certificate names allowed to make requests",
  },
  {
    key: "security.privileged_patterns",
    type: "list",
    default: [...DEFAULT_PRIVILEGED_PATTERNS],
    doc: "Regular expressions of names that may sign for other callers",
  },
  {
    key: "facts",
    type: "list",
    default: [],
    env: "CHORALE_FACTS",
    doc: "YAML or JSON fact files, merged in order, reloaded when they change",
  },
  {
    key: "classes_file",
    type: "string",
    default: "",
    env: "CHORALE_CLASSES_FILE",
    doc: "A classes file, one class a line",
  },
  {
    key: "policies.enabled",
    type: "boolean",
    default: true,
    env: "CHORALE_POLICIES_ENABLED",
    doc: "Authorize requests with action policies (Choria's rpcauthorization)",
  },
  {
    key: "policies.dir",
    type: "string",
    default: "/etc/chorale/policies",
    env: "CHORALE_POLICIES_DIR",
    doc: "Directory of <agent>.policy files and groups",
  },
  {
    key: "policies.allow_unconfigured",
    type: "boolean",
    default: false,
    env: "CHORALE_POLICIES_ALLOW_UNCONFIGURED",
    doc: "Allow agents that have no policy file",
  },
  {
    key: "audit.enabled",
    type: "boolean",
    default: true,
    env: "CHORALE_AUDIT_ENABLED",
    doc: "Write the rpcaudit log",
  },
  {
    key: "audit.file",
    type: "string",
    default: "/var/log/chorale/rpcaudit.log",
    env: "CHORALE_AUDIT_FILE",
    doc: "The rpcaudit log file (created 0600)",
  },
  {
    key: "max_concurrent",
    type: "integer",
    default: 50,
    env: "CHORALE_MAX_CONCURRENT",
    doc: "Requests processed at once; more wait in a bounded queue",
  },
  {
    key: "max_queued",
    type: "integer",
    default: 1000,
    env: "CHORALE_MAX_QUEUED",
    doc: "Requests waiting beyond max_concurrent before new ones are dropped",
  },
  {
    key: "registration.interval",
    type: "duration",
    default: 300_000,
    env: "CHORALE_REGISTRATION_INTERVAL",
    doc: "How often to publish the inventory; 0 turns registration off",
  },
  {
    key: "registration.splay",
    type: "duration",
    default: 30_000,
    env: "CHORALE_REGISTRATION_SPLAY",
    doc: "Random delay before the first registration",
  },
  {
    key: "status_file",
    type: "string",
    default: "",
    env: "CHORALE_STATUS_FILE",
    doc: "Where to write the status file; empty turns it off",
  },
  {
    key: "status_interval",
    type: "duration",
    default: 30_000,
    env: "CHORALE_STATUS_INTERVAL",
    doc: "How often to write the status file",
  },
  {
    key: "agents_dir",
    type: "string",
    default: "",
    env: "CHORALE_AGENTS_DIR",
    doc: "Directory of external agents (executable + DDL); empty turns them off",
  },
  {
    key: "agents_poll_interval",
    type: "duration",
    default: 60_000,
    env: "CHORALE_AGENTS_POLL_INTERVAL",
    doc: "How often to look for new, changed or removed external agents",
  },
  {
    key: "metrics_port",
    type: "integer",
    default: 0,
    env: "CHORALE_METRICS_PORT",
    doc: "Serve Prometheus metrics on 127.0.0.1:<port>/metrics; 0 turns it off",
  },
  {
    key: "plugin.choria.machine.store",
    type: "string",
    default: "",
    env: "CHORALE_MACHINE_STORE",
    doc: "Directory of autonomous agents, one <name>/machine.yaml each; empty turns them off",
  },
  {
    key: "plugin.scout.checks",
    type: "string",
    default: "",
    env: "CHORALE_SCOUT_CHECKS",
    doc: "Directory of Scout check files, one <check>.yaml each; empty turns Scout off",
  },
  {
    key: "plugin.choria.machine.poll_interval",
    type: "duration",
    default: 10_000,
    env: "CHORALE_MACHINE_POLL_INTERVAL",
    doc: "How often to look for added, changed or removed machines and Scout checks",
  },
  {
    key: "plugin.choria.machine.max_commands",
    type: "integer",
    default: 8,
    env: "CHORALE_MACHINE_MAX_COMMANDS",
    doc: "Commands autonomous agents may run at once on the node",
  },
  {
    key: "plugin.choria.prometheus_textfile_directory",
    type: "string",
    default: "",
    env: "CHORALE_PROMETHEUS_TEXTFILE_DIRECTORY",
    doc: "Write machine states and check results for node_exporter here; empty turns it off",
  },
  {
    key: "log_level",
    type: "string",
    default: "info",
    env: "CHORALE_LOG_LEVEL",
    doc: "debug, info, warn or error",
  },
];

/** The typed server settings. */
export interface ServerSettings {
  identity: string;
  collectives: string[];
  mainCollective: string;
  brokers: string[];
  /** Try the brokers in random order instead of the order given. */
  randomizeBrokers: boolean;
  srvDomain: string;
  security:
    | { provider: "file"; certificate: string; key: string; ca: string }
    | { provider: "puppet"; sslDir: string; certname: string };
  clientPatterns: string[];
  privilegedPatterns: string[];
  factFiles: string[];
  classesFile: string;
  policies: { enabled: boolean; dir: string; allowUnconfigured: boolean };
  audit: { enabled: boolean; file: string };
  maxConcurrent: number;
  maxQueued: number;
  registration: { intervalMs: number; splayMs: number };
  statusFile: string;
  statusIntervalMs: number;
  /** Port on 127.0.0.1 for /metrics; 0 for none. */
  metricsPort: number;
  /** External agents' directory, or empty, and how often it is polled. */
  agentsDir: string;
  agentsPollMs: number;
  /** Autonomous agents and Scout: directories (empty for none), polling, limits, textfile. */
  machines: {
    store: string;
    checks: string;
    pollMs: number;
    maxCommands: number;
    textfileDir: string;
  };
}

const COLLECTIVE = /^[a-zA-Z0-9_-]+$/;

/** Settings from loaded values, pushing a problem for each fault. */
export function serverSettings(
  values: Record<string, unknown>,
  problems: string[],
): ServerSettings {
  const collectives = values.collectives as string[];
  if (collectives.length === 0) problems.push("collectives: must name at least one collective");
  for (const c of collectives) {
    if (!COLLECTIVE.test(c)) {
      problems.push(`collectives: ${JSON.stringify(c)} is not a valid collective name`);
    }
  }
  const mainCollective = String(values.main_collective) || collectives[0] || "";
  if (mainCollective !== "" && !collectives.includes(mainCollective)) {
    problems.push(`main_collective: ${JSON.stringify(mainCollective)} is not one of collectives`);
  }
  const brokers = values.brokers as string[];
  for (const b of brokers) {
    if (!/^(tls|nats):\/\/[^\s/:]+:\d{1,5}$/.test(b)) {
      problems.push(
        `brokers: ${JSON.stringify(b)} is not a broker URL such as tls://broker.example.net:4222`,
      );
    }
  }
  if (brokers.length === 0 && String(values.srv_domain) === "") {
    problems.push("brokers: give broker URLs or an srv_domain to look them up in");
  }
  const provider = String(values["security.provider"]);
  let security: ServerSettings["security"];
  if (provider === "file") {
    for (const key of ["security.certificate", "security.key", "security.ca"]) {
      if (String(values[key]) === "") {
        problems.push(`${key}: required by the file security provider`);
      }
    }
    security = {
      provider,
      certificate: String(values["security.certificate"]),
      key: String(values["security.key"]),
      ca: String(values["security.ca"]),
    };
  } else if (provider === "puppet") {
    security = {
      provider,
      sslDir: String(values["security.ssl_dir"]),
      certname: String(values["security.certname"]) || String(values.identity),
    };
  } else {
    problems.push(
      `security.provider: expected "file" or "puppet", got ${JSON.stringify(provider)}`,
    );
    security = { provider: "file", certificate: "", key: "", ca: "" };
  }
  for (const key of ["security.client_patterns", "security.privileged_patterns"]) {
    for (const pattern of values[key] as string[]) {
      try {
        new RegExp(pattern);
      } catch {
        problems.push(`${key}: ${JSON.stringify(pattern)} is not a regular expression`);
      }
    }
  }
  const metricsPort = values.metrics_port as number;
  if (metricsPort < 0 || metricsPort > 65_535) problems.push("metrics_port: must be 0 to 65535");
  if ((values["plugin.choria.machine.max_commands"] as number) < 1) {
    problems.push("plugin.choria.machine.max_commands: must be at least 1");
  }
  for (const key of ["max_concurrent", "max_queued"]) {
    if ((values[key] as number) < 1) problems.push(`${key}: must be at least 1`);
  }
  return {
    identity: String(values.identity),
    collectives,
    mainCollective,
    brokers,
    randomizeBrokers: values.randomize_brokers === true,
    srvDomain: String(values.srv_domain),
    security,
    clientPatterns: values["security.client_patterns"] as string[],
    privilegedPatterns: values["security.privileged_patterns"] as string[],
    factFiles: values.facts as string[],
    classesFile: String(values.classes_file),
    policies: {
      enabled: values["policies.enabled"] as boolean,
      dir: String(values["policies.dir"]),
      allowUnconfigured: values["policies.allow_unconfigured"] as boolean,
    },
    audit: { enabled: values["audit.enabled"] as boolean, file: String(values["audit.file"]) },
    maxConcurrent: values.max_concurrent as number,
    maxQueued: values.max_queued as number,
    registration: {
      intervalMs: values["registration.interval"] as number,
      splayMs: values["registration.splay"] as number,
    },
    statusFile: String(values.status_file),
    metricsPort: values.metrics_port as number,
    agentsDir: String(values.agents_dir),
    agentsPollMs: values.agents_poll_interval as number,
    statusIntervalMs: values.status_interval as number,
    machines: {
      store: String(values["plugin.choria.machine.store"]),
      checks: String(values["plugin.scout.checks"]),
      pollMs: values["plugin.choria.machine.poll_interval"] as number,
      maxCommands: values["plugin.choria.machine.max_commands"] as number,
      textfileDir: String(values["plugin.choria.prometheus_textfile_directory"]),
    },
  };
}
