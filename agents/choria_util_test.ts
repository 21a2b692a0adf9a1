import assert from "node:assert/strict";
import type { NodeInfo } from "./agent.ts";
import { type ChoriaInfo, choriaUtilAgent } from "./choria_util.ts";
import { parseDdl } from "./ddl.ts";
import { runAction } from "./sdk.ts";
import { defaultPlugins, hostedMachines, MachineHost } from "../machines/mod.ts";

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

Deno.test("choria_util's DDL is Choria's, unchanged", async () => {
  const choria = JSON.parse(await Deno.readTextFile(CHORIA_DDL));
  const copy = JSON.parse(
    await Deno.readTextFile(new URL("./ddl/choria_util.json", import.meta.url)),
  );
  assert.deepEqual(copy, choria);
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

Deno.test("choria_util answers the machine actions with status 1 when it hosts no machines", async () => {
  for (const action of ["machine_state", "machine_states", "machine_transition"]) {
    const reply = await runAction(choriaUtilAgent(), {
      ...request(action),
      data: action === "machine_states"
        ? {}
        : action === "machine_state"
        ? { name: "m1" }
        : { name: "m1", transition: "go" },
    }, { node });
    assert.equal(reply.statuscode, 1, action);
    assert.equal(
      reply.statusmsg,
      `Cannot run ${action} as this server hosts no Autonomous Agents: set plugin.choria.machine.store`,
    );
  }
});

Deno.test("choria_util lists, describes and transitions hosted machines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-util-" });
  try {
    await Deno.mkdir(`${dir}/toggle`);
    await Deno.writeTextFile(
      `${dir}/toggle/machine.yaml`,
      [
        "name: toggle",
        "version: 1.2.3",
        "initial_state: off",
        "transitions:",
        "  - { name: switch_on, from: [off], destination: on }",
        "  - { name: switch_off, from: [on], destination: off }",
        "watchers:",
        "  - { name: hold, type: timer, state_match: [on], properties: { timer: 1h } }",
        "",
      ].join("\n"),
    );
    await using host = new MachineHost({
      store: dir,
      identity: "n1",
      plugins: defaultPlugins(),
      pollMs: 0,
    });
    await host.start();
    const agent = choriaUtilAgent({ machines: hostedMachines(host) });
    const call = (action: string, data: Record<string, unknown> = {}) =>
      runAction(agent, { ...request(action), data }, { node });
    const states = await call("machine_states");
    assert.equal(states.statuscode, 0, states.statusmsg);
    const id = (states.data.machine_ids as string[])[0]!;
    assert.deepEqual(states.data.machine_names, ["toggle"]);
    const state = await call("machine_state", { instance: id });
    assert.deepEqual(
      { ...state.data, start_time: typeof state.data.start_time },
      {
        name: "toggle",
        version: "1.2.3",
        state: "off",
        path: `${dir}/toggle/machine.yaml`,
        id,
        start_time: "string",
        available_transitions: ["switch_on"],
        scout: false,
      },
    );
    const moved = await call("machine_transition", { name: "toggle", transition: "switch_on" });
    assert.deepEqual([moved.statuscode, moved.data], [0, { success: true }]);
    assert.equal(host.find({ name: "toggle" }).state, "on");
    const refused = await call("machine_transition", { name: "toggle", transition: "switch_on" });
    assert.equal(refused.statuscode, 1);
    assert.match(
      refused.statusmsg,
      /Cannot fire transition 'switch_on' as it is not valid from state 'on': valid are switch_off/,
    );
    const wrongVersion = await call("machine_transition", {
      name: "toggle",
      version: "9.9.9",
      transition: "switch_off",
    });
    assert.match(
      wrongVersion.statusmsg,
      /Cannot find a machine with name 'toggle', version '9\.9\.9'/,
    );
    const invalid = await call("machine_state", { name: "1bad" });
    assert.equal(invalid.statuscode, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
