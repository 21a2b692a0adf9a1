/**
 * The fleet's inventory kept from the registration stream, and the fleet summary.
 *
 * The registration stream holds data adapter output (`choria:adapters:choria_streams:output:1`)
 * whose `data` is a node's registration payload (`choria:registration:inventorycontent:1`).
 * {@linkcode InventoryIndex} decodes each node's latest message once and keeps the result in
 * memory, so discovery by facts over tens of thousands of nodes needs no decoding. Pure apart
 * from what the caller feeds it.
 *
 * @module
 */
import type { RegistryNode } from "../client/discovery_sources.ts";
import { decodeRegistrationContent } from "../server/registration.ts";
import { decodeLifecycleEvent } from "../server/lifecycle.ts";
import type { StoredMessage } from "./store.ts";

/** The protocol of Chorale's (and Choria's) stream adapter output. */
export const ADAPTER_OUTPUT_PROTOCOL = "choria:adapters:choria_streams:output:1" as const;

/** One adapter output message, as `choria:adapters:choria_streams:output:1` has it. */
export interface AdapterOutput {
  /** Always {@linkcode ADAPTER_OUTPUT_PROTOCOL}. */
  protocol: typeof ADAPTER_OUTPUT_PROTOCOL;
  /** The received message's content, unmodified: for requests the request body. */
  data: string;
  /** Who sent it: the request's `senderid` or the reply's. */
  sender: string;
  /** When the adapter converted it, RFC 3339 in UTC (go-choria marshals a `time.Time`). */
  time: string;
  /** The request id of the message. */
  requestid: string;
}

/** A message that is not adapter output, or whose registration data does not decode. */
export class InventoryDataError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InventoryDataError";
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses adapter output JSON, checking every field.
 *
 * @throws {InventoryDataError} For anything else.
 *
 * @example Read adapter output
 * ```ts
 * import { parseAdapterOutput } from "./inventory.ts";
 * const out = parseAdapterOutput(JSON.stringify({
 *   protocol: "choria:adapters:choria_streams:output:1", data: "{}", sender: "n1",
 *   time: "2026-11-25T20:00:00Z", requestid: "r1",
 * }));
 * console.log(out.sender); // n1
 * ```
 */
export function parseAdapterOutput(input: string | Uint8Array): AdapterOutput {
  let value: unknown;
  try {
    value = JSON.parse(typeof input === "string" ? input : decoder.decode(input));
  } catch (cause) {
    throw new InventoryDataError(
      `Cannot read adapter output as it is not JSON text: ${(cause as Error).message}`,
      { cause },
    );
  }
  const o = value as Record<string, unknown>;
  if (typeof o !== "object" || o === null || o.protocol !== ADAPTER_OUTPUT_PROTOCOL) {
    throw new InventoryDataError(
      `Cannot read adapter output as its 'protocol' must be ${ADAPTER_OUTPUT_PROTOCOL}: current value is ${
        JSON.stringify(o?.protocol)
      }`,
    );
  }
  for (const key of ["data", "sender", "time", "requestid"]) {
    if (typeof o[key] !== "string") {
      throw new InventoryDataError(
        `Cannot read adapter output as its '${key}' must be a string: current value is ${
          JSON.stringify(o[key])
        }`,
      );
    }
  }
  return o as unknown as AdapterOutput;
}

/**
 * The node a registration stream message describes.
 *
 * @throws {InventoryDataError} When it is not adapter output carrying an inventory.
 */
export function registryNodeOf(message: StoredMessage): RegistryNode {
  const output = parseAdapterOutput(message.data);
  let data;
  try {
    data = decodeRegistrationContent(output.data);
  } catch (cause) {
    throw new InventoryDataError(
      `Cannot index registration ${message.seq} from ${output.sender}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (data.type !== "inventory") {
    throw new InventoryDataError(
      `Cannot index registration ${message.seq} from ${output.sender} as it is not inventory content: found ${
        data.type === "file" ? "file content" : `protocol ${JSON.stringify(data.protocol)}`
      }`,
    );
  }
  const { inventory } = data;
  return {
    name: output.sender,
    collectives: inventory.collectives,
    facts: inventory.facts,
    classes: inventory.classes,
    agents: inventory.agents.map((a) => a.name),
    version: inventory.build_info?.version ?? "",
    lastSeenMs: message.timeMs,
  };
}

/**
 * Each node's latest inventory, fed from the registration stream in sequence order. A message
 * that does not decode is counted and skipped; the node keeps its previous inventory.
 *
 * @example Index one registration
 * ```ts
 * import { InventoryIndex } from "./inventory.ts";
 * const index = new InventoryIndex();
 * const content = JSON.stringify({
 *   protocol: "choria:registration:inventorycontent:1",
 *   content: { agents: [], classes: [], facts: { role: "web" }, collectives: ["mcollective"] },
 * });
 * index.add({
 *   stream: "CHORIA_REGISTRATION", seq: 1, subject: "choria.registration.web1", timeMs: 0,
 *   data: new TextEncoder().encode(JSON.stringify({
 *     protocol: "choria:adapters:choria_streams:output:1", data: content, sender: "web1",
 *     time: "2026-11-25T20:00:00Z", requestid: "r1",
 *   })),
 * });
 * console.log(index.size, index.get("web1")?.facts); // 1 { role: "web" }
 * ```
 */
export class InventoryIndex {
  readonly #nodes = new Map<string, RegistryNode>();
  /** The last stream sequence fed in. */
  lastSeq = 0;
  /** Messages that could not be indexed. */
  errors = 0;
  /** The last indexing error, for logs. */
  lastError: string | null = null;

  /** How many nodes are known. */
  get size(): number {
    return this.#nodes.size;
  }

  /** Feeds one stream message; false when it could not be indexed. */
  add(message: StoredMessage): boolean {
    if (message.seq > this.lastSeq) this.lastSeq = message.seq;
    let node: RegistryNode;
    try {
      node = registryNodeOf(message);
    } catch (error) {
      this.errors++;
      this.lastError = (error as Error).message;
      return false;
    }
    const previous = this.#nodes.get(node.name);
    if (previous === undefined || previous.lastSeenMs <= node.lastSeenMs) {
      this.#nodes.set(node.name, node);
    }
    return true;
  }

  /** One node, or undefined. */
  get(identity: string): RegistryNode | undefined {
    return this.#nodes.get(identity);
  }

  /** Every node. */
  nodes(): IterableIterator<RegistryNode> {
    return this.#nodes.values();
  }

  /** Forgets every node (after a purge). */
  clear(): void {
    this.#nodes.clear();
    this.lastSeq = 0;
  }
}

/** A node that stopped and has not started since. */
export interface StoppedNode {
  /** Its identity. */
  identity: string;
  /** When it said it was shutting down, Unix seconds. */
  timestamp: number;
}

/** What `chorale fleet` shows. */
export interface FleetSummary {
  /** Registered nodes. */
  nodes: number;
  /** Nodes per version, most first. */
  versions: { version: string; nodes: number }[];
  /** Nodes not registered within `staleAfterMs`. */
  stale: { identity: string; lastSeenMs: number }[];
  /** Nodes whose last lifecycle event in the window was a shutdown, newest first. */
  stopped: StoppedNode[];
  /** For each fact asked about (or each top-level scalar fact), nodes per value, most first. */
  facts: Record<string, { value: string; nodes: number }[]>;
}

/** Options for {@linkcode fleetSummary}. */
export interface FleetSummaryOptions {
  /** Count values of these facts (dotted paths); default: every top-level scalar fact. */
  facts?: string[];
  /** Lifecycle events to look for stopped nodes in, oldest first. @default [] */
  events?: StoredMessage[];
  /** A node that has not registered for this long is stale, ms. @default 0 (not reported) */
  staleAfterMs?: number;
  /** The time now, ms. @default Date.now() */
  now?: number;
  /** At most this many values per fact. @default 20 */
  maxValues?: number;
}

function countsOf(map: Map<string, number>, max: number): { value: string; nodes: number }[] {
  return [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, max).map((
    [value, nodes],
  ) => ({ value, nodes }));
}

function factValue(facts: Record<string, unknown>, path: string): unknown {
  let value: unknown = facts;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Summarises the fleet: node count, versions, stale and stopped nodes, fact value counts.
 *
 * @example Count versions
 * ```ts
 * import { fleetSummary } from "./inventory.ts";
 * const node = (name: string, version: string) => ({
 *   name, version, collectives: [], facts: { os: "debian" }, classes: [], agents: [], lastSeenMs: 0,
 * });
 * const summary = fleetSummary([node("a", "0.1.0"), node("b", "0.1.0"), node("c", "0.2.0")]);
 * console.log(summary.versions[0], summary.facts.os); // { version: "0.1.0", nodes: 2 } [ { value: "debian", nodes: 3 } ]
 * ```
 */
export function fleetSummary(
  nodes: Iterable<RegistryNode>,
  options: FleetSummaryOptions = {},
): FleetSummary {
  const now = options.now ?? Date.now();
  const max = options.maxValues ?? 20;
  const versions = new Map<string, number>();
  const facts = new Map<string, Map<string, number>>();
  const stale: { identity: string; lastSeenMs: number }[] = [];
  let count = 0;
  for (const node of nodes) {
    count++;
    versions.set(node.version, (versions.get(node.version) ?? 0) + 1);
    if (options.staleAfterMs && now - node.lastSeenMs > options.staleAfterMs) {
      stale.push({ identity: node.name, lastSeenMs: node.lastSeenMs });
    }
    const paths = options.facts ??
      Object.keys(node.facts).filter((k) => {
        const v = node.facts[k];
        return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
      });
    for (const path of paths) {
      const value = factValue(node.facts, path);
      if (value === undefined || (typeof value === "object" && value !== null)) continue;
      let counts = facts.get(path);
      if (counts === undefined) facts.set(path, counts = new Map());
      const key = String(value);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  // The latest lifecycle event of each server says whether it is stopped.
  const latest = new Map<string, { type: string; timestamp: number }>();
  for (const message of options.events ?? []) {
    try {
      const { event } = decodeLifecycleEvent(message.data);
      if (event.component !== "server") continue;
      const before = latest.get(event.identity);
      if (before === undefined || before.timestamp <= event.timestamp) {
        latest.set(event.identity, { type: event.type, timestamp: event.timestamp });
      }
    } catch {
      // The store keeps only events that decode; anything else is not an event to report on.
    }
  }
  const stopped = [...latest].filter(([, e]) => e.type === "shutdown").map(([identity, e]) => ({
    identity,
    timestamp: e.timestamp,
  })).sort((a, b) => b.timestamp - a.timestamp);
  return {
    nodes: count,
    versions: countsOf(versions, max).map(({ value, nodes }) => ({ version: value, nodes })),
    stale: stale.sort((a, b) => a.lastSeenMs - b.lastSeenMs),
    stopped,
    facts: Object.fromEntries(
      [...facts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => [k, countsOf(v, max)]),
    ),
  };
}
