import assert from "node:assert/strict";
import type { NodeInfo } from "./agent.ts";
import { type ChoriaInfo, choriaUtilAgent } from "./choria_util.ts";
import { parseDdl } from "./ddl.ts";
import { runAction } from "./sdk.ts";

const CHORIA_DDL = new URL("../../shared/choria/ddl/choria_util.json", import.meta.url);

const node = {
  identity: "node1.example.net",
  collectives: ["mcollective"],
  facts: () => ({}),
  classes: () => [],
  agents: () => [],
  stats: () => ({}),
  startedAt: new Date(0),
  version: "0.1.0",
} satisfies NodeInfo;

const request = (action: string) => ({
  requestId: "0123456789abcdef0123456789abcdef",
  callerid: "choria=rip.mcollective",
  senderid: "client.example.net",
  agent: "choria_util",
  action,
  collective: "mcollective",
  data: {},
});

Deno.test("choria_util's DDL is Choria's info action alone, unchanged", async () => {
  const choria = JSON.parse(await Deno.readTextFile(CHORIA_DDL));
  const copy = JSON.parse(
    await Deno.readTextFile(new URL("./ddl/choria_util.json", import.meta.url)),
  );
  assert.deepEqual(copy.metadata, choria.metadata);
  assert.deepEqual(
    copy.actions,
    choria.actions.filter((a: { action: string }) => a.action === "info"),
  );
  assert.deepEqual(choriaUtilAgent().ddl, parseDdl(copy));
});

Deno.test("choria_util info reports the Chorale version and nothing it does not know", async () => {
  const reply = await runAction(choriaUtilAgent(), request("info"), { node });
  assert.deepEqual(reply, {
    statuscode: 0,
    statusmsg: "OK",
    data: { choria_version: "chorale 0.1.0" },
  });
});

Deno.test("choria_util info reports what the server tells, within the DDL's outputs", async () => {
  const info: ChoriaInfo = {
    security: "file",
    secure_protocol: true,
    connector: "nats",
    connector_tls: true,
    path: "/usr/bin:/bin",
    client_version: "2.29.3",
    client_flavour: "nats.js",
    client_options: { name: "node1.example.net" },
    connected_server: "broker.example.net:4222",
    client_stats: { in_msgs: 1, out_msgs: 2, in_bytes: 3, out_bytes: 4, reconnects: 0 },
    facter_domain: "example.net",
    facter_command: "",
    srv_domain: "example.net",
    using_srv: false,
    middleware_servers: ["broker.example.net:4222"],
  };
  let asked: NodeInfo | undefined;
  const agent = choriaUtilAgent({
    info: (given) => {
      asked = given;
      return Promise.resolve(info);
    },
  });
  const reply = await runAction(agent, request("info"), { node });
  assert.equal(asked, node);
  assert.deepEqual(reply.data, { ...info, choria_version: "chorale 0.1.0" });
  assert.deepEqual(
    Object.keys(reply.data).sort(),
    Object.keys(agent.ddl.actions[0]!.output).sort(),
  );
});

Deno.test("choria_util answers the Autonomous Agent actions with status 2", async () => {
  for (const action of ["machine_state", "machine_states", "machine_transition"]) {
    const reply = await runAction(choriaUtilAgent(), request(action), { node });
    assert.equal(reply.statuscode, 2, action);
    assert.equal(
      reply.statusmsg,
      `Cannot run action '${action}' as agent 'choria_util' does not have it`,
    );
  }
});
