/**
 * The `timer` watcher: starts a timer of `timer` length whenever the machine enters one of its
 * states (with `splay`, a random length up to it) and fires `fail_transition` when it runs out
 * while the machine is still there, as Choria's does; leaving the states cancels it.
 *
 * @module
 */
import { parseDuration } from "../duration.ts";
import type { WatcherDef } from "../manifest.ts";
import { propertyChecks, type Watcher, type WatcherHost, type WatcherPlugin } from "./watcher.ts";

class TimerWatcher implements Watcher {
  readonly def: WatcherDef;
  readonly #host: WatcherHost;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state: "stopped" | "running" = "stopped";
  #stopped = false;

  constructor(def: WatcherDef, host: WatcherHost) {
    this.def = def;
    this.#host = host;
  }

  start(): void {}

  stateChanged(state: string): void {
    clearTimeout(this.#timer);
    this.#state = "stopped";
    if (
      this.#stopped || (this.def.state_match.length > 0 && !this.def.state_match.includes(state))
    ) return;
    const length = parseDuration(String(this.def.properties.timer));
    const ms = this.def.properties.splay === true ? Math.random() * length : length;
    this.#state = "running";
    this.#timer = setTimeout(() => {
      this.#state = "stopped";
      this.#host.announce(this);
      if (this.def.fail_transition) {
        this.#host.fire(this.def.fail_transition, `timer ${this.def.name} ran out`);
      }
    }, ms);
  }

  trigger(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stateFields(): Record<string, unknown> {
    return { timer: String(this.def.properties.timer), state: this.#state };
  }

  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    return Promise.resolve();
  }
}

/** The `timer` watcher plugin. */
export const timerWatcher: WatcherPlugin = {
  type: "timer",
  properties: ["timer", "splay"],
  validate(def, problem) {
    const check = propertyChecks(def, problem);
    check.duration("timer", true);
    check.boolean("splay");
  },
  create: (def, host) => new TimerWatcher(def, host),
};
