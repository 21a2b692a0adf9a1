/**
 * Runs Chorale's broker (`broker/main.ts`) in a child process with exactly the permissions of
 * `deno task broker`, for tests that need more than `startChoraleBroker` gives: its log lines,
 * its monitoring port, its exit code, its flags and environment, or a wrapper such as `prlimit`.
 *
 * Needs `--allow-run` (Deno, or the wrapper), `--allow-read` and `--allow-write` (a temporary
 * directory for the configuration file).
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { taskPermissions } from "./permissions.ts";
import { spawnWatched, type WatchedProcess } from "./process.ts";

const MAIN = new URL("../../broker/main.ts", import.meta.url).pathname;

/** Options for {@linkcode spawnBroker} and {@linkcode startBroker}. */
export interface BrokerProcessOptions {
  /** Settings written as YAML to a temporary file passed with `--config`. @default none */
  config?: Record<string, unknown>;
  /** Raw text of the configuration file, for files that are not valid YAML. @default none */
  configText?: string;
  /** Further command-line flags. @default [] */
  flags?: string[];
  /** Environment variables added to the child's inherited environment. @default {} */
  env?: Record<string, string>;
  /** Command and arguments that run Deno, such as `["prlimit", "--nofile=100:100"]`. @default [] */
  wrapper?: string[];
}

/** A broker child process; disposal stops it and removes its configuration file. */
export interface BrokerProcess extends AsyncDisposable {
  /** The child and every stderr line it wrote. */
  proc: WatchedProcess;
  /** Path of the generated configuration file, or null when there is none. */
  configFile: string | null;
  /** Resolves with the exit status once the child exits by itself, or rejects after `timeoutMs`. */
  exited(what: string, timeoutMs?: number): Promise<Deno.CommandStatus>;
  /** Whether the child is still running. */
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after a grace period; resolves with the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** A broker that logged that it listens. */
export interface StartedBrokerProcess extends BrokerProcess {
  /** The client port from the `listening` log line. */
  port: number;
  /** The monitoring port from the `monitoring` log line, or null when monitoring is off. */
  monitorPort: number | null;
}

/** Spawns the broker without waiting for anything. */
export async function spawnBroker(options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  let dir: string | null = null;
  let configFile: string | null = null;
  if (options.config !== undefined || options.configText !== undefined) {
    dir = await Deno.makeTempDir({ prefix: "chorale-broker-process-" });
    configFile = join(dir, "broker.yaml");
    await Deno.writeTextFile(configFile, options.configText ?? stringify(options.config));
  }
  const removeDir = () =>
    dir === null ? Promise.resolve() : Deno.remove(dir, { recursive: true }).catch(() => {});
  const args = [
    "run",
    ...await taskPermissions("broker"),
    MAIN,
    ...(configFile === null ? [] : ["--config", configFile]),
    ...(options.flags ?? []),
  ];
  const [command, ...prefix] = [...(options.wrapper ?? []), Deno.execPath()];
  let proc: WatchedProcess;
  try {
    // One process unless a test asks for workers: the automatic count depends on the machine.
    proc = spawnWatched(command!, [...prefix, ...args], {
      CHORALE_BROKER_WORKERS: "1",
      ...options.env,
    });
  } catch (error) {
    await removeDir();
    throw error;
  }
  let running = true;
  const status = proc.child.status.finally(() => {
    running = false;
  });
  let stopping: Promise<Deno.CommandStatus> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      const result = await proc.stop();
      await removeDir();
      return result;
    })();
  return {
    proc,
    configFile,
    get running() {
      return running;
    },
    async exited(what, timeoutMs = 10_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Timed out after ${timeoutMs} ms waiting for ${what}; stderr was:\n${
                  proc.lines.slice(-20).join("\n")
                }`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        await Promise.race([status, timeout]);
      } finally {
        clearTimeout(timer);
      }
      // Exited: stop() only drains the rest of stderr now.
      return await stop();
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/**
 * Spawns the broker and waits until it listens (and serves monitoring, when `waitForMonitor`).
 * On failure the child is stopped before the error is thrown.
 */
export async function startBroker(
  options: BrokerProcessOptions & {
    /** Also wait for the `monitoring` log line. @default whether `config.monitor` is set */
    waitForMonitor?: boolean;
  } = {},
): Promise<StartedBrokerProcess> {
  const broker = await spawnBroker(options);
  try {
    const listening = await broker.proc.waitForLine(
      (l) => l.includes('"message":"listening"'),
      "the broker to log that it listens",
    );
    const port = JSON.parse(listening).port as number;
    let monitorPort: number | null = null;
    if (options.waitForMonitor ?? Boolean(options.config?.monitor)) {
      const monitoring = await broker.proc.waitForLine(
        (l) => l.includes('"message":"monitoring"'),
        "the broker to log its monitoring port",
      );
      monitorPort = JSON.parse(monitoring).port as number;
    }
    return Object.assign(broker, { port, monitorPort });
  } catch (error) {
    await broker.stop();
    throw error;
  }
}
