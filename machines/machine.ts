/**
 * A running autonomous agent: a manifest brought to life with its state machine, data store and
 * watchers. Watchers fire transitions; each transition is published as an event and told to
 * every watcher; transitions that come too fast are dropped and counted. Events leave through
 * an injected `publish`, so the machine runs the same in the server and in `chorale machine run`.
 *
 * @module
 */
import { type Logger, silentLogger } from "../core/log.ts";
import { MachineData } from "./data_store.ts";
import {
  type MachineCloudEvent,
  type MachineRef,
  transitionEvent,
  type WatcherState,
  watcherStateEvent,
} from "./events.ts";
import { Governors } from "./governor.ts";
import type { MachineManifest } from "./manifest.ts";
import { type FireResult, StateMachine, type TransitionLimit } from "./state_machine.ts";
import type {
  KvReader,
  MetricSample,
  NodeStatus,
  Watcher,
  WatcherHost,
  WatcherPlugin,
} from "./watchers/watcher.ts";

/** What a machine is run with. */
export interface MachineOptions {
  manifest: MachineManifest;
  /** The machine's directory (relative paths in it are resolved against it). */
  directory: string;
  /** The node's identity. */
  identity: string;
  plugins: ReadonlyMap<string, WatcherPlugin>;
  /** Sends an event. @default nowhere */
  publish?: (subject: string, event: MachineCloudEvent) => void;
  /** The node's facts, for exec watchers. @default {} */
  facts?: () => Record<string, unknown>;
  /** Shared governors. @default a new set */
  governors?: Governors;
  /** The node's status, for `choria_status`. @default connected, nothing else known */
  nodeStatus?: () => NodeStatus;
  /** Told of every metric measured. */
  recordMetrics?: (sample: MetricSample) => void;
  /** Reads key-value buckets for `kv` watchers. @default none: they fail */
  kv?: KvReader;
  /** Told of every transition. */
  onTransition?: (
    change: { machine: Machine; transition: string; from: string; to: string },
  ) => void;
  logger?: Logger;
  /** Rate limit of transitions. */
  limit?: TransitionLimit;
  /** Whether to honour `splay_start`. @default true */
  splay?: boolean;
  /** Whether this machine is a compiled Scout check. @default false */
  scout?: boolean;
  /** Where exec watchers write their temporary files. @default the system's */
  tempDir?: string;
}

/**
 * One autonomous agent.
 *
 * @example Run a machine and force a transition
 * ```ts
 * import { Machine } from "./machine.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * await using machine = new Machine({
 *   manifest: {
 *     name: "toggle", version: "1.0.0", initial_state: "off", splay_start: 0,
 *     transitions: [{ name: "on", from: ["off"], destination: "on" }],
 *     watchers: [{ name: "t", type: "timer", state_match: ["on"], properties: { timer: "1h" } }],
 *   },
 *   directory: "/tmp", identity: "n1", plugins: defaultPlugins(),
 * });
 * await machine.start();
 * machine.transition("on", "operator");
 * console.log(machine.state); // on
 * ```
 */
export class Machine implements AsyncDisposable {
  /** This instance's id. */
  readonly id: string = crypto.randomUUID();
  readonly manifest: MachineManifest;
  readonly directory: string;
  readonly data = new MachineData();
  readonly scout: boolean;
  /** When it started, or null before. */
  startedAt: Date | null = null;
  /** Transitions made since start. */
  transitions = 0;
  readonly #fsm: StateMachine;
  readonly #options: MachineOptions;
  readonly #watchers: Watcher[];
  readonly #logger: Logger;
  #stopped = false;
  #splayTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: MachineOptions) {
    this.#options = options;
    this.manifest = options.manifest;
    this.directory = options.directory;
    this.scout = options.scout ?? false;
    this.#logger = (options.logger ?? silentLogger).child(`machine ${options.manifest.name}`);
    this.#fsm = new StateMachine(
      options.manifest.initial_state,
      options.manifest.transitions,
      options.limit,
    );
    const governors = options.governors ?? new Governors();
    const host: WatcherHost = {
      machine: options.manifest.name,
      version: options.manifest.version,
      identity: options.identity,
      directory: options.directory,
      ...(options.tempDir ? { tempDir: options.tempDir } : {}),
      data: this.data,
      governors,
      logger: this.#logger,
      state: () => this.#fsm.state,
      fire: (transition, reason) => {
        this.transition(transition, reason);
      },
      announce: (watcher) => this.#announce(watcher),
      facts: options.facts ?? (() => ({})),
      nodeStatus: options.nodeStatus ??
        (() => ({ connected: true, lastMessageMs: null, certificateExpiresMs: null })),
      recordMetrics: options.recordMetrics ?? (() => {}),
      ...(options.kv ? { kv: options.kv } : {}),
    };
    this.#watchers = options.manifest.watchers.map((def) => {
      const plugin = options.plugins.get(def.type);
      if (!plugin) {
        throw new Error(
          `Cannot run watcher '${def.name}' as there is no '${def.type}' watcher plugin`,
        );
      }
      return plugin.create(def, host);
    });
  }

  /** The machine's name. */
  get name(): string {
    return this.manifest.name;
  }

  /** The machine's version. */
  get version(): string {
    return this.manifest.version;
  }

  /** The current state. */
  get state(): string {
    return this.#fsm.state;
  }

  /** The transitions valid from the current state. */
  availableTransitions(): string[] {
    return this.#fsm.available();
  }

  /** The watchers. */
  get watchers(): readonly Watcher[] {
    return this.#watchers;
  }

  /** Transitions dropped for coming too fast. */
  get rateLimited(): number {
    return this.#fsm.rateLimited;
  }

  get #ref(): MachineRef {
    return {
      id: this.id,
      identity: this.#options.identity,
      machine: this.name,
      version: this.version,
    };
  }

  /** Starts the watchers, after a random delay up to `splay_start` seconds. */
  start(): Promise<void> {
    this.startedAt = new Date();
    const splayMs = (this.#options.splay ?? true)
      ? Math.random() * this.manifest.splay_start * 1000
      : 0;
    return new Promise((resolve) => {
      this.#splayTimer = setTimeout(() => {
        if (!this.#stopped) {
          for (const watcher of this.#watchers) watcher.start();
          for (const watcher of this.#watchers) watcher.stateChanged(this.state);
        }
        resolve();
      }, splayMs);
    });
  }

  /** Fires a transition: from a watcher, an operator or RPC. */
  transition(name: string, reason: string): FireResult {
    if (this.#stopped) {
      return {
        ok: false,
        reason: "invalid",
        message: `Cannot fire transition '${name}' as machine '${this.name}' is stopped`,
      };
    }
    const result = this.#fsm.fire(name, Date.now());
    if (!result.ok) {
      // Watchers fire their transitions on every check; one not valid here is routine.
      if (result.reason === "rate-limited") {
        this.#logger.warn("transition dropped", { reason, error: result.message });
      } else this.#logger.debug("transition ignored", { reason, error: result.message });
      return result;
    }
    this.transitions++;
    this.#logger.info("transition", { transition: name, from: result.from, to: result.to, reason });
    const { subject, event } = transitionEvent(this.#ref, result);
    this.#publish(subject, event);
    this.#options.onTransition?.({
      machine: this,
      transition: name,
      from: result.from,
      to: result.to,
    });
    for (const watcher of this.#watchers) watcher.stateChanged(result.to);
    return result;
  }

  /** Checks now with every watcher active in the current state (or the one named). */
  async trigger(watcher?: string): Promise<string[]> {
    const ran: string[] = [];
    for (const w of this.#watchers) {
      if (watcher !== undefined && w.def.name !== watcher) continue;
      if (await w.trigger()) ran.push(w.def.name);
    }
    return ran;
  }

  /** The state event fields of a watcher, as published. */
  watcherState(watcher: Watcher): Record<string, unknown> {
    return watcherStateEvent(this.#ref, this.#stateOf(watcher)).event.data;
  }

  #stateOf(watcher: Watcher): WatcherState {
    return { name: watcher.def.name, type: watcher.def.type, fields: watcher.stateFields() };
  }

  #announce(watcher: Watcher): void {
    if (this.#stopped) return;
    const { subject, event } = watcherStateEvent(this.#ref, this.#stateOf(watcher));
    this.#publish(subject, event);
  }

  #publish(subject: string, event: MachineCloudEvent): void {
    try {
      this.#options.publish?.(subject, event);
    } catch (error) {
      this.#logger.warn("event not published", { subject, error: (error as Error).message });
    }
  }

  /** Stops every watcher. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#splayTimer);
    await Promise.allSettled(this.#watchers.map((w) => w.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
