import assert from "node:assert/strict";
import type { ActionRequest, AgentDdl, NodeInfo } from "./agent.ts";
import { parseDdl } from "./ddl.ts";
import { discoveryAgent } from "./discovery.ts";
import { rpcutilAgent } from "./rpcutil.ts";
import { runAction } from "./sdk.ts";

const CHORIA_DDL = new URL("../../shared/choria/ddl/rpcutil.json", import.meta.url);

// A plain fixture standing in for what the server provides.
function fakeNode(overrides: Partial<NodeInfo> = {}): NodeInfo {
  const agents: AgentDdl[] = [
    rpcutilAgent().ddl,
    discoveryAgent().ddl,
    {
      metadata: {
        name: "aaa_signer",
        description: "Request Signer",
        author: "R.I.Pienaar",
        license: "Apache-2.0",
        version: "0.29.4",
        url: "https://choria.io",
        timeout: 10,
        provider: "golang",
        service: true,
      },
      actions: [],
    },
  ];
  return {
    identity: "node1.example.net",
    collectives: ["mcollective", "dev_collective"],
    facts: () => ({
      os: { family: "Debian", release: { major: "12" } },
      "flat.dotted": "yes",
      networking: { interfaces: ["lo", "eth0"] },
      nothing: null,
    }),
    classes: () => ["common", "web"],
    agents: () => agents,
    stats: () => ({ total: 10, validated: 9, unvalidated: 1, passed: 8, filtered: 1, replies: 7 }),
    startedAt: new Date("2026-01-02T03:04:05.678Z"),
    version: "0.1.0",
    ...overrides,
  };
}

async function call(action: string, data: Record<string, unknown> = {}, options: {
  node?: NodeInfo;
  config?: Record<string, unknown>;
} = {}) {
  const agent = rpcutilAgent(
    options.config === undefined ? {} : { config: () => options.config! },
  );
  const request: ActionRequest = {
    requestId: "0123456789abcdef0123456789abcdef",
    callerid: "choria=rip.mcollective",
    senderid: "client.example.net",
    agent: "rpcutil",
    action,
    collective: "mcollective",
    data,
  };
  return await runAction(agent, request, { node: options.node ?? fakeNode() });
}

const choria = parseDdl(JSON.parse(await Deno.readTextFile(CHORIA_DDL)), { file: "rpcutil.json" });

Deno.test("rpcutil's DDL is Choria's, unchanged", async () => {
  const copy = JSON.parse(await Deno.readTextFile(new URL("./ddl/rpcutil.json", import.meta.url)));
  assert.deepEqual(copy, JSON.parse(await Deno.readTextFile(CHORIA_DDL)));
  assert.deepEqual(rpcutilAgent().ddl, choria);
});

Deno.test("rpcutil serves every action in Choria's DDL", () => {
  assert.deepEqual(
    Object.keys(rpcutilAgent().actions).sort(),
    choria.actions.map((a) => a.action).sort(),
  );
});

const INPUTS: Record<string, Record<string, unknown>> = {
  get_fact: { fact: "os.family" },
  get_facts: { facts: "os.family, classes" },
  get_config_item: { item: "identity" },
  get_data: { source: "sysctl" },
};

for (const action of choria.actions) {
  if (action.action === "get_data") continue;
  Deno.test(`rpcutil ${action.action} replies with exactly its DDL's outputs`, async () => {
    const reply = await call(action.action, INPUTS[action.action] ?? {});
    assert.equal(reply.statusmsg, "OK");
    assert.equal(reply.statuscode, 0);
    assert.deepEqual(Object.keys(reply.data).sort(), Object.keys(action.output).sort());
  });
}

Deno.test("rpcutil inventory reports the node", async () => {
  const { data } = await call("inventory");
  assert.deepEqual(data, {
    agents: ["aaa_signer", "discovery", "rpcutil"],
    facts: fakeNode().facts(),
    classes: ["common", "web"],
    version: "0.1.0",
    main_collective: "mcollective",
    collectives: ["mcollective", "dev_collective"],
    data_plugins: [],
    machines: [],
    upgradable: false,
  });
});

Deno.test("rpcutil get_fact finds nested, flat and missing facts", async () => {
  const cases: [string, unknown][] = [
    ["os.family", "Debian"],
    ["os.release.major", "12"],
    ["os", { family: "Debian", release: { major: "12" } }],
    ["flat.dotted", "yes"],
    ["networking.interfaces.1", "eth0"],
    ["networking.interfaces.9", null],
    ["os.family.deeper", null],
    ["missing", null],
    ["nothing", null],
    ["constructor", null],
  ];
  for (const [fact, value] of cases) {
    const reply = await call("get_fact", { fact });
    assert.deepEqual(reply, { statuscode: 0, statusmsg: "OK", data: { fact, value } }, fact);
  }
});

Deno.test("rpcutil get_fact requires its input", async () => {
  const reply = await call("get_fact", {});
  assert.deepEqual(reply, {
    statuscode: 3,
    statusmsg: "Cannot run action 'get_fact' as input 'fact' is required",
    data: {},
  });
});

Deno.test("rpcutil get_facts returns each named fact", async () => {
  const reply = await call("get_facts", { facts: " os.family ,os.release.major,missing" });
  assert.deepEqual(reply.data, {
    values: { "os.family": "Debian", "os.release.major": "12", missing: null },
  });
});

Deno.test("rpcutil get_facts refuses a list its DDL does not allow", async () => {
  const reply = await call("get_facts", { facts: "os;id" });
  assert.equal(reply.statuscode, 4);
  assert.match(reply.statusmsg, /^Cannot accept input 'facts' as it does not match/);
});

Deno.test("rpcutil get_config_item answers from NodeInfo, then the config map", async () => {
  const config = { "plugin.choria.middleware_hosts": "nats://broker:4222", identity: "ignored" };
  const cases: [string, unknown][] = [
    ["identity", "node1.example.net"],
    ["collectives", ["mcollective", "dev_collective"]],
    ["main_collective", "mcollective"],
    ["plugin.choria.middleware_hosts", "nats://broker:4222"],
  ];
  for (const [item, value] of cases) {
    const reply = await call("get_config_item", { item }, { config });
    assert.deepEqual(reply.data, { item, value }, item);
  }
});

Deno.test("rpcutil get_config_item answers an unknown item with status 1", async () => {
  for (const config of [undefined, {}]) {
    const reply = await call(
      "get_config_item",
      { item: "loglevel" },
      config === undefined ? {} : { config },
    );
    assert.deepEqual(reply, {
      statuscode: 1,
      statusmsg: "Cannot get configuration item 'loglevel' as it is not known",
      data: {},
    });
  }
});

Deno.test("rpcutil get_data answers with status 1 as Chorale has no data plugins", async () => {
  const reply = await call("get_data", { source: "sysctl", query: "kernel.hostname" });
  assert.deepEqual(reply, {
    statuscode: 1,
    statusmsg: "Cannot get data from 'sysctl' as Chorale has no data plugins",
    data: {},
  });
  assert.equal((await call("get_data", {})).statuscode, 3);
});

Deno.test("rpcutil daemon_stats reports counters, the start time and the version", async () => {
  const { data } = await call("daemon_stats");
  assert.deepEqual(
    { ...data, pid: undefined, threads: undefined, times: undefined },
    {
      validated: 9,
      unvalidated: 1,
      passed: 8,
      filtered: 1,
      total: 10,
      replies: 7,
      ttlexpired: 0,
      events: 0,
      agents: ["aaa_signer", "discovery", "rpcutil"],
      starttime: 1767323045,
      configfile: "",
      version: "0.1.0",
      pid: undefined,
      threads: undefined,
      times: undefined,
    },
  );
  assert.equal(data.pid, Deno.pid);
  assert.match((data.threads as string[])[0]!, /^Deno \d/);
  const times = data.times as Record<string, number>;
  assert.deepEqual(Object.keys(times).sort(), ["stime", "utime"]);
  assert.ok(Number.isInteger(times.utime) && Number.isInteger(times.stime));
});

Deno.test("rpcutil daemon_stats prefers what the server's stats give", async () => {
  const stats = {
    pid: 42,
    configfile: "/etc/chorale/server.conf",
    threads: ["main"],
    times: { utime: 1, stime: 2 },
    total: "not a number",
  };
  const { data } = await call("daemon_stats", {}, { node: fakeNode({ stats: () => stats }) });
  assert.equal(data.pid, 42);
  assert.equal(data.configfile, "/etc/chorale/server.conf");
  assert.deepEqual(data.threads, ["main"]);
  assert.deepEqual(data.times, { utime: 1, stime: 2 });
  assert.equal(data.total, 0);
});

Deno.test("rpcutil agent_inventory lists each agent's metadata by name", async () => {
  const { data } = await call("agent_inventory");
  const agents = data.agents as Record<string, unknown>[];
  assert.deepEqual(agents.map((a) => a.agent), ["aaa_signer", "discovery", "rpcutil"]);
  assert.deepEqual(agents[0], {
    agent: "aaa_signer",
    license: "Apache-2.0",
    author: "R.I.Pienaar",
    timeout: 10,
    name: "aaa_signer",
    version: "0.29.4",
    url: "https://choria.io",
    description: "Request Signer",
    provider: "golang",
    service: true,
  });
  assert.deepEqual(Object.keys(agents[2]!).sort(), [
    "agent",
    "author",
    "description",
    "license",
    "name",
    "timeout",
    "url",
    "version",
  ]);
});

Deno.test("rpcutil collective_info reports the collectives", async () => {
  const { data } = await call("collective_info");
  assert.deepEqual(data, {
    main_collective: "mcollective",
    collectives: ["mcollective", "dev_collective"],
  });
});

Deno.test("rpcutil ping answers with the Unix time in seconds", async () => {
  const before = Math.floor(Date.now() / 1000);
  const { data } = await call("ping");
  const after = Math.floor(Date.now() / 1000);
  assert.ok(Number.isInteger(data.pong));
  assert.ok((data.pong as number) >= before && (data.pong as number) <= after);
});

Deno.test("rpcutil refuses inputs an action does not declare", async () => {
  const reply = await call("ping", { extra: 1 });
  assert.equal(reply.statuscode, 4);
});
