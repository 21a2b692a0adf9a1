/**
 * Choria's discovery filters: which nodes act on a request. A request's filter lists fact,
 * class, agent, identity and compound filters; a node acts when every kind present matches
 * (identities are ORed among themselves, the others ANDed), and an empty filter matches every
 * node. The matching rules follow go-choria's `filter/*` packages and `protocol/filter.go`; each
 * module here says which file it learned from and where it differs. Everything is pure.
 *
 * @example Build a filter from CLI flags and match a node
 * ```ts
 * import { matchesFilter, parseFilterArgs } from "./mod.ts";
 * const filter = parseFilterArgs({ with: ["apache os=linux"], identities: ["/^web/"] });
 * const node = {
 *   identity: "web1.example.net",
 *   facts: { os: "Linux" },
 *   classes: ["apache"],
 *   agents: ["rpcutil"],
 * };
 * console.log(matchesFilter(filter, node)); // true
 * ```
 *
 * @module
 */
import type { FactFilter, RequestFilter } from "../protocol/request.ts";
import { matchAgents } from "./agent_filter.ts";
import { matchClasses } from "./class_filter.ts";
import { matchCompound, parseCompound } from "./compound.ts";
import { type Facts, FilterError, matchFacts, parseFactFilter } from "./fact_filter.ts";
import { matchIdentities } from "./identity_filter.ts";

export * from "./agent_filter.ts";
export * from "./class_filter.ts";
export * from "./compound.ts";
export * from "./fact_filter.ts";
export * from "./identity_filter.ts";

/** What a node knows about itself, for matching filters. */
export interface FilterNode {
  /** The node's identity (certname). */
  readonly identity: string;
  /** The node's facts. */
  readonly facts: Facts;
  /** The node's configuration management classes. */
  readonly classes: readonly string[];
  /** The agents the node runs. */
  readonly agents: readonly string[];
}

/** Options for {@linkcode matchesFilter}. */
export interface MatchesFilterOptions {
  /**
   * Told when a fact or compound filter cannot be applied (a malformed compound term, a bad
   * comparison); that filter then does not match. @default errors are dropped
   */
  onError?: (error: FilterError) => void;
}

/** CLI-style filter strings, as Choria's `-F`, `-C`, `-A`, `-I`, `-S` and `-W` flags take them. */
export interface FilterArgs {
  /** Fact filters (`-F`): `fact=value`, `fact>=1`, `fact=/regex/`. @default [] */
  facts?: readonly string[];
  /** Class filters (`-C`): names or `/regex/`. @default [] */
  classes?: readonly string[];
  /** Agent filters (`-A`): names or `/regex/`. @default [] */
  agents?: readonly string[];
  /** Identity filters (`-I`): identities or `/regex/`. @default [] */
  identities?: readonly string[];
  /** A compound filter (`-S`), checked by parsing it. @default none */
  compound?: string;
  /**
   * Combined filters (`-W`): space-separated words, each a fact filter when it holds an operator
   * character (`<`, `>`, `=` or `!=`) and a class filter otherwise. A word with an operator that
   * does not parse is an error (go-choria quietly makes it a class). @default []
   */
  with?: readonly string[];
}

/**
 * Whether a filter has no entries at all; an empty filter matches every node.
 *
 * @example Tell an empty filter
 * ```ts
 * import { isEmptyFilter } from "./mod.ts";
 * console.log(isEmptyFilter({ fact: [], cf_class: [], identity: [], compound: [] })); // true
 * ```
 */
export function isEmptyFilter(filter: Partial<RequestFilter>): boolean {
  return (filter.fact?.length ?? 0) === 0 && (filter.cf_class?.length ?? 0) === 0 &&
    (filter.agent?.length ?? 0) === 0 && (filter.identity?.length ?? 0) === 0 &&
    (filter.compound?.length ?? 0) === 0;
}

/**
 * Whether a node should act on a request with this filter: an empty filter matches every node;
 * otherwise every kind present must match (identities: any one; agents, classes, facts: all).
 * Every compound filter must match too; each must be a list of exactly one `{"expr": "..."}`
 * term, as go-choria sends them. (go-choria counts compound results up and down, so with several
 * filters a majority can pass; Chorale requires all.) Filters that cannot be applied do not
 * match and go to `options.onError`.
 *
 * @example Match a node against a request filter
 * ```ts
 * import { matchesFilter } from "./mod.ts";
 * const node = { identity: "db1", facts: { os: "linux" }, classes: ["mysql"], agents: [] };
 * const filter = {
 *   fact: [{ fact: "os", operator: "==" as const, value: "Linux" }],
 *   cf_class: ["mysql"],
 *   identity: [],
 *   compound: [],
 * };
 * console.log(matchesFilter(filter, node)); // true
 * ```
 */
export function matchesFilter(
  filter: RequestFilter,
  node: FilterNode,
  options: MatchesFilterOptions = {},
): boolean {
  if (isEmptyFilter(filter)) return true;
  const onError = options.onError;
  if (filter.identity.length > 0 && !matchIdentities(filter.identity, node.identity)) return false;
  const agents = filter.agent ?? [];
  if (agents.length > 0 && !matchAgents(agents, node.agents)) return false;
  if (filter.cf_class.length > 0 && !matchClasses(filter.cf_class, node.classes)) return false;
  if (filter.fact.length > 0) {
    if (!matchFacts(filter.fact, node.facts, onError ? { onError } : {})) return false;
  }
  for (const [i, terms] of filter.compound.entries()) {
    const expr = terms.length === 1 ? terms[0]?.expr : undefined;
    if (typeof expr !== "string") {
      onError?.(
        new FilterError(
          `Cannot match compound filter ${i}: expected one {"expr": "..."} term, found ${
            JSON.stringify(terms).slice(0, 80)
          }`,
        ),
      );
      return false;
    }
    if (!matchCompound(expr, node, onError ? { onError } : {})) return false;
  }
  return true;
}

/**
 * Builds the wire filter of a request from CLI-style strings, dropping empty strings and
 * duplicates as go-choria does; throws {@linkcode FactFilterError} for a malformed `-F` filter
 * and {@linkcode CompoundParseError} for a malformed `-S` filter.
 *
 * @example Build a filter as `-W "apache os=linux" -A package` would
 * ```ts
 * import { parseFilterArgs } from "./mod.ts";
 * const filter = parseFilterArgs({ with: ["apache os=linux"], agents: ["package"] });
 * console.log(filter.cf_class); // [ "apache" ]
 * console.log(filter.fact); // [ { fact: "os", operator: "==", value: "linux" } ]
 * ```
 */
export function parseFilterArgs(args: FilterArgs): RequestFilter {
  const fact: FactFilter[] = [];
  const cf_class: string[] = [];
  const agent: string[] = [];
  const identity: string[] = [];
  const add = (list: string[], item: string) => {
    if (item !== "" && !list.includes(item)) list.push(item);
  };
  const addFact = (filter: FactFilter) => {
    if (
      !fact.some((f) =>
        f.fact === filter.fact && f.operator === filter.operator && f.value === filter.value
      )
    ) fact.push(filter);
  };
  for (const text of args.facts ?? []) {
    if (text.trim() !== "") addFact(parseFactFilter(text));
  }
  for (const text of args.with ?? []) {
    for (const word of text.split(/\s+/)) {
      if (word === "") continue;
      if (/[<>=]|!=/.test(word)) addFact(parseFactFilter(word));
      else add(cf_class, word);
    }
  }
  for (const text of args.classes ?? []) add(cf_class, text);
  for (const text of args.agents ?? []) add(agent, text);
  for (const text of args.identities ?? []) add(identity, text);
  const compound: RequestFilter["compound"] = [];
  if (args.compound !== undefined && args.compound.trim() !== "") {
    parseCompound(args.compound);
    compound.push([{ expr: args.compound }]);
  }
  return { fact, cf_class, agent, identity, compound };
}
