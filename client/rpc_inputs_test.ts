import assert from "node:assert/strict";
import { InputError } from "./errors.ts";
import { widgetDdl } from "./output/_fixtures.ts";
import { convertInput, parseRpcInputs } from "./rpc_inputs.ts";

const [status, restart] = [widgetDdl.actions[0]!, widgetDdl.actions[1]!];

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InputError, String(error));
    return error.problems.map((p) => p.message);
  }
  assert.fail("expected an InputError");
}

Deno.test("parseRpcInputs converts text to each DDL type", () => {
  assert.deepEqual(
    parseRpcInputs(restart, [
      "count=3",
      "force=yes",
      "ratio=0.5",
      "mode=hard",
      'labels={"a":1}',
      "hosts=a, b",
      "extra=[1,2]",
    ]),
    {
      count: 3,
      force: true,
      ratio: 0.5,
      mode: "hard",
      labels: { a: 1 },
      hosts: ["a", "b"],
      extra: [1, 2],
    },
  );
  assert.deepEqual(parseRpcInputs(restart, ['hosts=["x"]', "extra=plain text", "force=NO"]), {
    hosts: ["x"],
    extra: "plain text",
    force: false,
  });
  // Only the first = splits: values may hold more.
  assert.deepEqual(parseRpcInputs(status, ["name=abc"]), { name: "abc" });
});

Deno.test("convertInput accepts Choria's boolean words and refuses anything else", () => {
  const input = { prompt: "", description: "", type: "boolean" as const, optional: true };
  for (const word of ["true", "YES", "y", "t", "1"]) {
    assert.deepEqual(convertInput("f", input, word), { value: true });
  }
  for (const word of ["false", "No", "n", "f", "0"]) {
    assert.deepEqual(convertInput("f", input, word), { value: false });
  }
  assert.deepEqual(convertInput("f", input, "maybe"), {
    problem:
      "Cannot accept input 'f' as it is not a boolean (true, false, yes or no): current value is 'maybe'",
  });
});

Deno.test("parseRpcInputs quotes the DDL's rule for an invalid input", () => {
  assert.deepEqual(problems(() => parseRpcInputs(status, ["name=Bad1"])), [
    "Cannot accept input 'name' as it does not match '^[a-z]+$': current value is 'Bad1'",
  ]);
  assert.deepEqual(problems(() => parseRpcInputs(status, ["name=abcdefghijklmnopqrstuvwxyz"])), [
    "Cannot accept input 'name' as it is longer than 20 characters: length is 26",
  ]);
  assert.deepEqual(problems(() => parseRpcInputs(restart, ["mode=medium"])), [
    "Cannot accept input 'mode' as it is not one of 'soft', 'hard': current value is 'medium'",
  ]);
});

Deno.test("parseRpcInputs reports every problem at once, one sentence each", () => {
  const found = problems(() => parseRpcInputs(status, ["oops", "name=x", "name=y", "colour=red"]));
  assert.deepEqual(found, [
    "Cannot read argument 'oops' as it is not key=value",
    "Cannot accept input 'name' twice",
    "Cannot accept input 'colour' as action 'status' does not declare it: valid inputs are name",
  ]);
  assert.deepEqual(problems(() => parseRpcInputs(status, [])), [
    "Cannot run action 'status' as input 'name' is required",
  ]);
  // A value that does not convert is reported once, not also as missing.
  assert.deepEqual(
    problems(() => parseRpcInputs(restart, ["count=two", "ratio=x", "labels=[1]", "hosts=[1"])),
    [
      "Cannot accept input 'count' as it is not an integer: current value is 'two'",
      "Cannot accept input 'ratio' as it is not a float: current value is 'x'",
      "Cannot accept input 'labels' as it is not a JSON object such as {\"key\":\"value\"}: current value is '[1]'",
      "Cannot accept input 'hosts' as it is not a JSON array: current value is '[1'",
    ],
  );
});

Deno.test("parseRpcInputs throws the library's InputError naming the agent and action", () => {
  try {
    parseRpcInputs(status, ["name=1"], { agent: "widget" });
    assert.fail("expected an InputError");
  } catch (error) {
    assert.ok(error instanceof InputError);
    assert.equal(error.agent, "widget");
    assert.equal(error.action, "status");
    assert.equal(error.message, "Cannot call widget#status as an input is invalid");
    assert.equal(error.problems[0]!.statuscode, 4);
  }
});
