/**
 * Text for people from the replies of a call: the replies the DDL's display policy (or
 * `--display`) asks for, the DDL's aggregate summaries, and a closing stats block that names
 * every node that did not answer. Also the `--table` layout and the `--json` / `--jsonl` shapes.
 * Pure: results, stats and the DDL in, text out.
 *
 * @module
 */
import type { ActionDdl } from "../../agents/agent.ts";
import { formatTable } from "../cli.ts";
import type { RpcResult, RpcStats } from "../types.ts";
import { type AggregateResult, computeAggregates, renderAggregates } from "./aggregate.ts";
import { type Palette, plainPalette } from "./colour.ts";
import { formatDuration, formatPairs, formatValue } from "./format.ts";

/** Which replies to show: `--display`. */
export const DisplayModes = ["all", "ok", "failed", "none"] as const;

/** One of {@linkcode DisplayModes}. */
export type DisplayMode = (typeof DisplayModes)[number];

/**
 * Whether to show a reply: `override` (from `--display`) wins; otherwise the action's display
 * policy: `always` shows every reply, `ok` the successful ones, `failed` (Choria's default) the
 * failed ones.
 *
 * @example A successful reply to an action that displays failures only
 * ```ts
 * import { shouldDisplay } from "./rpc_text.ts";
 * console.log(shouldDisplay({ statuscode: 0 }, "failed")); // false
 * console.log(shouldDisplay({ statuscode: 0 }, "failed", "all")); // true
 * ```
 */
export function shouldDisplay(
  result: Pick<RpcResult, "statuscode">,
  policy: ActionDdl["display"] | undefined,
  override?: DisplayMode,
): boolean {
  const ok = result.statuscode === 0;
  switch (override ?? policy ?? "failed") {
    case "all":
    case "always":
      return true;
    case "none":
      return false;
    case "ok":
      return ok;
    default:
      return !ok;
  }
}

/** The reply's outputs in DDL order, then any it sent that the DDL does not declare. */
function outputKeys(action: ActionDdl | undefined, data: Record<string, unknown>): string[] {
  const declared = Object.keys(action?.output ?? {}).filter((k) => Object.hasOwn(data, k));
  const extra = Object.keys(data).filter((k) => !Object.hasOwn(action?.output ?? {}, k));
  return [...declared, ...extra];
}

function labelOf(action: ActionDdl | undefined, key: string): string {
  return action?.output[key]?.display_as || key;
}

const SENDER_WIDTH = 40;

/**
 * One reply as Choria prints it: the sender, then each output as `Label: value`; a failed reply
 * is the sender and its status message on one line.
 *
 * @example
 * ```ts
 * import { renderReply } from "./rpc_text.ts";
 * console.log(renderReply({
 *   sender: "n1.example.net", statuscode: 0, statusmsg: "OK", data: { pong: 1 },
 *   signed: true, elapsedMs: 3,
 * }));
 * // n1.example.net
 * //    pong: 1
 * ```
 */
export function renderReply(
  result: RpcResult,
  action?: ActionDdl,
  colours: Palette = plainPalette,
): string {
  if (result.statuscode !== 0) {
    const message = result.statusmsg || `status ${result.statuscode}`;
    return `${result.sender.padEnd(SENDER_WIDTH)} ${colours.red(message)}`;
  }
  const keys = outputKeys(action, result.data);
  if (keys.length === 0) return result.sender;
  const pairs = keys.map((k) => [labelOf(action, k), formatValue(result.data[k])] as const);
  return `${result.sender}\n${formatPairs(pairs, 3)}`;
}

/** What {@linkcode renderStats} reports. */
export interface StatsView {
  stats: RpcStats;
  /** The heading: `rpcutil#ping`. */
  title: string;
  colours?: Palette;
}

/**
 * The closing stats block: nodes answered of those targeted, passes and failures, times, then
 * every node that did not answer and every unexpected sender, by name.
 *
 * @example
 * ```ts
 * import { renderStats } from "./rpc_text.ts";
 * console.log(renderStats({
 *   title: "rpcutil#ping",
 *   stats: {
 *     discovered: ["n1", "n2"], responded: ["n1"], ok: 1, failed: 0, noResponses: ["n2"],
 *     unexpected: [], discoveryMs: 10, publishMs: 1, repliesMs: 2000, totalMs: 2011,
 *   },
 * }));
 * ```
 */
export function renderStats(view: StatsView): string {
  const { stats, title } = view;
  const c = view.colours ?? plainPalette;
  const fail = stats.failed > 0 ? c.red(String(stats.failed)) : String(stats.failed);
  const answered = `${stats.responded.length} / ${stats.discovered.length}`;
  const pairs: [string, string][] = [
    ["Nodes", stats.noResponses.length > 0 ? c.yellow(answered) : answered],
    ["Pass / Fail", `${stats.ok} / ${fail}`],
  ];
  if (stats.noResponses.length > 0) {
    pairs.push(["No Reply", c.red(String(stats.noResponses.length))]);
  }
  pairs.push(
    ["Discovery Time", formatDuration(stats.discoveryMs)],
    ["Agent Time", formatDuration(stats.repliesMs)],
    ["Total Time", formatDuration(stats.totalMs)],
  );
  let text = `${c.bold(`---- ${title} stats ----`)}\n${formatPairs(pairs, 2)}`;
  if (stats.noResponses.length > 0) {
    text += `\n\n${c.red("No response from:")}\n\n` +
      stats.noResponses.map((n) => `   ${n}`).join("\n");
  }
  if (stats.unexpected.length > 0) {
    text += `\n\n${c.yellow("Unexpected replies from:")}\n\n` +
      stats.unexpected.map((n) => `   ${n}`).join("\n");
  }
  return text;
}

/** What {@linkcode renderRpcText} and {@linkcode renderRpcTable} report. */
export interface RpcView {
  agent: string;
  action: string;
  /** The action's DDL: labels, display policy and aggregates. */
  ddl?: ActionDdl;
  results: readonly RpcResult[];
  stats: RpcStats;
  /** `--display`; the DDL's policy when absent. */
  display?: DisplayMode;
  colours?: Palette;
}

/**
 * The replies the display policy asks for, sorted by sender, then the aggregate summaries, then
 * the stats block.
 */
export function renderRpcText(view: RpcView): string {
  const c = view.colours ?? plainPalette;
  const shown = [...view.results]
    .filter((r) => shouldDisplay(r, view.ddl?.display, view.display))
    .sort((a, b) => a.sender.localeCompare(b.sender));
  const parts: string[] = [];
  if (shown.length > 0) parts.push(shown.map((r) => renderReply(r, view.ddl, c)).join("\n\n"));
  if (view.ddl !== undefined) {
    const aggregates = renderAggregates(computeAggregates(view.ddl, view.results), c);
    if (aggregates !== "") parts.push(aggregates);
  }
  parts.push(renderStats({ stats: view.stats, title: `${view.agent}#${view.action}`, colours: c }));
  return parts.join("\n\n") + "\n";
}

function cell(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "object" && value !== null) {
    return Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)
      ? value.join(", ")
      : JSON.stringify(value);
  }
  return String(value);
}

/**
 * The replies the display policy asks for as a table, a column per output, then the stats block.
 *
 * @example
 * ```ts
 * import { renderRpcTable } from "./rpc_text.ts";
 * const stats = {
 *   discovered: ["n1"], responded: ["n1"], ok: 1, failed: 0, noResponses: [], unexpected: [],
 *   discoveryMs: 1, publishMs: 1, repliesMs: 1, totalMs: 3,
 * };
 * console.log(renderRpcTable({
 *   agent: "rpcutil", action: "ping", display: "all", stats,
 *   results: [{ sender: "n1", statuscode: 0, statusmsg: "OK", data: { pong: 5 }, signed: true, elapsedMs: 1 }],
 * }));
 * ```
 */
export function renderRpcTable(view: RpcView): string {
  const c = view.colours ?? plainPalette;
  const shown = [...view.results]
    .filter((r) => shouldDisplay(r, view.ddl?.display, view.display))
    .sort((a, b) => a.sender.localeCompare(b.sender));
  const keys: string[] = [];
  for (const result of shown) {
    for (const key of outputKeys(view.ddl, result.data)) if (!keys.includes(key)) keys.push(key);
  }
  const parts: string[] = [];
  if (shown.length > 0) {
    const headers = ["SENDER", "STATUS", ...keys.map((k) => labelOf(view.ddl, k).toUpperCase())];
    const rows = shown.map((r) => [
      r.sender,
      r.statuscode === 0 ? "OK" : r.statusmsg || `status ${r.statuscode}`,
      ...keys.map((k) => cell(r.data[k])),
    ]);
    parts.push(formatTable(headers, rows));
  }
  parts.push(renderStats({ stats: view.stats, title: `${view.agent}#${view.action}`, colours: c }));
  return parts.join("\n\n") + "\n";
}

/** A reply as `--json` and `--jsonl` print it. */
export interface ReplyDocument {
  sender: string;
  statuscode: number;
  statusmsg: string;
  data: Record<string, unknown>;
  signed: boolean;
  elapsedMs: number;
}

/** `--json`: the whole call as one document. */
export interface RpcDocument {
  agent: string;
  action: string;
  /** Every reply, sorted by sender, whatever the display policy. */
  replies: ReplyDocument[];
  aggregates: AggregateResult[];
  stats: RpcStats;
}

function replyDocument(r: RpcResult): ReplyDocument {
  return {
    sender: r.sender,
    statuscode: r.statuscode,
    statusmsg: r.statusmsg,
    data: r.data,
    signed: r.signed,
    elapsedMs: r.elapsedMs,
  };
}

/**
 * The `--json` document of a call: every reply (display policies do not apply), the aggregates
 * and the stats.
 */
export function rpcDocument(view: RpcView): RpcDocument {
  return {
    agent: view.agent,
    action: view.action,
    replies: [...view.results].sort((a, b) => a.sender.localeCompare(b.sender)).map(replyDocument),
    aggregates: view.ddl === undefined ? [] : computeAggregates(view.ddl, view.results),
    stats: view.stats,
  };
}

/**
 * One `--jsonl` line for a reply as it arrives: `{"type":"reply",...}`.
 *
 * @example
 * ```ts
 * import { replyLine } from "./rpc_text.ts";
 * console.log(replyLine({
 *   sender: "n1", statuscode: 0, statusmsg: "OK", data: {}, signed: true, elapsedMs: 2,
 * }));
 * // {"type":"reply","sender":"n1","statuscode":0,"statusmsg":"OK","data":{},"signed":true,"elapsedMs":2}
 * ```
 */
export function replyLine(result: RpcResult): string {
  return JSON.stringify({ type: "reply", ...replyDocument(result) });
}

/** The closing `--jsonl` line: `{"type":"stats",...}`. */
export function statsLine(stats: RpcStats): string {
  return JSON.stringify({ type: "stats", ...stats });
}
