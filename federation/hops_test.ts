import assert from "node:assert/strict";
import { formatHopTime, parseHopTime, readHops, traceSteps, wireHop } from "./hops.ts";

Deno.test("hop times round-trip with microseconds", () => {
  const ms = Date.UTC(2026, 10, 25, 21, 0, 0, 123) + 0.456;
  const text = formatHopTime(ms);
  assert.equal(text, "2026-11-25T21:00:00.123456Z");
  assert.ok(Math.abs(parseHopTime(text)! - ms) < 0.001);
  assert.equal(parseHopTime("2026-11-25T21:00:00Z"), Date.UTC(2026, 10, 25, 21, 0, 0));
  assert.equal(parseHopTime("2026-11-25 21:00"), null);
  assert.equal(parseHopTime(undefined), null);
});

Deno.test("readHops takes Choria's three-field hops and timed ones", () => {
  const hops = readHops([
    ["", "ws1", "b:1"],
    wireHop({ from: "b:1", via: "fed1 (request)", to: "c:1", arrivedMs: 10, leftMs: 10.5 }),
  ]);
  assert.deepEqual(hops[0], { from: "", via: "ws1", to: "b:1", arrivedMs: null, leftMs: null });
  assert.equal(hops[1]!.via, "fed1 (request)");
  assert.ok(Math.abs(hops[1]!.leftMs! - 10.5) < 0.001);
});

Deno.test("traceSteps splits the legs at the node and measures transit and time in each hop", () => {
  const steps = traceSteps([
    { from: "", via: "alice", to: "f", arrivedMs: 0, leftMs: 0 },
    { from: "f", via: "fed1 (request)", to: "e", arrivedMs: 1, leftMs: 1.5 },
    { from: "", via: "n1", to: "", arrivedMs: 4, leftMs: 4 },
    { from: "e", via: "fed1 (reply)", to: "f", arrivedMs: 5, leftMs: 5.25 },
    { from: "f", via: "alice", to: "", arrivedMs: 6, leftMs: 6 },
  ], "n1");
  assert.deepEqual(steps.map((s) => s.leg), ["request", "request", "node", "reply", "reply"]);
  assert.deepEqual(steps.map((s) => s.transitMs), [null, 1, 2.5, 1, 0.75]);
  assert.deepEqual(steps.map((s) => s.spentMs), [0, 0.5, 0, 0.25, 0]);
  const untimed = traceSteps([{ from: "", via: "a", to: "", arrivedMs: null, leftMs: null }], "z");
  assert.equal(untimed[0]!.transitMs, null);
  assert.equal(untimed[0]!.spentMs, null);
});
