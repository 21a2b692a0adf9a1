/**
 * The `schedule` watcher: cron-like windows. Each minute one of its `schedules` matches (while
 * the machine is in one of its states) the watcher turns on for `duration` and fires
 * `success_transition` (after a random `start_splay`, if set); when the window closes it turns
 * off and fires `fail_transition`.
 *
 * @module
 */
import { cronMatches, parseCron } from "../cron.ts";
import { parseDuration } from "../duration.ts";
import type { WatcherDef } from "../manifest.ts";
import {
  durationProperty,
  propertyChecks,
  type Watcher,
  type WatcherHost,
  type WatcherPlugin,
} from "./watcher.ts";

/** How often the clock is looked at. */
const TICK_MS = 1_000;

class ScheduleWatcher implements Watcher {
  readonly def: WatcherDef;
  readonly #host: WatcherHost;
  readonly #crons;
  readonly #durationMs: number;
  #tick: ReturnType<typeof setInterval> | undefined;
  #state: "unknown" | "off" | "on" | "skipped" = "unknown";
  #onUntil = 0;
  #lastMinute = -1;
  readonly #now: () => number;

  constructor(def: WatcherDef, host: WatcherHost, now: () => number = Date.now) {
    this.def = def;
    this.#host = host;
    this.#crons = (def.properties.schedules as string[]).map((s) => parseCron(s));
    this.#durationMs = parseDuration(String(def.properties.duration));
    this.#now = now;
  }

  start(): void {
    this.#tick = setInterval(() => this.#look(), TICK_MS);
  }

  #active(): boolean {
    return this.def.state_match.length === 0 || this.def.state_match.includes(this.#host.state());
  }

  #look(): void {
    const now = this.#now();
    if (!this.#active()) {
      this.#state = "skipped";
      return;
    }
    const minute = Math.floor(now / 60_000);
    if (minute !== this.#lastMinute && this.#crons.some((c) => cronMatches(c, new Date(now)))) {
      this.#lastMinute = minute;
      const wasOn = this.#state === "on";
      this.#onUntil = now + this.#durationMs;
      this.#state = "on";
      if (!wasOn) {
        const splay = durationProperty(this.def, "start_splay", 0);
        setTimeout(() => this.#fire("success_transition"), Math.random() * splay);
        this.#host.announce(this);
      }
    } else if (this.#state === "on" && now >= this.#onUntil) {
      this.#state = "off";
      this.#host.announce(this);
      this.#fire("fail_transition");
    } else if (this.#state !== "on") {
      this.#state = "off";
    }
  }

  #fire(key: "success_transition" | "fail_transition"): void {
    const t = this.def[key];
    if (t) {
      this.#host.fire(
        t,
        `schedule ${this.def.name} turned ${key === "success_transition" ? "on" : "off"}`,
      );
    }
  }

  stateChanged(): void {}

  trigger(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stateFields(): Record<string, unknown> {
    return { state: this.#state };
  }

  stop(): Promise<void> {
    clearInterval(this.#tick);
    return Promise.resolve();
  }
}

/** The `schedule` watcher plugin. */
export const scheduleWatcher: WatcherPlugin = {
  type: "schedule",
  properties: ["duration", "schedules", "start_splay"],
  validate(def, problem) {
    const check = propertyChecks(def, problem);
    check.duration("duration", true);
    check.duration("start_splay");
    const schedules = def.properties.schedules;
    if (!Array.isArray(schedules) || schedules.length === 0) {
      problem(
        `schedules: must be a list of cron schedules: current value is ${
          JSON.stringify(schedules)
        }`,
      );
      return;
    }
    schedules.forEach((s, i) => {
      try {
        if (typeof s !== "string") {
          throw new Error(`must be text: current value is ${JSON.stringify(s)}`);
        }
        parseCron(s);
      } catch (error) {
        problem(`schedules[${i}]: ${(error as Error).message}`);
      }
    });
  },
  create: (def, host) => new ScheduleWatcher(def, host),
};
