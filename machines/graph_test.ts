import assert from "node:assert/strict";
import { machineGraph } from "./graph.ts";
import { loadManifest } from "./manifest.ts";
import { defaultPlugins } from "./watchers/mod.ts";

Deno.test("machineGraph draws each state once and an edge per transition source", async () => {
  const text = await Deno.readTextFile(
    new URL("./testdata/store/keep_file/machine.yaml", import.meta.url),
  );
  const dot = machineGraph(loadManifest(text, { plugins: defaultPlugins() }));
  assert.equal(
    dot,
    [
      'digraph "keep_file" {',
      '  label="keep_file 1.0.0";',
      "  rankdir=LR;",
      '  "unknown" [shape=doublecircle];',
      '  "present" [shape=circle];',
      '  "missing" [shape=circle];',
      '  "unknown" -> "missing" [label="missing"];',
      '  "present" -> "missing" [label="missing"];',
      '  "unknown" -> "present" [label="present"];',
      '  "missing" -> "present" [label="present"];',
      "}",
      "",
    ].join("\n"),
  );
});
