import assert from "node:assert/strict";
import { formatDuration, formatPairs, formatValue, sprintf, valueKey } from "./format.ts";

Deno.test("formatDuration picks a unit people read easily", () => {
  assert.equal(formatDuration(0), "0 ms");
  assert.equal(formatDuration(0.25), "250 µs");
  assert.equal(formatDuration(12), "12 ms");
  assert.equal(formatDuration(12.34), "12.3 ms");
  assert.equal(formatDuration(326), "326 ms");
  assert.equal(formatDuration(2013), "2.01 s");
  assert.equal(formatDuration(-1), "-");
});

Deno.test("formatValue keeps scalars on one line and pretty-prints structures", () => {
  assert.equal(formatValue("web"), "web");
  assert.equal(formatValue(3), "3");
  assert.equal(formatValue(false), "false");
  assert.equal(formatValue(null), "null");
  assert.equal(formatValue(undefined), "");
  assert.equal(formatValue(["a", 1, null]), "a, 1, null");
  assert.equal(formatValue({ a: 1 }), '{\n  "a": 1\n}');
  assert.equal(formatValue([{ a: 1 }]), '[\n  {\n    "a": 1\n  }\n]');
});

Deno.test("valueKey counts strings as themselves and the rest as JSON", () => {
  assert.equal(valueKey("x"), "x");
  assert.equal(valueKey(1), "1");
  assert.equal(valueKey({ a: [1] }), '{"a":[1]}');
  assert.equal(valueKey(undefined), "undefined");
});

Deno.test("formatPairs right-aligns labels and indents continuation lines", () => {
  assert.equal(
    formatPairs([["A", "1"], ["Longer", "x\ny"]], 2),
    "       A: 1\n  Longer: x\n          y",
  );
});

Deno.test("sprintf formats as Choria aggregate formats do", () => {
  assert.equal(sprintf("%s Tests on %d node(s)", ["12", 3]), "12 Tests on 3 node(s)");
  assert.equal(sprintf("Average: %0.2f", [1.5]), "Average: 1.50");
  assert.equal(sprintf("%f", [1]), "1.000000");
  assert.equal(sprintf("%5d|%-5s|%05d", [42, "ab", -7]), "   42|ab   |-0007");
  assert.equal(sprintf("100%% %s %q", ["done"]), "100% done %q");
  assert.equal(sprintf("%s", [{ a: 1 }]), '{"a":1}');
});
