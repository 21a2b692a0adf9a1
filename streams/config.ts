/**
 * Configuration of the stream store process (`deno task store`) and the data adapter process
 * (`deno task adapter`): typed keys with defaults and environment variables through
 * `core/config.ts`, plus the adapter list, checked by hand. Every problem is reported at once.
 *
 * ```yaml
 * # store.yaml
 * dir: /var/lib/chorale/streams
 * brokers: [tls://broker.example.net:4222]
 * security: { certificate: /etc/chorale/streams.pem, key: /etc/chorale/streams.key, ca: /etc/chorale/ca.pem }
 * metrics_port: 9801
 *
 * # adapter.yaml
 * brokers: [tls://broker.example.net:4222]
 * security: { certificate: /etc/chorale/adapter.pem, key: /etc/chorale/adapter.key, ca: /etc/chorale/ca.pem }
 * adapters:
 *   - name: registration
 *     ingest: { topic: mcollective.broadcast.agent.registration, protocol: request, queue: 10000, verify: true }
 *     stream: { topic: choria.registration.%s, workers: 2 }
 *     target: { type: store }   # or jetstream: { type: jetstream, servers: [nats://js.example.net:4222] }
 * ```
 *
 * Choria's `ingest.workers` is accepted and has no effect: decoding runs on the event loop, and
 * `stream.workers` sets how many batches are in flight to the target. Unknown keys are problems.
 *
 * @module
 */
import { parse, stringify } from "yaml";
import { type ConfigKey, loadConfig } from "../core/config.ts";
import type { IngestProtocol } from "./adapter.ts";
import { REGISTRATION_STREAM } from "./service.ts";
import type { StreamConfig } from "./store.ts";
import { registrationStreamWildcard } from "../core/protocol/subjects.ts";

/** Keys both programs share: how to reach the broker and who they are. */
const CONNECTION_KEYS: ConfigKey[] = [
  {
    key: "brokers",
    type: "list",
    default: [],
    env: "CHORALE_BROKERS",
    doc: "Broker addresses, tls://host:port",
  },
  {
    key: "security.certificate",
    type: "string",
    default: "",
    env: "CHORALE_CERTIFICATE",
    doc: "This program's certificate (PEM)",
  },
  {
    key: "security.key",
    type: "string",
    default: "",
    env: "CHORALE_KEY",
    doc: "Its private key (PEM)",
  },
  { key: "security.ca", type: "string", default: "", env: "CHORALE_CA", doc: "The CA (PEM)" },
  {
    key: "metrics_port",
    type: "integer",
    default: 0,
    env: "CHORALE_METRICS_PORT",
    doc: "Serve Prometheus metrics on 127.0.0.1:PORT; 0 turns them off",
  },
];

/** The store process's keys. */
export const StoreConfigKeys: readonly ConfigKey[] = [
  {
    key: "dir",
    type: "string",
    default: "",
    env: "CHORALE_STORE_DIR",
    doc: "The store directory (streams.db inside)",
  },
  ...CONNECTION_KEYS,
  {
    key: "max_message_bytes",
    type: "size",
    default: 1_048_576,
    env: "CHORALE_STORE_MAX_MESSAGE_BYTES",
    doc: "The largest message kept",
  },
];

/** The adapter process's scalar keys (the `adapters` list is checked separately). */
export const AdapterConfigKeys: readonly ConfigKey[] = CONNECTION_KEYS;

/** How to connect, from either configuration. */
export interface ConnectionConfig {
  brokers: string[];
  certificate: string;
  key: string;
  ca: string;
  metricsPort: number;
}

/** The store process's configuration. */
export interface StoreConfig extends ConnectionConfig {
  dir: string;
  maxMessageBytes: number;
}

/** One adapter's configuration. */
export interface AdapterConfig {
  name: string;
  ingest: {
    topic: string;
    protocol: IngestProtocol;
    queue: number;
    maxBytes: number;
    verify: boolean;
  };
  stream: { topic: string; workers: number; batch: number };
  target:
    | { type: "store"; stream: StreamConfig }
    | {
      type: "jetstream";
      servers: string[];
      stream: StreamConfig;
      /** TLS for the JetStream servers; by default the adapter's own identity. */
      tls: boolean;
    };
}

/** The adapter process's configuration. */
export interface AdaptersConfig extends ConnectionConfig {
  adapters: AdapterConfig[];
}

/** A configuration that cannot be used, listing every problem. */
export class StreamsConfigError extends Error {
  /** Every problem. */
  readonly problems: string[];
  /** Makes the error. */
  constructor(problems: string[]) {
    super(`Cannot use the configuration: ${problems.join("; ")}`);
    this.name = "StreamsConfigError";
    this.problems = problems;
  }
}

function connectionOf(values: Record<string, unknown>, problems: string[]): ConnectionConfig {
  const brokers = values.brokers as string[];
  if (brokers.length === 0) problems.push("'brokers' must list at least one broker");
  for (const key of ["security.certificate", "security.key", "security.ca"]) {
    if (values[key] === "") problems.push(`'${key}' is required`);
  }
  const metricsPort = values.metrics_port as number;
  if (metricsPort < 0 || metricsPort > 65_535) {
    problems.push(`'metrics_port' must be 0 to 65535: current value is ${metricsPort}`);
  }
  return {
    brokers,
    certificate: values["security.certificate"] as string,
    key: values["security.key"] as string,
    ca: values["security.ca"] as string,
    metricsPort,
  };
}

/**
 * Loads the store process's configuration.
 *
 * @throws {StreamsConfigError} Listing every problem.
 *
 * @example From the environment
 * ```ts
 * import { loadStoreConfig } from "./config.ts";
 * const env: Record<string, string> = {
 *   CHORALE_STORE_DIR: "/tmp/streams", CHORALE_BROKERS: "tls://127.0.0.1:4222",
 *   CHORALE_CERTIFICATE: "s.pem", CHORALE_KEY: "s.key", CHORALE_CA: "ca.pem",
 * };
 * console.log(loadStoreConfig(undefined, (n) => env[n]).dir); // /tmp/streams
 * ```
 */
export function loadStoreConfig(
  file: { path: string; text: string } | undefined,
  env: (name: string) => string | undefined,
  flags: Record<string, unknown> = {},
): StoreConfig {
  const { values, problems } = loadConfig(StoreConfigKeys, {
    ...(file ? { file } : {}),
    env,
    flags,
  });
  const connection = connectionOf(values, problems);
  if (values.dir === "") problems.push("'dir' is required: where the store keeps streams.db");
  if (problems.length > 0) throw new StreamsConfigError(problems);
  return {
    ...connection,
    dir: values.dir as string,
    maxMessageBytes: values.max_message_bytes as number,
  };
}

const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function durationMs(value: unknown): number | null {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value * 1_000;
  const m = typeof value === "string" ? DURATION.exec(value.trim()) : null;
  return m ? Number(m[1]) * UNITS[m[2] ?? "s"]! : null;
}

function adapterOf(raw: unknown, i: number, problems: string[]): AdapterConfig | null {
  const at = `adapters[${i}]`;
  const before = problems.length;
  const obj = (v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null;
  const a = obj(raw);
  if (a === null) {
    problems.push(`'${at}' must be a mapping`);
    return null;
  }
  const known: Record<string, string[]> = {
    "": ["name", "ingest", "stream", "target"],
    ingest: ["topic", "protocol", "queue", "max_bytes", "verify", "workers"],
    stream: ["topic", "workers", "batch"],
    target: [
      "type",
      "servers",
      "tls",
      "stream",
      "subjects",
      "max_age",
      "max_msgs",
      "max_bytes",
      "max_msgs_per_subject",
    ],
  };
  for (const [section, keys] of Object.entries(known)) {
    const map = section === "" ? a : obj(a[section]);
    if (section !== "" && a[section] !== undefined && map === null) {
      problems.push(`'${at}.${section}' must be a mapping`);
    }
    for (const key of Object.keys(map ?? {})) {
      if (!keys.includes(key)) {
        problems.push(`'${at}${section ? `.${section}` : ""}' has an unknown key '${key}'`);
      }
    }
  }
  const name = typeof a.name === "string" && /^[A-Za-z0-9_-]+$/.test(a.name) ? a.name : "";
  if (name === "") problems.push(`'${at}.name' must be letters, digits, '_' or '-'`);
  const ingest = obj(a.ingest) ?? {};
  const stream = obj(a.stream) ?? {};
  const target = obj(a.target) ?? { type: "store" };
  const int = (value: unknown, key: string, fallback: number, min = 1): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || (value as number) < min) {
      problems.push(
        `'${at}.${key}' must be a whole number of at least ${min}: current value is ${
          JSON.stringify(value)
        }`,
      );
      return fallback;
    }
    return value as number;
  };
  if (typeof ingest.topic !== "string" || ingest.topic === "") {
    problems.push(`'${at}.ingest.topic' is required, say mcollective.broadcast.agent.registration`);
  }
  const protocol = ingest.protocol ?? "request";
  if (protocol !== "request" && protocol !== "reply") {
    problems.push(
      `'${at}.ingest.protocol' must be request or reply: current value is ${
        JSON.stringify(protocol)
      }`,
    );
  }
  const topic = stream.topic ?? "choria.registration.%s";
  if (typeof topic !== "string" || topic === "") {
    problems.push(`'${at}.stream.topic' must be a subject, with %s for the sender`);
  }
  const maxAgeMs = durationMs(target.max_age ?? 0);
  if (maxAgeMs === null) {
    problems.push(
      `'${at}.target.max_age' must be a duration such as 24h: current value is ${
        JSON.stringify(target.max_age)
      }`,
    );
  }
  const streamConfig: StreamConfig = {
    name: typeof target.stream === "string" ? target.stream : REGISTRATION_STREAM,
    subjects: Array.isArray(target.subjects)
      ? target.subjects as string[]
      : [String(topic).includes("%s") ? String(topic).replace(/\.?%s.*$/, ".>") : String(topic)],
    maxAgeMs: maxAgeMs ?? 0,
    maxMsgs: int(target.max_msgs, "target.max_msgs", 0, 0),
    maxBytes: int(target.max_bytes, "target.max_bytes", 0, 0),
    maxMsgsPerSubject: int(target.max_msgs_per_subject, "target.max_msgs_per_subject", 1, 0),
  };
  if (streamConfig.subjects[0] === ">" || streamConfig.subjects.length === 0) {
    streamConfig.subjects = [registrationStreamWildcard()];
  }
  const common = {
    name,
    ingest: {
      topic: String(ingest.topic ?? ""),
      protocol: protocol as IngestProtocol,
      queue: int(ingest.queue, "ingest.queue", 10_000),
      maxBytes: int(ingest.max_bytes, "ingest.max_bytes", 1_048_576),
      verify: ingest.verify === undefined ? true : ingest.verify === true,
    },
    stream: {
      topic: String(topic),
      workers: int(stream.workers, "stream.workers", 2),
      batch: int(stream.batch, "stream.batch", 500),
    },
  };
  let result: AdapterConfig | null = null;
  if (target.type === "store") {
    result = { ...common, target: { type: "store", stream: streamConfig } };
  } else if (target.type === "jetstream") {
    const servers = target.servers;
    if (
      !Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== "string")
    ) {
      problems.push(`'${at}.target.servers' must list the JetStream servers, host:port`);
    }
    result = {
      ...common,
      target: {
        type: "jetstream",
        servers: (servers ?? []) as string[],
        stream: streamConfig,
        tls: target.tls === undefined ? true : target.tls === true,
      },
    };
  } else {
    problems.push(
      `'${at}.target.type' must be store or jetstream (kafka is planned): current value is ${
        JSON.stringify(target.type)
      }`,
    );
  }
  return problems.length === before ? result : null;
}

/**
 * Loads the adapter process's configuration.
 *
 * @throws {StreamsConfigError} Listing every problem.
 *
 * @example One registration adapter into the store
 * ```ts
 * import { loadAdaptersConfig } from "./config.ts";
 * const config = loadAdaptersConfig({
 *   path: "adapter.yaml",
 *   text: `
 * brokers: [tls://127.0.0.1:4222]
 * security: { certificate: a.pem, key: a.key, ca: ca.pem }
 * adapters:
 *   - name: registration
 *     ingest: { topic: mcollective.broadcast.agent.registration, protocol: request }
 * `,
 * }, () => undefined);
 * console.log(config.adapters[0]?.target.stream.subjects); // [ "choria.registration.>" ]
 * ```
 */
export function loadAdaptersConfig(
  file: { path: string; text: string } | undefined,
  env: (name: string) => string | undefined,
): AdaptersConfig {
  const problems: string[] = [];
  let adaptersRaw: unknown = [];
  let rest: { path: string; text: string } | undefined;
  if (file) {
    try {
      const doc = parse(file.text) ?? {};
      if (typeof doc === "object" && !Array.isArray(doc)) {
        adaptersRaw = doc.adapters ?? [];
        delete doc.adapters;
        rest = { path: file.path, text: stringify(doc) };
      } else problems.push(`${file.path}: expected a mapping of settings at the top level`);
    } catch (error) {
      problems.push(`${file.path}: not valid YAML: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  const loaded = loadConfig(AdapterConfigKeys, { ...(rest ? { file: rest } : {}), env });
  problems.push(...loaded.problems);
  const connection = connectionOf(loaded.values, problems);
  const adapters: AdapterConfig[] = [];
  if (!Array.isArray(adaptersRaw) || adaptersRaw.length === 0) {
    problems.push("'adapters' must list at least one adapter");
  } else {
    adaptersRaw.forEach((raw, i) => {
      const adapter = adapterOf(raw, i, problems);
      if (adapter) adapters.push(adapter);
    });
  }
  if (problems.length > 0) throw new StreamsConfigError(problems);
  return { ...connection, adapters };
}
