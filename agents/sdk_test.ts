import assert from "node:assert/strict";
import {
  type ActionContext,
  ActionError,
  type ActionRequest,
  type Agent,
  type NodeInfo,
  StatusCodes,
} from "./agent.ts";
import { DdlError } from "./ddl.ts";
import { AgentDefinitionError, defineAgent, runAction } from "./sdk.ts";
import type { LogFields, Logger } from "../core/log.ts";

function ddl(timeout = 2) {
  return {
    metadata: {
      name: "demo",
      description: "A demo agent",
      author: "tests",
      license: "Apache-2.0",
      version: "1.0.0",
      url: "https://example.net",
      timeout,
    },
    actions: [
      {
        action: "echo",
        description: "Echoes",
        input: {
          text: {
            prompt: "Text",
            description: "What to echo",
            type: "string",
            optional: false,
            validation: "shellsafe",
            maxlength: 20,
          },
          times: {
            prompt: "Times",
            description: "How often",
            type: "integer",
            optional: true,
            default: 1,
          },
        },
        output: {
          text: { description: "Echo", display_as: "Text", type: "string" },
          upgradable: { description: "U", display_as: "U", type: "boolean", default: false },
        },
      },
      { action: "work", description: "Works", input: {}, output: {} },
    ],
  };
}

const node: NodeInfo = {
  identity: "node1.example.net",
  collectives: ["mcollective"],
  facts: () => ({}),
  classes: () => [],
  agents: () => [],
  stats: () => ({}),
  startedAt: new Date(0),
  version: "0.1.0",
};

function request(action: string, data: unknown = {}): ActionRequest {
  return {
    requestId: "0123456789abcdef0123456789abcdef",
    callerid: "choria=rip.mcollective",
    senderid: "client.example.net",
    agent: "demo",
    action,
    collective: "mcollective",
    data: data as Record<string, unknown>,
  };
}

function demo(
  work: (inputs: Record<string, unknown>, context: ActionContext) => unknown,
  timeout = 2,
): Agent {
  return defineAgent(ddl(timeout), {
    echo: (inputs) => ({ text: inputs.text, extra: inputs.times }),
    work: work as never,
  });
}

function recordingLogger(lines: [string, string, LogFields | undefined][]): Logger {
  const log = (level: string) => (message: string, fields?: LogFields) => {
    lines.push([level, message, fields]);
  };
  const logger: Logger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: () => logger,
  };
  return logger;
}

Deno.test("defineAgent returns the parsed DDL and the handlers", () => {
  const agent = demo(() => ({}));
  assert.equal(agent.ddl.metadata.name, "demo");
  assert.deepEqual(Object.keys(agent.actions).sort(), ["echo", "work"]);
  assert.equal(agent.ddl.actions[0]!.input.text!.type, "string");
});

Deno.test("defineAgent refuses an action without a handler", () => {
  assert.throws(() => defineAgent(ddl(), { echo: () => ({}) }), {
    name: "AgentDefinitionError",
    message: "Cannot define agent 'demo' as action 'work' has no handler",
  });
});

Deno.test("defineAgent refuses a handler without an action, and reports every problem", () => {
  assert.throws(
    () => defineAgent(ddl(), { echo: () => ({}), work: () => ({}), other: () => ({}) }),
    {
      message: "Cannot define agent 'demo' as handler 'other' has no action in the DDL",
    },
  );
  assert.throws(() => defineAgent(ddl(), { x: () => ({}), y: () => ({}) }), (error: unknown) => {
    assert.ok(error instanceof AgentDefinitionError);
    assert.equal(
      error.message,
      "Cannot define agent 'demo' as actions 'echo', 'work' have no handler; " +
        "handlers 'x', 'y' have no action in the DDL",
    );
    return true;
  });
});

Deno.test("defineAgent refuses a handler that is not a function", () => {
  assert.throws(() => defineAgent(ddl(), { echo: () => ({}), work: "nope" as never }), {
    message: "Cannot define agent 'demo' as the handler of 'work' is not a function",
  });
});

Deno.test("defineAgent refuses a faulty DDL with a DdlError naming the file", () => {
  const bad = ddl();
  (bad.metadata as Record<string, unknown>).timeout = 0;
  assert.throws(() => defineAgent(bad, {}, { file: "demo.json" }), (error: unknown) => {
    assert.ok(error instanceof DdlError);
    assert.equal(error.file, "demo.json");
    assert.equal(error.problems[0]!.path, "metadata.timeout");
    return true;
  });
});

Deno.test("runAction replies OK with output defaults filled and extra outputs kept", async () => {
  const reply = await runAction(demo(() => ({})), request("echo", { text: "hi" }), { node });
  assert.deepEqual(reply, {
    statuscode: 0,
    statusmsg: "OK",
    data: { text: "hi", extra: 1, upgradable: false },
  });
});

Deno.test("runAction hands the handler validated inputs, the node and a live signal", async () => {
  let seen: ActionContext | undefined;
  let inputs: Record<string, unknown> | undefined;
  const agent = defineAgent(ddl(), {
    echo: (given, context) => {
      inputs = given;
      seen = context;
      return {};
    },
    work: () => ({}),
  });
  await runAction(agent, request("echo", { text: "hi", process_results: true }), { node });
  assert.deepEqual(inputs, { text: "hi", times: 1 });
  assert.deepEqual(seen!.request.data, { text: "hi", times: 1 });
  assert.equal(seen!.request.callerid, "choria=rip.mcollective");
  assert.equal(seen!.node, node);
  assert.equal(seen!.signal.aborted, false);
});

Deno.test("runAction answers an unknown action with status 2", async () => {
  const reply = await runAction(demo(() => ({})), request("nope"), { node });
  assert.deepEqual(reply, {
    statuscode: StatusCodes.unknownAction,
    statusmsg: "Cannot run action 'nope' as agent 'demo' does not have it",
    data: {},
  });
});

Deno.test("runAction answers an action the DDL has but no handler serves with status 2", async () => {
  const agent = demo(() => ({}));
  const partial: Agent = { ddl: agent.ddl, actions: { echo: agent.actions.echo! } };
  const reply = await runAction(partial, request("work"), { node });
  assert.equal(reply.statuscode, 2);
});

Deno.test("runAction does not treat inherited properties as handlers", async () => {
  const reply = await runAction(demo(() => ({})), request("toString"), { node });
  assert.equal(reply.statuscode, 2);
});

Deno.test("runAction answers a missing input with status 3", async () => {
  const reply = await runAction(demo(() => ({})), request("echo", {}), { node });
  assert.deepEqual(reply, {
    statuscode: 3,
    statusmsg: "Cannot run action 'echo' as input 'text' is required",
    data: {},
  });
});

Deno.test("runAction answers invalid inputs with status 4 and every problem", async () => {
  const reply = await runAction(
    demo(() => ({})),
    request("echo", { text: "a;b", times: "2", colour: "red" }),
    { node },
  );
  assert.equal(reply.statuscode, 4);
  assert.equal(
    reply.statusmsg,
    "Cannot accept input 'text' as it is not shellsafe: contains ';'; " +
      "Cannot accept input 'times' as it is not an integer: current value is '2'; " +
      "Cannot accept input 'colour' as action 'echo' does not declare it: valid inputs are text, times",
  );
});

Deno.test("runAction answers request data that is not an object with status 4", async () => {
  const reply = await runAction(demo(() => ({})), request("work", "text"), { node });
  assert.equal(reply.statuscode, 4);
});

Deno.test("runAction answers a thrown Error with status 5 and its message", async () => {
  const lines: [string, string, LogFields | undefined][] = [];
  const reply = await runAction(
    demo(() => Promise.reject(new Error("disk on fire"))),
    request("work"),
    { node, logger: recordingLogger(lines) },
  );
  assert.deepEqual(reply, { statuscode: 5, statusmsg: "disk on fire", data: {} });
  assert.deepEqual(lines.map(([level, message]) => [level, message]), [["error", "action failed"]]);
});

Deno.test("runAction answers a synchronous throw of a non-Error with status 5", async () => {
  const reply = await runAction(
    demo(() => {
      throw "plain string";
    }),
    request("work"),
    { node },
  );
  assert.deepEqual(reply, { statuscode: 5, statusmsg: "plain string", data: {} });
});

Deno.test("runAction keeps an ActionError's status code and message", async () => {
  for (const code of [1, 2, 3, 4, 5] as const) {
    const reply = await runAction(
      demo(() => {
        throw new ActionError(code, `failed with ${code}`);
      }),
      request("work"),
      { node },
    );
    assert.deepEqual(reply, { statuscode: code, statusmsg: `failed with ${code}`, data: {} });
  }
});

Deno.test("runAction answers a handler that returns no object with status 5", async () => {
  for (const [value, shown] of [[null, "null"], [[1], "an array"], [7, "7"]] as const) {
    const reply = await runAction(demo(() => value), request("work"), { node });
    assert.equal(reply.statuscode, 5);
    assert.equal(
      reply.statusmsg,
      `Cannot reply to action 'work' as its handler returned ${shown}: handlers return an object`,
    );
  }
});

Deno.test("runAction answers a handler that hangs with status 1 once the timeout passes", async () => {
  let signal: AbortSignal | undefined;
  const started = performance.now();
  const reply = await runAction(
    demo((_inputs, context) => {
      signal = context.signal;
      return new Promise(() => {}); // ignores the signal and never settles
    }, 1),
    request("work"),
    { node },
  );
  const elapsed = performance.now() - started;
  assert.deepEqual(reply, { statuscode: 1, statusmsg: "Aborted: timed out after 1s", data: {} });
  assert.ok(elapsed >= 950, `replied after ${elapsed}ms, before the 1s timeout`);
  assert.ok(elapsed < 3000, `replied after ${elapsed}ms, long after the 1s timeout`);
  assert.equal(signal!.aborted, true);
  assert.equal((signal!.reason as DOMException).name, "TimeoutError");
});

Deno.test("runAction answers a handler that heeds the timeout signal with status 1", async () => {
  const reply = await runAction(
    demo((_inputs, context) =>
      new Promise((_resolve, reject) => {
        context.signal.addEventListener("abort", () => reject(context.signal.reason));
      }), 1),
    request("work"),
    { node },
  );
  assert.deepEqual(reply, { statuscode: 1, statusmsg: "Aborted: timed out after 1s", data: {} });
});

Deno.test("runAction aborts the action when the server stops", async () => {
  const stop = new AbortController();
  let signal: AbortSignal | undefined;
  const pending = runAction(
    demo((_inputs, context) => {
      signal = context.signal;
      return new Promise(() => {});
    }),
    request("work"),
    { node, signal: stop.signal },
  );
  stop.abort(new Error("SIGTERM"));
  assert.deepEqual(await pending, {
    statuscode: 1,
    statusmsg: "Aborted: the server is stopping",
    data: {},
  });
  assert.equal(signal!.aborted, true);
});

Deno.test("runAction does not start a handler once the server has stopped", async () => {
  const stop = new AbortController();
  stop.abort();
  let ran = false;
  const reply = await runAction(demo(() => (ran = true, {})), request("work"), {
    node,
    signal: stop.signal,
  });
  assert.equal(reply.statuscode, 1);
  assert.equal(ran, false);
});

Deno.test("runAction logs validators it cannot enforce", async () => {
  const source = ddl();
  source.actions[0]!.input.text!.validation = "service_name";
  const agent = defineAgent(source, { echo: () => ({}), work: () => ({}) });
  const lines: [string, string, LogFields | undefined][] = [];
  const reply = await runAction(agent, request("echo", { text: "x" }), {
    node,
    logger: recordingLogger(lines),
  });
  assert.equal(reply.statuscode, 0);
  assert.deepEqual(lines[0]!.slice(0, 2), [
    "warn",
    "Cannot enforce validator 'service_name' on input 'text' as Chorale does not have it",
  ]);
});
