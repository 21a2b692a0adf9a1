/**
 * Text for `chorale ping`, `chorale facts` and `chorale inventory`, from replies and stats. Pure:
 * results in, text out.
 *
 * @module
 */
import type { RpcResult, RpcStats } from "../types.ts";
import { type Palette, plainPalette } from "./colour.ts";
import { formatDuration, formatPairs, formatValue, valueKey } from "./format.ts";

/** Round-trip figures of a ping, milliseconds. */
export interface PingSummary {
  replies: number;
  min: number | null;
  max: number | null;
  avg: number | null;
}

/**
 * Minimum, average and maximum round trip of the replies.
 *
 * @example
 * ```ts
 * import { pingSummary } from "./reports.ts";
 * const reply = (elapsedMs: number) => ({
 *   sender: "n", statuscode: 0, statusmsg: "", data: {}, signed: true, elapsedMs,
 * });
 * console.log(pingSummary([reply(2), reply(4)])); // { replies: 2, min: 2, max: 4, avg: 3 }
 * ```
 */
export function pingSummary(results: readonly RpcResult[]): PingSummary {
  const times = results.map((r) => r.elapsedMs);
  if (times.length === 0) return { replies: 0, min: null, max: null, avg: null };
  return {
    replies: times.length,
    min: Math.min(...times),
    max: Math.max(...times),
    avg: times.reduce((a, b) => a + b, 0) / times.length,
  };
}

function ms(value: number | null): string {
  return value === null ? "-" : formatDuration(value);
}

function noResponses(stats: RpcStats, c: Palette): string {
  if (stats.noResponses.length === 0) return "";
  return `\n\n${c.red("No response from:")}\n\n${
    stats.noResponses.map((n) => `   ${n}`).join("\n")
  }`;
}

/** `chorale ping`: each node with its round trip, fastest first, then the statistics. */
export function renderPing(
  results: readonly RpcResult[],
  stats: RpcStats,
  colours: Palette = plainPalette,
): string {
  const sorted = [...results].sort((a, b) =>
    a.elapsedMs - b.elapsedMs || a.sender.localeCompare(b.sender)
  );
  const width = Math.max(40, ...sorted.map((r) => r.sender.length + 2));
  const lines = sorted.map((r) => `${r.sender.padEnd(width)}time=${formatDuration(r.elapsedMs)}`);
  const s = pingSummary(results);
  const summary = `${colours.bold("---- ping statistics ----")}\n` +
    `${s.replies} replies max: ${ms(s.max)} min: ${ms(s.min)} avg: ${ms(s.avg)}` +
    (stats.noResponses.length > 0
      ? `, ${colours.red(`${stats.noResponses.length} did not answer`)}`
      : "");
  return [...lines, ...(lines.length > 0 ? [""] : []), summary].join("\n") +
    noResponses(stats, colours) + "\n";
}

/** How many nodes have one value of a fact, and which. */
export interface FactValueCount {
  /** The value as text (JSON for structures); `null` when a node does not have the fact. */
  value: string | null;
  count: number;
  /** The nodes, sorted. */
  nodes: string[];
}

/**
 * The values of a fact in the successful `rpcutil#get_fact` replies, most common first.
 *
 * @example
 * ```ts
 * import { factValueCounts } from "./reports.ts";
 * const reply = (sender: string, value: unknown) => ({
 *   sender, statuscode: 0, statusmsg: "", data: { fact: "role", value }, signed: true, elapsedMs: 1,
 * });
 * console.log(factValueCounts([reply("n1", "web"), reply("n2", "db"), reply("n3", "web")]));
 * // [ { value: "web", count: 2, nodes: [ "n1", "n3" ] }, { value: "db", count: 1, nodes: [ "n2" ] } ]
 * ```
 */
export function factValueCounts(results: readonly RpcResult[]): FactValueCount[] {
  const byValue = new Map<string | null, string[]>();
  for (const r of results) {
    if (r.statuscode !== 0) continue;
    const raw = r.data.value;
    const value = raw === undefined || raw === null ? null : valueKey(raw);
    byValue.set(value, [...byValue.get(value) ?? [], r.sender]);
  }
  return [...byValue].map(([value, nodes]) => ({ value, count: nodes.length, nodes: nodes.sort() }))
    .sort((a, b) =>
      b.count - a.count || Number(a.value === null) - Number(b.value === null) ||
      String(a.value).localeCompare(String(b.value))
    );
}

/**
 * `chorale facts FACT`: each value with how many nodes have it and which, then the nodes that
 * failed or did not answer.
 */
export function renderFacts(
  fact: string,
  results: readonly RpcResult[],
  stats: RpcStats,
  colours: Palette = plainPalette,
): string {
  const counts = factValueCounts(results);
  const label = (v: string | null) => (v === null ? "(not set)" : v === "" ? '""' : v);
  const width = Math.max(10, ...counts.map((c) => label(c.value).length));
  const blocks = counts.map((c) =>
    `   ${label(c.value).padEnd(width)}  found ${c.count} time${c.count === 1 ? "" : "s"}\n` +
    `      ${colours.dim(c.nodes.join(", "))}`
  );
  const failed = results.filter((r) => r.statuscode !== 0).sort((a, b) =>
    a.sender.localeCompare(b.sender)
  );
  let text = `${colours.bold(`Report for fact: ${fact}`)}\n\n` +
    (blocks.length > 0 ? blocks.join("\n\n") : "   no node reported it");
  if (failed.length > 0) {
    text += `\n\n${colours.red("Failed:")}\n\n` +
      failed.map((r) => `   ${r.sender}: ${r.statusmsg}`).join("\n");
  }
  text += noResponses(stats, colours);
  text +=
    `\n\nFinished processing ${stats.responded.length} / ${stats.discovered.length} hosts in ${
      formatDuration(stats.totalMs)
    }\n`;
  return text;
}

function columns(items: readonly string[], width = 96): string {
  if (items.length === 0) return "      none";
  const cell = Math.max(...items.map((i) => i.length)) + 3;
  const perLine = Math.max(1, Math.floor((width - 6) / cell));
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += perLine) {
    lines.push(
      "      " + items.slice(i, i + perLine).map((x) => x.padEnd(cell)).join("").trimEnd(),
    );
  }
  return lines.join("\n");
}

/** Flattens nested facts into dotted names, sorted. */
export function flattenFacts(facts: unknown, prefix = ""): [string, string][] {
  if (typeof facts !== "object" || facts === null || Array.isArray(facts)) {
    return prefix === "" ? [] : [[prefix, formatValue(facts).replace(/\n\s*/g, " ")]];
  }
  const entries = Object.entries(facts as Record<string, unknown>);
  if (entries.length === 0 && prefix !== "") return [[prefix, "{}"]];
  return entries.flatMap(([key, value]) =>
    flattenFacts(value, prefix === "" ? key : `${prefix}.${key}`)
  )
    .sort((a, b) => a[0].localeCompare(b[0]));
}

/**
 * `chorale inventory NODE`: an `rpcutil#inventory` reply laid out for reading: the server, its
 * agents, data plugins, classes and facts.
 */
export function renderInventory(result: RpcResult, colours: Palette = plainPalette): string {
  const d = result.data;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String).sort() : []);
  const collectives = list(d.collectives);
  const facts = flattenFacts(d.facts);
  const factWidth = Math.max(0, ...facts.map(([k]) => k.length));
  const sections = [
    colours.bold(`Inventory for ${result.sender}:`),
    "",
    "   Server:",
    formatPairs([
      ["Version", formatValue(d.version)],
      ["Main Collective", formatValue(d.main_collective)],
      ["Collectives", collectives.join(", ")],
      ["Upgradable", formatValue(d.upgradable ?? false)],
    ], 6),
    "",
    "   Agents:",
    columns(list(d.agents)),
    "",
    "   Data Plugins:",
    columns(list(d.data_plugins)),
    "",
    "   Configuration Management Classes:",
    columns(list(d.classes)),
    "",
    "   Facts:",
    facts.length === 0
      ? "      none"
      : facts.map(([k, v]) => `      ${k.padEnd(factWidth)} => ${v}`).join("\n"),
  ];
  const machines = Array.isArray(d.machines)
    ? d.machines
    : typeof d.machines === "object" && d.machines !== null
    ? Object.keys(d.machines)
    : [];
  if (machines.length > 0) {
    sections.push("", "   Autonomous Agents:", columns(machines.map((m) => valueKey(m))));
  }
  return sections.join("\n") + "\n";
}
