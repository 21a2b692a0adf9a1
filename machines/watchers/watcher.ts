/**
 * The one interface every watcher plugin implements, what a machine offers its watchers, and the
 * base class of the watchers that check something on an interval while the machine is in one of
 * their states. Adding a watcher type means one file with a {@linkcode WatcherPlugin}.
 *
 * @module
 */
import type { Logger } from "../../core/log.ts";
import type { MachineData } from "../data_store.ts";
import { parseDuration } from "../duration.ts";
import type { Governors } from "../governor.ts";
import type { WatcherDef } from "../manifest.ts";

/** What a node reports about itself, for the `choria_status` check. */
export interface NodeStatus {
  /** Whether the server is connected to a broker. */
  connected: boolean;
  /** When the last request arrived, ms since the epoch, or null. */
  lastMessageMs: number | null;
  /** When the node's certificate expires, ms since the epoch, or null when unknown. */
  certificateExpiresMs: number | null;
}

/** A metric a watcher measured, for Prometheus and events. */
export interface MetricSample {
  machine: string;
  watcher: string;
  labels: Record<string, string>;
  values: Record<string, number>;
}

/** What a machine offers its watchers. */
export interface WatcherHost {
  readonly machine: string;
  readonly version: string;
  readonly identity: string;
  /** The machine's directory: relative paths are its. */
  readonly directory: string;
  /** Where exec watchers write their data and facts files; the system's when absent. */
  readonly tempDir?: string;
  readonly data: MachineData;
  readonly governors: Governors;
  readonly logger: Logger;
  /** The machine's state now. */
  state(): string;
  /** Fires a transition; invalid or too-fast ones are logged and dropped. */
  fire(transition: string, reason: string): void;
  /** Publishes the watcher's state now. */
  announce(watcher: Watcher): void;
  facts(): Record<string, unknown>;
  nodeStatus(): NodeStatus;
  /** Records metrics a watcher measured. */
  recordMetrics(sample: MetricSample): void;
  /** Reads a key-value bucket, for `kv` watchers; absent where the node has no store to ask. */
  readonly kv?: KvReader;
}

/** The latest value of `key` in `bucket`, or null when it is unset. */
export type KvReader = (bucket: string, key: string) => Promise<Uint8Array | null>;

/** A running watcher. */
export interface Watcher {
  readonly def: WatcherDef;
  /** Starts watching; the machine calls {@linkcode Watcher.stateChanged} right after. */
  start(): void;
  /** The machine entered `state`. */
  stateChanged(state: string): void;
  /** Checks now if the watcher is active in the current state; false when it is not. */
  trigger(): Promise<boolean>;
  /** The fields of the watcher's state event beyond the common ones (type-specific). */
  stateFields(): Record<string, unknown>;
  /** Stops every timer and waits for a running check. */
  stop(): Promise<void>;
}

/** A watcher type. */
export interface WatcherPlugin {
  /** The `type` in machine files. */
  readonly type: string;
  /** Every property it understands; others are reported as problems, not silently ignored. */
  readonly properties: readonly string[];
  /** Reports each bad property as `name: problem`. */
  validate(def: WatcherDef, problem: (text: string) => void): void;
  /** Makes a watcher for a validated definition. */
  create(def: WatcherDef, host: WatcherHost): Watcher;
}

/** What one check gave: the transition to fire, if any. */
export type CheckOutcome = "success" | "fail" | "none";

/**
 * A watcher that checks while the machine is in one of its states: once on entering such a
 * state, then every `interval` (if set); it announces its state after each check and every
 * `announce_interval`. Checks never overlap; a thrown error counts as a failure.
 */
export abstract class PolledWatcher implements Watcher {
  readonly def: WatcherDef;
  protected readonly host: WatcherHost;
  readonly #intervalMs: number;
  readonly #announceMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #announceTimer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | null = null;
  #generation = 0;
  #stopped = false;
  protected readonly stopping = new AbortController();

  constructor(def: WatcherDef, host: WatcherHost) {
    this.def = def;
    this.host = host;
    this.#intervalMs = def.interval ? parseDuration(def.interval) : 0;
    this.#announceMs = def.announce_interval ? parseDuration(def.announce_interval) : 0;
  }

  /** Whether the watcher works in `state`. */
  activeIn(state: string): boolean {
    return this.def.state_match.length === 0 || this.def.state_match.includes(state);
  }

  start(): void {
    if (this.#announceMs > 0) {
      this.#announceTimer = setInterval(() => this.host.announce(this), this.#announceMs);
    }
  }

  stateChanged(state: string): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || !this.activeIn(state)) return;
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    // A check may fire a transition whose state change schedules anew: only the latest chain
    // of timers goes on, or every such transition would add another one.
    const generation = ++this.#generation;
    this.#timer = setTimeout(async () => {
      await this.#check();
      if (generation !== this.#generation) return;
      if (!this.#stopped && this.#intervalMs > 0 && this.activeIn(this.host.state())) {
        this.#schedule(this.#intervalMs);
      }
    }, ms);
  }

  async trigger(): Promise<boolean> {
    if (this.#stopped || !this.activeIn(this.host.state())) return false;
    await this.#check();
    return true;
  }

  #check(): Promise<void> {
    this.#running ??= (async () => {
      let outcome: CheckOutcome;
      try {
        outcome = await this.check(this.stopping.signal);
      } catch (error) {
        this.host.logger.warn("watcher check failed", {
          machine: this.host.machine,
          watcher: this.def.name,
          error: (error as Error).message,
        });
        outcome = "fail";
      }
      if (this.#stopped) return;
      if (this.announceAfterCheck(outcome)) this.host.announce(this);
      const transition = outcome === "success"
        ? this.def.success_transition
        : outcome === "fail"
        ? this.def.fail_transition
        : undefined;
      if (transition) this.host.fire(transition, `${this.def.type} watcher ${this.def.name}`);
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Whether to announce after a check with this outcome. @default true */
  protected announceAfterCheck(_outcome: CheckOutcome): boolean {
    return true;
  }

  /** Checks once. */
  protected abstract check(signal: AbortSignal): Promise<CheckOutcome>;

  abstract stateFields(): Record<string, unknown>;

  async stop(): Promise<void> {
    this.#stopped = true;
    this.stopping.abort();
    clearTimeout(this.#timer);
    clearInterval(this.#announceTimer);
    await this.#running;
  }
}

/** Checks of a watcher's properties, each pushing a problem for a bad value. */
export interface PropertyChecks {
  /** The property is text (non-empty when `required`, which also means it must be there). */
  string(key: string, required?: boolean): void;
  /** The property is a Go duration (and there, when `required`). */
  duration(key: string, required?: boolean): void;
  /** The property, when there, is true or false. */
  boolean(key: string): void;
}

/**
 * The property checks for one watcher definition, reporting to `problem`.
 *
 * @example Check properties
 * ```ts
 * import { propertyChecks } from "./watcher.ts";
 * const problems: string[] = [];
 * const check = propertyChecks(
 *   { name: "w1", type: "exec", state_match: [], properties: { timeout: "soon" } },
 *   (p) => problems.push(p),
 * );
 * check.string("command", true);
 * check.duration("timeout");
 * console.log(problems.length); // 2
 * ```
 */
export function propertyChecks(def: WatcherDef, problem: (text: string) => void): PropertyChecks {
  return {
    string(key, required = false) {
      const value = def.properties[key];
      if (value === undefined) {
        if (required) problem(`${key}: is required`);
      } else if (typeof value !== "string" || (required && value.trim() === "")) {
        problem(
          `${key}: must be ${required ? "non-empty " : ""}text: current value is ${
            JSON.stringify(value)
          }`,
        );
      }
    },
    duration(key, required = false) {
      const value = def.properties[key];
      if (value === undefined) {
        if (required) problem(`${key}: is required`);
        return;
      }
      try {
        if (typeof value !== "string") throw new Error();
        parseDuration(value);
      } catch {
        problem(
          `${key}: must be a Go duration such as 10s or 5m: current value is ${
            JSON.stringify(value)
          }`,
        );
      }
    },
    boolean(key) {
      const value = def.properties[key];
      if (value !== undefined && typeof value !== "boolean") {
        problem(`${key}: must be true or false: current value is ${JSON.stringify(value)}`);
      }
    },
  };
}

/** A duration property in ms, or its default. */
export function durationProperty(def: WatcherDef, key: string, fallbackMs: number): number {
  const value = def.properties[key];
  return typeof value === "string" ? parseDuration(value) : fallbackMs;
}
