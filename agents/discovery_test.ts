import assert from "node:assert/strict";
import type { NodeInfo } from "./agent.ts";
import { parseDdl } from "./ddl.ts";
import { discoveryAgent } from "./discovery.ts";
import { runAction } from "./sdk.ts";

const request = (action: string) => ({
  requestId: "0123456789abcdef0123456789abcdef",
  callerid: "choria=rip.mcollective",
  senderid: "client.example.net",
  agent: "discovery",
  action,
  collective: "mcollective",
  data: {},
});

Deno.test("discovery's DDL is a valid Choria DDL with one ping action", async () => {
  const text = await Deno.readTextFile(new URL("./ddl/discovery.json", import.meta.url));
  const ddl = parseDdl(text, { file: "discovery.json" });
  assert.equal(ddl.metadata.name, "discovery");
  assert.deepEqual(ddl.actions.map((a) => a.action), ["ping"]);
  assert.deepEqual(Object.keys(ddl.actions[0]!.output), ["message"]);
  assert.deepEqual(discoveryAgent().ddl, ddl);
});

Deno.test("discovery ping replies pong", async () => {
  const reply = await runAction(discoveryAgent(), request("ping"), { node: {} as NodeInfo });
  assert.deepEqual(reply, { statuscode: 0, statusmsg: "OK", data: { message: "pong" } });
});

Deno.test("discovery answers any other action with status 2", async () => {
  const reply = await runAction(discoveryAgent(), request("find"), { node: {} as NodeInfo });
  assert.equal(reply.statuscode, 2);
});
