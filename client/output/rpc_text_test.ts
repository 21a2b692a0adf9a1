import assert from "node:assert/strict";
import { palette, stripColour } from "./colour.ts";
import { reply, rpcutilDdl, stats, widgetDdl } from "./_fixtures.ts";
import {
  renderReply,
  renderRpcTable,
  renderRpcText,
  renderStats,
  replyLine,
  rpcDocument,
  shouldDisplay,
  statsLine,
} from "./rpc_text.ts";

const [status, restart, check] = widgetDdl.actions as [
  typeof widgetDdl.actions[0],
  typeof widgetDdl.actions[0],
  typeof widgetDdl.actions[0],
];

Deno.test("shouldDisplay follows the DDL's policy unless --display overrides it", () => {
  const ok = { statuscode: 0 };
  const bad = { statuscode: 4 };
  assert.deepEqual([shouldDisplay(ok, "always"), shouldDisplay(bad, "always")], [true, true]);
  assert.deepEqual([shouldDisplay(ok, "ok"), shouldDisplay(bad, "ok")], [true, false]);
  assert.deepEqual([shouldDisplay(ok, "failed"), shouldDisplay(bad, "failed")], [false, true]);
  // Choria's default policy is failed.
  assert.deepEqual([shouldDisplay(ok, undefined), shouldDisplay(bad, undefined)], [false, true]);
  assert.deepEqual([shouldDisplay(ok, "failed", "all"), shouldDisplay(bad, "ok", "all")], [
    true,
    true,
  ]);
  assert.deepEqual([shouldDisplay(ok, "always", "none"), shouldDisplay(bad, "always", "none")], [
    false,
    false,
  ]);
  assert.equal(shouldDisplay(bad, "always", "ok"), false);
  assert.equal(shouldDisplay(ok, "always", "failed"), false);
});

Deno.test("renderReply labels outputs with display_as in DDL order, undeclared ones last", () => {
  assert.equal(
    renderReply(reply("n1.example.net", { extra: 1, tags: ["a", "b"], state: "up" }), status),
    "n1.example.net\n   State: up\n    Tags: a, b\n   extra: 1",
  );
  assert.equal(renderReply(reply("n1", {}), status), "n1");
  assert.equal(
    renderReply(reply("n2.example.net", {}, { statuscode: 4, statusmsg: "bad widget" })),
    `${"n2.example.net".padEnd(40)} bad widget`,
  );
  assert.equal(
    stripColour(
      renderReply(reply("n2", {}, { statuscode: 5, statusmsg: "" }), status, palette(true)),
    ),
    `${"n2".padEnd(40)} status 5`,
  );
});

Deno.test("renderStats names every node that did not answer and every unexpected one", () => {
  const text = renderStats({
    title: "widget#status",
    stats: stats(["n1", "n2", "n3"], ["n1"], { failed: 1, ok: 0, unexpected: ["x9"] }),
  });
  assert.equal(
    text,
    [
      "---- widget#status stats ----",
      "           Nodes: 1 / 3",
      "     Pass / Fail: 0 / 1",
      "        No Reply: 2",
      "  Discovery Time: 12 ms",
      "      Agent Time: 30 ms",
      "      Total Time: 43 ms",
      "",
      "No response from:",
      "",
      "   n2",
      "   n3",
      "",
      "Unexpected replies from:",
      "",
      "   x9",
    ].join("\n"),
  );
});

Deno.test("renderRpcText shows what the policy asks for, sorted, then summaries and stats", () => {
  const results = [
    reply("n2", { state: "up", enabled: true, runtime: 2, tags: [] }),
    reply("n1", { state: "up", enabled: true, runtime: 4, tags: [] }),
  ];
  const text = renderRpcText({
    agent: "widget",
    action: "status",
    ddl: status,
    results,
    stats: stats(["n1", "n2"], ["n1", "n2"]),
  });
  assert.match(text, /^n1\n {5}State: up\n {3}Enabled: true\n {3}Runtime: 4\n {6}Tags:\n\nn2\n/);
  assert.match(text, /Summary of State:\n\n {3}up = 2\n\nSummary of Enabled:/);
  assert.match(text, /Average of Runtime:\n\n {3}Mean: 3\.0 s\n\n---- widget#status stats ----/);
  assert.ok(text.endsWith("Total Time: 43 ms\n"));

  // restart displays failures only: the OK reply is left out.
  const mixed = renderRpcText({
    agent: "widget",
    action: "restart",
    ddl: restart,
    results: [reply("n1", { state: "up" }), reply("n2", {}, { statuscode: 1, statusmsg: "busy" })],
    stats: stats(["n1", "n2"], ["n1", "n2"], { ok: 1, failed: 1 }),
  });
  assert.ok(!mixed.includes("n1\n"));
  assert.match(mixed, /^n2 +busy\n\n---- widget#restart stats/);
  const none = renderRpcText({
    agent: "widget",
    action: "restart",
    ddl: restart,
    display: "none",
    results: [reply("n2", {}, { statuscode: 1, statusmsg: "busy" })],
    stats: stats(["n2"], ["n2"], { ok: 0, failed: 1 }),
  });
  assert.match(none, /^---- widget#restart stats/);
});

Deno.test("renderRpcText without a DDL prints raw output names and no summaries", () => {
  const text = renderRpcText({
    agent: "x",
    action: "y",
    display: "all",
    results: [reply("n1", { pong: 1 })],
    stats: stats(["n1"], ["n1"]),
  });
  assert.match(text, /^n1\n {3}pong: 1\n\n---- x#y stats ----/);
});

Deno.test("renderRpcTable makes a column per output and a status column", () => {
  const text = renderRpcTable({
    agent: "widget",
    action: "check",
    ddl: check,
    display: "all",
    results: [
      reply("n2", { state: "up", tags: ["a", "b"], meta: { x: 1 } }),
      reply("n1", {}, { statuscode: 2, statusmsg: "Unknown action" }),
    ],
    stats: stats(["n1", "n2"], ["n1", "n2"], { ok: 1, failed: 1 }),
  });
  const lines = text.split("\n");
  assert.match(lines[0]!, /^SENDER +STATUS +STATE +TAGS +META$/);
  assert.match(lines[1]!, /^n1 +Unknown action *$/);
  assert.match(lines[2]!, /^n2 +OK +up +a, b +\{"x":1\}$/);
  assert.match(text, /\n\n---- widget#check stats ----\n/);
});

Deno.test("rpcDocument holds every reply whatever the policy, the aggregates and the stats", () => {
  const doc = rpcDocument({
    agent: "widget",
    action: "restart",
    ddl: restart,
    display: "none",
    results: [reply("n2", { state: "up" }), reply("n1", { state: "up" })],
    stats: stats(["n1", "n2"], ["n1", "n2"]),
  });
  assert.deepEqual(doc.replies.map((r) => r.sender), ["n1", "n2"]);
  assert.deepEqual(doc.aggregates, []);
  assert.deepEqual(doc.stats.responded, ["n1", "n2"]);
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
});

Deno.test("replyLine and statsLine are one JSON object a line, told apart by type", () => {
  const line = replyLine(reply("n1", { pong: 1 }));
  assert.ok(!line.includes("\n"));
  assert.deepEqual(JSON.parse(line), {
    type: "reply",
    sender: "n1",
    statuscode: 0,
    statusmsg: "OK",
    data: { pong: 1 },
    signed: true,
    elapsedMs: 5,
  });
  const closing = JSON.parse(statsLine(stats(["n1", "n2"], ["n1"])));
  assert.equal(closing.type, "stats");
  assert.deepEqual(closing.noResponses, ["n2"]);
});

Deno.test("rpcutil ping renders with the built-in DDL's labels", async () => {
  const ddl = await rpcutilDdl();
  const ping = ddl.actions.find((a) => a.action === "ping")!;
  const text = renderRpcText({
    agent: "rpcutil",
    action: "ping",
    ddl: ping,
    results: [reply("n1.example.net", { pong: 1795635016 })],
    stats: stats(["n1.example.net"], ["n1.example.net"]),
  });
  assert.match(text, /^n1\.example\.net\n {3}Timestamp: 1795635016\n/);
});
