/**
 * The pure core of a machine: its states, the transitions valid from each, and a token bucket
 * that rate-limits fast transitions so a check that flaps every second cannot flood the network
 * with events or spin its watchers. No I/O and no clock of its own: callers pass `now`.
 *
 * @module
 */
import type { TransitionDef } from "./manifest.ts";

/** How fast transitions may come. */
export interface TransitionLimit {
  /** Transitions allowed back to back. @default 10 */
  burst?: number;
  /** One more is allowed per this many ms. @default 2000 */
  refillMs?: number;
}

/** What {@linkcode StateMachine.fire} did. */
export type FireResult =
  | { ok: true; transition: string; from: string; to: string }
  | { ok: false; reason: "invalid" | "unchanged"; message: string }
  | { ok: false; reason: "rate-limited"; message: string; retryInMs: number };

/**
 * A finite state machine over Choria transitions.
 *
 * @example Fire transitions
 * ```ts
 * import { StateMachine } from "./state_machine.ts";
 * const fsm = new StateMachine("unknown", [
 *   { name: "ok", from: ["unknown", "bad"], destination: "good" },
 *   { name: "fail", from: ["unknown", "good"], destination: "bad" },
 * ]);
 * console.log(fsm.fire("fail", 0), fsm.state); // { ok: true, ... } bad
 * console.log(fsm.available()); // ["ok"]
 * ```
 */
export class StateMachine {
  #state: string;
  readonly #transitions: readonly TransitionDef[];
  readonly #burst: number;
  readonly #refillMs: number;
  #tokens: number;
  #refilledAt = 0;
  /** Transitions refused because they came too fast. */
  rateLimited = 0;

  constructor(initial: string, transitions: readonly TransitionDef[], limit: TransitionLimit = {}) {
    this.#state = initial;
    this.#transitions = transitions;
    this.#burst = limit.burst ?? 10;
    this.#refillMs = limit.refillMs ?? 2_000;
    this.#tokens = this.#burst;
  }

  /** The current state. */
  get state(): string {
    return this.#state;
  }

  /** Every state named by a transition. */
  states(): string[] {
    const states = new Set<string>();
    for (const t of this.#transitions) {
      for (const f of t.from) states.add(f);
      states.add(t.destination);
    }
    return [...states];
  }

  /** The transitions valid from the current state, each name once. */
  available(): string[] {
    return [
      ...new Set(this.#transitions.filter((t) => t.from.includes(this.#state)).map((t) => t.name)),
    ];
  }

  /** Whether `name` is valid from the current state. */
  can(name: string): boolean {
    return this.#target(name) !== undefined;
  }

  #target(name: string): string | undefined {
    return this.#transitions.find((t) => t.name === name && t.from.includes(this.#state))
      ?.destination;
  }

  /** Fires `name` at time `now` (ms): moves the machine, or says why not. */
  fire(name: string, now: number): FireResult {
    const to = this.#target(name);
    if (to === undefined) {
      const known = this.#transitions.some((t) => t.name === name);
      return {
        ok: false,
        reason: "invalid",
        message: known
          ? `Cannot fire transition '${name}' as it is not valid from state '${this.#state}': valid are ${
            this.available().join(", ") || "none"
          }`
          : `Cannot fire transition '${name}' as the machine has no such transition`,
      };
    }
    // Staying put is no transition (as in Choria): no event, no watcher restarts, no token.
    if (to === this.#state) {
      return {
        ok: false,
        reason: "unchanged",
        message: `Cannot fire transition '${name}' as the machine is already in state '${to}'`,
      };
    }
    const refills = Math.floor((now - this.#refilledAt) / this.#refillMs);
    if (refills > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + refills);
      this.#refilledAt = this.#tokens === this.#burst
        ? now
        : this.#refilledAt + refills * this.#refillMs;
    }
    if (this.#tokens < 1) {
      this.rateLimited++;
      const retryInMs = this.#refilledAt + this.#refillMs - now;
      return {
        ok: false,
        reason: "rate-limited",
        message:
          `Cannot fire transition '${name}' as the machine made ${this.#burst} transitions back to back and may make one more every ${this.#refillMs} ms: retry in ${retryInMs} ms`,
        retryInMs,
      };
    }
    if (this.#tokens === this.#burst) this.#refilledAt = now;
    this.#tokens--;
    const from = this.#state;
    this.#state = to;
    return { ok: true, transition: name, from, to };
  }
}
