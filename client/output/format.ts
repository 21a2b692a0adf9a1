/**
 * Small pure formatters shared by the output modules: durations, values, printf-style formats as
 * Choria DDL aggregates write them, and aligned key/value blocks.
 *
 * @module
 */

/**
 * A duration for people: `850 µs`, `12 ms`, `12.3 ms` below 100 ms, `2.01 s` from a second.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./format.ts";
 * console.log(formatDuration(2013)); // "2.01 s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms === 0) return "0 ms";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${trim(ms.toFixed(1))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function trim(text: string): string {
  return text.endsWith(".0") ? text.slice(0, -2) : text;
}

/**
 * A reply value as one line of text when it is a scalar, pretty JSON otherwise.
 *
 * @example
 * ```ts
 * import { formatValue } from "./format.ts";
 * console.log(formatValue(["a", "b"])); // "a, b"
 * ```
 */
export function formatValue(value: unknown): string {
  if (value === undefined) return "";
  if (value === null) return "null";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (Array.isArray(value) && value.every(isScalar)) {
    return value.map((v) => (v === null ? "null" : String(v))).join(", ");
  }
  return JSON.stringify(value, null, 2) ?? String(value);
}

function isScalar(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** A value as a key for counting: strings as they are, everything else as JSON. */
export function valueKey(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "undefined";
  return JSON.stringify(value) ?? String(value);
}

/**
 * Lines `label: value` with the labels right-aligned, multi-line values indented under the first
 * line, each line starting with `indent` spaces.
 *
 * @example
 * ```ts
 * import { formatPairs } from "./format.ts";
 * console.log(formatPairs([["Version", "1.0"], ["Main Collective", "mcollective"]], 3));
 * // "           Version: 1.0\n   Main Collective: mcollective"
 * ```
 */
export function formatPairs(pairs: readonly (readonly [string, string])[], indent = 3): string {
  const width = Math.max(0, ...pairs.map(([label]) => label.length));
  const pad = " ".repeat(indent);
  return pairs.map(([label, value]) => {
    const lines = value.split("\n");
    const under = " ".repeat(indent + width + 2);
    return `${pad}${label.padStart(width)}: ${lines[0]}`.trimEnd() +
      lines.slice(1).map((line) => `\n${under}${line}`.trimEnd()).join("");
  }).join("\n");
}

/**
 * Formats `args` by a printf-style `format`, as Choria DDL aggregates use them: `%s`, `%d`,
 * `%i`, `%f` with optional flags (`-`, `0`), width and precision (`%0.2f`, `%-10s`), and `%%`.
 * An unknown conversion is left as written.
 *
 * @example
 * ```ts
 * import { sprintf } from "./format.ts";
 * console.log(sprintf("%s Tests on %d node(s)", ["12", 3])); // "12 Tests on 3 node(s)"
 * console.log(sprintf("Average: %0.2f", [1.5])); // "Average: 1.50"
 * ```
 */
export function sprintf(format: string, args: readonly unknown[]): string {
  let next = 0;
  return format.replace(
    /%([-0]*)(\d+)?(?:\.(\d+))?([sdifv%])/g,
    (whole, flags: string, width: string | undefined, precision: string | undefined, conv) => {
      if (conv === "%") return "%";
      const arg = args[next++];
      let text: string;
      switch (conv) {
        case "d":
        case "i": {
          const n = Number(arg);
          text = Number.isFinite(n) ? String(Math.trunc(n)) : String(arg);
          break;
        }
        case "f": {
          const n = Number(arg);
          text = Number.isFinite(n)
            ? n.toFixed(precision === undefined ? 6 : Number(precision))
            : String(arg);
          break;
        }
        case "s":
        case "v":
          text = typeof arg === "string" ? arg : valueKey(arg);
          if (precision !== undefined) text = text.slice(0, Number(precision));
          break;
        default:
          return whole;
      }
      const size = width === undefined ? 0 : Number(width);
      if (flags.includes("-")) return text.padEnd(size);
      if (flags.includes("0") && conv !== "s" && conv !== "v") {
        const negative = text.startsWith("-");
        const digits = negative ? text.slice(1) : text;
        return (negative ? "-" : "") + digits.padStart(size - (negative ? 1 : 0), "0");
      }
      return text.padStart(size);
    },
  );
}
