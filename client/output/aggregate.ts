/**
 * Choria's DDL aggregate functions over the replies of a call: `summary` (how often each value
 * occurs; each element of a list counts on its own), `boolean_summary` (true and false under the
 * DDL's labels) and `average` (of numeric values). As in Choria, only successful replies count.
 * Pure: results in, figures and text out.
 *
 * @module
 */
import type { ActionDdl } from "../../agents/agent.ts";
import type { RpcResult } from "../types.ts";
import { type Palette, plainPalette } from "./colour.ts";
import { sprintf, valueKey } from "./format.ts";

/** One row of a summary: a value and how many replies had it. */
export interface SummaryRow {
  value: string;
  count: number;
}

/** What one aggregate function found. */
export type AggregateResult =
  | {
    type: "summary" | "boolean_summary";
    /** The output it summarises. */
    output: string;
    /** The output's display name. */
    title: string;
    /** Most frequent first, then by value. */
    rows: SummaryRow[];
    /** The DDL's printf-style format for a row, given the value and the count. */
    format?: string;
  }
  | {
    type: "average";
    output: string;
    title: string;
    /** The mean, or null when no reply had a number there. */
    average: number | null;
    /** How many numbers were averaged. */
    count: number;
    format?: string;
  }
  | {
    type: "unsupported";
    /** The function the DDL names that Chorale does not have. */
    function: string;
    output: string;
  };

interface AggregateSpec {
  function: string;
  args: unknown[];
}

function specOf(item: unknown): AggregateSpec | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const { function: fn, args } = item as Record<string, unknown>;
  if (typeof fn !== "string") return undefined;
  return { function: fn, args: Array.isArray(args) ? args : [] };
}

function optionsOf(spec: AggregateSpec): Record<string, unknown> {
  const last = spec.args[1];
  return typeof last === "object" && last !== null && !Array.isArray(last)
    ? last as Record<string, unknown>
    : {};
}

function sortedRows(counts: Map<string, number>): SummaryRow[] {
  return [...counts].map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
}

/**
 * Runs the aggregate functions of `action` over the successful `results`.
 *
 * @example Count the versions in three replies
 * ```ts
 * import { computeAggregates } from "./aggregate.ts";
 * const action = {
 *   action: "status", description: "", input: {},
 *   output: { version: { description: "", display_as: "Version" } },
 *   aggregate: [{ function: "summary", args: ["version"] }],
 * };
 * const reply = (version: string) => ({
 *   sender: "n", statuscode: 0, statusmsg: "OK", data: { version }, signed: true, elapsedMs: 1,
 * });
 * const [summary] = computeAggregates(action, [reply("1.0"), reply("1.0"), reply("2.0")]);
 * console.log(summary); // { type: "summary", output: "version", title: "Version", rows: [...] }
 * ```
 */
export function computeAggregates(
  action: ActionDdl,
  results: readonly RpcResult[],
): AggregateResult[] {
  const ok = results.filter((r) => r.statuscode === 0);
  const found: AggregateResult[] = [];
  for (const item of action.aggregate ?? []) {
    const spec = specOf(item);
    if (spec === undefined) continue;
    const output = typeof spec.args[0] === "string" ? spec.args[0] : "";
    const title = action.output[output]?.display_as || output;
    const options = optionsOf(spec);
    const format = typeof options.format === "string" ? { format: options.format } : {};
    const values = ok.map((r) => r.data[output]).filter((v) => v !== undefined);
    switch (spec.function) {
      case "summary": {
        const counts = new Map<string, number>();
        for (const value of values) {
          for (const one of Array.isArray(value) ? value : [value]) {
            const key = valueKey(one);
            counts.set(key, (counts.get(key) ?? 0) + 1);
          }
        }
        found.push({ type: "summary", output, title, rows: sortedRows(counts), ...format });
        break;
      }
      case "boolean_summary": {
        const counts = new Map<string, number>();
        for (const value of values) {
          const label = value === true && typeof options.true === "string"
            ? options.true
            : value === false && typeof options.false === "string"
            ? options.false
            : valueKey(value);
          counts.set(label, (counts.get(label) ?? 0) + 1);
        }
        found.push({ type: "boolean_summary", output, title, rows: sortedRows(counts), ...format });
        break;
      }
      case "average": {
        const numbers = values.map(Number).filter((n) =>
          typeof n === "number" && Number.isFinite(n)
        );
        const average = numbers.length === 0
          ? null
          : numbers.reduce((sum, n) => sum + n, 0) / numbers.length;
        found.push({ type: "average", output, title, average, count: numbers.length, ...format });
        break;
      }
      default:
        found.push({ type: "unsupported", function: spec.function, output });
    }
  }
  return found;
}

/**
 * The aggregates as text, Choria's way: a titled block each, rows aligned; empty when there is
 * nothing to show. Unsupported functions are skipped.
 *
 * @example
 * ```ts
 * import { renderAggregates } from "./aggregate.ts";
 * console.log(renderAggregates([
 *   { type: "summary", output: "version", title: "Version", rows: [{ value: "1.0", count: 3 }] },
 * ]));
 * // Summary of Version:
 * //
 * //    1.0 = 3
 * ```
 */
export function renderAggregates(
  aggregates: readonly AggregateResult[],
  colours: Palette = plainPalette,
): string {
  const blocks: string[] = [];
  for (const aggregate of aggregates) {
    switch (aggregate.type) {
      case "summary":
      case "boolean_summary": {
        if (aggregate.rows.length === 0) continue;
        const width = Math.max(...aggregate.rows.map((r) => r.value.length));
        const lines = aggregate.rows.map((row) =>
          aggregate.format === undefined
            ? `   ${row.value.padEnd(width)} = ${row.count}`
            : `   ${sprintf(aggregate.format, [row.value, row.count])}`
        );
        blocks.push(`${colours.bold(`Summary of ${aggregate.title}:`)}\n\n${lines.join("\n")}`);
        break;
      }
      case "average": {
        if (aggregate.average === null) continue;
        const line = sprintf(aggregate.format ?? "Average: %0.2f", [aggregate.average]);
        blocks.push(`${colours.bold(`Average of ${aggregate.title}:`)}\n\n   ${line}`);
        break;
      }
      case "unsupported":
        continue;
    }
  }
  return blocks.join("\n\n");
}
