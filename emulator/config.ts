/**
 * What an emulated fleet is configured from: a server configuration file (the same keys and
 * environment variables as `deno task server`, so emulated servers authenticate, authorize and
 * audit exactly as the file says a real one would), with the broker given on the command line
 * taking precedence over the file's `brokers`, and a `chorale ca` directory whose CA issues each
 * emulated server its own certificate.
 *
 * Why not one shared certificate, as Choria's emulator does: Chorale servers sign their replies
 * and Chorale clients check that a signed reply's certificate is named as its sender, so
 * `emulated-7` needs a certificate named `emulated-7`. The configuration's `security` section is
 * therefore not used; the CA's certificate is the trust anchor.
 *
 * @module
 */
import { loadConfig } from "../core/config.ts";
import { readConfigFile } from "../core/daemon.ts";
import type { SecurityMaterial } from "../core/security/providers.ts";
import { ServerConfigKeys, type ServerSettings, serverSettings } from "../server/config.ts";
import { readClasses, readFacts } from "../server/facts.ts";
import type { CertificateAuthority } from "../core/security/ca.ts";
import { openCaStore } from "../core/security/ca_store.ts";

/** The emulator's configuration could not be loaded; `problems` lists every fault. */
export class EmulatorConfigError extends Error {
  override name = "EmulatorConfigError";
  readonly problems: string[];

  constructor(problems: string[], options?: ErrorOptions) {
    super(`Cannot configure the emulator: ${problems.join("; ")}`, options);
    this.problems = problems;
  }
}

/** Where the settings come from. */
export interface EmulatorConfigSources {
  /** The server configuration file. @default none: environment and defaults only */
  file?: string;
  /** Broker URLs that replace the file's `brokers`. @default the file's */
  brokers?: string[];
  /** The `chorale ca` directory (ca.pem, ca.key) that issues the emulated servers' certificates. */
  caDir: string;
  /** Reads an environment variable. @default nothing is set */
  env?: (name: string) => string | undefined;
}

/** Settings, the issuing CA, facts and classes every emulated server shares. */
export interface EmulatorConfig {
  settings: ServerSettings;
  /** Issues each emulated server's certificate; its certificate is the trust anchor. */
  ca: CertificateAuthority;
  facts: Record<string, unknown>;
  classes: string[];
}

/**
 * Loads and checks the configuration, the CA and the facts template; throws an
 * {@linkcode EmulatorConfigError} naming every problem.
 *
 * @example A configuration without a certificate is refused
 * ```ts
 * import { EmulatorConfigError, loadEmulatorConfig } from "./config.ts";
 * try {
 *   await loadEmulatorConfig({ brokers: ["tls://127.0.0.1:4222"], caDir: "/nonexistent" });
 * } catch (error) {
 *   console.log((error as EmulatorConfigError).problems[0]);
 *   // --ca-dir: cannot open the CA that issues the emulated servers' certificates: ...
 * }
 * ```
 */
export async function loadEmulatorConfig(
  sources: EmulatorConfigSources,
): Promise<EmulatorConfig> {
  const problems: string[] = [];
  const file = await readConfigFile(sources.file, problems);
  const loaded = loadConfig(ServerConfigKeys, {
    ...(file ? { file } : {}),
    env: sources.env ?? (() => undefined),
    flags: {
      ...(sources.brokers && sources.brokers.length > 0 ? { brokers: sources.brokers } : {}),
      // Each emulated server gets its own certificate from the CA: the file's are not read.
      "security.provider": "file",
      "security.certificate": ISSUED,
      "security.key": ISSUED,
      "security.ca": ISSUED,
    },
  });
  problems.push(...loaded.problems);
  const settings = serverSettings(loaded.values, problems);
  if (settings.brokers.length === 0 && problems.length === 0) {
    problems.push("brokers: the emulator needs broker URLs (--broker): it does no SRV lookups");
  }
  if (problems.length > 0) throw new EmulatorConfigError(problems);
  let ca: CertificateAuthority;
  try {
    ca = (await openCaStore(sources.caDir)).ca;
  } catch (cause) {
    throw new EmulatorConfigError([
      `--ca-dir: cannot open the CA that issues the emulated servers' certificates: ${
        (cause as Error).message
      }`,
    ], { cause });
  }
  let facts: Record<string, unknown>;
  let classes: string[];
  try {
    facts = await readFacts(settings.factFiles) as Record<string, unknown>;
    classes = settings.classesFile === "" ? [] : await readClasses(settings.classesFile);
  } catch (cause) {
    throw new EmulatorConfigError([(cause as Error).message], { cause });
  }
  return { settings, ca, facts, classes };
}

const ISSUED = "(issued per emulated server)";

/**
 * Issues the certificate and key of emulated server `identity` as the security material a
 * server runs with.
 *
 * @example Material for emulated-0
 * ```ts
 * import { CertificateAuthority } from "../core/security/ca.ts";
 * import { issueMaterial } from "./config.ts";
 * const ca = await CertificateAuthority.create();
 * console.log((await issueMaterial(ca, "emulated-0")).certname); // emulated-0
 * ```
 */
export async function issueMaterial(
  ca: CertificateAuthority,
  identity: string,
): Promise<SecurityMaterial> {
  const { cert, key } = await ca.issue("server", identity);
  return {
    certname: identity,
    certPem: cert,
    keyPem: key,
    caPem: ca.certPem,
    notAfter: ca.notAfter,
    paths: { certificate: ISSUED, key: ISSUED, ca: ISSUED },
    warnings: [],
  };
}
