/**
 * One emulator process: runs a slice of the emulated fleet ({@linkcode EmulatedFleet}) and tells
 * the supervisor how it goes as JSON lines on standard output (`progress`, `ready`, `failed`,
 * `stopped`); its own log lines go to standard error. The supervisor (`emulator/supervisor.ts`)
 * starts it as `deno run <permissions> emulator/worker.ts --spec <json>` with a pipe on standard
 * input; SIGTERM, SIGINT or the end of standard input (the supervisor is gone) stop it, so a
 * supervisor killed without a chance to clean up leaves no emulated servers behind.
 *
 * Permissions it needs, as `deno task server` without `--allow-run`: `--allow-net` for the
 * brokers, `--allow-read` for the configuration, certificate, facts and policies,
 * `--allow-write` for the audit log, `--allow-env` for the `CHORALE_*` overrides and the
 * libraries' switches, `--allow-sys=hostname` for the NATS client.
 *
 * @module
 */
import { jsonLogger, type LogLevel, LogLevels } from "../core/log.ts";
import { AuditLog } from "../core/security/audit.ts";
import { loadEmulatorConfig } from "./config.ts";
import { EmulatedFleet, type FleetCounts } from "./fleet.ts";

/** What the supervisor asks one process to run. */
export interface WorkerSpec {
  /** The server configuration file, if any. */
  config?: string;
  /** The `chorale ca` directory that issues the servers' certificates. */
  caDir: string;
  /** Broker URLs, spread over the instances. */
  brokers: string[];
  first: number;
  count: number;
  replySize: number;
  delayMs: number;
  /** Connections opened at once. */
  concurrency: number;
  /** How long every instance has to connect, milliseconds. */
  connectTimeoutMs: number;
  logLevel: LogLevel;
}

/** A line the worker writes on standard output. */
export type WorkerEvent =
  | ({ event: "progress" } & FleetCounts)
  | ({ event: "ready"; ms: number; pid: number } & FleetCounts)
  | { event: "failed"; error: string }
  | ({ event: "stopped" } & FleetCounts);

/** How long the servers get to disconnect when the worker stops, milliseconds. */
const STOP_GRACE_MS = 3_000;

/** How often progress lines are written at most, milliseconds. */
const PROGRESS_INTERVAL_MS = 200;

const encoder = new TextEncoder();

function emit(event: WorkerEvent): void {
  try {
    Deno.stdout.writeSync(encoder.encode(JSON.stringify(event) + "\n"));
  } catch {
    // The supervisor is gone (EPIPE): nobody to tell, and stopping must go on regardless.
  }
}

/** Parses `--spec <json>`; throws a TypeError naming the fault. */
export function parseWorkerSpec(args: readonly string[]): WorkerSpec {
  const at = args.indexOf("--spec");
  const text = at >= 0 ? args[at + 1] : undefined;
  if (text === undefined) {
    throw new TypeError("Cannot start the emulator worker: --spec is missing");
  }
  const spec = JSON.parse(text) as WorkerSpec;
  if (!Number.isInteger(spec.first) || !Number.isInteger(spec.count) || spec.count < 1) {
    throw new TypeError(
      `Cannot start the emulator worker as 'count' must be a positive integer: current value is ${spec.count}`,
    );
  }
  if (!(spec.logLevel in LogLevels)) {
    throw new TypeError(
      `Cannot start the emulator worker as 'logLevel' must be debug, info, warn or error: current value is '${spec.logLevel}'`,
    );
  }
  return spec;
}

async function main(args: string[]): Promise<number> {
  let spec: WorkerSpec;
  try {
    spec = parseWorkerSpec(args);
  } catch (error) {
    emit({ event: "failed", error: (error as Error).message });
    return 2;
  }
  const logger = jsonLogger({ component: "emulator", level: spec.logLevel });
  // The npm:nats client can throw from a TLS alert outside any promise we hold: log, keep going.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled rejection", { error: String(event.reason) });
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    logger.error("uncaught error", { error: String(event.error ?? event.message) });
  });

  let audit: AuditLog | null = null;
  let fleet: EmulatedFleet;
  try {
    const config = await loadEmulatorConfig({
      ...(spec.config !== undefined ? { file: spec.config } : {}),
      brokers: spec.brokers,
      caDir: spec.caDir,
      env: (name) => Deno.env.get(name),
    });
    if (config.settings.audit.enabled) audit = await AuditLog.open(config.settings.audit.file);
    fleet = new EmulatedFleet({
      settings: config.settings,
      ca: config.ca,
      brokers: spec.brokers,
      first: spec.first,
      count: spec.count,
      facts: config.facts,
      classes: config.classes,
      replySize: spec.replySize,
      delayMs: spec.delayMs,
      audit,
      concurrency: spec.concurrency,
      logger,
    });
  } catch (error) {
    emit({ event: "failed", error: (error as Error).message });
    return 2;
  }

  let last = 0;
  let pending: ReturnType<typeof setTimeout> | undefined;
  fleet.onChange(() => {
    if (pending !== undefined) return;
    const wait = Math.max(0, last + PROGRESS_INTERVAL_MS - performance.now());
    pending = setTimeout(() => {
      pending = undefined;
      last = performance.now();
      emit({ event: "progress", ...fleet.counts });
    }, wait);
  });

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // Standard input ends when the supervisor exits, however it exits.
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* nothing is sent; wait for the end */ }
  })().catch(() => {}).finally(onSignal);

  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), spec.connectTimeoutMs);
  });
  const aborted = new Promise<"stopped">((resolve) =>
    stop.signal.addEventListener("abort", () => resolve("stopped"), { once: true })
  );
  let outcome: "ready" | "timeout" | "stopped";
  try {
    outcome = await Promise.race([fleet.start().then(() => "ready" as const), timedOut, aborted]);
  } catch (error) {
    emit({ event: "failed", error: (error as Error).message });
    return 1;
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "timeout") {
    const { connected, total } = fleet.counts;
    emit({
      event: "failed",
      error:
        `Cannot connect every emulated server within ${spec.connectTimeoutMs} ms: ${connected} of ${total} connected to ${
          spec.brokers.join(", ")
        }`,
    });
    // Connections still being attempted never settle: leave without waiting for them.
    return 1;
  }
  if (outcome === "ready") {
    emit({
      event: "ready",
      ms: Math.round(performance.now() - started),
      pid: Deno.pid,
      ...fleet.counts,
    });
    await aborted;
  }
  clearTimeout(pending);
  // ChoraleServer.stop() flushes before closing, and a flush waits for the broker: with the broker
  // gone it never ends. Give the servers a grace period, then leave anyway.
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    fleet.stop(),
    new Promise((resolve) => grace = setTimeout(resolve, STOP_GRACE_MS)),
  ]);
  clearTimeout(grace);
  await audit?.close();
  emit({ event: "stopped", ...fleet.counts });
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
