import assert from "node:assert/strict";
import { computeAggregates, renderAggregates } from "./aggregate.ts";
import { reply, rpcutilDdl, widgetDdl } from "./_fixtures.ts";

const status = widgetDdl.actions[0]!;

Deno.test("computeAggregates runs summary, boolean_summary and average over OK replies only", () => {
  const results = [
    reply("n1", { state: "up", enabled: true, runtime: 10, tags: ["a", "b"] }),
    reply("n2", { state: "up", enabled: false, runtime: 20, tags: ["a"] }),
    reply("n3", { state: "down", enabled: true, runtime: "x", tags: [] }),
    reply("n4", { state: "broken", enabled: true, runtime: 1000 }, { statuscode: 5 }),
  ];
  const [summary, booleans, average, tags, unsupported] = computeAggregates(status, results);
  assert.deepEqual(summary, {
    type: "summary",
    output: "state",
    title: "State",
    rows: [{ value: "up", count: 2 }, { value: "down", count: 1 }],
  });
  assert.deepEqual(booleans, {
    type: "boolean_summary",
    output: "enabled",
    title: "Enabled",
    rows: [{ value: "on", count: 2 }, { value: "off", count: 1 }],
  });
  assert.deepEqual(average, {
    type: "average",
    output: "runtime",
    title: "Runtime",
    average: 15,
    count: 2,
    format: "Mean: %0.1f s",
  });
  assert.deepEqual(tags, {
    type: "summary",
    output: "tags",
    title: "Tags",
    rows: [{ value: "a", count: 2 }, { value: "b", count: 1 }],
    format: "%s on %d node(s)",
  });
  assert.deepEqual(unsupported, { type: "unsupported", function: "percentile", output: "runtime" });
});

Deno.test("renderAggregates prints Choria's blocks and skips empty and unsupported ones", () => {
  const text = renderAggregates(computeAggregates(status, [
    reply("n1", { state: "up", enabled: true, runtime: 10, tags: ["a"] }),
    reply("n2", { state: "stopped", enabled: false, runtime: 11, tags: ["a"] }),
  ]));
  assert.equal(
    text,
    [
      "Summary of State:",
      "",
      "   stopped = 1",
      "   up      = 1",
      "",
      "Summary of Enabled:",
      "",
      "   off = 1",
      "   on  = 1",
      "",
      "Average of Runtime:",
      "",
      "   Mean: 10.5 s",
      "",
      "Summary of Tags:",
      "",
      "   a on 2 node(s)",
    ].join("\n"),
  );
  assert.equal(renderAggregates(computeAggregates(status, [])), "");
});

Deno.test("rpcutil collective_info summarises each collective of every node", async () => {
  const ddl = await rpcutilDdl();
  const action = ddl.actions.find((a) => a.action === "collective_info")!;
  const text = renderAggregates(computeAggregates(action, [
    reply("n1", { collectives: ["mcollective", "eu"] }),
    reply("n2", { collectives: ["mcollective"] }),
  ]));
  assert.equal(text, "Summary of All Collectives:\n\n   mcollective = 2\n   eu          = 1");
});
