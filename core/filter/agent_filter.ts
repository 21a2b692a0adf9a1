/**
 * Agent filters (`-A`): agents a node must have. Pure: no I/O.
 *
 * As go-choria's `filter/agents/agents.go` (commit 58e80bab): every filter must match (AND); a
 * filter is an exact, case-sensitive agent name or a case-sensitive `/regex/` that any agent
 * matches. An invalid regular expression matches nothing.
 *
 * @module
 */
import { compileRegex, slashRegexSource } from "./fact_filter.ts";

/**
 * Whether the node's agents satisfy one agent filter.
 *
 * @example Match an agent by name or pattern
 * ```ts
 * import { matchAgent } from "./agent_filter.ts";
 * const agents = ["rpcutil", "package", "service"];
 * console.log(matchAgent("package", agents)); // true
 * console.log(matchAgent("/^serv/", agents)); // true
 * console.log(matchAgent("Package", agents)); // false
 * ```
 */
export function matchAgent(filter: string, agents: readonly string[]): boolean {
  const source = slashRegexSource(filter);
  if (source === undefined) return agents.includes(filter);
  let regex: RegExp;
  try {
    regex = compileRegex(source, { what: "agent filter" });
  } catch {
    return false;
  }
  return agents.some((agent) => regex.test(agent));
}

/**
 * Whether the node's agents satisfy every agent filter; an empty list matches nothing, as in
 * go-choria (callers skip empty lists).
 *
 * @example Match several agent filters
 * ```ts
 * import { matchAgents } from "./agent_filter.ts";
 * console.log(matchAgents(["rpcutil", "/pack/"], ["rpcutil", "package"])); // true
 * ```
 */
export function matchAgents(filters: readonly string[], agents: readonly string[]): boolean {
  return filters.length > 0 && filters.every((filter) => matchAgent(filter, agents));
}
