/**
 * The options every fleet command shares, as Choria spells them: filters (`-F`, `-C`, `-A`,
 * `-I`, `-W`, `-S`), the collective (`-T`), a node list (`--nodes`), discovery and call timing
 * (`--discovery-timeout`, `--timeout`), and for calls `--limit`, `--batch` and `--batch-sleep`;
 * plus where the configuration and DDLs come from. Parsing the values is pure; a bad value is a
 * usage error (exit 2).
 *
 * @module
 */
import { type CommandUnknownOpts, InvalidArgumentError } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { FilterError, parseFilterArgs } from "../core/filter/mod.ts";
import type { RequestFilter } from "../core/protocol/request.ts";
import { type CliContext, UsageError } from "./cli.ts";
import { checkLimit, type NodeLimit } from "./limit.ts";
import type { DiscoverOptions, RpcOptions } from "./types.ts";

/** Collects a repeatable option's values as given (no splitting at commas). */
export function repeat(value: string, previous: string[] | undefined): string[] {
  return [...previous ?? [], value];
}

/**
 * Parses a number of seconds (`2`, `0.5`) into milliseconds.
 *
 * @example
 * ```ts
 * import { parseSeconds } from "./targeting.ts";
 * console.log(parseSeconds("1.5")); // 1500
 * ```
 */
export function parseSeconds(value: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) {
    throw new InvalidArgumentError("Give a number of seconds above 0, such as 2 or 0.5.");
  }
  return Math.round(seconds * 1000);
}

/** Parses a whole number of seconds or more, zero allowed, into milliseconds (`--batch-sleep`). */
export function parseSleep(value: string): number {
  if (value.trim() === "0") return 0;
  return parseSeconds(value);
}

/**
 * Parses `--limit`: a count (`5`) or a share (`10%`).
 *
 * @example
 * ```ts
 * import { parseLimit } from "./targeting.ts";
 * console.log(parseLimit("10%"), parseLimit("3")); // "10%" 3
 * ```
 */
export function parseLimit(value: string): NodeLimit {
  const text = value.trim();
  const limit: NodeLimit = text.endsWith("%") ? text as `${number}%` : Number(text);
  try {
    if (typeof limit === "number" && !/^\d+$/.test(text)) throw new TypeError("not whole");
    checkLimit(limit);
  } catch {
    throw new InvalidArgumentError("Give a number of nodes (5) or a percentage (10%).");
  }
  return limit;
}

/** Parses a positive whole number (`--batch`). */
export function parseCount(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("Give a whole number of 1 or more.");
  }
  return n;
}

/** The options {@linkcode addTargetingOptions} adds, as commander hands them over. */
export interface TargetingFlags {
  withFact?: string[];
  withClass?: string[];
  withAgent?: string[];
  withIdentity?: string[];
  with?: string[];
  select?: string;
  target?: string;
  nodes?: string;
  discoveryTimeout?: number;
  config?: string;
  ddlDir?: string[];
}

/** Adds the connection, DDL, filter and discovery options to `command`. */
export function addTargetingOptions(command: CommandUnknownOpts): void {
  command
    .option(
      "--config <file>",
      "client configuration file (default: chorale.yaml here or above, else the user's)",
    )
    .option(
      "--ddl-dir <dir>",
      "another directory of agent DDLs, searched first (repeatable)",
      repeat,
    )
    .option(
      "-F, --with-fact <fact=value>",
      "nodes with this fact; also <, >, <=, >=, !=, =~ (repeatable)",
      repeat,
    )
    .option(
      "-C, --with-class <class>",
      "nodes with this configuration class, or /regex/ (repeatable)",
      repeat,
    )
    .option("-A, --with-agent <agent>", "nodes running this agent, or /regex/ (repeatable)", repeat)
    .option(
      "-I, --with-identity <identity>",
      "this node, or /regex/ (repeatable; any may match)",
      repeat,
    )
    .option(
      "-W, --with <filter>",
      'classes and fact=value words together: "apache os=linux" (repeatable)',
      repeat,
    )
    .option("-S, --select <expression>", "a compound filter: \"role == 'web' and with('apache')\"")
    .option("-T, --target <collective>", "the collective to ask (default: the configuration's)")
    .option(
      "--nodes <file>",
      "these nodes instead of discovery: one a line, JSON or YAML list, - for stdin",
    )
    .option(
      "--discovery-timeout <seconds>",
      "wait this long for nodes (default: until replies pause for 300 ms, at most 2 s)",
      parseSeconds,
    );
}

/** The options {@linkcode addCallOptions} adds, as commander hands them over. */
export interface CallFlags {
  limit?: NodeLimit;
  batch?: number;
  batchSleep?: number;
  timeout?: number;
}

/**
 * The parts of an rpc call the targeting and call flags decide: filter, nodes, collective, limit,
 * batches and timeout.
 */
export function callSettings(
  targeting: Targeting,
  nodes: string[],
  flags: CallFlags,
):
  & Pick<RpcOptions, "filter" | "collective" | "limit" | "batchSize" | "batchSleepMs" | "timeoutMs">
  & { nodes: string[] } {
  return {
    filter: targeting.filter,
    nodes,
    ...(targeting.collective !== undefined ? { collective: targeting.collective } : {}),
    ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
    ...(flags.batch !== undefined ? { batchSize: flags.batch } : {}),
    ...(flags.batchSleep !== undefined ? { batchSleepMs: flags.batchSleep } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {}),
  };
}

/** Adds `--limit`, `--batch`, `--batch-sleep` and `--timeout` to `command`. */
export function addCallOptions(command: CommandUnknownOpts): void {
  command
    .option(
      "--limit <n|n%>",
      "only this many of the nodes, or this share, chosen at random",
      parseLimit,
    )
    .option("--batch <n>", "ask this many nodes at a time", parseCount)
    .option("--batch-sleep <seconds>", "pause between batches (default: 1)", parseSleep)
    .option(
      "--timeout <seconds>",
      "how long to wait for replies (default: the DDL's timeout)",
      parseSeconds,
    );
}

/** Where and how to find nodes, from the shared options. */
export interface Targeting {
  filter: RequestFilter;
  /** `-T`, when given. */
  collective?: string;
  /** Discovery method, source and timeout. */
  discovery: Omit<DiscoverOptions, "filter" | "collective">;
}

/**
 * The filter, collective and discovery settings the options ask for; a filter that does not
 * parse is a usage error.
 *
 * @example Nodes with a fact, from a file
 * ```ts
 * import { processContext } from "./cli.ts";
 * import { targetingOf } from "./targeting.ts";
 * const t = targetingOf(processContext(), { withFact: ["role=web"], nodes: "nodes.txt" });
 * console.log(t.filter.fact, t.discovery.method); // [ { fact: "role", ... } ] flatfile
 * ```
 */
export function targetingOf(ctx: CliContext, flags: TargetingFlags): Targeting {
  let filter: RequestFilter;
  try {
    filter = parseFilterArgs({
      facts: flags.withFact ?? [],
      classes: flags.withClass ?? [],
      agents: flags.withAgent ?? [],
      identities: flags.withIdentity ?? [],
      with: flags.with ?? [],
      ...(flags.select !== undefined ? { compound: flags.select } : {}),
    });
  } catch (error) {
    if (error instanceof FilterError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  const discovery: Targeting["discovery"] = {};
  if (flags.nodes !== undefined) {
    discovery.method = "flatfile";
    discovery.source = flags.nodes === "-" ? "-" : resolve(ctx.cwd(), flags.nodes);
  }
  if (flags.discoveryTimeout !== undefined) {
    // As Choria: a discovery timeout given on the command line is waited out in full, so a large
    // fleet whose replies come in bursts is found whole rather than cut at the first pause.
    discovery.timeoutMs = flags.discoveryTimeout;
    discovery.windowMs = flags.discoveryTimeout;
  }
  return {
    filter,
    ...(flags.target !== undefined ? { collective: flags.target } : {}),
    discovery,
  };
}
