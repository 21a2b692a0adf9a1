/**
 * The client's configuration: which brokers, which collective, whose certificate, how long
 * discovery waits. Read, later sources winning, from
 *
 * 1. the user's file, `$XDG_CONFIG_HOME/chorale/client.yaml` or `~/.config/chorale/client.yaml`;
 * 2. the project's `chorale.yaml`, the first found walking up from the working directory;
 * 3. environment variables (`CHORALE_BROKERS`, `CHORALE_COLLECTIVE`, `CHORALE_CERTIFICATE`, ...);
 * 4. the caller's overrides (command-line flags).
 *
 * A `file` option replaces the first two with one file that must exist. Relative paths in a file
 * are relative to that file's directory; elsewhere to the working directory; `~/` is the home
 * directory. Every problem is reported at once in a {@linkcode ConfigError}.
 *
 * ```yaml
 * brokers: [tls://broker.example.net:4222]
 * collective: mcollective
 * security:
 *   provider: file            # or puppet (ssl_dir, certname)
 *   certificate: ~/.config/chorale/alice.mcollective.pem
 *   key: ~/.config/chorale/alice.mcollective.key
 *   ca: ~/.config/chorale/ca.pem
 * discovery_timeout: 2s
 * federation:
 *   collectives: [east, west]  # reach these member collectives through federation brokers
 *   srv_domain: example.net    # with no brokers: _mcollective-federation_server._tcp.example.net
 * ```
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ConfigError, type ConfigKey, loadConfig } from "../core/config.ts";
import {
  fileProvider,
  puppetProvider,
  type SecurityMaterial,
  type SecurityProvider,
} from "../core/security/providers.ts";
import { resolveFederationBrokers, type SrvResolver } from "../federation/srv.ts";
import type { FederationOptions } from "./client.ts";
import { ConnectError } from "./errors.ts";
import type { ClientIdentity, ClientOptions } from "./types.ts";

export { ConfigError };

/** Every client setting, with its default, environment variable and doc. */
export const ClientConfigKeys: readonly ConfigKey[] = [
  {
    key: "brokers",
    type: "list",
    default: [],
    env: "CHORALE_BROKERS",
    doc: "Broker addresses, tls://host:port or host:port, comma-separated in the environment",
  },
  {
    key: "collective",
    type: "string",
    default: "mcollective",
    env: "CHORALE_COLLECTIVE",
    doc: "The collective requests go to",
  },
  {
    key: "security.provider",
    type: "string",
    default: "",
    env: "CHORALE_SECURITY_PROVIDER",
    doc: "file or puppet; empty means file when security.certificate is set, else puppet",
  },
  {
    key: "security.certificate",
    type: "string",
    default: "",
    env: "CHORALE_CERTIFICATE",
    doc: "file provider: the client's certificate (PEM)",
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
    doc: "puppet provider: Puppet's ssl directory; empty means Puppet's default for the user",
  },
  {
    key: "security.certname",
    type: "string",
    default: "",
    env: "CHORALE_CERTNAME",
    doc: "puppet provider: the certname; empty means <user>.mcollective",
  },
  {
    key: "discovery_timeout",
    type: "duration",
    default: 2_000,
    env: "CHORALE_DISCOVERY_TIMEOUT",
    doc: "How long broadcast discovery waits at most (500ms, 2s, or bare seconds)",
  },
  {
    key: "federation.collectives",
    type: "list",
    default: [],
    env: "CHORALE_FEDERATION_COLLECTIVES",
    doc:
      "Member collectives to reach through federation brokers (the brokers are then the federation network's); empty means no federation",
  },
  {
    key: "federation.srv_domain",
    type: "string",
    default: "",
    env: "CHORALE_FEDERATION_SRV_DOMAIN",
    doc:
      "When federated and 'brokers' is empty: find the federation network's brokers by SRV records _mcollective-federation_server._tcp.<domain>",
  },
];

const PATH_KEYS = ["security.certificate", "security.key", "security.ca", "security.ssl_dir"];

/** The client's settings once loaded. */
export interface ClientConfig {
  /** Broker addresses. */
  brokers: string[];
  /** The collective requests go to. */
  collective: string;
  /** Where the client's identity comes from; paths are absolute or empty. */
  security: {
    provider: "file" | "puppet";
    certificate: string;
    key: string;
    ca: string;
    sslDir: string;
    certname: string;
  };
  /** Broadcast discovery's limit, milliseconds. */
  discoveryTimeoutMs: number;
  /** Member collectives reached through federation brokers; empty when not federated. */
  federations: string[];
  /** Where to look up the federation network's brokers when `brokers` is empty, or "". */
  federationSrvDomain: string;
  /** The files read, lowest precedence first. */
  files: string[];
}

/** Overrides by setting, as command-line flags give them (strings or typed values). */
export interface ClientConfigOverrides {
  brokers?: string | string[];
  collective?: string;
  "security.provider"?: string;
  "security.certificate"?: string;
  "security.key"?: string;
  "security.ca"?: string;
  "security.ssl_dir"?: string;
  "security.certname"?: string;
  /** A duration such as `500ms` or `2s`, or a number of seconds. */
  discovery_timeout?: string | number;
  /** Member collectives to reach through federation brokers, comma-separated or a list. */
  "federation.collectives"?: string | string[];
  "federation.srv_domain"?: string;
}

/** Options for {@linkcode loadClientConfig}. */
export interface LoadClientConfigOptions {
  /** Reads an environment variable. @default Deno.env.get */
  env?: (name: string) => string | undefined;
  /** Where the project file search starts and relative paths resolve. @default Deno.cwd() */
  cwd?: string;
  /** One configuration file instead of the user's and the project's. @default none */
  file?: string;
  /** Settings over every other source. @default {} */
  overrides?: ClientConfigOverrides;
  /** Looks up SRV records (federation brokers). @default Deno.resolveDns(name, "SRV") */
  resolver?: SrvResolver;
}

/** Options for {@linkcode loadClientIdentity}. */
export interface LoadClientIdentityOptions {
  /** Reads USER and HOME for the puppet provider's defaults. @default Deno.env.get */
  env?: (name: string) => string | undefined;
  /** The user id; 0 selects root's Puppet directory. @default Deno.uid() */
  uid?: number | null;
  /** The time certificates must be valid at. @default now */
  now?: Date;
}

/** A loaded identity: the PEM a client connects with, and warnings worth showing. */
export interface LoadedClientIdentity {
  identity: ClientIdentity;
  /** Where each file came from. */
  paths: SecurityMaterial["paths"];
  /** Problems that do not stop its use, such as a key other users may read. */
  warnings: string[];
}

/** Everything a client needs to connect, from the configuration. */
export interface LoadedClientOptions {
  config: ClientConfig;
  /** Ready for `Client.connect`. */
  client: ClientOptions & FederationOptions;
  warnings: string[];
}

const BROKER = /^((tls|nats):\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d{1,5})$/;

/**
 * The user's configuration file, or null when neither XDG_CONFIG_HOME nor HOME is set.
 *
 * @example Where a user's file lives
 * ```ts
 * import { userConfigFile } from "./config.ts";
 * const env: Record<string, string> = { HOME: "/home/alice" };
 * console.log(userConfigFile((name) => env[name])); // /home/alice/.config/chorale/client.yaml
 * ```
 */
export function userConfigFile(env: (name: string) => string | undefined): string | null {
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "chorale", "client.yaml");
  const home = env("HOME");
  return home ? join(home, ".config", "chorale", "client.yaml") : null;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * The nearest `chorale.yaml` at or above `cwd`, or null.
 *
 * @example Find the project file
 * ```ts
 * import { findProjectConfig } from "./config.ts";
 * const found = await findProjectConfig("/");
 * console.log(found === null || found.endsWith("chorale.yaml")); // true
 * ```
 */
export async function findProjectConfig(cwd: string): Promise<string | null> {
  let dir = resolve(cwd);
  while (true) {
    const candidate = join(dir, "chorale.yaml");
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // Not here: go up.
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function expandPath(value: string, base: string, home: string | undefined): string {
  if (value === "") return value;
  if (value === "~" || value.startsWith("~/")) {
    return home ? join(home, value.slice(1)) : value;
  }
  return isAbsolute(value) ? value : resolve(base, value);
}

/**
 * Loads the client configuration from the user's file, the project's `chorale.yaml`, the
 * environment and `overrides`, later winning, and checks it: at least one broker, each
 * `host:port`; a known provider; for the file provider a certificate, key and CA.
 *
 * @throws {ConfigError} Listing every problem, each naming its source.
 *
 * @example Configure from the environment alone
 * ```ts
 * import { loadClientConfig } from "./config.ts";
 * const env: Record<string, string> = {
 *   CHORALE_BROKERS: "tls://broker.example.net:4222",
 *   CHORALE_CERTIFICATE: "/etc/chorale/alice.pem",
 *   CHORALE_KEY: "/etc/chorale/alice.key",
 *   CHORALE_CA: "/etc/chorale/ca.pem",
 * };
 * const config = await loadClientConfig({ env: (name) => env[name], cwd: "/" });
 * console.log(config.brokers, config.security.provider); // [ "tls://broker.example.net:4222" ] file
 * ```
 */
export async function loadClientConfig(
  options: LoadClientConfigOptions = {},
): Promise<ClientConfig> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const cwd = options.cwd ?? Deno.cwd();
  const home = env("HOME");
  const problems: string[] = [];
  const files: string[] = [];
  const candidates: { path: string; required: boolean }[] = [];
  if (options.file !== undefined) {
    candidates.push({ path: expandPath(options.file, cwd, home), required: true });
  } else {
    const user = userConfigFile(env);
    if (user) candidates.push({ path: user, required: false });
    const project = await findProjectConfig(cwd);
    if (project && project !== user) candidates.push({ path: project, required: false });
  }

  let values: Record<string, unknown> = Object.fromEntries(
    ClientConfigKeys.map((k) => [k.key, k.default]),
  );
  // Each stage loads over the values so far, as defaults, so each file keeps its own messages.
  const over = (withEnv: boolean): ConfigKey[] =>
    ClientConfigKeys.map(({ env: name, ...k }) => ({
      ...k,
      default: values[k.key],
      ...(withEnv && name !== undefined ? { env: name } : {}),
    }));
  const resolvePaths = (before: Record<string, unknown>, base: string) => {
    for (const key of PATH_KEYS) {
      if (values[key] !== before[key] && typeof values[key] === "string") {
        values[key] = expandPath(values[key] as string, base, home);
      }
    }
  };
  for (const { path, required } of candidates) {
    let text: string | null;
    try {
      text = await readIfExists(path);
    } catch (error) {
      problems.push(`${path}: cannot be read: ${(error as Error).message}`);
      continue;
    }
    if (text === null) {
      if (required) problems.push(`${path}: no such file`);
      continue;
    }
    files.push(path);
    const before = values;
    const loaded = loadConfig(over(false), { file: { path, text } });
    problems.push(...loaded.problems);
    values = loaded.values;
    resolvePaths(before, dirname(path));
  }
  {
    const before = values;
    const loaded = loadConfig(over(true), { env });
    problems.push(...loaded.problems);
    values = loaded.values;
    resolvePaths(before, cwd);
  }
  if (options.overrides !== undefined) {
    const before = values;
    const flags = Object.fromEntries(
      Object.entries(options.overrides).filter(([, v]) => v !== undefined),
    );
    const loaded = loadConfig(over(false), { flags });
    problems.push(...loaded.problems);
    values = loaded.values;
    resolvePaths(before, cwd);
  }

  const brokers = values.brokers as string[];
  const federations = values["federation.collectives"] as string[];
  const federationSrvDomain = values["federation.srv_domain"] as string;
  if (brokers.length === 0 && federations.length > 0 && federationSrvDomain !== "") {
    // Found by SRV when the options are loaded.
  } else if (brokers.length === 0) {
    problems.push(
      "'brokers' is empty: set it in the configuration file or CHORALE_BROKERS (tls://host:port)",
    );
  }
  for (const broker of brokers) {
    const m = BROKER.exec(broker);
    const port = m ? Number(m[4]) : 0;
    if (!m || port < 1 || port > 65_535) {
      problems.push(
        `'brokers' must hold host:port or tls://host:port: current value is '${broker}'`,
      );
    }
  }
  const collective = values.collective as string;
  if (!/^[A-Za-z0-9_-]+$/.test(collective)) {
    problems.push(
      `'collective' must be a name of letters, digits, '_' and '-': current value is '${collective}'`,
    );
  }
  const certificate = values["security.certificate"] as string;
  let provider = values["security.provider"] as string;
  if (provider === "") provider = certificate === "" ? "puppet" : "file";
  if (provider !== "file" && provider !== "puppet") {
    problems.push(`'security.provider' must be file or puppet: current value is '${provider}'`);
  } else if (provider === "file") {
    for (const key of ["security.certificate", "security.key", "security.ca"]) {
      if (values[key] === "") {
        problems.push(
          `'${key}' is required by the file provider: set it or CHORALE_${
            key.slice("security.".length).toUpperCase()
          }`,
        );
      }
    }
  }
  const discoveryTimeoutMs = values.discovery_timeout as number;
  if (!(discoveryTimeoutMs > 0)) {
    problems.push(
      `'discovery_timeout' must be above zero: current value is ${discoveryTimeoutMs}ms`,
    );
  }
  for (const name of federations) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      problems.push(
        `'federation.collectives' must hold names of letters, digits, '_' and '-': current value is '${name}'`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    brokers,
    collective,
    security: {
      provider: provider as "file" | "puppet",
      certificate,
      key: values["security.key"] as string,
      ca: values["security.ca"] as string,
      sslDir: values["security.ssl_dir"] as string,
      certname: values["security.certname"] as string,
    },
    discoveryTimeoutMs,
    federations,
    federationSrvDomain,
    files,
  };
}

/**
 * The security provider a configuration names: the file provider with its three paths, or the
 * puppet provider with its ssl directory and certname (Puppet's defaults for the user when
 * empty).
 *
 * @throws {SecurityProviderError} When the puppet provider's defaults need USER or HOME and they
 * are not set.
 *
 * @example The file provider
 * ```ts
 * import { clientSecurityProvider } from "./config.ts";
 * const provider = clientSecurityProvider({
 *   provider: "file", certificate: "/c.pem", key: "/c.key", ca: "/ca.pem", sslDir: "", certname: "",
 * });
 * console.log(provider.name, provider.paths.ca); // file /ca.pem
 * ```
 */
export function clientSecurityProvider(
  security: ClientConfig["security"],
  options: LoadClientIdentityOptions = {},
): SecurityProvider {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  if (security.provider === "file") {
    return fileProvider({
      certificate: security.certificate,
      key: security.key,
      ca: security.ca,
      ...(security.certname === "" ? {} : { certname: security.certname }),
    });
  }
  const uid = options.uid === undefined ? Deno.uid() : options.uid;
  const user = env("USER");
  const home = env("HOME");
  return puppetProvider({
    ...(security.sslDir === "" ? {} : { sslDir: security.sslDir }),
    ...(security.certname === "" ? {} : { certname: security.certname }),
    ...(user === undefined ? {} : { user }),
    ...(home === undefined ? {} : { home }),
    root: uid === 0,
  });
}

/**
 * Loads and checks the identity a configuration names through its security provider: the files
 * exist, the key is the certificate's, the certificate chains to the CA and is within its dates.
 *
 * @throws {SecurityProviderError} Or a file error from the provider, as it reports them.
 *
 * @example Load the configured identity
 * ```ts
 * import { loadClientConfig, loadClientIdentity } from "./config.ts";
 *
 * // Type-checked only: it needs certificate files.
 * export async function whoAmI(): Promise<string> {
 *   const { identity } = await loadClientIdentity(await loadClientConfig());
 *   return identity.certname;
 * }
 * ```
 */
export async function loadClientIdentity(
  config: Pick<ClientConfig, "security">,
  options: LoadClientIdentityOptions = {},
): Promise<LoadedClientIdentity> {
  const provider = clientSecurityProvider(config.security, options);
  const material = await provider.load(options.now === undefined ? {} : { now: options.now });
  return {
    identity: {
      certname: material.certname,
      cert: material.certPem,
      key: material.keyPem,
      ca: material.caPem,
    },
    paths: material.paths,
    warnings: material.warnings,
  };
}

/**
 * Loads the configuration and its identity: everything `Client.connect` needs.
 *
 * @throws {ConfigError} For configuration problems, all at once.
 * @throws {SecurityProviderError} When the identity's files cannot be used.
 * @throws {ConnectError} When federated brokers are to be found by SRV and none are.
 *
 * @example Connect as configured
 * ```ts
 * import { Client } from "./client.ts";
 * import { loadClientOptions } from "./config.ts";
 *
 * // Type-checked only: it needs a configuration, certificates and a broker.
 * export async function connectAsConfigured(): Promise<Client> {
 *   const { client, warnings } = await loadClientOptions();
 *   for (const warning of warnings) console.error(warning);
 *   return await Client.connect(client);
 * }
 * ```
 */
export async function loadClientOptions(
  options: LoadClientConfigOptions & LoadClientIdentityOptions = {},
): Promise<LoadedClientOptions> {
  const config = await loadClientConfig(options);
  const loaded = await loadClientIdentity(config, options);
  let brokers = config.brokers;
  if (brokers.length === 0) {
    try {
      brokers = await resolveFederationBrokers(
        [],
        config.federationSrvDomain,
        options.resolver ?? ((name) => Deno.resolveDns(name, "SRV")),
      );
    } catch (cause) {
      throw new ConnectError(
        `Cannot find the federation network's brokers: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  return {
    config: { ...config, brokers },
    client: {
      brokers,
      identity: loaded.identity,
      collective: config.collective,
      ...(config.federations.length > 0 ? { federations: config.federations } : {}),
    },
    warnings: loaded.warnings,
  };
}
