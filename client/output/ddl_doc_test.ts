import assert from "node:assert/strict";
import { describeInput, renderActionHelp, renderAgentHelp, renderDdlDoc } from "./ddl_doc.ts";
import { rpcutilDdl, widgetDdl } from "./_fixtures.ts";

Deno.test("describeInput states an input's rule from the DDL", () => {
  const restart = widgetDdl.actions[1]!;
  assert.equal(
    describeInput(widgetDdl.actions[0]!.input.name!),
    "string, required, matches '^[a-z]+$', at most 20 characters",
  );
  assert.equal(describeInput(restart.input.mode!), "list, optional, one of soft, hard");
  assert.equal(
    describeInput({
      prompt: "",
      description: "",
      type: "string",
      optional: true,
      validation: "shellsafe",
      default: "x",
    }),
    'string, optional, shellsafe, default "x"',
  );
});

Deno.test("renderAgentHelp lists every action with its inputs", async () => {
  const text = renderAgentHelp(await rpcutilDdl());
  assert.match(text, /^Usage: chorale rpc rpcutil ACTION \[key=value \.\.\.\] \[options\]\n/);
  assert.match(text, /\(rpcutil 0\.29\.4, timeout 2 s\)/);
  assert.match(
    text,
    /\n {2}get_fact +Retrieve a single fact from the fact store\n +fact=STRING \(required\)\n/,
  );
  assert.match(text, /\n {2}get_data .*\n +source=STRING \(required\) {2}query=STRING\n/);
  assert.match(text, /\n {2}ping +Responds to requests for PING with PONG\n/);
});

Deno.test("renderActionHelp gives usage, inputs with rules, outputs and the display policy", () => {
  const text = renderActionHelp(widgetDdl, widgetDdl.actions[1]!);
  assert.match(text, /^Usage: chorale rpc widget restart \[count=\.\.\.\] \[force=\.\.\.\]/);
  assert.match(text, /Inputs:\n {2}count +How often\n +\(integer, optional\)\n/);
  assert.match(text, /Outputs:\n {2}state {2}Its state\n/);
  assert.match(text, /Shows failed replies unless --display says otherwise\./);
  const status = renderActionHelp(widgetDdl, widgetDdl.actions[0]!);
  assert.match(status, /^Usage: chorale rpc widget status name=\.\.\. \[options\]/);
  assert.match(status, /Shows every reply/);
  assert.match(renderActionHelp(widgetDdl, widgetDdl.actions[2]!), /Inputs:\n {2}no inputs\n/);
});

Deno.test("renderDdlDoc renders the whole DDL as a reference page", () => {
  const text = renderDdlDoc(widgetDdl);
  assert.match(text, /^widget version 1\.2\.3\n\nManages widgets\n\n +Author: Test\n/);
  assert.match(text, /ACTIONS:\n {3}status, restart, check\n/);
  assert.match(text, /status action:\n {3}Reports a widget's status\n\n {3}Display: always\n/);
  assert.match(
    text,
    / {6}name:\n +Description: The widget\n(.*\n)* +Validation: \^\[a-z\]\+\$\n +Length: 20\n/,
  );
  assert.match(text, / {3}SUMMARIES:\n {6}summary\("state"\)\n/);
  assert.match(text, /check action:(.*\n)* {6}This action does not have any inputs\n/);
  assert.match(text, /Values: soft, hard/);
});
