import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ActionContext,
  ActionError,
  type ActionRequest,
  type Agent,
  type NodeInfo,
  StatusCodes,
} from "./agent.ts";
import { runAction } from "./sdk.ts";
import { type CommandRunner, PINNED_ENV, runCommand } from "./_command.ts";
import {
  type ExternalAgentsChange,
  ExternalProtocols,
  loadExternalAgents,
  parseExternalReply,
  watchExternalAgents,
} from "./external.ts";
import type { LogFields, Logger } from "../core/log.ts";

const FIXTURES = new URL("./testdata/external/", import.meta.url);
const EXECUTABLE = new Set([
  "echo",
  "hang",
  "crash",
  "garbage",
  "decline",
  "badactivate",
  "broken",
]);

interface TempDir extends AsyncDisposable {
  path: string;
}

async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "chorale-external-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Copies fixtures into a directory, setting modes here so a checkout's modes do not matter. */
async function addFixture(dir: string, name: string): Promise<void> {
  const program = join(dir, name);
  await Deno.copyFile(new URL(name, FIXTURES), program);
  await Deno.chmod(program, EXECUTABLE.has(name) ? 0o755 : 0o644);
  await Deno.copyFile(new URL(`${name}.json`, FIXTURES), join(dir, `${name}.json`));
}

async function agentDir(names: string[]): Promise<TempDir> {
  const dir = await tempDir();
  for (const name of names) await addFixture(dir.path, name);
  return dir;
}

interface Line {
  level: string;
  message: string;
  fields: LogFields | undefined;
}

function memoryLogger(lines: Line[] = []): Logger & { lines: Line[] } {
  const log = (level: string) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields });
  };
  const logger = {
    lines,
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: () => logger,
  };
  return logger;
}

const node: NodeInfo = {
  identity: "node1.example.net",
  collectives: ["mcollective"],
  facts: () => ({ os: { family: "Debian" } }),
  classes: () => [],
  agents: () => [],
  stats: () => ({}),
  startedAt: new Date(0),
  version: "0.1.0",
};

function request(agent: string, action: string, data: Record<string, unknown> = {}): ActionRequest {
  return {
    requestId: "9f1c4a2b8d7e4c3a9b6f5e4d3c2b1a09",
    callerid: "choria=alice.mcollective",
    senderid: "client.example.net",
    agent,
    action,
    collective: "mcollective",
    data,
  };
}

function context(
  agent: string,
  action: string,
  data: Record<string, unknown> = {},
  signal: AbortSignal = new AbortController().signal,
  logger: Logger = memoryLogger(),
): ActionContext {
  return { request: request(agent, action, data), node, signal, logger };
}

function find(agents: Agent[], name: string): Agent {
  const agent = agents.find((item) => item.ddl.metadata.name === name);
  assert.ok(agent, `agent '${name}' should have loaded`);
  return agent;
}

async function call(agent: Agent, action: string, data: Record<string, unknown> = {}) {
  const handler = agent.actions[action];
  assert.ok(handler, `agent should have action '${action}'`);
  return await handler(data, context(agent.ddl.metadata.name, action, data));
}

async function rejectsWith(
  promise: Promise<unknown>,
  statuscode: number,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ActionError, `expected an ActionError, got ${error}`);
    assert.equal(error.statuscode, statuscode);
    assert.match(error.message, message);
    return true;
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("loadExternalAgents loads working agents and skips the rest with a problem each", async () => {
  await using dir = await agentDir([
    "echo",
    "crash",
    "garbage",
    "hang",
    "decline",
    "badactivate",
    "noexec",
    "broken",
  ]);
  // A DDL that is not JSON, one with no program, and one naming another agent.
  await Deno.writeTextFile(join(dir.path, "notjson.json"), '{"metadata": {');
  await Deno.copyFile(join(dir.path, "crash"), join(dir.path, "notjson"));
  await Deno.chmod(join(dir.path, "notjson"), 0o755);
  const orphan = (await Deno.readTextFile(join(dir.path, "crash.json"))).replace(
    '"crash"',
    '"orphan"',
  );
  await Deno.writeTextFile(join(dir.path, "orphan.json"), orphan);
  await Deno.writeTextFile(join(dir.path, "misnamed.json"), orphan);
  await Deno.writeTextFile(join(dir.path, "README.md"), "not an agent");
  const logger = memoryLogger();

  const { agents, problems } = await loadExternalAgents(dir.path, { logger });

  assert.deepEqual(agents.map((agent) => agent.ddl.metadata.name), [
    "crash",
    "echo",
    "garbage",
    "hang",
  ]);
  assert.deepEqual(Object.keys(find(agents, "echo").actions).sort(), [
    "array",
    "bad_status",
    "data_list",
    "echo",
    "exit_with_failure",
    "exit_with_success",
    "fail",
    "remove_reply",
    "silent",
  ]);
  const expected = [
    /^Cannot load external agent 'badactivate' as its activation check failed: its executable exited with code 2$/,
    /^Cannot load external agent 'broken': Cannot load DDL '.*broken\.json' as metadata\.author is required/,
    /^Skipped external agent 'decline' as its activation check declined it$/,
    /^Cannot load external agent 'misnamed' as its DDL names it 'orphan'$/,
    /^Cannot load external agent 'noexec' as '.*noexec' is not an executable file$/,
    /^Cannot load external agent 'notjson': Cannot load DDL '.*notjson\.json' as it is not JSON/,
    /^Cannot load external agent 'orphan' as its executable '.*orphan' cannot be read: /,
  ];
  assert.equal(problems.length, expected.length, problems.join("\n"));
  expected.forEach((pattern, index) => assert.match(problems[index]!, pattern));
  const warned = logger.lines.filter((line) => line.level === "warn").map((line) => line.message);
  assert.deepEqual(warned, problems);
});

Deno.test("loadExternalAgents accepts the folder layout and refuses reserved names", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "echo"));
  await addFixture(join(dir.path, "echo"), "echo");
  await Deno.mkdir(join(dir.path, "rpcutil"));
  await Deno.copyFile(new URL("crash.json", FIXTURES), join(dir.path, "rpcutil", "rpcutil.json"));
  await Deno.writeTextFile(join(dir.path, "Bad-Name.json"), "{}");

  const { agents, problems } = await loadExternalAgents(dir.path, { logger: memoryLogger() });

  assert.deepEqual(agents.map((agent) => agent.ddl.metadata.name), ["echo"]);
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0]!, /^Cannot load external agent from '.*Bad-Name\.json' as its name/);
  assert.match(problems[1]!, /^Cannot load external agent 'rpcutil' .* reserved for a built-in/);
  const reply = await call(find(agents, "echo"), "echo", { message: "hi" });
  assert.equal((reply.request as { data: { message: string } }).data.message, "hi");
});

Deno.test("loadExternalAgents reports a missing directory as a problem", async () => {
  await using dir = await tempDir();
  const missing = join(dir.path, "nope");
  const { agents, problems } = await loadExternalAgents(missing, { logger: memoryLogger() });
  assert.deepEqual(agents, []);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^Cannot read external agent directory '.*nope': /);
});

Deno.test("External agent gets the protocol request in a private file and its reply is returned", async () => {
  await using dir = await agentDir(["echo"]);
  await using configs = await tempDir();
  const { agents } = await loadExternalAgents(dir.path, {
    logger: memoryLogger(),
    pluginConfigDir: configs.path,
  });
  const echo = find(agents, "echo");
  const logger = memoryLogger();
  const before = Math.floor(Date.now() / 1000);
  Deno.env.set("CHORALE_LEAK_CHECK", "leaked");
  let reply: Record<string, unknown>;
  try {
    reply = await echo.actions.echo!(
      { message: "hello", count: 2 },
      context("echo", "echo", { message: "hello", count: 2 }, undefined, logger),
    );
  } finally {
    Deno.env.delete("CHORALE_LEAK_CHECK");
  }

  const sent = reply.request as Record<string, unknown>;
  assert.ok(typeof sent.msgtime === "number" && sent.msgtime >= before);
  assert.deepEqual(sent, {
    $schema: ExternalProtocols.rpcRequestSchema,
    protocol: "io.choria.mcorpc.external.v1.rpc_request",
    agent: "echo",
    action: "echo",
    requestid: "9f1c4a2b8d7e4c3a9b6f5e4d3c2b1a09",
    senderid: "client.example.net",
    callerid: "choria=alice.mcollective",
    collective: "mcollective",
    ttl: 60,
    msgtime: sent.msgtime,
    data: { message: "hello", count: 2 },
  });
  const env = reply.env as Record<string, string>;
  const requestPath = env.CHORIA_EXTERNAL_REQUEST!;
  const folder = requestPath.slice(0, requestPath.lastIndexOf("/"));
  assert.deepEqual(env, {
    ...PINNED_ENV,
    CHORIA_EXTERNAL_REQUEST: join(folder, "request.json"),
    CHORIA_EXTERNAL_REPLY: join(folder, "reply.json"),
    CHORIA_EXTERNAL_PROTOCOL: "io.choria.mcorpc.external.v1.rpc_request",
    CHORIA_EXTERNAL_FACTS: join(folder, "facts.json"),
    CHORIA_EXTERNAL_CONFIG: join(configs.path, "echo"),
  });
  assert.deepEqual(reply.argv, [
    join(folder, "request.json"),
    join(folder, "reply.json"),
    "io.choria.mcorpc.external.v1.rpc_request",
  ]);
  assert.equal(reply.cwd, folder);
  assert.deepEqual(reply.modes, { request: "0o600", reply: "0o600", folder: "0o700" });
  assert.deepEqual(reply.facts, { os: { family: "Debian" } });
  assert.equal(reply.stdin, "", "stdin should be closed");
  assert.equal(await exists(folder), false, "the private folder should be removed");
  // What the agent printed went to the debug log and not into the reply.
  assert.equal(reply.from, undefined);
  const output = logger.lines.find((line) => line.message === "external agent output");
  assert.equal(output?.level, "debug");
  assert.match(String(output?.fields?.stdout), /"from": "stdout"/);
  assert.equal(output?.fields?.stderr, "echo agent on stderr\n");
});

Deno.test("External agent gets shell metacharacters in request data intact, never through a shell", async () => {
  await using dir = await agentDir(["echo"]);
  await using scratch = await tempDir();
  const canary = join(scratch.path, "pwned");
  const hostile = `$(touch ${canary}); \`touch ${canary}\` | rm -rf ${scratch.path} && ` +
    `echo "quoted" 'single' > ${canary} < /dev/null \\ * ?\n; touch ${canary} & #`;
  const { agents } = await loadExternalAgents(dir.path, { logger: memoryLogger() });

  const reply = await runAction(
    find(agents, "echo"),
    request("echo", "echo", { message: hostile }),
    {
      node,
    },
  );

  assert.equal(reply.statuscode, StatusCodes.ok, reply.statusmsg);
  const sent = reply.data.request as { data: Record<string, unknown> };
  assert.deepEqual(sent.data, { message: hostile, count: 1 });
  assert.equal(reply.data.extra, "filled", "output defaults are filled by the host");
  assert.equal(await exists(canary), false, "no shell should have run the data");
  assert.equal(await exists(scratch.path), true);
});

Deno.test("External agent that exits 1 fails with status 5", async () => {
  await using dir = await agentDir(["crash"]);
  const { agents } = await loadExternalAgents(dir.path, { logger: memoryLogger() });
  await rejectsWith(
    call(find(agents, "crash"), "run"),
    StatusCodes.unknownError,
    /^Cannot run action 'crash#run' as its executable exited with code 1$/,
  );
});

Deno.test("External agent that writes garbage to its reply fails with status 5", async () => {
  await using dir = await agentDir(["garbage"]);
  const { agents } = await loadExternalAgents(dir.path, { logger: memoryLogger() });
  await rejectsWith(
    call(find(agents, "garbage"), "run"),
    StatusCodes.unknownError,
    /^Cannot run action 'garbage#run' as its reply is not JSON: /,
  );
});

Deno.test("External agent replies are checked loosely and failures keep the agent's status", async () => {
  await using dir = await agentDir(["echo"]);
  const { agents } = await loadExternalAgents(dir.path, { logger: memoryLogger() });
  const echo = find(agents, "echo");
  await rejectsWith(call(echo, "fail"), 4, /^The widget is missing$/);
  await rejectsWith(
    call(echo, "array"),
    5,
    /^Cannot run action 'echo#array' as its reply must be a JSON object: current value is \[1,2\]$/,
  );
  await rejectsWith(
    call(echo, "silent"),
    5,
    /^Cannot run action 'echo#silent' as it wrote no reply$/,
  );
  await rejectsWith(
    call(echo, "data_list"),
    5,
    /^Cannot run action 'echo#data_list' as its reply's data must be an object/,
  );
  await rejectsWith(
    call(echo, "bad_status"),
    5,
    /^Cannot run action 'echo#bad_status' as its reply has an invalid statuscode: current value is 9$/,
  );
  await rejectsWith(call(echo, "exit_with_failure"), 1, /^Refused by policy$/);
  await rejectsWith(
    call(echo, "exit_with_success"),
    5,
    /^Cannot run action 'echo#exit_with_success' as its executable exited with code 2$/,
  );
  await rejectsWith(
    call(echo, "remove_reply"),
    5,
    /^Cannot run action 'echo#remove_reply' as its reply file is missing$/,
  );
});

Deno.test("External agent that hangs is killed when the signal aborts", async () => {
  await using dir = await agentDir(["hang"]);
  await using scratch = await tempDir();
  const { agents } = await loadExternalAgents(dir.path, { logger: memoryLogger() });
  const pidfile = join(scratch.path, "pid.json");
  const data = { pidfile };
  const started = performance.now();

  await rejectsWith(
    Promise.resolve(
      find(agents, "hang").actions.run!(
        data,
        context("hang", "run", data, AbortSignal.timeout(300)),
      ),
    ),
    StatusCodes.aborted,
    /^Aborted: external agent action 'hang#run' was stopped: /,
  );

  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `the agent should stop soon after the abort, took ${elapsed}ms`);
  assert.ok(await exists(pidfile), "the agent should have written its pid before it was killed");
  const { pid, request: requestPath } = JSON.parse(await Deno.readTextFile(pidfile));
  // /proc needs --allow-all under Deno; signal 0 only asks whether the process exists.
  const probe = await runCommand(["/bin/sh", "-c", 'kill -0 "$1"', "probe", String(pid)]);
  assert.notEqual(probe.code, 0, `process ${pid} should be gone`);
  assert.equal(await exists(requestPath), false, "the request file should be removed");
});

Deno.test("watchExternalAgents reports agents added, changed and removed after start", async () => {
  await using dir = await agentDir(["echo"]);
  const changes: ExternalAgentsChange[] = [];
  let wake: (() => void) | undefined;
  const next = async (what: string): Promise<ExternalAgentsChange> => {
    const deadline = Date.now() + 5000;
    while (changes.length === 0) {
      if (Date.now() > deadline) assert.fail(`timed out after 5s waiting for ${what}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return changes.shift()!;
  };
  const names = (change: ExternalAgentsChange) =>
    change.agents.map((agent) => agent.ddl.metadata.name);

  {
    await using watcher = watchExternalAgents(dir.path, {
      logger: memoryLogger(),
      intervalMs: 50,
      onChange: (change) => {
        changes.push(change);
        wake?.();
      },
    });
    await watcher.ready;
    const first = await next("the first report");
    assert.deepEqual(names(first), ["echo"]);
    assert.deepEqual([first.added, first.changed, first.removed], [["echo"], [], []]);

    await addFixture(dir.path, "crash");
    const added = await next("crash to be added");
    assert.deepEqual(names(added), ["crash", "echo"]);
    assert.deepEqual([added.added, added.changed, added.removed], [["crash"], [], []]);

    const ddlPath = join(dir.path, "echo.json");
    await Deno.writeTextFile(
      ddlPath,
      (await Deno.readTextFile(ddlPath)).replace('"version": "1.0.0"', '"version": "1.0.10"'),
    );
    const changed = await next("echo to change");
    assert.deepEqual([changed.added, changed.changed, changed.removed], [[], ["echo"], []]);
    assert.equal(
      changed.agents.find((agent) => agent.ddl.metadata.name === "echo")?.ddl.metadata.version,
      "1.0.10",
    );

    await Deno.remove(join(dir.path, "crash.json"));
    await Deno.remove(join(dir.path, "crash"));
    const removed = await next("crash to be removed");
    assert.deepEqual(names(removed), ["echo"]);
    assert.deepEqual([removed.added, removed.changed, removed.removed], [[], [], ["crash"]]);
    assert.deepEqual(watcher.current().agents.map((agent) => agent.ddl.metadata.name), ["echo"]);
  }
  // Disposed: nothing more is reported.
  await addFixture(dir.path, "garbage");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(changes, []);
});

Deno.test("watchExternalAgents runs no programs for agents whose files did not change", async () => {
  await using dir = await agentDir(["echo"]);
  let runs = 0;
  const runner: CommandRunner = (argv, options) => {
    runs++;
    return runCommand(argv, options);
  };
  const reports: ExternalAgentsChange[] = [];
  await using watcher = watchExternalAgents(dir.path, {
    logger: memoryLogger(),
    runner,
    intervalMs: 60_000,
    onChange: (change) => {
      reports.push(change);
    },
  });
  await watcher.ready;
  assert.equal(runs, 1, "one activation check for echo");
  await watcher.refresh();
  await watcher.refresh();
  assert.equal(runs, 1, "unchanged agents are not checked again");
  assert.equal(reports.length, 1, "nothing changed, so nothing more is reported");

  await addFixture(dir.path, "badactivate");
  await watcher.refresh();
  assert.equal(runs, 2);
  assert.equal(reports.length, 2, "a new problem is reported");
  assert.match(reports[1]!.problems[0]!, /'badactivate' as its activation check failed/);
  await watcher.refresh();
  assert.equal(runs, 2, "a failing agent is retried only once its files change");
});

Deno.test("watchExternalAgents refuses an interval that is not a positive integer", () => {
  assert.throws(
    () => watchExternalAgents(".", { logger: memoryLogger(), intervalMs: 0, onChange: () => {} }),
    /^RangeError: Cannot watch external agents as 'intervalMs' must be a positive integer: current value is 0$/,
  );
});

Deno.test("parseExternalReply reads replies and refuses the rest with status 5", () => {
  assert.deepEqual(parseExternalReply('{"data": {"a": 1}}', 0), { ok: true, data: { a: 1 } });
  assert.deepEqual(parseExternalReply('{"statuscode": 0}', 0), { ok: true, data: {} });
  assert.deepEqual(parseExternalReply('{"statuscode": 3, "statusmsg": "no"}', 0), {
    ok: false,
    statuscode: 3,
    message: "no",
    fromAgent: true,
  });
  assert.deepEqual(parseExternalReply('{"statuscode": 2}', 7), {
    ok: false,
    statuscode: 2,
    message: "the agent failed with status 2",
    fromAgent: false,
  });
  const refused = (text: string | undefined, code: number) => {
    const outcome = parseExternalReply(text, code);
    assert.ok(!outcome.ok);
    assert.equal(outcome.statuscode, 5);
    return outcome.message;
  };
  assert.equal(refused(undefined, 0), "its reply file is missing");
  assert.equal(refused("  \n", 0), "it wrote no reply");
  assert.match(refused("{", 0), /^its reply is not JSON: /);
  assert.equal(refused("null", 0), "its reply must be a JSON object: current value is null");
  assert.equal(refused('"ok"', 0), 'its reply must be a JSON object: current value is "ok"');
  assert.equal(
    refused('{"statuscode": 1.5}', 0),
    "its reply has an invalid statuscode: current value is 1.5",
  );
  assert.equal(
    refused('{"data": "x"}', 0),
    'its reply\'s data must be an object: current value is "x"',
  );
  assert.equal(refused('{"data": {}}', 1), "its executable exited with code 1");
  assert.equal(refused("garbage", 137), "its executable exited with code 137");
});
