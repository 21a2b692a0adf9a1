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
  registrationSchedule,
} from "./registration.ts";
import { ChoraleServer, type ServerDependencies } from "./server.ts";
import { serverStatus, writeStatusFile } from "./status_file.ts";

/** How often an alive event is published, as go-choria does. */
const ALIVE_INTERVAL_MS = 3_600_000;

/** A running node: the server plus its timers. */
export class Daemon implements AsyncDisposable {
  readonly server: ChoraleServer;
  readonly #deps: ServerDependencies;
  readonly #log: Logger;
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  #stopped = false;

  constructor(deps: ServerDependencies) {
    this.#deps = deps;
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

  async #writeStatus(): Promise<void> {
    await writeStatusFile(this.#deps.settings.statusFile, this.#status());
  }

  /** Announces shutdown, stops the timers and the server. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#publishEvent("shutdown");
    await this.server.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
