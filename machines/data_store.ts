/**
 * The data store each machine has: a small key-value map that exec watchers read (as
 * `WATCHER_DATA`) and fill (`parse_as_data`), and metric watchers can write to. Values are
 * JSON. Kept in memory for the life of the machine, as Choria keeps it.
 *
 * @module
 */

/**
 * One machine's data.
 *
 * @example Store and read
 * ```ts
 * import { MachineData } from "./data_store.ts";
 * const data = new MachineData();
 * data.set("restarts", 1);
 * console.log(data.get("restarts"), data.snapshot()); // 1 { restarts: 1 }
 * ```
 */
export class MachineData {
  readonly #values = new Map<string, unknown>();

  /** The value of `key`, or undefined. */
  get(key: string): unknown {
    return this.#values.get(key);
  }

  /** Sets `key`; the value is copied through JSON so callers cannot change it later. */
  set(key: string, value: unknown): void {
    this.#values.set(key, JSON.parse(JSON.stringify(value ?? null)));
  }

  /** Removes `key`. */
  delete(key: string): boolean {
    return this.#values.delete(key);
  }

  /** Merges every key of `values`. */
  merge(values: Record<string, unknown>): void {
    for (const [key, value] of Object.entries(values)) this.set(key, value);
  }

  /** Every key and value, as a plain object. */
  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.#values);
  }
}
