/**
 * The node daemon around {@linkcode ChoraleServer}: lifecycle events (startup, alive, shutdown),
 * registration on its interval with splay, and the status file.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import { createSigner } from "../core/security/signing.ts";
import { encodeLifecycleEvent, lifecycleEvent, lifecycleEventSubject } from "./lifecycle.ts";
import {
  buildInventory,
  createRegistrationMessage,
  inventoryContent,
  type InventoryMachineState,
  registrationSchedule,
} from "./registration.ts";
import { ChoraleServer, type ServerDependencies } from "./server.ts";
import { serverStatus, writeStatusFile } from "./status_file.ts";

/** How often an alive event is published, as go-choria does. */
const ALIVE_INTERVAL_MS = 3_600_000;

/** What a daemon reports beyond its server. */
export interface DaemonExtras {
  /** The node's autonomous agents and their states, for registration. @default none */
  machines?: () => InventoryMachineState[];
}

/** A running node: the server plus its timers. */
export class Daemon implements AsyncDisposable {
  readonly server: ChoraleServer;
  readonly #deps: ServerDependencies;
  readonly #log: Logger;
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  #stopped = false;
  #metrics: Deno.HttpServer<Deno.NetAddr> | null = null;
  readonly #extras: DaemonExtras;

  constructor(deps: ServerDependencies, extras: DaemonExtras = {}) {
    this.#deps = deps;
    this.#extras = extras;
    this.#log = deps.logger;
    this.server = new ChoraleServer(deps);
  }

  /** Connects, announces startup and starts the timers. */
  async start(): Promise<void> {
    await this.server.start();
    this.#publishEvent("startup");
    this.#every(ALIVE_INTERVAL_MS, ALIVE_INTERVAL_MS, () => this.#publishEvent("alive"));
    const { intervalMs, splayMs } = this.#deps.settings.registration;
    if (intervalMs > 0) {
      const schedule = registrationSchedule({ interval: intervalMs / 1000, splay: splayMs / 1000 });
      this.#every(schedule.firstDelayMs, schedule.intervalMs, () => this.#register());
    }
    if (this.#deps.settings.metricsPort > 0) {
      this.#metrics = Deno.serve(
        { hostname: "127.0.0.1", port: this.#deps.settings.metricsPort, onListen: () => {} },
        (request) =>
          new URL(request.url).pathname === "/metrics"
            ? new Response(this.metrics(), {
              headers: { "content-type": "text/plain; version=0.0.4" },
            })
            : new Response("Cannot find it: try /metrics\n", { status: 404 }),
      );
      this.#log.info("metrics", { port: this.#metrics.addr.port });
    }
    if (this.#deps.settings.statusFile !== "") {
      this.#every(0, this.#deps.settings.statusIntervalMs, () => this.#writeStatus());
    }
  }

  #every(firstMs: number, intervalMs: number, task: () => Promise<void> | void): void {
    const run = async () => {
      if (this.#stopped) return;
      try {
        await task();
      } catch (error) {
        this.#log.warn("periodic task failed", { error: (error as Error).message });
      }
      if (!this.#stopped) this.#timers.push(setTimeout(run, intervalMs));
    };
    this.#timers.push(setTimeout(run, firstMs));
  }

  #publishEvent(type: "startup" | "alive" | "shutdown"): void {
    const nc = this.server.connection;
    if (!nc || nc.isClosed()) return;
    const identity = this.server.identity;
    const event = type === "shutdown"
      ? lifecycleEvent("shutdown", { identity, component: "server" })
      : lifecycleEvent(type, { identity, component: "server", version: this.#deps.version });
    nc.publish(lifecycleEventSubject(event), encodeLifecycleEvent(event));
  }

  /** Publishes the node's inventory now, on the main collective's registration subject. */
  async #register(): Promise<void> {
    const nc = this.server.connection;
    if (!nc || nc.isClosed()) return;
    const node = this.server.node;
    const inventory = buildInventory({
      agents: node.agents(),
      collectives: node.collectives,
      version: this.#deps.version,
      classes: node.classes(),
      facts: node.facts(),
      status: this.#status(),
      ...(this.#extras.machines ? { machines: this.#extras.machines() } : {}),
    });
    const m = this.#deps.material;
    const message = await createRegistrationMessage(
      inventoryContent(inventory),
      createSigner(m.certPem, m.keyPem),
      { collective: this.#deps.settings.mainCollective, identity: this.server.identity },
    );
    nc.publish(message.subject, message.payload);
  }

  #status() {
    const s = this.server.stats;
    return serverStatus({
      identity: this.server.identity,
      startedAt: this.server.startedAt,
      connectedServer: this.server.connection?.getServer() ?? "",
      lastMessage: this.server.lastMessage,
      stats: {
        total: s.total,
        valid: s.valid,
        invalid: s.invalid,
        passed: s.passed,
        filtered: s.filtered,
        replies: s.replies,
      },
      certificateExpires: this.#deps.material.notAfter,
    });
  }

  /** The server's counters in Prometheus text format. */
  metrics(): string {
    const lines: string[] = [];
    for (const [name, value] of Object.entries(this.server.stats)) {
      const metric = `chorale_server_requests_${name}_total`;
      lines.push(
        `# HELP ${metric} Requests ${name}`,
        `# TYPE ${metric} counter`,
        `${metric} ${value}`,
      );
    }
    const connected = this.server.connection && !this.server.connection.isClosed() ? 1 : 0;
    const expiry = Math.floor(this.#deps.material.notAfter.getTime() / 1000);
    lines.push(
      "# HELP chorale_server_connected Whether the server is connected to a broker",
      "# TYPE chorale_server_connected gauge",
      `chorale_server_connected ${connected}`,
      "# HELP chorale_server_certificate_expiry_seconds When the node's certificate expires",
      "# TYPE chorale_server_certificate_expiry_seconds gauge",
      `chorale_server_certificate_expiry_seconds ${expiry}`,
    );
    return lines.join("\n") + "\n";
  }

  async #writeStatus(): Promise<void> {
    await writeStatusFile(this.#deps.settings.statusFile, this.#status());
  }

  /** Announces shutdown, stops the timers and the server. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    await this.#metrics?.shutdown();
    this.#publishEvent("shutdown");
    await this.server.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
