/**
 * Runs an emulated fleet over several processes: checks the options, makes sure the broker
 * answers, splits the instances into contiguous slices, starts one `emulator/worker.ts` process
 * per slice and gathers what they report. One process holds at most
 * {@linkcode MAX_INSTANCES_PER_PROCESS} broker connections, below the 20,000 descriptors a process
 * may open here; connections are spread over loopback destination addresses (127.0.0.1,
 * 127.0.0.2, ...) so that more than the ~28,000 ephemeral ports of one address pair fit.
 *
 * Needs `--allow-run` for Deno (by name, `--allow-run=deno`, or its path), `--allow-net` to check
 * the broker, and whatever `emulator/worker.ts` needs is given to the children explicitly.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { LogLevel } from "../core/log.ts";
import { MAX_EMULATED_REPLY_BYTES } from "../agents/emulated.ts";
import type { FleetCounts } from "./fleet.ts";
import type { WorkerEvent, WorkerSpec } from "./worker.ts";

/** Connections one emulator process holds at most; the descriptor limit here is 20,000. */
export const MAX_INSTANCES_PER_PROCESS = 18_000;

/**
 * Connections per loopback destination address when spreading automatically: below the ~28,000
 * ephemeral ports (32768-60999) one source and destination pair allows.
 */
export const INSTANCES_PER_ADDRESS = 25_000;

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

/**
 * The worker's permissions: those of `deno task server` without `--allow-run` (emulated servers
 * run no external commands).
 */
export const WORKER_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=CHORALE_*,LOG_TOKENS,LOG_STREAM,NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE",
  "--allow-sys=hostname",
] as const;

/** Options for {@linkcode Emulator.start}. */
export interface EmulatorOptions {
  /** How many servers to emulate. */
  instances: number;
  /** Processes to spread them over. @default ceil(instances / 18,000) */
  processes?: number;
  /** Broker URLs (`tls://host:port`). @default the configuration's `brokers` */
  brokers?: string[];
  /**
   * Loopback addresses to spread connections over: the first broker's `127.0.0.1` becomes
   * 127.0.0.1 ... 127.0.0.<addresses>. The broker must listen on them (0.0.0.0) and its
   * certificate must name them. @default 1, or ceil(instances / 25,000) when the broker is 127.0.0.1
   */
  addresses?: number;
  /** The `emulated` agent's reply size in bytes. @default 0 */
  replySize?: number;
  /** The `emulated` agent's delay in milliseconds. @default 0 */
  delayMs?: number;
  /** The server configuration file the emulated servers use. @default none */
  config?: string;
  /** The `chorale ca` directory whose CA issues each emulated server's certificate. */
  caDir: string;
  /** The workers' log level. @default "warn" */
  logLevel?: LogLevel;
  /** TLS handshakes in progress at once per process. @default 64 */
  concurrency?: number;
  /** How long each process has to connect its slice, ms. @default 30 s plus 10 ms per instance */
  connectTimeoutMs?: number;
  /** Told how the fleet's connections change. @default nothing */
  onProgress?: (counts: FleetCounts) => void;
  /** Broker URLs from the configuration, when `brokers` is not given. @default none */
  configuredBrokers?: string[];
}

/** A bad emulator option, or a fleet that could not start; the message says which. */
export class EmulatorError extends Error {
  override name = "EmulatorError";
}

/** Options that do not make sense: a usage error. */
export class EmulatorUsageError extends EmulatorError {
  override name = "EmulatorUsageError";
}

/** The broker did not accept a TCP connection. */
export class BrokerUnreachableError extends EmulatorError {
  override name = "BrokerUnreachableError";
}

/** One emulator process as the supervisor sees it. */
interface Worker {
  index: number;
  child: Deno.ChildProcess;
  spec: WorkerSpec;
  counts: FleetCounts;
  pid: number;
  ready: Promise<void>;
  stopped: Promise<Deno.CommandStatus>;
  lastError: string | null;
}

/** The checked shape of a run: how many instances, where, in which slices. */
export interface EmulatorPlan {
  instances: number;
  processes: number;
  brokers: string[];
  slices: { first: number; count: number }[];
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new EmulatorUsageError(
      `Cannot emulate servers as '${name}' must be a positive integer: current value is ${value}`,
    );
  }
}

const BROKER_URL = /^(tls|nats):\/\/([^\s/:]+):(\d{1,5})$/;

/**
 * Checks the options and splits the fleet; throws an {@linkcode EmulatorError} for the first
 * bad option.
 *
 * @example Two processes for 50 servers
 * ```ts
 * import { planEmulation } from "./supervisor.ts";
 * const plan = planEmulation({ instances: 50, processes: 2, brokers: ["tls://127.0.0.1:4222"] });
 * console.log(plan.slices); // [ { first: 0, count: 25 }, { first: 25, count: 25 } ]
 * ```
 */
export function planEmulation(options: Omit<EmulatorOptions, "caDir">): EmulatorPlan {
  const { instances } = options;
  positiveInteger("--instances", instances);
  const processes = options.processes ?? Math.ceil(instances / MAX_INSTANCES_PER_PROCESS);
  positiveInteger("--processes", processes);
  if (processes > instances) {
    throw new EmulatorUsageError(
      `Cannot spread ${instances} servers over ${processes} processes as '--processes' must not exceed '--instances': current value is ${processes}`,
    );
  }
  const perProcess = Math.ceil(instances / processes);
  if (perProcess > MAX_INSTANCES_PER_PROCESS) {
    throw new EmulatorUsageError(
      `Cannot run ${instances} servers in ${processes} processes as one process holds at most ${MAX_INSTANCES_PER_PROCESS} connections: use --processes ${
        Math.ceil(instances / MAX_INSTANCES_PER_PROCESS)
      } or more`,
    );
  }
  const replySize = options.replySize ?? 0;
  if (!Number.isInteger(replySize) || replySize < 0 || replySize > MAX_EMULATED_REPLY_BYTES) {
    throw new EmulatorUsageError(
      `Cannot emulate servers as '--reply-size' must be an integer from 0 to ${MAX_EMULATED_REPLY_BYTES}: current value is ${replySize}`,
    );
  }
  const delay = options.delayMs ?? 0;
  if (!Number.isInteger(delay) || delay < 0) {
    throw new EmulatorUsageError(
      `Cannot emulate servers as '--delay' must be a whole number of milliseconds, 0 or more: current value is ${delay}`,
    );
  }
  const given = options.brokers && options.brokers.length > 0
    ? options.brokers
    : options.configuredBrokers ?? [];
  if (given.length === 0) {
    throw new EmulatorUsageError(
      "Cannot emulate servers as no broker is named: give --broker tls://host:port or brokers in --config",
    );
  }
  for (const url of given) {
    if (!BROKER_URL.test(url)) {
      throw new EmulatorUsageError(
        `Cannot emulate servers as '--broker' must be a URL such as tls://127.0.0.1:4222: current value is '${url}'`,
      );
    }
  }
  const [, scheme, host, port] = BROKER_URL.exec(given[0]!)!;
  const loopback = host === "127.0.0.1";
  const addresses = options.addresses ??
    (loopback ? Math.ceil(instances / INSTANCES_PER_ADDRESS) : 1);
  positiveInteger("--addresses", addresses);
  if (addresses > 1 && !loopback) {
    throw new EmulatorUsageError(
      `Cannot spread connections over ${addresses} addresses as the broker is not at 127.0.0.1: current value is '${
        given[0]
      }'`,
    );
  }
  if (addresses > 254) {
    throw new EmulatorUsageError(
      `Cannot spread connections over ${addresses} addresses as '--addresses' must be at most 254: current value is ${addresses}`,
    );
  }
  const brokers = addresses > 1
    ? Array.from({ length: addresses }, (_, i) => `${scheme}://127.0.0.${i + 1}:${port}`)
    : given;
  const slices: EmulatorPlan["slices"] = [];
  for (let p = 0, first = 0; p < processes; p++) {
    const count = Math.floor(instances / processes) + (p < instances % processes ? 1 : 0);
    slices.push({ first, count });
    first += count;
  }
  return { instances, processes, brokers, slices };
}

/** Throws an {@linkcode EmulatorError} unless something accepts TCP connections at `url`. */
export async function checkBrokerReachable(url: string, timeoutMs = 5_000): Promise<void> {
  const [, , hostname, port] = BROKER_URL.exec(url) ?? [];
  if (hostname === undefined) {
    throw new EmulatorError(`Cannot reach the broker as '${url}' is not a broker URL`);
  }
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const conn = await Deno.connect(
      { hostname, port: Number(port), signal } as Deno.ConnectOptions,
    );
    conn.close();
  } catch (cause) {
    throw new BrokerUnreachableError(
      `Cannot reach the broker at ${hostname}:${port}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** The command that starts Deno: its own path when allowed, else `deno` found on PATH. */
function denoCommand(): string {
  const exec = Deno.execPath();
  const allowed = Deno.permissions.querySync({ name: "run", command: exec }).state === "granted";
  return allowed ? exec : "deno";
}

/**
 * An emulated fleet over several processes. `start` resolves once every emulated server is
 * connected and subscribed; disposal stops every process.
 */
export class Emulator implements AsyncDisposable {
  readonly plan: EmulatorPlan;
  readonly #workers: Worker[];
  readonly #options: EmulatorOptions;
  #stopping: Promise<void> | null = null;

  private constructor(plan: EmulatorPlan, workers: Worker[], options: EmulatorOptions) {
    this.plan = plan;
    this.#workers = workers;
    this.#options = options;
  }

  /** Process ids of the emulator processes. */
  get pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  /** Connection counts summed over every process. */
  get counts(): FleetCounts {
    const sum: FleetCounts = { total: 0, connected: 0, reconnects: 0 };
    for (const w of this.#workers) {
      sum.total += w.counts.total;
      sum.connected += w.counts.connected;
      sum.reconnects += w.counts.reconnects;
    }
    return sum;
  }

  /**
   * Plans, checks the broker, starts the processes and waits until every server is connected.
   * Throws an {@linkcode EmulatorError} for bad options, an unreachable broker, or a process
   * that failed (with its reason); every process is stopped first.
   */
  static async start(options: EmulatorOptions): Promise<Emulator> {
    const plan = planEmulation(options);
    await checkBrokerReachable(plan.brokers[0]!);
    let command: string;
    try {
      command = denoCommand();
    } catch (cause) {
      throw new EmulatorError(
        `Cannot start emulator processes as this process may not run Deno: run it with --allow-run=deno (deno task emulate)`,
        { cause },
      );
    }
    const workers: Worker[] = [];
    const emulator = new Emulator(plan, workers, options);
    try {
      for (const [index, slice] of plan.slices.entries()) {
        workers.push(emulator.#spawn(command, index, {
          ...(options.config !== undefined ? { config: options.config } : {}),
          caDir: options.caDir,
          brokers: plan.brokers,
          first: slice.first,
          count: slice.count,
          replySize: options.replySize ?? 0,
          delayMs: options.delayMs ?? 0,
          concurrency: options.concurrency ?? 64,
          connectTimeoutMs: options.connectTimeoutMs ?? 30_000 + 10 * slice.count,
          logLevel: options.logLevel ?? "warn",
        }));
      }
      await Promise.all(workers.map((w) => w.ready));
    } catch (error) {
      await emulator.stop();
      throw error instanceof EmulatorError
        ? error
        : new EmulatorError(`Cannot start the emulator: ${(error as Error).message}`, {
          cause: error,
        });
    }
    return emulator;
  }

  #spawn(command: string, index: number, spec: WorkerSpec): Worker {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, {
        args: ["run", ...WORKER_PERMISSIONS, WORKER, "--spec", JSON.stringify(spec)],
        // Never written to: the worker stops when it closes, that is when this process is gone.
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
    } catch (cause) {
      const denied = cause instanceof Deno.errors.NotCapable ||
        cause instanceof Deno.errors.PermissionDenied;
      throw new EmulatorError(
        denied
          ? "Cannot start emulator processes as this process may not run Deno: run it with --allow-run=deno (deno task emulate)"
          : `Cannot start emulator process ${index}: ${(cause as Error).message}`,
        { cause },
      );
    }
    let resolveReady: () => void = () => {};
    let rejectReady: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    // A failure after start-up is reported through `lastError`; avoid an unhandled rejection.
    ready.catch(() => {});
    const worker: Worker = {
      index,
      child,
      spec,
      counts: { total: spec.count, connected: 0, reconnects: 0 },
      pid: child.pid,
      ready,
      stopped: child.status,
      lastError: null,
    };
    const onEvent = (event: WorkerEvent) => {
      if (event.event === "failed") {
        worker.lastError = event.error;
        rejectReady(new EmulatorError(event.error));
        return;
      }
      const { total, connected, reconnects } = event;
      worker.counts = { total, connected, reconnects };
      if (event.event === "ready") resolveReady();
      this.#options.onProgress?.(this.counts);
    };
    (async () => {
      let rest = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + text).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          try {
            onEvent(JSON.parse(line) as WorkerEvent);
          } catch {
            // Not one of ours (a library printing to stdout): ignore it.
          }
        }
      }
    })().catch(() => {});
    child.status.then((status) => {
      rejectReady(
        new EmulatorError(
          worker.lastError ??
            `Cannot start the emulator: process ${index} exited with code ${status.code} before its servers connected`,
        ),
      );
    });
    return worker;
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`) and waits for them. */
  stop(graceMs = 10_000): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.#workers.map(async (w) => {
        try {
          w.child.kill("SIGTERM");
        } catch {
          // Already exited.
        }
        const timer = setTimeout(() => {
          try {
            w.child.kill("SIGKILL");
          } catch {
            // Already exited.
          }
        }, graceMs);
        await w.stopped;
        clearTimeout(timer);
      }));
    })();
    return this.#stopping;
  }

  /** Resolves when any process exits by itself, with its index and status. */
  async exited(): Promise<{ index: number; status: Deno.CommandStatus; error: string | null }> {
    return await Promise.race(
      this.#workers.map(async (w) => ({
        index: w.index,
        status: await w.stopped,
        error: w.lastError,
      })),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
