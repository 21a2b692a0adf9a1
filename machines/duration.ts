/**
 * Go duration strings, as machine files write them: `10s`, `1m30s`, `250ms`, `1h`.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/** A duration that is not in Go's format. */
export class DurationError extends Error {
  override name = "DurationError";
}

/**
 * Milliseconds in a Go duration; throws {@linkcode DurationError} for anything else.
 *
 * @example Parse durations
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.log(parseDuration("1m30s"), parseDuration("250ms")); // 90000 250
 * ```
 */
export function parseDuration(text: string): number {
  if (typeof text !== "string" || !DURATION.test(text)) {
    throw new DurationError(
      `Cannot read duration as it must be a Go duration such as 10s, 1m or 1h30m: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNITS[unit!]!;
  return ms;
}

/**
 * Whether `text` is a Go duration.
 *
 * @example Check a duration
 * ```ts
 * import { isDuration } from "./duration.ts";
 * console.log(isDuration("5m"), isDuration("5 minutes")); // true false
 * ```
 */
export function isDuration(text: unknown): text is string {
  return typeof text === "string" && DURATION.test(text);
}
