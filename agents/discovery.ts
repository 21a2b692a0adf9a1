/**
 * Choria's `discovery` agent: every node answers `ping` with `{message: "pong"}`, which is how a
 * broadcast discovery finds the nodes matching a filter (the filter is applied before the agent
 * runs, so replying at all is the answer). Its DDL, `agents/ddl/discovery.json`, follows the Ruby
 * MCollective discovery agent's.
 *
 * go-choria's discovery agent answers any request whose body mentions "ping" with the bare body
 * "pong" rather than an RPC reply; its discovery client only counts who replied, so the RPC reply
 * this agent sends serves it too.
 *
 * @module
 */
import ddl from "./ddl/discovery.json" with { type: "json" };
import type { Agent } from "./agent.ts";
import { defineAgent } from "./sdk.ts";

/**
 * Makes the `discovery` agent.
 *
 * @example Answer a ping
 * ```ts
 * import { discoveryAgent } from "./discovery.ts";
 * import type { ActionContext } from "./agent.ts";
 * const reply = await discoveryAgent().actions.ping!({}, {} as ActionContext);
 * console.log(reply); // { message: "pong" }
 * ```
 */
export function discoveryAgent(): Agent {
  return defineAgent(ddl, { ping: () => ({ message: "pong" }) }, {
    file: "agents/ddl/discovery.json",
  });
}
