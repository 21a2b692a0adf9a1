/**
 * Starts a real `nats-server` (Debian ships 2.9.10) as a test broker with mutual TLS against the
 * test PKI's CA, so the conformance suite can hold Chorale's broker to the reference behaviour.
 *
 * nats-server's `verify_and_map` only admits identities that are listed users, and it only
 * enforces the authentication timeout when users are configured. So the config always lists every
 * identity found in the PKI directory when the broker starts (full permissions unless
 * `options.permissions` names it). A certificate issued after the broker started is unknown to it
 * and gets `-ERR 'Authorization Violation'`: issue certificates before starting the broker.
 *
 * Needs `--allow-env=PATH` (binary lookup), `--allow-read` (binary lookup, PKI directory),
 * `--allow-write` (temporary config directory) and `--allow-run` (the server).
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import type {
  BrokerFactory,
  BrokerOptions,
  PermissionSpec,
  RunningBroker,
  SubjectPermission,
} from "./types.ts";

const SEARCH_DIRS = ["/usr/sbin", "/usr/bin"] as const;
const STARTUP_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 50;
const LISTENING = /Listening for client connections on [^\s]*:(\d+)/;

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Finds the `nats-server` binary on `PATH`, then in /usr/sbin and /usr/bin; null if absent. */
export function natsServerPath(): string | null {
  let pathDirs: string[] = [];
  try {
    pathDirs = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  } catch {
    // Without --allow-env=PATH the fixed directories below still apply.
  }
  for (const dir of [...pathDirs, ...SEARCH_DIRS]) {
    const candidate = join(dir, "nats-server");
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/** Error raised when nats-server cannot be started. */
export class NatsServerStartError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsServerStartError";
  }
}

/** nats-server config values are written as JSON, which its config parser accepts. */
function quote(value: unknown): string {
  return JSON.stringify(value);
}

function subjectPermission(permission: SubjectPermission): string {
  const parts: string[] = [];
  if (permission.allow) parts.push(`allow: ${quote(permission.allow)}`);
  if (permission.deny) parts.push(`deny: ${quote(permission.deny)}`);
  return `{ ${parts.join(", ")} }`;
}

function userEntry(name: string, spec: PermissionSpec | undefined): string {
  if (!spec) return `    { user: ${quote(name)} }`;
  const parts: string[] = [];
  if (spec.publish) parts.push(`publish: ${subjectPermission(spec.publish)}`);
  if (spec.subscribe) parts.push(`subscribe: ${subjectPermission(spec.subscribe)}`);
  return `    { user: ${quote(name)}, permissions: { ${parts.join(", ")} } }`;
}

/** The `cluster` block: routes over mutual TLS with the broker's certificate. */
function clusterBlock(options: BrokerOptions): string[] {
  const { cluster, pki } = options;
  if (!cluster) return [];
  return [
    `cluster {`,
    `  name: ${quote(cluster.name ?? "chorale")}`,
    `  host: "127.0.0.1"`,
    `  port: ${cluster.port}`,
    `  routes: ${quote(cluster.routes)}`,
    `  tls {`,
    `    cert_file: ${quote(pki.broker.certFile)}`,
    `    key_file: ${quote(pki.broker.keyFile)}`,
    `    ca_file: ${quote(pki.caFile)}`,
    `    verify: true`,
    `    timeout: 2`,
    `  }`,
    `}`,
  ];
}

/** Names verify_and_map may match for every certificate in the PKI directory. */
async function pkiIdentities(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".pem")) continue;
    const text = await Deno.readTextFile(join(dir, entry.name));
    if (!text.includes("BEGIN CERTIFICATE")) continue;
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(text);
    } catch {
      continue;
    }
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    for (const name of san?.names.items ?? []) {
      if (name.type === "dns") names.add(name.value);
    }
    for (const cn of cert.subjectName.getField("CN")) names.add(cn);
  }
  return names;
}

async function writeConfig(dir: string, options: BrokerOptions): Promise<string> {
  const { pki } = options;
  const permissions = options.permissions ?? {};
  const identities = await pkiIdentities(pki.dir);
  identities.add(pki.client.name);
  for (const name of Object.keys(permissions)) identities.add(name);
  const users = [...identities].sort().map((name) => userEntry(name, permissions[name]));
  const config = [
    `host: "127.0.0.1"`,
    `port: -1`,
    `max_payload: ${options.maxPayload ?? 1_048_576}`,
    `max_control_line: ${options.maxControlLine ?? 4096}`,
    `ping_interval: "${options.pingIntervalSeconds ?? 120}s"`,
    `ping_max: ${options.maxPingsOut ?? 2}`,
    `max_connections: ${options.maxConnections ?? 65_536}`,
    `tls {`,
    `  cert_file: ${quote(pki.broker.certFile)}`,
    `  key_file: ${quote(pki.broker.keyFile)}`,
    `  ca_file: ${quote(pki.caFile)}`,
    `  verify_and_map: true`,
    `  timeout: 2`,
    `}`,
    ...clusterBlock(options),
    `authorization {`,
    `  timeout: ${options.authTimeoutSeconds ?? 2}`,
    `  users = [`,
    ...users,
    `  ]`,
    `}`,
    ``,
  ].join("\n");
  const file = join(dir, "nats-server.conf");
  await Deno.writeTextFile(file, config);
  return file;
}

/** Keeps the last lines of a stream for error messages, and drains it so the child never blocks. */
class LogTail {
  readonly #lines: string[] = [];
  readonly #listeners: ((line: string) => void)[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#drain(stream);
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.#add(line);
      }
    } catch {
      // The stream errors when the child is killed mid-write; nothing more to read.
    }
    if (partial !== "") this.#add(partial);
  }

  #add(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > LOG_TAIL_LINES) this.#lines.shift();
    for (const listener of this.#listeners) listener(line);
  }

  onLine(listener: (line: string) => void): void {
    this.#listeners.push(listener);
  }

  text(): string {
    return this.#lines.join("\n");
  }
}

/** Starts nats-server with the options' limits and permissions. */
export const startNatsServer: BrokerFactory = async (options) => {
  const binary = natsServerPath();
  if (binary === null) {
    throw new NatsServerStartError(
      `Cannot start nats-server as it is not installed: looked on PATH and in ${
        SEARCH_DIRS.join(", ")
      }`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "chorale-nats-server-" });
  let child: Deno.ChildProcess;
  try {
    const configFile = await writeConfig(dir, options);
    child = new Deno.Command(binary, {
      args: ["-c", configFile],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const stdout = new LogTail(child.stdout);
  const stderr = new LogTail(child.stderr);
  let exited = false;
  const status = child.status.finally(() => {
    exited = true;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // It exited between the check and the signal.
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const graceOver = new Promise<"grace over">((resolve) => {
          timer = setTimeout(() => resolve("grace over"), STOP_GRACE_MS);
        });
        const outcome = await Promise.race([status, graceOver]);
        clearTimeout(timer);
        if (outcome === "grace over") {
          try {
            child.kill("SIGKILL");
          } catch {
            // It exited just now.
          }
        }
      }
      await status;
      await Promise.all([stdout.done, stderr.done]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return stopping;
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new NatsServerStartError(
              `Cannot start nats-server as it did not log "Listening for client connections on" within ${STARTUP_TIMEOUT_MS} ms: log tail:\n${stderr.text()}`,
            ),
          ),
        STARTUP_TIMEOUT_MS,
      );
      stderr.onLine((line) => {
        const match = LISTENING.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      status.then(async (s) => {
        await stderr.done;
        clearTimeout(timer);
        reject(
          new NatsServerStartError(
            `Cannot start nats-server as it exited with code ${s.code} before listening: log tail:\n${stderr.text()}${stdout.text()}`,
          ),
        );
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    kind: "nats-server",
    port,
    url: `tls://127.0.0.1:${port}`,
    pid: child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  } satisfies RunningBroker;
};
