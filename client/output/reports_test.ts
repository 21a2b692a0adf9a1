import assert from "node:assert/strict";
import { reply, stats } from "./_fixtures.ts";
import {
  factValueCounts,
  flattenFacts,
  pingSummary,
  renderFacts,
  renderInventory,
  renderPing,
} from "./reports.ts";

Deno.test("pingSummary gives min, max and average round trips", () => {
  assert.deepEqual(pingSummary([]), { replies: 0, min: null, max: null, avg: null });
  assert.deepEqual(
    pingSummary([reply("a", {}, { elapsedMs: 3 }), reply("b", {}, { elapsedMs: 9 })]),
    { replies: 2, min: 3, max: 9, avg: 6 },
  );
});

Deno.test("renderPing lists nodes fastest first, then statistics and who did not answer", () => {
  const text = renderPing(
    [reply("n2.example.net", {}, { elapsedMs: 9 }), reply("n1.example.net", {}, { elapsedMs: 3 })],
    stats(["n1.example.net", "n2.example.net", "n3.example.net"], [
      "n1.example.net",
      "n2.example.net",
    ]),
  );
  assert.equal(
    text,
    [
      `${"n1.example.net".padEnd(40)}time=3 ms`,
      `${"n2.example.net".padEnd(40)}time=9 ms`,
      "",
      "---- ping statistics ----",
      "2 replies max: 9 ms min: 3 ms avg: 6 ms, 1 did not answer",
      "",
      "No response from:",
      "",
      "   n3.example.net",
      "",
    ].join("\n"),
  );
});

Deno.test("factValueCounts groups nodes by value, most common first, missing facts as null", () => {
  const counts = factValueCounts([
    reply("n3", { value: "web" }),
    reply("n1", { value: "web" }),
    reply("n2", { value: { a: 1 } }),
    reply("n4", { value: null }),
    reply("n5", { value: "web" }, { statuscode: 5 }),
  ]);
  assert.deepEqual(counts, [
    { value: "web", count: 2, nodes: ["n1", "n3"] },
    { value: '{"a":1}', count: 1, nodes: ["n2"] },
    { value: null, count: 1, nodes: ["n4"] },
  ]);
});

Deno.test("renderFacts reports each value with its nodes, failures and missing replies", () => {
  const text = renderFacts(
    "role",
    [
      reply("n1", { value: "web" }),
      reply("n2", { value: "db" }),
      reply("n3", { value: "web" }),
      reply("n4", {}, { statuscode: 5, statusmsg: "boom" }),
    ],
    stats(["n1", "n2", "n3", "n4", "n5"], ["n1", "n2", "n3", "n4"], { totalMs: 2013 }),
  );
  assert.equal(
    text,
    [
      "Report for fact: role",
      "",
      "   web         found 2 times",
      "      n1, n3",
      "",
      "   db          found 1 time",
      "      n2",
      "",
      "Failed:",
      "",
      "   n4: boom",
      "",
      "No response from:",
      "",
      "   n5",
      "",
      "Finished processing 4 / 5 hosts in 2.01 s",
      "",
    ].join("\n"),
  );
});

Deno.test("flattenFacts turns nested facts into sorted dotted names", () => {
  assert.deepEqual(flattenFacts({ os: { family: "linux", release: { major: 12 } }, role: "web" }), [
    ["os.family", "linux"],
    ["os.release.major", "12"],
    ["role", "web"],
  ]);
  assert.deepEqual(flattenFacts({ empty: {}, list: [1, 2] }), [["empty", "{}"], ["list", "1, 2"]]);
  assert.deepEqual(flattenFacts(null), []);
});

Deno.test("renderInventory lays out the server, agents, classes and facts", () => {
  const text = renderInventory(reply("n1.example.net", {
    agents: ["rpcutil", "discovery"],
    facts: { role: "web", os: { family: "linux" } },
    classes: ["apache"],
    version: "0.1.0",
    main_collective: "mcollective",
    collectives: ["mcollective"],
    data_plugins: [],
    machines: [],
    upgradable: false,
  }));
  assert.match(text, /^Inventory for n1\.example\.net:\n/);
  assert.match(text, /Version: 0\.1\.0\n +Main Collective: mcollective\n/);
  assert.match(text, /Agents:\n {6}discovery +rpcutil\n/);
  assert.match(text, /Data Plugins:\n {6}none\n/);
  assert.match(text, /Classes:\n {6}apache\n/);
  assert.match(text, /Facts:\n {6}os\.family => linux\n {6}role {6}=> web\n$/);
  assert.ok(!text.includes("Autonomous Agents"));
});
