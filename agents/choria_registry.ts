/**
 * The `choria_registry` agent, as Choria's registry service: it hands out the DDLs of the agents
 * its node runs, so a client that lacks an agent's DDL can fetch it from the fleet
 * (introspection). It is a service agent: one node of each collective answers a broadcast.
 * Only the `json` format is served; Choria's Ruby `ddl` format is refused with status 4.
 *
 * @module
 */
import ddl from "./ddl/choria_registry.json" with { type: "json" };
import { ActionError, type Agent, StatusCodes } from "./agent.ts";
import { defineAgent } from "./sdk.ts";

/**
 * Makes the `choria_registry` agent.
 *
 * @example List the agents a node has DDLs for
 * ```ts
 * import { choriaRegistryAgent } from "./choria_registry.ts";
 * import type { ActionContext, AgentDdl } from "./agent.ts";
 * const node = { agents: () => [{ metadata: { name: "rpcutil" } } as AgentDdl] };
 * const reply = await choriaRegistryAgent().actions.names!({ plugin_type: "agent" }, { node } as ActionContext);
 * console.log(reply); // { names: ["rpcutil"], plugin_type: "agent" }
 * ```
 */
export function choriaRegistryAgent(): Agent {
  return defineAgent(ddl, {
    names: (_inputs, { node }) => ({
      names: node.agents().map((a) => a.metadata.name).sort(),
      plugin_type: "agent",
    }),
    ddl: (inputs, { node }) => {
      const name = String(inputs.name);
      const format = String(inputs.format ?? "json");
      if (format !== "json") {
        throw new ActionError(
          StatusCodes.invalidData,
          `Cannot serve format '${format}': only json`,
        );
      }
      const found = node.agents().find((a) => a.metadata.name === name);
      if (!found) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot find a DDL for agent '${name}' on this node`,
        );
      }
      return {
        ddl: JSON.stringify(found),
        name,
        plugin_type: "agent",
        version: found.metadata.version,
      };
    },
  }, { file: "agents/ddl/choria_registry.json" });
}
