import assert from "node:assert/strict";
import { nagiosStatus, parseNagiosOutput } from "./nagios.ts";

Deno.test("nagiosStatus maps exit codes and calls anything else UNKNOWN", () => {
  assert.deepEqual([0, 1, 2, 3, 4, null].map((c) => nagiosStatus(c).status), [
    "OK",
    "WARNING",
    "CRITICAL",
    "UNKNOWN",
    "UNKNOWN",
    "UNKNOWN",
  ]);
});

Deno.test("parseNagiosOutput reads the message and perfdata, skipping garbage", () => {
  const out = parseNagiosOutput(
    "PROCS OK: 3 processes | procs=3;5;10;0 'load avg'=0.5 junk=abc size=12XB\nlong text|more=7ms",
  );
  assert.equal(out.message, "PROCS OK: 3 processes");
  assert.deepEqual(out.perfdata, [
    { label: "procs", value: 3, unit: "" },
    { label: "load avg", value: 0.5, unit: "" },
    { label: "size", value: 12, unit: "" },
    { label: "more", value: 7, unit: "ms" },
  ]);
  assert.deepEqual(parseNagiosOutput("\u0000\u0001garbage"), {
    message: "\u0000\u0001garbage",
    perfdata: [],
  });
});
