/**
 * The file-based discovery methods, pure: parsing a flatfile of node names and a Choria
 * inventory file, and choosing the nodes a filter selects from them. The client reads the files
 * (or stdin) and hands the text here.
 *
 * Flatfile (as go-choria's `flatfile` method): plain text, one identity a line, with blank lines
 * and `#` comments skipped; a JSON array of names; or a YAML list. Only identity filters apply to
 * a flatfile (there is nothing else to match); any other filter is an error, as in go-choria.
 *
 * Inventory (as go-choria's `inventory` method and its `choria:discovery:v1:inventory_file`
 * schema): YAML or JSON with `$schema`, `nodes` (name, collectives, facts, classes, agents) and
 * optional named `groups` of filters. Nodes must be in the collective; an identity filter
 * `group:<name>` selects a group's nodes (in any collective, as go-choria) and cannot be mixed
 * with other filters except agent filters, which Chorale applies to the group's nodes too.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import {
  type FilterArgs,
  matchesFilter,
  matchIdentities,
  parseFilterArgs,
} from "../core/filter/mod.ts";
import type { RequestFilter } from "../core/protocol/request.ts";
import { DiscoveryError } from "./errors.ts";

/** The `$schema` an inventory file must name. */
export const INVENTORY_SCHEMA = "https://choria.io/schemas/choria/discovery/v1/inventory_file.json";

/** One node of an inventory file. */
export interface InventoryNode {
  /** The node's identity. */
  name: string;
  /** The collectives it belongs to. */
  collectives: string[];
  /** Its facts. */
  facts: Record<string, unknown>;
  /** Its configuration management classes. */
  classes: string[];
  /** The agents it runs. */
  agents: string[];
}

/** A named group of an inventory file: the nodes its filter selects. */
export interface InventoryGroup {
  /** The group's name, `[a-zA-Z0-9_-]+`. */
  name: string;
  /** CLI-style filter strings. @default every node */
  filter?: {
    agents?: string[];
    classes?: string[];
    facts?: string[];
    identities?: string[];
    compound?: string;
  };
}

/** A parsed inventory file. */
export interface Inventory {
  /** Always {@linkcode INVENTORY_SCHEMA}. */
  $schema: string;
  /** Named filters. */
  groups: InventoryGroup[];
  /** Every node. */
  nodes: InventoryNode[];
}

/** A complete filter with every list present. */
function fullFilter(filter: Partial<RequestFilter>): RequestFilter {
  return {
    fact: filter.fact ?? [],
    cf_class: filter.cf_class ?? [],
    agent: filter.agent ?? [],
    identity: filter.identity ?? [],
    compound: filter.compound ?? [],
  };
}

// A name that can be the last token of a directed subject: no spaces, wildcards or empty tokens.
const IDENTITY = /^[^\s*>.]+(\.[^\s*>.]+)*$/;

/**
 * The node names in a flatfile: a JSON array, a YAML list, or text with one name a line (blank
 * lines and `#` comments skipped). Names are checked (no spaces, wildcards or empty dotted parts)
 * and every bad one is reported at once; duplicates are dropped and the result is sorted.
 *
 * @param text The file's contents.
 * @param source Names the file in error messages (`-` for stdin).
 * @throws {DiscoveryError} Listing every problem.
 *
 * @example Read a text flatfile
 * ```ts
 * import { parseFlatfile } from "./discovery_sources.ts";
 * const nodes = parseFlatfile("# web tier\nweb2.example.net\nweb1.example.net\n\n", "nodes.txt");
 * console.log(nodes); // [ "web1.example.net", "web2.example.net" ]
 * ```
 */
export function parseFlatfile(text: string, source: string): string[] {
  const trimmed = text.trim();
  const problems: string[] = [];
  const names: string[] = [];
  const firstLine = trimmed.split("\n").find((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  if (trimmed.startsWith("[") || /^(-\s|-$|---)/.test(firstLine?.trim() ?? "")) {
    let list: unknown;
    try {
      list = trimmed.startsWith("[") ? JSON.parse(trimmed) : parseYaml(trimmed);
    } catch (cause) {
      throw new DiscoveryError(
        `Cannot discover from flatfile '${source}' as it is not a valid ${
          trimmed.startsWith("[") ? "JSON array" : "YAML list"
        }: ${(cause as Error).message.split("\n")[0]}`,
        { cause },
      );
    }
    if (!Array.isArray(list)) {
      throw new DiscoveryError(
        `Cannot discover from flatfile '${source}' as it is not a list of node names`,
      );
    }
    list.forEach((item, i) => {
      if (typeof item !== "string") {
        problems.push(`item ${i + 1} must be a string: found ${JSON.stringify(item)}`);
      } else if (!IDENTITY.test(item)) {
        problems.push(`item ${i + 1} is not a valid identity: '${item}'`);
      } else names.push(item);
    });
  } else {
    text.split("\n").forEach((raw, i) => {
      const line = raw.replace(/(^|\s)#.*$/, "").trim();
      if (line === "") return;
      if (!IDENTITY.test(line)) problems.push(`line ${i + 1} is not a valid identity: '${line}'`);
      else names.push(line);
    });
  }
  if (problems.length > 0) {
    throw new DiscoveryError(
      `Cannot discover from flatfile '${source}': ${problems.join("; ")}`,
    );
  }
  return [...new Set(names)].sort();
}

/**
 * The nodes of a flatfile an identity filter selects; any other kind of filter is an error.
 *
 * @example Select by identity pattern
 * ```ts
 * import { selectFlatfileNodes } from "./discovery_sources.ts";
 * console.log(selectFlatfileNodes(["db1", "web1", "web2"], { identity: ["/^web/"] }));
 * // [ "web1", "web2" ]
 * ```
 */
export function selectFlatfileNodes(
  nodes: readonly string[],
  filter: Partial<RequestFilter> = {},
): string[] {
  const f = fullFilter(filter);
  const unsupported = [
    f.fact.length > 0 ? "fact" : "",
    f.cf_class.length > 0 ? "class" : "",
    (f.agent ?? []).length > 0 ? "agent" : "",
    f.compound.length > 0 ? "compound" : "",
  ].filter(Boolean);
  if (unsupported.length > 0) {
    throw new DiscoveryError(
      `Cannot discover from a flatfile with ${
        unsupported.join(", ")
      } filters: only identity filters apply`,
    );
  }
  if (f.identity.length === 0) return [...nodes];
  return nodes.filter((n) => matchIdentities(f.identity, n));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/**
 * Parses and checks an inventory file (YAML or JSON) against go-choria's schema: `$schema`,
 * `nodes` with `name`, `collectives`, `facts`, `classes` and `agents` each, optional `groups` with
 * a `name` and a `filter`; no other keys. Every problem is reported at once.
 *
 * @param text The file's contents.
 * @param source Names the file in error messages.
 * @throws {DiscoveryError} Listing every problem.
 *
 * @example Parse a one-node inventory
 * ```ts
 * import { parseInventory } from "./discovery_sources.ts";
 * const inventory = parseInventory(`
 * $schema: https://choria.io/schemas/choria/discovery/v1/inventory_file.json
 * nodes:
 *   - { name: web1, collectives: [mcollective], facts: { role: web }, classes: [], agents: [rpcutil] }
 * `, "inventory.yaml");
 * console.log(inventory.nodes[0]!.name); // web1
 * ```
 */
export function parseInventory(text: string, source: string): Inventory {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new DiscoveryError(
      `Cannot discover from inventory '${source}' as it is not valid YAML or JSON: ${
        (cause as Error).message.split("\n")[0]
      }`,
      { cause },
    );
  }
  const problems: string[] = [];
  if (!isObject(doc)) {
    throw new DiscoveryError(
      `Cannot discover from inventory '${source}' as it is not a mapping with '$schema' and 'nodes'`,
    );
  }
  for (const key of Object.keys(doc)) {
    if (!["$schema", "groups", "nodes"].includes(key)) problems.push(`unknown key '${key}'`);
  }
  if (doc.$schema !== INVENTORY_SCHEMA) {
    problems.push(
      `'$schema' must be ${INVENTORY_SCHEMA}: current value is ${JSON.stringify(doc.$schema)}`,
    );
  }
  const nodes: InventoryNode[] = [];
  if (!Array.isArray(doc.nodes)) problems.push("'nodes' must be a list");
  else {
    doc.nodes.forEach((node: unknown, i) => {
      const at = `nodes[${i}]`;
      if (!isObject(node)) {
        problems.push(`'${at}' must be a mapping`);
        return;
      }
      const before = problems.length;
      for (const key of Object.keys(node)) {
        if (!["name", "collectives", "facts", "classes", "agents"].includes(key)) {
          problems.push(`'${at}' has an unknown key '${key}'`);
        }
      }
      if (typeof node.name !== "string" || node.name === "") {
        problems.push(`'${at}.name' must be a non-empty string`);
      }
      for (const key of ["collectives", "classes", "agents"]) {
        if (!isStringList(node[key])) problems.push(`'${at}.${key}' must be a list of strings`);
      }
      if (!isObject(node.facts)) problems.push(`'${at}.facts' must be a mapping`);
      if (problems.length === before) nodes.push(node as unknown as InventoryNode);
    });
  }
  const groups: InventoryGroup[] = [];
  if (doc.groups !== undefined) {
    if (!Array.isArray(doc.groups)) problems.push("'groups' must be a list");
    else {
      doc.groups.forEach((group: unknown, i) => {
        const at = `groups[${i}]`;
        if (!isObject(group)) {
          problems.push(`'${at}' must be a mapping`);
          return;
        }
        const before = problems.length;
        for (const key of Object.keys(group)) {
          if (key !== "name" && key !== "filter") {
            problems.push(`'${at}' has an unknown key '${key}'`);
          }
        }
        if (typeof group.name !== "string" || !/^[a-zA-Z0-9_-]+$/.test(group.name)) {
          problems.push(`'${at}.name' must match [a-zA-Z0-9_-]+`);
        }
        if (group.filter !== undefined) {
          if (!isObject(group.filter)) problems.push(`'${at}.filter' must be a mapping`);
          else {
            for (const [key, value] of Object.entries(group.filter)) {
              if (key === "compound") {
                if (typeof value !== "string") {
                  problems.push(`'${at}.filter.compound' must be a string`);
                }
              } else if (["agents", "classes", "facts", "identities"].includes(key)) {
                if (!isStringList(value)) {
                  problems.push(`'${at}.filter.${key}' must be a list of strings`);
                }
              } else problems.push(`'${at}.filter' has an unknown key '${key}'`);
            }
          }
        }
        if (problems.length === before) groups.push(group as unknown as InventoryGroup);
      });
    }
  }
  if (problems.length > 0) {
    throw new DiscoveryError(
      `Cannot discover from inventory '${source}': ${problems.join("; ")}`,
    );
  }
  return { $schema: INVENTORY_SCHEMA, groups, nodes };
}

/** Options for {@linkcode selectInventoryNodes}. */
export interface SelectInventoryOptions {
  /** Only nodes in this collective (groups ignore it, as in go-choria). */
  collective: string;
  /** Which nodes. @default every node */
  filter?: Partial<RequestFilter>;
}

/**
 * The names of the inventory's nodes that a filter selects, sorted: nodes in the collective that
 * match the filter with {@linkcode matchesFilter}, or, for `group:<name>` identity filters, the
 * nodes of those groups.
 *
 * @throws {DiscoveryError} For an unknown group, a group mixed with other filters, or a group
 * filter that does not parse.
 *
 * @example Select web servers
 * ```ts
 * import { selectInventoryNodes } from "./discovery_sources.ts";
 * const node = (name: string, role: string) => ({
 *   name, collectives: ["mcollective"], facts: { role }, classes: [], agents: ["rpcutil"],
 * });
 * const inventory = {
 *   $schema: "https://choria.io/schemas/choria/discovery/v1/inventory_file.json",
 *   groups: [],
 *   nodes: [node("web1", "web"), node("db1", "db")],
 * };
 * const filter = { fact: [{ fact: "role", operator: "==" as const, value: "web" }] };
 * console.log(selectInventoryNodes(inventory, { collective: "mcollective", filter })); // [ "web1" ]
 * ```
 */
export function selectInventoryNodes(
  inventory: Inventory,
  options: SelectInventoryOptions,
): string[] {
  const filter = fullFilter(options.filter ?? {});
  const groupNames = filter.identity.filter((f) => f.startsWith("group:"));
  const select = (f: RequestFilter, collective: string | null) =>
    inventory.nodes.filter((node) =>
      (collective === null || node.collectives.includes(collective)) &&
      matchesFilter(f, {
        identity: node.name,
        facts: node.facts,
        classes: node.classes,
        agents: node.agents,
      })
    ).map((node) => node.name);
  if (groupNames.length === 0) {
    return [...new Set(select(filter, options.collective))].sort();
  }
  if (
    groupNames.length !== filter.identity.length || filter.fact.length > 0 ||
    filter.cf_class.length > 0 || filter.compound.length > 0
  ) {
    throw new DiscoveryError(
      "Cannot discover from the inventory as group filters cannot be combined with other filters: only agent filters may join them",
    );
  }
  const selected: string[] = [];
  for (const ref of groupNames) {
    const name = ref.slice("group:".length);
    const group = inventory.groups.find((g) => g.name === name);
    if (group === undefined) {
      throw new DiscoveryError(
        `Cannot discover from the inventory as group '${name}' is unknown: groups are ${
          inventory.groups.map((g) => g.name).join(", ") || "none"
        }`,
      );
    }
    let groupFilter: RequestFilter;
    try {
      const args: FilterArgs = {
        facts: group.filter?.facts ?? [],
        classes: group.filter?.classes ?? [],
        agents: [...(group.filter?.agents ?? []), ...(filter.agent ?? [])],
        identities: group.filter?.identities ?? [],
        ...(group.filter?.compound === undefined ? {} : { compound: group.filter.compound }),
      };
      groupFilter = parseFilterArgs(args);
    } catch (cause) {
      throw new DiscoveryError(
        `Cannot discover from the inventory as group '${name}' has a bad filter: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    selected.push(...select(groupFilter, null));
  }
  return [...new Set(selected)].sort();
}

/** A node as the registration stream last saw it: its inventory and when it registered. */
export interface RegistryNode extends InventoryNode {
  /** The version the node runs, from its build info; empty when it sent none. */
  version: string;
  /** When its latest registration was stored, ms since the epoch. */
  lastSeenMs: number;
}

/**
 * The names of the registered nodes a filter selects, sorted: nodes in the collective that match
 * facts, classes, agents, identities and compound filters with {@linkcode matchesFilter}, as
 * {@linkcode selectInventoryNodes} does for an inventory file. Group references (`group:NAME`)
 * belong to inventory files and are an error here.
 *
 * @throws {DiscoveryError} For a group reference.
 *
 * @example Select by fact from registration data
 * ```ts
 * import { selectRegistryNodes } from "./discovery_sources.ts";
 * const node = (name: string, role: string) => ({
 *   name, collectives: ["mcollective"], facts: { role }, classes: [], agents: ["rpcutil"],
 *   version: "0.1.0", lastSeenMs: 0,
 * });
 * const filter = { fact: [{ fact: "role", operator: "==" as const, value: "db" }] };
 * console.log(selectRegistryNodes([node("web1", "web"), node("db1", "db")], {
 *   collective: "mcollective", filter,
 * })); // [ "db1" ]
 * ```
 */
export function selectRegistryNodes(
  nodes: Iterable<RegistryNode>,
  options: SelectInventoryOptions,
): string[] {
  const filter = fullFilter(options.filter ?? {});
  if (filter.identity.some((f) => f.startsWith("group:"))) {
    throw new DiscoveryError(
      "Cannot discover from the registration stream with group filters: groups are defined in inventory files",
    );
  }
  const selected: string[] = [];
  for (const node of nodes) {
    if (!node.collectives.includes(options.collective)) continue;
    const match = matchesFilter(filter, {
      identity: node.name,
      facts: node.facts,
      classes: node.classes,
      agents: node.agents,
    });
    if (match) selected.push(node.name);
  }
  return selected.sort();
}
