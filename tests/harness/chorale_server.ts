/**
 * Starts Chorale servers (`server/main.ts`) in child processes with exactly the permissions of
 * `deno task server`, each with its own certificate from the test PKI.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { taskPermissions } from "./permissions.ts";
import type { TestPki } from "./pki.ts";
import { spawnWatched, type WatchedProcess } from "./process.ts";

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;

/** Options for {@linkcode startChoraleServer}. */
export interface ServerOptions {
  pki: TestPki;
  /** The node's identity and certificate name. */
  identity: string;
  /** Broker port on 127.0.0.1. */
  brokerPort: number;
  /** Facts written to the node's fact file. @default {} */
  facts?: Record<string, unknown>;
  /** Classes written to its classes file. @default [] */
  classes?: string[];
  /** Policy files by name (`rpcutil.policy`, `groups`); none turns authorization off. */
  policies?: Record<string, string>;
  /** More settings merged over the generated file. @default {} */
  config?: Record<string, unknown>;
  /** Permission flags beyond the task's, such as `--allow-run=<agent>`. @default [] */
  extraPermissions?: string[];
}

/** A running server; disposal stops it and removes its files. */
export interface RunningServer extends AsyncDisposable {
  identity: string;
  proc: WatchedProcess;
  /** The node's directory: facts, classes, policies, audit log, status file. */
  dir: string;
  auditFile: string;
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts a server and waits until it has connected and subscribed. */
export async function startChoraleServer(options: ServerOptions): Promise<RunningServer> {
  const cert = await options.pki.issue("server", options.identity);
  const dir = await Deno.makeTempDir({ prefix: `chorale-server-${options.identity}-` });
  const factsFile = join(dir, "facts.yaml");
  const classesFile = join(dir, "classes.txt");
  const auditFile = join(dir, "rpcaudit.log");
  await Deno.writeTextFile(factsFile, stringify(options.facts ?? {}));
  await Deno.writeTextFile(classesFile, (options.classes ?? []).join("\n") + "\n");
  const policyDir = join(dir, "policies");
  await Deno.mkdir(policyDir);
  for (const [name, text] of Object.entries(options.policies ?? {})) {
    await Deno.writeTextFile(join(policyDir, name), text);
  }
  const config = {
    identity: options.identity,
    brokers: [`tls://127.0.0.1:${options.brokerPort}`],
    security: {
      provider: "file",
      certificate: cert.certFile,
      key: cert.keyFile,
      ca: options.pki.caFile,
    },
    facts: [factsFile],
    classes_file: classesFile,
    policies: { enabled: options.policies !== undefined, dir: policyDir },
    audit: { file: auditFile },
    registration: { interval: 0 },
    status_file: join(dir, "status.json"),
    ...options.config,
  };
  const configFile = join(dir, "server.yaml");
  await Deno.writeTextFile(configFile, stringify(config));
  const proc = spawnWatched(Deno.execPath(), [
    "run",
    ...await taskPermissions("server"),
    ...(options.extraPermissions ?? []),
    MAIN,
    "--config",
    configFile,
  ]);
  let stopped: Promise<Deno.CommandStatus> | null = null;
  const stop = () =>
    stopped ??= (async () => {
      const status = await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      return status;
    })();
  try {
    await proc.waitForLine(
      (l) => l.includes('"message":"connected"'),
      `${options.identity} to connect`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    identity: options.identity,
    proc,
    dir,
    auditFile,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
