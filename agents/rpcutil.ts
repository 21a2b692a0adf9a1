/**
 * Choria's `rpcutil` agent: what a server tells about itself. Its DDL is Choria's own
 * (`agents/ddl/rpcutil.json`, a verbatim copy of go-choria's), and every action in it is served
 * from the {@linkcode NodeInfo} the server provides, replying as go-choria's rpcutil does:
 *
 * - `inventory`: `machines` is an empty array (Chorale has no Autonomous Agents). The DDL calls it
 *   a hash, but go-choria sends an array and its `choria inventory` decodes one, so an array it is.
 *   `data_plugins` is empty and `upgradable` false: Chorale has neither.
 * - `get_fact` / `get_facts`: a fact is a top-level key or a dotted path into nested facts
 *   (`os.family`, `networking.interfaces.0`); an unknown fact's value is `null`.
 * - `get_config_item`: `identity`, `collectives` and `main_collective` come from NodeInfo; other
 *   items come from the `config` map the server may pass ({@linkcode RpcutilOptions}). An unknown
 *   item is status 1 (Aborted), as in go-choria.
 * - `daemon_stats`: the counters come from `NodeInfo.stats()` under the DDL's output names (a
 *   missing counter is 0); `pid`, `configfile`, `threads` and `times` come from there too when the
 *   server gives them, else the running process's pid, `""`, the Deno and V8 versions, and this
 *   process's whole CPU seconds (`utime`, `stime`; whole because go-choria decodes integers).
 * - `get_data`: Chorale has no data plugins, so every source is unknown: status 1 (Aborted), as
 *   go-choria answers an unknown data plugin.
 *
 * @module
 */
import process from "node:process";
import ddl from "./ddl/rpcutil.json" with { type: "json" };
import { ActionError, type Agent, type NodeInfo, StatusCodes } from "./agent.ts";
import { defineAgent } from "./sdk.ts";

/** Options for {@linkcode rpcutilAgent}. */
export interface RpcutilOptions {
  /**
   * The server's effective configuration, keyed as in the config file
   * (`plugin.choria.middleware_hosts`), for `get_config_item`. Leave secrets out of it: any
   * caller allowed to run rpcutil can read every item.
   * @default no configuration beyond what NodeInfo tells
   */
  config?: () => Record<string, unknown>;
}

const COUNTERS = [
  "validated",
  "unvalidated",
  "passed",
  "filtered",
  "total",
  "replies",
  "ttlexpired",
  "events",
] as const;

/**
 * Makes the `rpcutil` agent.
 *
 * @example Ping a node
 * ```ts
 * import { rpcutilAgent } from "./rpcutil.ts";
 * import type { ActionContext } from "./agent.ts";
 * const agent = rpcutilAgent();
 * const reply = await agent.actions.ping!({}, {} as ActionContext); // the server runs this
 * console.log(typeof reply.pong); // "number"
 * ```
 */
export function rpcutilAgent(options: RpcutilOptions = {}): Agent {
  return defineAgent(ddl, {
    inventory: (_inputs, { node }) => {
      const collectives = node.collectives;
      return {
        agents: agentNames(node),
        facts: node.facts(),
        classes: node.classes(),
        version: node.version,
        main_collective: collectives[0] ?? "",
        collectives,
        data_plugins: [],
        machines: [],
        upgradable: false,
      };
    },

    get_fact: (inputs, { node }) => {
      const fact = inputs.fact as string;
      return { fact, value: factValue(node.facts(), fact) };
    },

    get_facts: (inputs, { node }) => {
      const facts = node.facts();
      const values: Record<string, unknown> = {};
      for (const name of (inputs.facts as string).split(",")) {
        const fact = name.trim();
        if (fact !== "") values[fact] = factValue(facts, fact);
      }
      return { values };
    },

    get_config_item: (inputs, { node }) => {
      const item = inputs.item as string;
      const fromNode: Record<string, unknown> = {
        identity: node.identity,
        collectives: node.collectives,
        main_collective: node.collectives[0] ?? "",
      };
      if (Object.hasOwn(fromNode, item)) return { item, value: fromNode[item] };
      const config = options.config?.() ?? {};
      if (Object.hasOwn(config, item)) return { item, value: config[item] };
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot get configuration item '${item}' as it is not known`,
      );
    },

    get_data: (inputs) => {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot get data from '${inputs.source}' as Chorale has no data plugins`,
      );
    },

    daemon_stats: (_inputs, { node }) => {
      const stats = node.stats();
      const counters = Object.fromEntries(
        COUNTERS.map((name) => [name, typeof stats[name] === "number" ? stats[name] : 0]),
      );
      return {
        ...counters,
        threads: Array.isArray(stats.threads)
          ? stats.threads
          : [`Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`],
        agents: agentNames(node),
        pid: typeof stats.pid === "number" ? stats.pid : Deno.pid,
        times: isObject(stats.times) ? stats.times : processTimes(),
        starttime: Math.floor(node.startedAt.getTime() / 1000),
        configfile: typeof stats.configfile === "string" ? stats.configfile : "",
        version: node.version,
      };
    },

    agent_inventory: (_inputs, { node }) => {
      const agents = node.agents()
        .map(({ metadata }) => ({
          agent: metadata.name,
          license: metadata.license,
          author: metadata.author,
          timeout: metadata.timeout,
          name: metadata.name,
          version: metadata.version,
          url: metadata.url,
          description: metadata.description,
          ...(metadata.provider === undefined ? {} : { provider: metadata.provider }),
          ...(metadata.service ? { service: true } : {}),
        }))
        .sort((a, b) => compare(a.agent, b.agent));
      return { agents };
    },

    collective_info: (_inputs, { node }) => ({
      main_collective: node.collectives[0] ?? "",
      collectives: node.collectives,
    }),

    ping: () => ({ pong: Math.floor(Date.now() / 1000) }),
  }, { file: "agents/ddl/rpcutil.json" });
}

/**
 * CPU seconds this process used, whole as go-choria's `choria inventory` decodes them into
 * integers; children's times are not known, so they are left out.
 */
function processTimes(): Record<string, number> {
  const usage = process.cpuUsage();
  return { utime: Math.floor(usage.user / 1e6), stime: Math.floor(usage.system / 1e6) };
}

function agentNames(node: NodeInfo): string[] {
  return node.agents().map((agent) => agent.metadata.name).sort(compare);
}

/**
 * A fact's value: the top-level key if there is one (facts may be flat with dotted names), else
 * the dotted path through nested objects and arrays; `null` when absent.
 */
function factValue(facts: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(facts, name)) return facts[name] ?? null;
  let current: unknown = facts;
  for (const part of name.split(".")) {
    if (Array.isArray(current) && /^\d+$/.test(part)) current = current[Number(part)];
    else if (isObject(current) && Object.hasOwn(current, part)) current = current[part];
    else return null;
  }
  return current ?? null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
