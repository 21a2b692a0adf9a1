/**
 * A slice of an emulated fleet inside one process: many real {@linkcode ChoraleServer}s, each
 * with its own identity (`emulated-<i>`), its own facts and its own broker connection, going
 * through the same request gate (authentication, authorization, audit) as `deno task server`.
 *
 * What does not differ between instances is built once per process and shared: the agents and
 * their parsed DDLs, the facts template, the audit log and the logger. What must differ stays per
 * instance: the identity and its certificate (issued by the CA at start: servers sign replies, and
 * clients check the signer is the sender), the broker connection and subscriptions, the replay
 * guard (one request reaches every instance, so a shared guard would refuse it everywhere but
 * once) and the server's counters. The certificate verifier and signer are built by each
 * `ChoraleServer`, which offers no way to share them.
 *
 * @module
 */
import type { Agent } from "../agents/agent.ts";
import { choriaUtilAgent } from "../agents/choria_util.ts";
import { discoveryAgent } from "../agents/discovery.ts";
import { emulatedAgent } from "../agents/emulated.ts";
import { rpcutilAgent } from "../agents/rpcutil.ts";
import { matchesFilter } from "../core/filter/mod.ts";
import type { Logger } from "../core/log.ts";
import type { AuditLog } from "../core/security/audit.ts";
import type { CertificateAuthority } from "../core/security/ca.ts";
import type { ServerSettings } from "../server/config.ts";
import { runForServer, VERSION } from "../server/main.ts";
import { ChoraleServer } from "../server/server.ts";
import { issueMaterial } from "./config.ts";

/** The identity of emulated server `index`. */
export function emulatedIdentity(index: number): string {
  return `emulated-${index}`;
}

/** Options for {@linkcode EmulatedFleet}. */
export interface EmulatedFleetOptions {
  /** Server settings every instance shares; each gets its own `identity`. */
  settings: ServerSettings;
  /** Issues each instance's certificate; its certificate is the trust anchor. */
  ca: CertificateAuthority;
  /**
   * Broker URLs; instance `i` connects to `brokers[i % brokers.length]`, so naming one broker by
   * several loopback addresses spreads connections over more ephemeral ports.
   */
  brokers: string[];
  /** Index of the first instance. */
  first: number;
  /** How many instances this process runs. */
  count: number;
  /** Facts every instance has; each also gets `emulated_index`, `emulated_group` and `identity`. */
  facts: Record<string, unknown>;
  /** Classes every instance has. @default [] */
  classes?: string[];
  /** The `emulated` agent's reply size in bytes. @default 0 */
  replySize?: number;
  /** The `emulated` agent's delay in milliseconds. @default 0 */
  delayMs?: number;
  /** The audit log every instance writes to, or null for none. */
  audit: AuditLog | null;
  /** Connections being opened at once. @default 64 */
  concurrency?: number;
  logger: Logger;
}

/** Instances report which of ten groups they are in, for filter tests: `emulated_group=3`. */
export const EMULATED_GROUPS = 10;

/** Connection counts of a fleet slice. */
export interface FleetCounts {
  /** Instances this process runs. */
  total: number;
  /** Instances connected to the broker now. */
  connected: number;
  /** Reconnections since start. */
  reconnects: number;
}

/** Many emulated servers in one process; see the module doc. */
export class EmulatedFleet implements AsyncDisposable {
  readonly #options: EmulatedFleetOptions;
  readonly #servers: ChoraleServer[] = [];
  readonly #agents: Agent[];
  readonly #classes: string[];
  readonly #counts: FleetCounts;
  readonly #listeners = new Set<(counts: FleetCounts) => void>();
  #stopped = false;

  constructor(options: EmulatedFleetOptions) {
    if (options.brokers.length === 0) {
      throw new TypeError("Cannot emulate servers as 'brokers' is empty: name at least one broker");
    }
    this.#options = options;
    this.#classes = options.classes ?? [];
    this.#counts = { total: options.count, connected: 0, reconnects: 0 };
    const brokers = options.brokers;
    this.#agents = [
      rpcutilAgent({
        config: () => ({ collectives: options.settings.collectives, brokers }),
      }),
      discoveryAgent(),
      choriaUtilAgent({
        info: () => ({ connector: "nats", connector_tls: true, secure_protocol: true }),
      }),
      emulatedAgent({ replySize: options.replySize ?? 0, delayMs: options.delayMs ?? 0 }),
    ];
  }

  /** The agents every instance hosts. */
  get agentNames(): string[] {
    return this.#agents.map((a) => a.ddl.metadata.name);
  }

  /** Connection counts now. */
  get counts(): FleetCounts {
    return { ...this.#counts };
  }

  /** The running servers, in index order. */
  get servers(): readonly ChoraleServer[] {
    return this.#servers;
  }

  /** Calls `listener` whenever an instance connects, disconnects or reconnects. */
  onChange(listener: (counts: FleetCounts) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    const counts = this.counts;
    for (const listener of this.#listeners) listener(counts);
  }

  /** Facts of instance `index`: the template plus what tells instances apart. */
  factsOf(index: number): Record<string, unknown> {
    return {
      ...this.#options.facts,
      identity: emulatedIdentity(index),
      emulated_index: index,
      emulated_group: index % EMULATED_GROUPS,
    };
  }

  async #build(index: number): Promise<ChoraleServer> {
    const o = this.#options;
    const identity = emulatedIdentity(index);
    const facts = () => this.factsOf(index);
    const classes = () => this.#classes;
    const agentNames = this.agentNames;
    return new ChoraleServer({
      settings: { ...o.settings, identity },
      material: await issueMaterial(o.ca, identity),
      agents: this.#agents,
      facts,
      classes,
      runAction: runForServer,
      selects: (verified) =>
        matchesFilter(verified.request.envelope.filter, {
          identity,
          facts: facts(),
          classes: this.#classes,
          agents: agentNames,
        }),
      audit: o.audit,
      brokers: [o.brokers[index % o.brokers.length]!],
      logger: o.logger,
      version: VERSION,
    });
  }

  /**
   * Connects every instance, `concurrency` handshakes at a time, and resolves once all are
   * connected and subscribed. Throws the first connection failure after stopping the rest.
   */
  async start(): Promise<void> {
    const o = this.#options;
    const end = o.first + o.count;
    let next = o.first;
    let failure: unknown = null;
    const worker = async () => {
      while (failure === null && !this.#stopped && next < end) {
        const index = next++;
        let server: ChoraleServer | undefined;
        try {
          server = await this.#build(index);
          this.#servers[index - o.first] = server;
          await server.start();
        } catch (error) {
          failure ??= new EmulatorStartError(
            `Cannot connect emulated server '${emulatedIdentity(index)}' to ${
              o.brokers[index % o.brokers.length]
            }: ${(error as Error).message}`,
            { cause: error },
          );
          return;
        }
        this.#counts.connected++;
        this.#watch(server);
        this.#changed();
      }
    };
    const lanes = Math.max(1, Math.min(o.concurrency ?? 64, o.count));
    await Promise.all(Array.from({ length: lanes }, worker));
    if (failure !== null) {
      await this.stop();
      throw failure;
    }
  }

  async #watch(server: ChoraleServer): Promise<void> {
    const nc = server.connection;
    if (!nc) return;
    let up = true;
    try {
      for await (const status of nc.status()) {
        if (status.type === "disconnect" && up) {
          up = false;
          this.#counts.connected--;
          this.#changed();
        } else if (status.type === "reconnect" && !up) {
          up = true;
          this.#counts.connected++;
          this.#counts.reconnects++;
          this.#changed();
        }
      }
    } catch {
      // The connection closed: stop() accounts for it.
    }
  }

  /** Disconnects every instance. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.allSettled(this.#servers.filter(Boolean).map((s) => s.stop()));
    this.#counts.connected = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** An emulated server could not connect. */
export class EmulatorStartError extends Error {
  override name = "EmulatorStartError";
}
