/**
 * Choria's `choria_util` agent: `info`, and control of the node's Autonomous Agents.
 *
 * Its DDL, `agents/ddl/choria_util.json`, is go-choria's unchanged. `machine_states` lists every
 * hosted machine, `machine_state` describes one (found by `instance`, `name` or `path`, every
 * given one must match), and `machine_transition` forces a transition in one (also matched on
 * `version` when given). A server that hosts no machines answers the three with status 1
 * (Aborted) and a message saying so.
 *
 * `info` always reports `choria_version` ("chorale <version>"); every other output (security and
 * connector names, TLS, the connected broker, client options and statistics, SRV settings,
 * middleware servers, PATH) comes from the `info` callback the server passes
 * ({@linkcode ChoriaUtilOptions}), and an output the server does not know is left out of the reply
 * rather than guessed. Chorale has no Facter, so `facter_domain` and `facter_command` are only
 * sent when the server sets them.
 *
 * @module
 */
import ddl from "./ddl/choria_util.json" with { type: "json" };
import { ActionError, type Agent, type NodeInfo, StatusCodes } from "./agent.ts";
import { defineAgent } from "./sdk.ts";
import type { HostedMachine, HostedMachines } from "../machines/control.ts";

/** What the server knows about its security and middleware connection: `info`'s outputs (wire names). */
export interface ChoriaInfo {
  /** The security provider, such as "file" or "puppet". */
  security?: string;
  /** Whether requests are signed and verified. */
  secure_protocol?: boolean;
  /** The connector, such as "nats". */
  connector?: string;
  /** Whether the broker connection uses TLS. */
  connector_tls?: boolean;
  /** The server's PATH. */
  path?: string;
  /** The middleware client library's version. */
  client_version?: string;
  /** The middleware client library, such as "nats.js". */
  client_flavour?: string;
  /** The middleware client's options. */
  client_options?: Record<string, unknown>;
  /** The broker the server is connected to, as host:port. */
  connected_server?: string;
  /** The middleware client's counters (in_msgs, out_msgs, in_bytes, out_bytes, reconnects). */
  client_stats?: Record<string, unknown>;
  /** The Facter domain, when there is one. */
  facter_domain?: string;
  /** The Facter command, when there is one. */
  facter_command?: string;
  /** The SRV domain configured. */
  srv_domain?: string;
  /** Whether SRV records are looked up. */
  using_srv?: boolean;
  /** The brokers configured or discovered, as host:port. */
  middleware_servers?: string[];
}

/** Options for {@linkcode choriaUtilAgent}. */
export interface ChoriaUtilOptions {
  /**
   * Tells what the server knows about its security and connection, asked on every `info`.
   * @default nothing beyond `choria_version`
   */
  info?: (node: NodeInfo) => ChoriaInfo | Promise<ChoriaInfo>;
  /**
   * The node's Autonomous Agents, for the machine actions.
   * @default none: the machine actions answer status 1
   */
  machines?: HostedMachines;
}

function describeMachine(m: HostedMachine): Record<string, unknown> {
  const data: Record<string, unknown> = {
    name: m.name,
    version: m.version,
    state: m.state,
    path: m.path,
    id: m.id,
    start_time: m.startedAt ? String(Math.floor(m.startedAt.getTime() / 1000)) : "",
    available_transitions: m.availableTransitions(),
    scout: m.scout,
  };
  const check = m.scout ? m.checkState() : null;
  if (check) data.current_state = check;
  return data;
}

function query(inputs: Record<string, unknown>): Record<string, string> {
  const q: Record<string, string> = {};
  for (const key of ["instance", "name", "path", "version"]) {
    if (typeof inputs[key] === "string" && inputs[key] !== "") q[key] = inputs[key] as string;
  }
  return q;
}

/**
 * Makes the `choria_util` agent.
 *
 * @example Report the version
 * ```ts
 * import { choriaUtilAgent } from "./choria_util.ts";
 * import type { ActionContext, NodeInfo } from "./agent.ts";
 * const agent = choriaUtilAgent({ info: () => ({ connector: "nats", connector_tls: true }) });
 * const node = { version: "0.1.0" } as NodeInfo; // the server provides the real one
 * const reply = await agent.actions.info!({}, { node } as ActionContext);
 * console.log(reply); // { connector: "nats", connector_tls: true, choria_version: "chorale 0.1.0" }
 * ```
 */
export function choriaUtilAgent(options: ChoriaUtilOptions = {}): Agent {
  const hosted = (action: string): HostedMachines => {
    if (!options.machines) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot run ${action} as this server hosts no Autonomous Agents: set plugin.choria.machine.store`,
      );
    }
    return options.machines;
  };
  const find = (action: string, inputs: Record<string, unknown>): HostedMachine => {
    const machines = hosted(action);
    try {
      return machines.find(query(inputs));
    } catch (error) {
      throw new ActionError(StatusCodes.aborted, (error as Error).message);
    }
  };
  return defineAgent(ddl, {
    machine_states: () => {
      const list = hosted("machine_states").list();
      return {
        machine_names: list.map((m) => m.name),
        machine_ids: list.map((m) => m.id),
        states: Object.fromEntries(list.map((m) => [m.id, describeMachine(m)])),
      };
    },
    machine_state: (inputs) => describeMachine(find("machine_state", inputs)),
    machine_transition: (inputs, { request }) => {
      const machine = find("machine_transition", inputs);
      const result = machine.transition(String(inputs.transition), `rpc by ${request.callerid}`);
      if (!result.ok) throw new ActionError(StatusCodes.aborted, result.message);
      return { success: true };
    },
    info: async (_inputs, { node }) => {
      const known = (await options.info?.(node)) ?? {};
      const data: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(known)) {
        if (value !== undefined) data[key] = value;
      }
      data.choria_version = `chorale ${node.version}`;
      return data;
    },
  }, { file: "agents/ddl/choria_util.json" });
}
