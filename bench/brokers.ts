/**
 * Starts the brokers under test with the test harness's settings (mutual TLS against a throwaway
 * CA, every identity allowed everything). Chorale's broker runs through
 * `tests/harness/broker_process.ts`, which keeps its log lines, so a benchmark that breaks the
 * broker can show why.
 *
 * Needs `--allow-run`, `--allow-read`, `--allow-write` (temporary config) and `--allow-env=PATH`.
 *
 * @module
 */
import { startBroker as startChoraleProcess } from "../tests/harness/broker_process.ts";
import { choraleBrokerConfig } from "../tests/harness/chorale_broker.ts";
import { natsServerPath, startNatsServer } from "../tests/harness/nats_server.ts";
import type { BrokerKind, BrokerOptions, RunningBroker } from "../tests/harness/types.ts";

/** A running broker plus what it logged. */
export interface BenchBroker extends RunningBroker {
  /** For a cluster: another member's port, where publishers connect. */
  publishPort?: number;
  /** The last lines the broker wrote to stderr (Chorale only; empty for nats-server). */
  logTail(lines?: number): string;
}

/** Display names of the broker kinds. */
export const BrokerNames: Record<BrokerKind, string> = {
  chorale: "Chorale",
  "nats-server": "nats-server",
};

/** Whether nats-server is installed here. */
export function natsServerAvailable(): boolean {
  return natsServerPath() !== null;
}

async function startChorale(options: BrokerOptions): Promise<BenchBroker> {
  const started = await startChoraleProcess({ config: choraleBrokerConfig(options) });
  const stop = async () => {
    await started.stop();
  };
  return {
    kind: "chorale",
    port: started.port,
    url: `tls://127.0.0.1:${started.port}`,
    pid: started.proc.child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
    logTail: (lines = 20) => started.proc.lines.slice(-lines).join("\n"),
  };
}

/** Starts a broker of `kind` with the harness's options; disposal stops it. */
export async function startBroker(kind: BrokerKind, options: BrokerOptions): Promise<BenchBroker> {
  if (kind === "chorale") return await startChorale(options);
  const broker = await startNatsServer(options);
  return Object.assign(broker, { logTail: () => "" });
}

/**
 * The brokers running now, so an interrupted run (Ctrl-C) can stop them instead of leaving them
 * behind.
 */
export class LiveBrokers {
  readonly #running = new Set<BenchBroker>();

  /** Starts a broker and tracks it until it stops. */
  async start(kind: BrokerKind, options: BrokerOptions): Promise<BenchBroker> {
    const broker = await startBroker(kind, options);
    const stop = async () => {
      try {
        await broker.stop();
      } finally {
        this.#running.delete(broker);
      }
    };
    const tracked: BenchBroker = { ...broker, stop, [Symbol.asyncDispose]: stop };
    this.#running.add(tracked);
    return tracked;
  }

  /** Stops every broker still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((b) => b.stop().catch(() => {})));
  }
}
