/**
 * Nagios plugin results: exit codes 0-3 as OK, WARNING, CRITICAL and UNKNOWN (anything else is
 * UNKNOWN), the first line of output before `|` as the message, and perfdata
 * (`'label'=value[unit];warn;crit;min;max ...`) parsed as the Nagios plugin guidelines describe.
 * Pure: no I/O.
 *
 * @module
 */

/** The four Nagios states, by exit code. */
export const NagiosStatuses = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;

/** One of {@linkcode NagiosStatuses}. */
export type NagiosStatus = (typeof NagiosStatuses)[number];

/** One perfdata item, as Choria's nagios state event carries it. */
export interface Perfdata {
  label: string;
  value: number;
  unit: string;
}

const UNITS = new Set(["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"]);

/**
 * The status of an exit code.
 *
 * @example Name exit codes
 * ```ts
 * import { nagiosStatus } from "./nagios.ts";
 * console.log(nagiosStatus(2), nagiosStatus(127)); // CRITICAL UNKNOWN
 * ```
 */
export function nagiosStatus(code: number | null): { status: NagiosStatus; code: 0 | 1 | 2 | 3 } {
  if (code === 0 || code === 1 || code === 2 || code === 3) {
    return { status: NagiosStatuses[code], code };
  }
  return { status: "UNKNOWN", code: 3 };
}

/**
 * Splits plugin output into its message and perfdata. Perfdata whose value is not a number is
 * left out, and units Choria's schema does not list are kept as no unit.
 *
 * @example Read plugin output
 * ```ts
 * import { parseNagiosOutput } from "./nagios.ts";
 * const { message, perfdata } = parseNagiosOutput("DISK OK - 42% used | 'used'=42%;80;90 time=0.01s");
 * console.log(message, perfdata);
 * // DISK OK - 42% used [ { label: "used", value: 42, unit: "%" }, { label: "time", value: 0.01, unit: "s" } ]
 * ```
 */
export function parseNagiosOutput(output: string): { message: string; perfdata: Perfdata[] } {
  const lines = output.split("\n");
  const first = lines[0] ?? "";
  const bar = first.indexOf("|");
  const message = (bar >= 0 ? first.slice(0, bar) : first).trim();
  let perf = bar >= 0 ? first.slice(bar + 1) : "";
  // Long output may carry more perfdata after a `|` on a later line.
  for (const line of lines.slice(1)) {
    const at = line.indexOf("|");
    if (at >= 0) perf += " " + line.slice(at + 1);
  }
  const perfdata: Perfdata[] = [];
  for (const match of perf.matchAll(/('([^']+)'|[^\s=']+)=([^\s]+)/g)) {
    const label = match[2] ?? match[1]!;
    const value = /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)([a-zA-Z%]*)/.exec(match[3]!.split(";")[0]!);
    if (!value) continue;
    const unit = UNITS.has(value[2]!) ? value[2]! : "";
    perfdata.push({ label, value: Number(value[1]), unit });
  }
  return { message, perfdata };
}
