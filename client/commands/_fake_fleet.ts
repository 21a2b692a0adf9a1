/**
 * A fleet in memory for the command tests: discovery matches filters against nodes with real
 * filter code, calls answer through handlers, and every request is recorded. No sockets.
 *
 * @module
 */
import { matchesFilter } from "../../core/filter/mod.ts";
import type { RequestFilter } from "../../core/protocol/request.ts";
import { ConnectError } from "../errors.ts";
import type {
  DiscoverOptions,
  DiscoveryResult,
  RpcCall,
  RpcOptions,
  RpcResult,
  RpcResultSet,
} from "../types.ts";
import type { FleetClient, FleetDeps } from "./_fleet.ts";

/** A node of the fake fleet. */
export interface FakeNode {
  identity: string;
  facts?: Record<string, unknown>;
  classes?: string[];
  agents?: string[];
  /** Never answers calls (it is still discovered). */
  silent?: boolean;
  /** Answers every call with this status code and message. */
  fail?: [number, string];
}

type Handler = (node: FakeNode, data: Record<string, unknown>) => Record<string, unknown>;

const HANDLERS: Record<string, Handler> = {
  "rpcutil#ping": () => ({ pong: 1_700_000_000 }),
  "discovery#ping": () => ({ message: "pong" }),
  "rpcutil#get_fact": (node, data) => ({
    fact: data.fact,
    value: (node.facts ?? {})[String(data.fact)] ?? null,
  }),
  "rpcutil#collective_info": () => ({
    main_collective: "mcollective",
    collectives: ["mcollective"],
  }),
  "rpcutil#inventory": (node) => ({
    agents: node.agents ?? ["rpcutil"],
    facts: node.facts ?? {},
    classes: node.classes ?? [],
    version: "0.1.0",
    main_collective: "mcollective",
    collectives: ["mcollective"],
    data_plugins: [],
    machines: [],
    upgradable: false,
  }),
};

/** What the fake fleet was asked. */
export interface FakeFleet extends FleetDeps {
  nodes: FakeNode[];
  connects: number;
  discoveries: DiscoverOptions[];
  calls: RpcOptions[];
}

function full(filter: Partial<RequestFilter> = {}): RequestFilter {
  return {
    fact: filter.fact ?? [],
    cf_class: filter.cf_class ?? [],
    agent: filter.agent ?? [],
    identity: filter.identity ?? [],
    compound: filter.compound ?? [],
  };
}

/** A fake fleet of `nodes`; `unreachable` makes connecting fail as with no broker. */
export function fakeFleet(nodes: FakeNode[], options: { unreachable?: boolean } = {}): FakeFleet {
  const fleet: FakeFleet = {
    nodes,
    connects: 0,
    discoveries: [],
    calls: [],
    connect: () => {
      fleet.connects++;
      if (options.unreachable) {
        return Promise.reject(
          new ConnectError(
            "Cannot connect to tls://127.0.0.1:1 as nothing accepts connections there",
          ),
        );
      }
      return Promise.resolve(client);
    },
  };
  const discover = async (opts: DiscoverOptions = {}): Promise<DiscoveryResult> => {
    fleet.discoveries.push(opts);
    if (opts.method === "flatfile") {
      const text = await Deno.readTextFile(opts.source!);
      return { nodes: text.split("\n").map((l) => l.trim()).filter(Boolean).sort(), elapsedMs: 0 };
    }
    const filter = full(opts.filter);
    const found = nodes.filter((n) =>
      matchesFilter(filter, {
        identity: n.identity,
        facts: n.facts ?? {},
        classes: n.classes ?? [],
        agents: n.agents ?? ["rpcutil", "discovery"],
      })
    );
    return { nodes: found.map((n) => n.identity).sort(), elapsedMs: 7 };
  };
  const rpc = (opts: RpcOptions): RpcCall => {
    fleet.calls.push(opts);
    const targets = opts.nodes ?? [];
    const results: RpcResult[] = [];
    for (const identity of targets) {
      const node = nodes.find((n) => n.identity === identity);
      if (node === undefined || node.silent) continue;
      const handler = HANDLERS[`${opts.agent}#${opts.action}`];
      const [statuscode, statusmsg] = node.fail ?? (handler ? [0, "OK"] : [2, "Unknown action"]);
      results.push({
        sender: identity,
        statuscode,
        statusmsg,
        data: statuscode === 0 && handler ? handler(node, opts.data ?? {}) : {},
        signed: true,
        elapsedMs: 3 + results.length,
      });
    }
    const responded = results.map((r) => r.sender);
    const set: RpcResultSet = {
      results,
      stats: {
        discovered: [...targets],
        responded,
        ok: results.filter((r) => r.statuscode === 0).length,
        failed: results.filter((r) => r.statuscode !== 0).length,
        noResponses: targets.filter((t) => !responded.includes(t)),
        unexpected: [],
        discoveryMs: 0,
        publishMs: 1,
        repliesMs: 10,
        totalMs: 11,
      },
    };
    return {
      done: () => Promise.resolve(set),
      async *[Symbol.asyncIterator]() {
        for (const result of results) yield await Promise.resolve(result);
      },
    };
  };
  const client: FleetClient = {
    discover,
    rpc,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return fleet;
}

/** Three nodes as the live tests have them. */
export function threeNodes(): FakeNode[] {
  return [
    { identity: "n1.example.net", facts: { role: "web" }, classes: ["apache"] },
    { identity: "n2.example.net", facts: { role: "db" }, classes: ["mysql"] },
    { identity: "n3.example.net", facts: { role: "web" }, classes: ["apache"] },
  ];
}
