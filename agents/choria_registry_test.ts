import assert from "node:assert/strict";
import { type ActionContext, type AgentDdl, StatusCodes } from "./agent.ts";
import { choriaRegistryAgent } from "./choria_registry.ts";
import { discoveryAgent } from "./discovery.ts";
import { runAction } from "./sdk.ts";

const agents: AgentDdl[] = [discoveryAgent().ddl, choriaRegistryAgent().ddl];
const node = { agents: () => agents } as unknown as ActionContext["node"];

function request(action: string, data: Record<string, unknown>) {
  return {
    requestId: "0".repeat(32),
    callerid: "choria=alice.mcollective",
    senderid: "ws",
    agent: "choria_registry",
    action,
    collective: "mcollective",
    data,
  };
}

Deno.test("choria_registry names the agents its node runs", async () => {
  const reply = await runAction(choriaRegistryAgent(), request("names", { plugin_type: "agent" }), {
    node,
  });
  assert.equal(reply.statuscode, 0);
  assert.deepEqual(reply.data.names, ["choria_registry", "discovery"]);
});

Deno.test("choria_registry serves an agent's DDL as JSON that parses back to it", async () => {
  const reply = await runAction(
    choriaRegistryAgent(),
    request("ddl", { name: "discovery", plugin_type: "agent", format: "json" }),
    { node },
  );
  assert.equal(reply.statuscode, 0, reply.statusmsg);
  assert.deepEqual(JSON.parse(String(reply.data.ddl)), discoveryAgent().ddl);
});

Deno.test("choria_registry refuses unknown agents and the Ruby DDL format", async () => {
  const unknown = await runAction(
    choriaRegistryAgent(),
    request("ddl", { name: "nothing", plugin_type: "agent" }),
    { node },
  );
  assert.equal(unknown.statuscode, StatusCodes.aborted);
  assert.match(unknown.statusmsg, /Cannot find a DDL for agent 'nothing'/);
  const ruby = await runAction(
    choriaRegistryAgent(),
    request("ddl", { name: "discovery", plugin_type: "agent", format: "ddl" }),
    { node },
  );
  assert.equal(ruby.statuscode, StatusCodes.invalidData);
});
