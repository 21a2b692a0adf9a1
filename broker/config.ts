/**
 * The broker's configuration schema: every key with its default, environment variable and doc.
 *
 * @module
 */
import { type ConfigKey, loadConfig } from "../core/config.ts";
import type { BrokerSettings, IdentityRule, PermissionsConfig, TlsMaterial } from "./broker.ts";
import {
  DefaultPermissions,
  FederationPermissions,
  type Permissions,
  type SubjectPermission,
} from "./permissions.ts";
import { type ClusterSettings, parseRouteUrl } from "./cluster.ts";
import { isValidSubject } from "./subject.ts";
import { DEFAULT_CLIENT_PATTERNS } from "../core/security/identity.ts";

/** Every broker setting. Durations are milliseconds and sizes bytes once loaded. */
export const BrokerConfigKeys: readonly ConfigKey[] = [
  {
    key: "listen",
    type: "string",
    default: "0.0.0.0:4222",
    env: "CHORALE_BROKER_LISTEN",
    doc: "Client listener, HOST:PORT (port 0 picks a free one)",
  },
  {
    key: "monitor",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_MONITOR",
    doc: "Monitoring HTTP listener, HOST:PORT; empty turns it off",
  },
  {
    key: "tls.cert",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_TLS_CERT",
    doc: "PEM certificate the broker presents",
  },
  {
    key: "tls.key",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_TLS_KEY",
    doc: "PEM private key of that certificate",
  },
  {
    key: "tls.ca",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_TLS_CA",
    doc: "PEM CA bundle that client certificates must chain to",
  },
  {
    key: "tls.timeout",
    type: "duration",
    default: 2_000,
    env: "CHORALE_BROKER_TLS_TIMEOUT",
    doc: "Time allowed for the TLS handshake",
  },
  {
    key: "insecure",
    type: "boolean",
    default: false,
    env: "CHORALE_BROKER_INSECURE",
    doc: "Serve plaintext with no client identities (development only)",
  },
  {
    key: "server_name",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_NAME",
    doc: "Name in INFO and monitoring; defaults to the host name",
  },
  {
    key: "max_payload",
    type: "size",
    default: 1_048_576,
    env: "CHORALE_BROKER_MAX_PAYLOAD",
    doc: "Largest message payload (headers included)",
  },
  {
    key: "max_control_line",
    type: "size",
    default: 4_096,
    env: "CHORALE_BROKER_MAX_CONTROL_LINE",
    doc: "Longest protocol control line",
  },
  {
    key: "max_connections",
    type: "integer",
    default: 65_536,
    env: "CHORALE_BROKER_MAX_CONNECTIONS",
    doc: "Most client connections at once",
  },
  {
    key: "max_sockets",
    type: "integer",
    default: 19_900,
    env: "CHORALE_BROKER_MAX_SOCKETS",
    doc:
      "Most sockets open at once; keep it below the open-file limit (ulimit -n), which Deno cannot read",
  },
  {
    key: "max_pending",
    type: "size",
    default: 67_108_864,
    env: "CHORALE_BROKER_MAX_PENDING",
    doc: "Bytes buffered for one client before it is a slow consumer",
  },
  {
    key: "write_deadline",
    type: "duration",
    default: 10_000,
    env: "CHORALE_BROKER_WRITE_DEADLINE",
    doc: "Time a write may wait on a client before it is a slow consumer",
  },
  {
    key: "ping_interval",
    type: "duration",
    default: 120_000,
    env: "CHORALE_BROKER_PING_INTERVAL",
    doc: "Idle time before the broker PINGs a client",
  },
  {
    key: "max_pings_out",
    type: "integer",
    default: 2,
    env: "CHORALE_BROKER_MAX_PINGS_OUT",
    doc: "Unanswered PINGs before a connection is stale",
  },
  {
    key: "auth_timeout",
    type: "duration",
    default: 3_000,
    env: "CHORALE_BROKER_AUTH_TIMEOUT",
    doc: "Time to send CONNECT after the handshake",
  },
  {
    key: "cluster.listen",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_CLUSTER_LISTEN",
    doc: "Route listener for other brokers, HOST:PORT; empty runs the broker on its own",
  },
  {
    key: "cluster.name",
    type: "string",
    default: "chorale",
    env: "CHORALE_BROKER_CLUSTER_NAME",
    doc: "Cluster name; routes from a cluster of another name are refused",
  },
  {
    key: "cluster.routes",
    type: "list",
    default: [],
    env: "CHORALE_BROKER_CLUSTER_ROUTES",
    doc:
      "Route URLs to dial (nats-route://host:port); the rest of the cluster is learned by gossip",
  },
  {
    key: "cluster.advertise",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_CLUSTER_ADVERTISE",
    doc: "Route URL other brokers should dial to reach this one; default: the address they see",
  },
  {
    key: "cluster.peers",
    type: "list",
    default: [],
    env: "CHORALE_BROKER_CLUSTER_PEERS",
    doc:
      "Certificate names (or /regex/) allowed to join as brokers; default: this broker's own name",
  },
  {
    key: "workers",
    type: "integer",
    default: 0,
    env: "CHORALE_BROKER_WORKERS",
    doc:
      "Broker processes sharing the client port, joined by internal routes (0: one per 18,000 max_connections, at least 2 per core)",
  },
  {
    key: "store.dir",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_STORE_DIR",
    doc: "Run the stream store beside the broker, keeping its data here; empty for none",
  },
  {
    key: "store.broker",
    type: "string",
    default: "",
    env: "CHORALE_BROKER_STORE_BROKER",
    doc:
      "URL the store dials; default tls://127.0.0.1:<port> (the certificate must name 127.0.0.1)",
  },
  {
    key: "log_level",
    type: "string",
    default: "info",
    env: "CHORALE_LOG_LEVEL",
    doc: "debug, info, warn or error",
  },
  {
    key: "permissions",
    type: "object",
    default: {},
    doc:
      "defaults (choria|open), client_patterns, identities: [{match, preset (server|client|federation) or publish and subscribe}]",
  },
];

/** Splits `HOST:PORT` (IPv6 in brackets); returns a problem text when it is not one. */
export function parseHostPort(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) return `expected HOST:PORT, got ${JSON.stringify(text)}`;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** Validates the `permissions` mapping; pushes a problem for each fault. */
export function parsePermissions(raw: unknown, problems: string[]): PermissionsConfig {
  const config: PermissionsConfig = {
    defaults: "choria",
    clientPatterns: [...DEFAULT_CLIENT_PATTERNS],
    identities: [],
  };
  const p = raw as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!["defaults", "client_patterns", "identities"].includes(key)) {
      problems.push(`permissions: unknown setting '${key}'`);
    }
  }
  if (p.defaults !== undefined) {
    if (p.defaults === "choria" || p.defaults === "open") config.defaults = p.defaults;
    else {problems.push(
        `permissions.defaults: expected "choria" or "open", got ${JSON.stringify(p.defaults)}`,
      );}
  }
  if (p.client_patterns !== undefined) {
    const patterns = p.client_patterns;
    if (!Array.isArray(patterns) || !patterns.every((x) => typeof x === "string")) {
      problems.push("permissions.client_patterns: expected a list of regular expressions");
    } else {
      for (const pattern of patterns) {
        try {
          new RegExp(pattern);
        } catch {
          problems.push(
            `permissions.client_patterns: ${JSON.stringify(pattern)} is not a regular expression`,
          );
        }
      }
      config.clientPatterns = patterns;
    }
  }
  if (p.identities !== undefined) {
    if (!Array.isArray(p.identities)) {
      problems.push("permissions.identities: expected a list of rules");
    } else {
      p.identities.forEach((rule: unknown, i: number) => {
        const parsed = parseRule(rule, `permissions.identities[${i}]`, problems);
        if (parsed) config.identities.push(parsed);
      });
    }
  }
  return config;
}

/** Permission sets a rule may name with `preset`. */
const PRESETS: Record<string, Permissions> = {
  server: DefaultPermissions.server,
  client: DefaultPermissions.client,
  federation: FederationPermissions,
};

function parseRule(raw: unknown, where: string, problems: string[]): IdentityRule | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${where}: expected a mapping with match, publish and subscribe`);
    return null;
  }
  const r = raw as Record<string, unknown>;
  if (typeof r.match !== "string" || r.match === "") {
    problems.push(`${where}.match: expected an identity name or /regex/`);
    return null;
  }
  if (r.match.length > 1 && r.match.startsWith("/") && r.match.endsWith("/")) {
    try {
      new RegExp(r.match.slice(1, -1));
    } catch {
      problems.push(`${where}.match: ${JSON.stringify(r.match)} is not a regular expression`);
    }
  }
  const rule: IdentityRule = { match: r.match };
  if (r.preset !== undefined) {
    const preset = PRESETS[String(r.preset)];
    if (!preset) {
      problems.push(
        `${where}.preset: expected server, client or federation, got ${JSON.stringify(r.preset)}`,
      );
    } else if (r.publish !== undefined || r.subscribe !== undefined) {
      problems.push(`${where}: give either a preset or publish and subscribe lists, not both`);
    } else {
      Object.assign(rule, structuredClone(preset));
    }
  }
  for (const side of ["publish", "subscribe"] as const) {
    if (r[side] === undefined) continue;
    const parsed = parseSide(r[side], `${where}.${side}`, problems);
    if (parsed) rule[side] = parsed;
  }
  for (const key of Object.keys(r)) {
    if (!["match", "preset", "publish", "subscribe"].includes(key)) {
      problems.push(`${where}: unknown setting '${key}'`);
    }
  }
  return rule;
}

function parseSide(raw: unknown, where: string, problems: string[]): SubjectPermission | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${where}: expected a mapping with allow and deny lists`);
    return null;
  }
  const out: SubjectPermission = {};
  for (const [key, list] of Object.entries(raw)) {
    if (key !== "allow" && key !== "deny") {
      problems.push(`${where}: unknown setting '${key}'`);
      continue;
    }
    if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
      problems.push(`${where}.${key}: expected a list of subjects`);
      continue;
    }
    for (const subject of list) {
      if (!isValidSubject(subject)) {
        problems.push(`${where}.${key}: ${JSON.stringify(subject)} is not a valid subject`);
      }
    }
    out[key] = list;
  }
  return out;
}

/**
 * Settings from loaded configuration values and TLS material, pushing a problem for each fault.
 * `serverName` stays empty when unset; the daemon fills in the host name.
 */
export function settingsFromValues(
  values: Record<string, unknown>,
  tls: TlsMaterial | null,
  problems: string[],
): BrokerSettings {
  const listen = parseHostPort(String(values.listen));
  if (typeof listen === "string") problems.push(`listen: ${listen}`);
  const monitor = String(values.monitor);
  if (monitor !== "" && typeof parseHostPort(monitor) === "string") {
    problems.push(`monitor: ${parseHostPort(monitor)}`);
  }
  const positive = [
    "max_connections",
    "max_sockets",
    "max_pings_out",
    "max_payload",
    "max_control_line",
  ];
  for (const key of positive) {
    if ((values[key] as number) <= 0) problems.push(`${key}: must be positive`);
  }
  if ((values.max_pending as number) < (values.max_payload as number)) {
    problems.push(
      "max_pending: must be at least max_payload, or one large message closes any subscriber",
    );
  }
  const { host, port } = typeof listen === "string" ? { host: "", port: 0 } : listen;
  if ((values.workers as number) < 0) problems.push("workers: must be 0 (automatic) or more");
  return {
    host,
    port,
    tls,
    insecure: values.insecure === true,
    serverName: String(values.server_name),
    maxPayload: values.max_payload as number,
    maxControlLine: values.max_control_line as number,
    maxConnections: values.max_connections as number,
    maxSockets: values.max_sockets as number,
    maxPending: values.max_pending as number,
    writeDeadlineMs: values.write_deadline as number,
    pingIntervalMs: values.ping_interval as number,
    maxPingsOut: values.max_pings_out as number,
    authTimeoutMs: values.auth_timeout as number,
    tlsTimeoutMs: values["tls.timeout"] as number,
    permissions: parsePermissions(values.permissions, problems),
    cluster: clusterFromValues(values, problems),
    worker: null,
  };
}

function clusterFromValues(
  values: Record<string, unknown>,
  problems: string[],
): ClusterSettings | null {
  const listen = String(values["cluster.listen"]);
  const routes = values["cluster.routes"] as string[];
  if (listen === "") {
    if (routes.length > 0) problems.push("cluster.routes: needs cluster.listen to be set");
    return null;
  }
  const at = parseHostPort(listen);
  if (typeof at === "string") {
    problems.push(`cluster.listen: ${at}`);
    return null;
  }
  for (const url of routes) {
    try {
      parseRouteUrl(url);
    } catch (error) {
      problems.push(`cluster.routes: ${(error as Error).message}`);
    }
  }
  const advertise = String(values["cluster.advertise"]);
  if (advertise !== "") {
    try {
      parseRouteUrl(advertise);
    } catch (error) {
      problems.push(`cluster.advertise: ${(error as Error).message}`);
    }
  }
  const peers = values["cluster.peers"] as string[];
  for (const peer of peers) {
    if (peer.length > 1 && peer.startsWith("/") && peer.endsWith("/")) {
      try {
        new RegExp(peer.slice(1, -1));
      } catch {
        problems.push(`cluster.peers: ${JSON.stringify(peer)} is not a regular expression`);
      }
    }
  }
  const name = String(values["cluster.name"]);
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    problems.push(
      `cluster.name: expected letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`,
    );
  }
  return {
    host: at.host,
    port: at.port,
    name,
    routes,
    advertise: advertise === "" ? null : advertise,
    peers,
  };
}

/**
 * Every default, with the given TLS material and listen address: for embedding a broker.
 *
 * @example An embedded broker on a free loopback port
 * ```ts
 * import { defaultBrokerSettings } from "./config.ts";
 * const settings = defaultBrokerSettings({ host: "127.0.0.1", port: 0, tls: null, insecure: true });
 * console.log(settings.maxPayload); // 1048576
 * ```
 */
export function defaultBrokerSettings(
  overrides: Partial<BrokerSettings> & Pick<BrokerSettings, "tls">,
): BrokerSettings {
  const problems: string[] = [];
  const defaults = settingsFromValues(
    loadConfig(BrokerConfigKeys, {}).values,
    overrides.tls,
    problems,
  );
  return { ...defaults, serverName: "chorale", ...overrides };
}
