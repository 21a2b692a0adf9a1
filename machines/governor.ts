/**
 * Governed concurrency for commands watchers run: a cap on commands running at once on the node,
 * and named governors (the exec watcher's `governor` property) that let only `capacity` holders
 * in at a time, others waiting up to their `governor_timeout`. Choria's governors span the
 * network through its stream store; these govern one node.
 *
 * @module
 */

/** No slot came free in time. */
export class GovernorTimeoutError extends Error {
  override name = "GovernorTimeoutError";
}

/**
 * A counting semaphore with a bounded wait.
 *
 * @example Take a slot
 * ```ts
 * import { Semaphore } from "./governor.ts";
 * const slots = new Semaphore("demo", 1);
 * const release = await slots.acquire(1_000);
 * console.log(slots.inUse); // 1
 * release();
 * ```
 */
export class Semaphore {
  readonly name: string;
  readonly capacity: number;
  #used = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
  }

  /** Slots taken now. */
  get inUse(): number {
    return this.#used;
  }

  /** Waits for a slot up to `timeoutMs`; resolves with its release function. */
  acquire(timeoutMs: number, signal?: AbortSignal): Promise<() => void> {
    const release = () => {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#used--;
    };
    if (this.#used < this.capacity) {
      this.#used++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        resolve(once(release));
      };
      const remove = () => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
      };
      const timer = setTimeout(() => {
        remove();
        reject(
          new GovernorTimeoutError(
            `Cannot get a slot on governor '${this.name}' as its ${this.capacity} slots stayed taken for ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const abort = () => {
        clearTimeout(timer);
        remove();
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiting.push(grant);
    });
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

/**
 * The node's governors: one overall cap and named ones made on first use.
 *
 * @example Named governors
 * ```ts
 * import { Governors } from "./governor.ts";
 * const governors = new Governors({ maxConcurrent: 4 });
 * console.log(governors.named("backup").capacity); // 1
 * ```
 */
export class Governors {
  /** Commands running at once across every machine on the node. */
  readonly overall: Semaphore;
  readonly #named = new Map<string, Semaphore>();
  readonly #capacities: Record<string, number>;

  constructor(options: { maxConcurrent?: number; capacities?: Record<string, number> } = {}) {
    this.overall = new Semaphore("commands", options.maxConcurrent ?? 8);
    this.#capacities = options.capacities ?? {};
  }

  /** The governor called `name`; capacity 1 unless configured. */
  named(name: string): Semaphore {
    let governor = this.#named.get(name);
    if (!governor) {
      governor = new Semaphore(name, this.#capacities[name] ?? 1);
      this.#named.set(name, governor);
    }
    return governor;
  }
}
