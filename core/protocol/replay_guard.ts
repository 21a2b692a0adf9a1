/**
 * A bounded memory of accepted requests, to refuse a captured request replayed within its TTL
 * window (after the window the TTL check refuses it).
 *
 * Entries are keyed by caller id and request id and kept until the request's time plus its TTL:
 * the whole span in which the TTL check would still accept the request, future skew included,
 * since a request dated in the future is accepted from now until its time plus TTL. Keying on
 * the caller as well as the id means one caller cannot block another's request by reusing its id
 * (only a privileged signer may sign for another caller). Remember a request only once it has
 * been verified, so a forgery cannot burn a genuine request's id.
 *
 * Memory is bounded by `capacity`: expired entries at the front (the oldest) go on every add and,
 * when full, the oldest entry is forgotten even if unexpired, so a flood of valid requests beyond
 * capacity inside one TTL window reopens replays of the oldest ones. The default, 50,000 entries
 * (several MiB), covers over 400 requests a second at the default 60 second TTL plus 60 second
 * skew.
 *
 * @module
 */

/** Options for {@linkcode ReplayGuard}. */
export interface ReplayGuardOptions {
  /** How many accepted requests to remember. @default 50000 */
  capacity?: number;
}

/**
 * Remembers accepted requests until they expire.
 *
 * @example Refuse a second delivery
 * ```ts
 * import { ReplayGuard } from "./replay_guard.ts";
 * const guard = new ReplayGuard();
 * const now = Date.now();
 * console.log(guard.has("choria=alice.mcollective abc", now)); // false
 * guard.add("choria=alice.mcollective abc", now + 60_000, now);
 * console.log(guard.has("choria=alice.mcollective abc", now)); // true
 * ```
 */
export class ReplayGuard {
  readonly #capacity: number;
  // key -> expiry (ms since the epoch); Map keeps insertion order, oldest first.
  readonly #seen = new Map<string, number>();

  /** Makes an empty guard; throws a RangeError for a capacity under 1. */
  constructor(options: ReplayGuardOptions = {}) {
    const capacity = options.capacity ?? 50_000;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create replay guard as 'capacity' must be a positive integer: current value is ${capacity}`,
      );
    }
    this.#capacity = capacity;
  }

  /** How many requests are remembered (expired ones may linger until swept). */
  get size(): number {
    return this.#seen.size;
  }

  /** Whether `key` was accepted and has not expired at `now` (ms). */
  has(key: string, now: number): boolean {
    const expires = this.#seen.get(key);
    return expires !== undefined && expires >= now;
  }

  /** Remembers `key` until `expiresAt` (ms). */
  add(key: string, expiresAt: number, now: number): void {
    this.#seen.delete(key);
    // Entries arrive roughly in expiry order: drop expired ones from the front, cheaply.
    for (const [oldest, expires] of this.#seen) {
      if (expires >= now) break;
      this.#seen.delete(oldest);
    }
    // No full sweep when full: it would cost O(capacity) per request under a flood.
    if (this.#seen.size >= this.#capacity) {
      this.#seen.delete(this.#seen.keys().next().value as string);
    }
    this.#seen.set(key, expiresAt);
  }
}
