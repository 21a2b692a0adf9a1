/**
 * The fleet commands run in-process against a fleet in memory: arguments, validation, output
 * modes and exit codes, without sockets. client/commands/fleet_live_test.ts runs the real
 * `chorale` against a broker and servers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runChorale, type RunOptions } from "../_testing.ts";
import { type FakeFleet, fakeFleet, threeNodes } from "./_fake_fleet.ts";

function run(fleet: FakeFleet, args: string[], options: Partial<RunOptions> = {}) {
  return runChorale(args, { cwd: "/", env: { NO_COLOR: "1" }, fleet, ...options });
}

Deno.test("rpc calls the discovered nodes with converted inputs and exits 0", async () => {
  const fleet = fakeFleet(threeNodes());
  const result = await run(fleet, ["rpc", "rpcutil", "get_fact", "fact=role"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.match(result.stdout, /^n1\.example\.net\n {4}Fact: role\n {3}Value: web\n\nn2/);
  assert.match(result.stdout, /Summary of Value:\n\n {3}web = 2\n {3}db {2}= 1\n/);
  assert.match(result.stdout, /Nodes: 3 \/ 3\n +Pass \/ Fail: 3 \/ 0\n/);
  // Discovery asks only for nodes running the agent; the call names the nodes found.
  assert.deepEqual(fleet.discoveries[0]!.filter!.agent, ["rpcutil"]);
  const call = fleet.calls[0]!;
  assert.deepEqual(call.nodes, ["n1.example.net", "n2.example.net", "n3.example.net"]);
  assert.deepEqual(call.data, { fact: "role" });
  assert.equal(call.ddl?.metadata.name, "rpcutil");
});

Deno.test("rpc passes filters, collective, limit, batches and timeouts through", async () => {
  const fleet = fakeFleet(threeNodes());
  const result = await run(fleet, [
    "req",
    "rpcutil",
    "ping",
    "-F",
    "role=web",
    "-C",
    "apache",
    "-T",
    "eu",
    "--limit",
    "50%",
    "--batch",
    "1",
    "--batch-sleep",
    "0.5",
    "--timeout",
    "3",
    "--discovery-timeout",
    "1.5",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const discovery = fleet.discoveries[0]!;
  assert.equal(discovery.collective, "eu");
  assert.equal(discovery.timeoutMs, 1500);
  assert.deepEqual(discovery.filter!.fact, [{ fact: "role", operator: "==", value: "web" }]);
  const call = fleet.calls[0]!;
  assert.deepEqual(call.nodes, ["n1.example.net", "n3.example.net"]);
  assert.equal(call.collective, "eu");
  assert.equal(call.limit, "50%");
  assert.equal(call.batchSize, 1);
  assert.equal(call.batchSleepMs, 500);
  assert.equal(call.timeoutMs, 3000);
});

Deno.test("rpc refuses invalid inputs and unknown actions before connecting, unknown agents after asking the fleet", async () => {
  const fleet = fakeFleet(threeNodes());
  const invalid = await run(fleet, ["rpc", "package", "install", "package=zsh;reboot"]);
  assert.equal(invalid.code, 1);
  assert.match(
    invalid.stderr,
    /^chorale: Cannot accept input 'package' as it is not shellsafe: contains ';'\n/,
  );
  const agent = await run(fleet, ["rpc", "nosuch", "ping"]);
  assert.equal(agent.code, 5);
  assert.match(agent.stderr, /Cannot find agent 'nosuch': the agents with a DDL are .*rpcutil/);
  const action = await run(fleet, ["rpc", "rpcutil", "pong"]);
  assert.equal(action.code, 5);
  assert.match(action.stderr, /its actions are agent_inventory, .*, ping\n/);
  const noAction = await run(fleet, ["rpc", "rpcutil"]);
  assert.equal(noAction.code, 2);
  const badFlag = await run(fleet, ["rpc", "rpcutil", "ping", "--limit", "0"]);
  assert.equal(badFlag.code, 2);
  const both = await run(fleet, ["rpc", "rpcutil", "ping", "--json", "--jsonl"]);
  assert.equal(both.code, 2);
  // Only the unknown agent connected: to ask the fleet's registry for its DDL.
  assert.equal(fleet.connects, 1);
});

Deno.test("rpc exits 3 naming silent nodes, 4 when none answer, 2 when some fail", async () => {
  const nodes = threeNodes();
  nodes[1]!.silent = true;
  const some = await run(fakeFleet(nodes), ["rpc", "rpcutil", "ping"]);
  assert.equal(some.code, 3);
  assert.equal(some.stderr, "");
  assert.match(some.stdout, /No response from:\n\n {3}n2\.example\.net\n$/);
  const none = await run(
    fakeFleet(threeNodes().map((n) => ({ ...n, silent: true }))),
    ["rpc", "rpcutil", "ping"],
  );
  assert.equal(none.code, 4);
  const failing = threeNodes();
  failing[0]!.fail = [1, "You are not authorized to call this agent or action"];
  const failed = await run(fakeFleet(failing), ["rpc", "rpcutil", "ping"]);
  assert.equal(failed.code, 2);
  assert.match(failed.stdout, /n1\.example\.net +You are not authorized/);
});

Deno.test("rpc with nothing discovered exits 1 without calling", async () => {
  const fleet = fakeFleet(threeNodes());
  const result = await run(fleet, ["rpc", "rpcutil", "ping", "-C", "nosuch"]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "chorale: Cannot call rpcutil#ping as no nodes were discovered\n" +
      "chorale: hint: check the filters (-F, -C, -A, -I, -W, -S), the collective (-T) or --nodes\n",
  );
  assert.equal(fleet.calls.length, 0);
});

Deno.test("rpc --json, --jsonl and --table print for machines and tables", async () => {
  const json = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping", "--json"]);
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.replies.length, 3);
  assert.equal(doc.stats.discoveryMs, 7);
  const jsonl = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping", "--jsonl"]);
  const lines = jsonl.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ["reply", "reply", "reply", "stats"]);
  const table = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping", "--table"]);
  assert.match(table.stdout, /^SENDER +STATUS +TIMESTAMP\nn1\.example\.net +OK +1700000000\n/);
});

Deno.test("rpc draws a progress bar and colours only on a terminal without NO_COLOR", async () => {
  const tty = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping"], {
    terminal: true,
    env: {},
  });
  assert.match(tty.stderr, /\r {2}3 \/ 3 \[=+\] 100%\r/);
  assert.ok(tty.stderr.endsWith("\r\x1b[2K"), "the bar is wiped at the end");
  assert.ok(tty.stdout.includes("\x1b[1m---- rpcutil#ping stats ----\x1b[22m"));
  const noColor = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping"], {
    terminal: true,
    env: { NO_COLOR: "1" },
  });
  assert.ok(!noColor.stdout.includes("\x1b["));
  assert.match(noColor.stderr, /100%/);
  const piped = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping"], { env: {} });
  assert.equal(piped.stderr, "");
  assert.ok(!piped.stdout.includes("\x1b["));
  const json = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping", "--json"], {
    terminal: true,
  });
  assert.equal(json.stderr, "");
  const off = await run(fakeFleet(threeNodes()), ["rpc", "rpcutil", "ping", "--no-progress"], {
    terminal: true,
  });
  assert.equal(off.stderr, "");
});

Deno.test("rpc --nodes reads the node list relative to the working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-nodes-" });
  try {
    await Deno.writeTextFile(join(dir, "nodes.txt"), "n1.example.net\nn9.example.net\n");
    const fleet = fakeFleet(threeNodes());
    const result = await run(fleet, ["rpc", "rpcutil", "ping", "--nodes", "nodes.txt"], {
      cwd: dir,
    });
    assert.equal(result.code, 3);
    assert.deepEqual(fleet.discoveries[0]!.source, join(dir, "nodes.txt"));
    // A flatfile has no agents to match: the agent is not added to its filter.
    assert.deepEqual(fleet.discoveries[0]!.filter!.agent, []);
    assert.match(result.stdout, /No response from:\n\n {3}n9\.example\.net\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rpc --help shows the program's help, an agent's actions or an action's inputs", async () => {
  const fleet = fakeFleet([]);
  const program = await run(fleet, ["rpc", "--help"]);
  assert.equal(program.code, 0);
  assert.match(
    program.stdout,
    /Usage: chorale rpc\|req \[options\] \[agent\] \[action\] \[inputs\.\.\.\]/,
  );
  assert.match(program.stdout, /-F, --with-fact <fact=value>/);
  assert.match(
    program.stdout,
    /Agents with a DDL: choria_registry, choria_util, discovery, emulated, package, rpcutil, scout, service\n$/,
  );
  const agent = await run(fleet, ["rpc", "package", "-h"]);
  assert.match(agent.stdout, /^Usage: chorale rpc package ACTION/);
  assert.match(
    agent.stdout,
    /\n {2}install +Install a package\n +package=STRING \(required\) {2}version=STRING\n/i,
  );
  const action = await run(fleet, ["rpc", "package", "install", "--help"]);
  assert.match(
    action.stdout,
    /package +Package to install\n +\(string, required, shellsafe, at most 90 characters\)/i,
  );
  const unknown = await run(fleet, ["rpc", "nosuch", "--help"]);
  assert.equal(unknown.code, 5);
  assert.equal(fleet.connects, 0);
});

Deno.test("an unreachable broker exits 6 with one sentence", async () => {
  const result = await run(fakeFleet([], { unreachable: true }), ["rpc", "rpcutil", "ping"]);
  assert.equal(result.code, 6);
  assert.equal(
    result.stderr,
    "chorale: Cannot connect to tls://127.0.0.1:1 as nothing accepts connections there\n" +
      "chorale: hint: check the brokers in the configuration and that one is running\n",
  );
});

Deno.test("discover prints one identity a line, or exits 1 when nothing matches", async () => {
  const fleet = fakeFleet(threeNodes());
  const found = await run(fleet, ["discover", "-W", "apache role=web"]);
  assert.equal(found.code, 0);
  assert.equal(found.stdout, "n1.example.net\nn3.example.net\n");
  assert.deepEqual(fleet.discoveries[0]!.filter!.agent, []);
  const json = await run(fleet, ["discover", "-I", "/n2/", "--json"]);
  assert.deepEqual(JSON.parse(json.stdout), ["n2.example.net"]);
  const tty = await run(fleet, ["discover"], { terminal: true });
  assert.match(tty.stdout, /\n\nDiscovered 3 nodes in 7 ms\n$/);
  const none = await run(fleet, ["discover", "-C", "x"]);
  assert.equal(none.code, 1);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /^chorale: Cannot list nodes as no nodes were discovered\n/);
});

Deno.test("ping reports round trips with min, avg and max and exits as rpc does", async () => {
  const nodes = threeNodes();
  nodes[2]!.silent = true;
  const fleet = fakeFleet(nodes);
  const result = await run(fleet, ["ping"]);
  assert.equal(result.code, 3);
  assert.match(result.stdout, /^n1\.example\.net +time=3 ms\nn2\.example\.net +time=4 ms\n/);
  assert.match(result.stdout, /2 replies max: 4 ms min: 3 ms avg: 3\.5 ms, 1 did not answer\n/);
  assert.match(result.stdout, /No response from:\n\n {3}n3\.example\.net\n$/);
  const call = fleet.calls[0]!;
  assert.deepEqual([call.agent, call.action, call.mode, call.timeoutMs], [
    "discovery",
    "ping",
    "broadcast",
    5000,
  ]);
  const json = JSON.parse((await run(fakeFleet(threeNodes()), ["ping", "--json"])).stdout);
  assert.deepEqual(json.summary, { replies: 3, min: 3, max: 5, avg: 4 });
});

Deno.test("facts counts each value and names who has it", async () => {
  const fleet = fakeFleet(threeNodes());
  const result = await run(fleet, ["facts", "role"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^Report for fact: role\n\n {3}web +found 2 times\n {6}n1\.example\.net, n3\.example\.net\n\n {3}db +found 1 time\n {6}n2\.example\.net\n/,
  );
  const json = JSON.parse((await run(fleet, ["facts", "role", "--json"])).stdout);
  assert.deepEqual(json.values[0], {
    value: "web",
    count: 2,
    nodes: ["n1.example.net", "n3.example.net"],
  });
  const bad = await run(fleet, ["facts", ""]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Cannot accept input 'fact' as it does not match '\.\+'/);
});

Deno.test("inventory shows one node, and exits 4 when it does not answer", async () => {
  const nodes = threeNodes();
  nodes[1]!.silent = true;
  const fleet = fakeFleet(nodes);
  const result = await run(fleet, ["inventory", "n1.example.net"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Inventory for n1\.example\.net:\n/);
  assert.match(result.stdout, /Classes:\n {6}apache\n/);
  assert.deepEqual(fleet.calls[0]!.nodes, ["n1.example.net"]);
  const json = JSON.parse((await run(fleet, ["inventory", "n1.example.net", "--json"])).stdout);
  assert.equal(json.version, "0.1.0");
  const silent = await run(fleet, ["inventory", "n2.example.net"]);
  assert.equal(silent.code, 4);
  assert.match(
    silent.stderr,
    /^chorale: Cannot show the inventory of n2\.example\.net as it did not answer/,
  );
});

Deno.test("plugin doc renders a DDL, lists agents, and exits 5 for an unknown one", async () => {
  const fleet = fakeFleet([]);
  const doc = await run(fleet, ["plugin", "doc", "agent/rpcutil"]);
  assert.equal(doc.code, 0);
  assert.match(doc.stdout, /^rpcutil version 0\.29\.4\n/);
  assert.match(doc.stdout, /get_fact action:\n/);
  const action = await run(fleet, ["plugin", "doc", "rpcutil/get_fact"]);
  assert.match(action.stdout, /^Usage: chorale rpc rpcutil get_fact fact=\.\.\./);
  const list = await run(fleet, ["plugin", "doc"]);
  assert.match(list.stdout, /^AGENT +VERSION +DESCRIPTION\nchoria_registry /);
  assert.equal((await run(fleet, ["plugin", "doc", "nosuch"])).code, 5);
});

Deno.test("completion prints bash and zsh scripts with the agents' actions", async () => {
  const fleet = fakeFleet([]);
  const bash = await run(fleet, ["completion", "bash"]);
  assert.equal(bash.code, 0);
  assert.match(bash.stdout, /complete -F _chorale chorale/);
  assert.match(bash.stdout, /rpcutil\) COMPREPLY=\(\$\(compgen -W "agent_inventory /);
  assert.match(bash.stdout, /rpc\|req\)/);
  assert.match(bash.stdout, /takes_value=" .*--with-fact/);
  const zsh = await run(fleet, ["completion", "zsh"]);
  assert.match(zsh.stdout, /^#compdef chorale\n/);
  assert.equal((await run(fleet, ["completion", "fish"])).code, 2);
});

Deno.test("generate client writes a typed client for a DDL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-generate-" });
  try {
    const fleet = fakeFleet([]);
    const printed = await run(fleet, ["generate", "client", "rpcutil"], { cwd: dir });
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /export interface RpcutilGetFactInputs \{/);
    const written = await run(fleet, ["generate", "client", "rpcutil", "--out", "c.ts"], {
      cwd: dir,
    });
    assert.equal(written.code, 0);
    assert.equal(await Deno.readTextFile(join(dir, "c.ts")), printed.stdout);
    assert.equal(
      (await run(fleet, ["generate", "client", "rpcutil", "--out", "c.ts"], { cwd: dir })).code,
      1,
    );
    const missing = await run(fleet, ["generate", "client", "nope.json"], { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^chorale: Cannot read DDL nope\.json as it does not exist\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
