/**
 * Choria's `choria_util` agent, as much of it as Chorale can truthfully serve: the `info` action.
 *
 * Its DDL, `agents/ddl/choria_util.json`, is go-choria's with the `machine_state`,
 * `machine_states` and `machine_transition` actions left out: Chorale hosts no Autonomous Agents,
 * and a DDL is what help, documentation and generated clients are made from, so it must not offer
 * actions that can only fail. A client that calls them anyway gets status 2 (UnknownAction).
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
import type { Agent, NodeInfo } from "./agent.ts";
import { defineAgent } from "./sdk.ts";

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
  return defineAgent(ddl, {
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
