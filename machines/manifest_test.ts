import assert from "node:assert/strict";
import Ajv07 from "ajv";
import YAML from "yaml";
import { loadManifest, ManifestError, validateManifest } from "./manifest.ts";
import { defaultPlugins } from "./watchers/mod.ts";

const plugins = defaultPlugins();
const SCHEMA = new URL(
  "../../shared/choria/schemas/choria/machine/v1/manifest.json",
  import.meta.url,
);

async function schemaValidator() {
  // Go's \A and \z anchors (in the kv watcher's key pattern) are ^ and $ to JavaScript.
  const text = (await Deno.readTextFile(SCHEMA)).replaceAll("\\\\A", "^").replaceAll("\\\\z", "$");
  const schema = JSON.parse(text);
  // Choria's file says draft-07 but names itself with draft-04's `id`, which ajv 8 refuses.
  delete schema.$schema;
  delete schema.id;
  const ajv = new Ajv07.default({ strict: false, allErrors: true });
  return ajv.compile(schema);
}

Deno.test("validateManifest reports every problem of a bad machine file at once", async () => {
  const text = await Deno.readTextFile(new URL("./testdata/bad_machine.yaml", import.meta.url));
  const check = validateManifest(YAML.parse(text), { plugins });
  assert.equal(check.ok, false);
  const all = check.problems.join("\n");
  for (
    const expected of [
      /^name: must be a name of 2 or more/m,
      /^version: must be a SemVer version such as 1\.0\.0: current value is "1\.0"/m,
      /transitions\[1\] \(9bad\)\.name: must be a name/,
      /transitions\[1\] \(9bad\)\.from: must be a list of states/,
      /^initial_state: 'nowhere' is not a state any transition leaves or reaches/m,
      /watchers\[0\] \(check\)\.interval: must be a Go duration such as 10s or 5m: current value is "5 seconds"/,
      /watchers\[0\] \(check\)\.properties\.path: is required/,
      /watchers\[0\] \(check\): state_match names unknown state 'gone'/,
      /watchers\[0\] \(check\): fail_transition 'vanish' is not a transition of this machine/,
      /watchers\[1\] \(check\)\.type: must be one of exec, file, kv, metric, nagios, schedule, timer: current value is "teleport"/,
      /watchers\[1\] \(check\): name 'check' is used by another watcher/,
      /watchers\[2\] \(run\)\.interval: must be at least 1000 ms: current value is "10ms"/,
      /watchers\[2\] \(run\)\.properties\.command: must be non-empty text/,
      /watchers\[2\] \(run\)\.properties\.timeout: must be a Go duration/,
      /watchers\[2\] \(run\)\.properties\.environment\[0\]: must be VAR=VALUE: current value is "NOT VALID"/,
    ]
  ) assert.match(all, expected);
  assert.equal(check.problems.length, 15, all);
});

Deno.test("validateManifest agrees with Choria's schema on a good machine and a bad one", async () => {
  const validate = await schemaValidator();
  const good = YAML.parse(
    await Deno.readTextFile(new URL("./testdata/store/keep_file/machine.yaml", import.meta.url)),
  );
  assert.equal(validate(good), true, JSON.stringify(validate.errors));
  assert.equal(validateManifest(good, { plugins }).ok, true);
  const bad = YAML.parse(
    await Deno.readTextFile(new URL("./testdata/bad_machine.yaml", import.meta.url)),
  );
  assert.equal(validate(bad), false);
  assert.equal(validateManifest(bad, { plugins }).ok, false);
});

Deno.test("loadManifest refuses text that is not YAML, naming the file", () => {
  assert.throws(
    () => loadManifest("name: [unclosed", { plugins }, "m/machine.yaml"),
    (error: unknown) =>
      error instanceof ManifestError &&
      /^Cannot load machine m\/machine\.yaml: not YAML/.test(error.message),
  );
  assert.throws(
    () => loadManifest("- a list", { plugins }),
    /the manifest must be a map: current value is a list/,
  );
});

Deno.test("validateManifest refuses a transition that leaves one state for two places", () => {
  const check = validateManifest({
    name: "m1",
    version: "1.0.0",
    initial_state: "aa",
    transitions: [
      { name: "go", from: ["aa"], destination: "bb" },
      { name: "go", from: ["aa"], destination: "cc" },
    ],
    watchers: [{ name: "tt", type: "timer", properties: { timer: "1s" } }],
  }, { plugins });
  assert.deepEqual(check.problems, [
    "transitions: 'go' from state 'aa' leads both to 'bb' and to 'cc'",
  ]);
});

Deno.test("validateManifest names watcher properties Chorale does not support", () => {
  const check = validateManifest({
    name: "m1",
    version: "1.0.0",
    initial_state: "aa",
    transitions: [{ name: "go", from: ["aa"], destination: "bb" }],
    watchers: [{ name: "ff", type: "file", properties: { path: "x", contents: "hello" } }],
  }, { plugins });
  assert.deepEqual(check.problems, [
    "watchers[0] (ff).properties.contents: is not a property Chorale's file watcher supports (known: path, gather_initial_state)",
  ]);
});

Deno.test("validateManifest refuses settings it does not know and Choria features it lacks", () => {
  const check = validateManifest({
    name: "m1",
    version: "1.0.0",
    initial_state: "aa",
    splay: 3,
    transitions: [{ name: "go", from: ["aa"], destination: "bb", subscribe: { machine: "other" } }],
    watchers: [{
      name: "tt",
      type: "timer",
      intervall: "1s",
      foreign_state_required: { machine: "other", state: "up" },
      properties: { timer: "1s" },
    }],
  }, { plugins });
  assert.deepEqual(check.problems, [
    "splay: is not a machine setting (known: name, version, initial_state, splay_start, transitions, watchers)",
    "transitions[0] (go).subscribe: is not supported by Chorale: machines do not receive other machines' events",
    "watchers[0] (tt).foreign_state_required: is not supported by Chorale: machines do not see other machines' states",
    "watchers[0] (tt).intervall: is not a watcher setting (known: name, type, state_match, fail_transition, success_transition, interval, announce_interval, properties, foreign_state_required)",
  ]);
});
