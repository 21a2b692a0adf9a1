/**
 * The federation broker's configuration: its identity, the federation network's brokers (listed,
 * or found by the SRV name `_mcollective-federation_server._tcp.<domain>`), and each member
 * collective's brokers. Defaults < file < environment < flags; every problem is reported at once.
 *
 * ```yaml
 * security:
 *   certificate: /etc/chorale/fed1.example.net.pem
 *   key: /etc/chorale/fed1.example.net.key
 *   ca: /etc/chorale/ca.pem
 * federation:
 *   brokers: [tls://fed-broker.example.net:4222]
 * members:
 *   east: { brokers: [tls://east-broker.example.net:4222] }
 *   west: { brokers: [tls://west-broker.example.net:4222], collectives: [mcollective, ops] }
 * metrics: 127.0.0.1:8223
 * ```
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError, type ConfigKey, loadConfig } from "../core/config.ts";
import type { ConfigFile } from "../core/daemon.ts";
import { type LogLevel, LogLevels } from "../core/log.ts";

/** Every federation broker setting, with its default, environment variable and doc. */
export const FederationConfigKeys: readonly ConfigKey[] = [
  {
    key: "security.certificate",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_CERTIFICATE",
    doc: "The federation broker's certificate (PEM); its common name is its identity",
  },
  {
    key: "security.key",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_KEY",
    doc: "Its private key (PEM)",
  },
  {
    key: "security.ca",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_CA",
    doc: "The CA bundle (PEM) every broker's certificate must chain to",
  },
  {
    key: "federation.brokers",
    type: "list",
    default: [],
    env: "CHORALE_FEDERATION_BROKERS",
    doc: "The federation network's brokers, tls://host:port, where clients publish",
  },
  {
    key: "federation.srv_domain",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_SRV_DOMAIN",
    doc: "When federation.brokers is empty: look up _mcollective-federation_server._tcp.<domain>",
  },
  {
    key: "members",
    type: "object",
    default: {},
    doc:
      "Member collectives by name: { <name>: { brokers: [url, ...], collectives: [mcollective] } }",
  },
  {
    key: "metrics",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_METRICS",
    doc: "host:port for Prometheus /metrics (port 0 picks one); empty turns it off",
  },
  {
    key: "connect_timeout",
    type: "duration",
    default: 5_000,
    env: "CHORALE_FEDERATION_CONNECT_TIMEOUT",
    doc: "How long one connection attempt to a broker may take",
  },
  {
    key: "log_level",
    type: "string",
    default: "info",
    env: "CHORALE_FEDERATION_LOG_LEVEL",
    doc: "debug, info, warn or error",
  },
];

/** One member collective. */
export interface MemberSettings {
  name: string;
  /** Its brokers. */
  brokers: string[];
  /** The collectives its nodes serve. */
  collectives: string[];
}

/** The federation broker's settings once loaded. */
export interface FederationSettings {
  security: { certificate: string; key: string; ca: string };
  federation: { brokers: string[]; srvDomain: string };
  members: MemberSettings[];
  /** `{hostname, port}` for /metrics, or null. */
  metrics: { hostname: string; port: number } | null;
  connectTimeoutMs: number;
  logLevel: LogLevel;
}

const BROKER = /^((tls|nats):\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d{1,5})$/;
const NAME = /^[A-Za-z0-9_-]+$/;
const LISTEN = /^(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d{1,5})$/;

function checkBrokers(list: unknown, key: string, problems: string[]): string[] {
  if (!Array.isArray(list) || !list.every((b) => typeof b === "string")) {
    problems.push(
      `'${key}' must be a list of tls://host:port: current value is ${JSON.stringify(list)}`,
    );
    return [];
  }
  for (const broker of list) {
    const m = BROKER.exec(broker);
    const port = m ? Number(m[4]) : 0;
    if (!m || port < 1 || port > 65_535) {
      problems.push(
        `'${key}' must hold host:port or tls://host:port: current value is '${broker}'`,
      );
    }
  }
  return list;
}

/**
 * Loads and checks the settings: a certificate, key and CA; federation brokers or an SRV domain;
 * at least one member, each with brokers and collectives named by letters, digits, `_` and `-`.
 *
 * @throws {ConfigError} Listing every problem.
 *
 * @example A minimal configuration
 * ```ts
 * import { loadFederationSettings } from "./config.ts";
 * const text = `
 * security: { certificate: fed1.pem, key: fed1.key, ca: ca.pem }
 * federation: { brokers: ["tls://127.0.0.1:4333"] }
 * members: { east: { brokers: ["tls://127.0.0.1:4222"] } }
 * `;
 * const settings = loadFederationSettings({ path: "/etc/chorale/federation.yaml", text });
 * console.log(settings.members[0]!.collectives, settings.security.ca);
 * // [ "mcollective" ] /etc/chorale/ca.pem
 * ```
 */
export function loadFederationSettings(
  file: ConfigFile | undefined,
  options: { env?: (name: string) => string | undefined; flags?: Record<string, unknown> } = {},
): FederationSettings {
  const { values, problems } = loadConfig(FederationConfigKeys, {
    ...(file === undefined ? {} : { file }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.flags === undefined ? {} : { flags: options.flags }),
  });
  const base = file === undefined ? Deno.cwd() : dirname(resolve(file.path));
  const path = (key: string) => {
    const value = values[key] as string;
    if (value === "") {
      problems.push(
        `'${key}' is required: set it in the file or ${
          FederationConfigKeys.find((k) => k.key === key)?.env
        }`,
      );
      return value;
    }
    return isAbsolute(value) ? value : resolve(base, value);
  };
  const security = {
    certificate: path("security.certificate"),
    key: path("security.key"),
    ca: path("security.ca"),
  };
  const brokers = checkBrokers(values["federation.brokers"], "federation.brokers", problems);
  const srvDomain = values["federation.srv_domain"] as string;
  if (brokers.length === 0 && srvDomain === "") {
    problems.push(
      "'federation.brokers' is empty and 'federation.srv_domain' is not set: give the federation network's brokers or a domain to look them up in",
    );
  }

  const members: MemberSettings[] = [];
  const rawMembers = values.members as Record<string, unknown>;
  for (const [name, raw] of Object.entries(rawMembers)) {
    const key = `members.${name}`;
    if (!NAME.test(name)) {
      problems.push(
        `'${key}' must be named by letters, digits, '_' and '-': current value is '${name}'`,
      );
      continue;
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push(
        `'${key}' must be a mapping with 'brokers': current value is ${JSON.stringify(raw)}`,
      );
      continue;
    }
    const member = raw as Record<string, unknown>;
    for (const field of Object.keys(member)) {
      if (field !== "brokers" && field !== "collectives") {
        problems.push(`'${key}' has an unknown setting '${field}': expected brokers, collectives`);
      }
    }
    const memberBrokers = checkBrokers(member.brokers ?? [], `${key}.brokers`, problems);
    if (memberBrokers.length === 0 && Array.isArray(member.brokers ?? [])) {
      problems.push(`'${key}.brokers' is empty: list the member collective's brokers`);
    }
    const collectives = member.collectives ?? ["mcollective"];
    if (
      !Array.isArray(collectives) || collectives.length === 0 ||
      !collectives.every((c) => typeof c === "string" && NAME.test(c))
    ) {
      problems.push(
        `'${key}.collectives' must be a list of collective names: current value is ${
          JSON.stringify(collectives)
        }`,
      );
      continue;
    }
    members.push({ name, brokers: memberBrokers, collectives: collectives as string[] });
  }
  if (Object.keys(rawMembers).length === 0) {
    problems.push("'members' is empty: name at least one member collective with its brokers");
  }

  let metrics: FederationSettings["metrics"] = null;
  const listen = values.metrics as string;
  if (listen !== "") {
    const m = LISTEN.exec(listen);
    const port = m ? Number(m[2]) : -1;
    if (!m || port > 65_535) {
      problems.push(`'metrics' must be host:port: current value is '${listen}'`);
    } else {
      metrics = { hostname: m[1]!.replace(/^\[|\]$/g, ""), port };
    }
  }
  const logLevel = values.log_level as string;
  if (!(logLevel in LogLevels)) {
    problems.push(`'log_level' must be debug, info, warn or error: current value is '${logLevel}'`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    security,
    federation: { brokers, srvDomain },
    members,
    metrics,
    connectTimeoutMs: values.connect_timeout as number,
    logLevel: logLevel as LogLevel,
  };
}
