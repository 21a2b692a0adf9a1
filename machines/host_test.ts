import assert from "node:assert/strict";
import { join } from "node:path";
import { within } from "../tests/harness/wait.ts";
import type { MachineCloudEvent } from "./events.ts";
import { MachineHost } from "./host.ts";
import { defaultPlugins } from "./watchers/mod.ts";

const TESTDATA = new URL("./testdata/", import.meta.url).pathname;

async function until(
  what: string,
  test: () => boolean | Promise<boolean>,
  ms = 8_000,
): Promise<void> {
  await within(
    (async () => {
      while (!(await test())) await new Promise((r) => setTimeout(r, 50));
    })(),
    what,
    ms,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A temporary machine store with copies of the test machines named. */
async function store(...names: string[]): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-machines-" });
  for (const name of names) {
    await Deno.mkdir(join(dir, name));
    for await (const entry of Deno.readDir(join(TESTDATA, "store", name))) {
      await Deno.copyFile(join(TESTDATA, "store", name, entry.name), join(dir, name, entry.name));
    }
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("a machine keeps a file present: deleted, it is back within the interval", async () => {
  await using s = await store("keep_file");
  const events: MachineCloudEvent[] = [];
  await using host = new MachineHost({
    store: s.dir,
    identity: "n1.example.net",
    plugins: defaultPlugins(),
    publish: (_subject, event) => events.push(event),
    pollMs: 0,
  });
  await host.start();
  const managed = join(s.dir, "keep_file", "managed.txt");
  const machine = host.find({ name: "keep_file" });
  // No file at first: the machine notices and restores it.
  await until("the first restore", () => exists(managed));
  await until("state present", () => machine.state === "present");
  await Deno.remove(managed);
  const deleted = Date.now();
  await until("the file to come back", () => exists(managed), 5_000);
  const took = Date.now() - deleted;
  assert.ok(took < 3_000, `restored after ${took} ms`);
  assert.equal(await Deno.readTextFile(managed), "managed by chorale\n");
  await until("state present again", () => machine.state === "present");
  const path = events
    .filter((e) => e.type === "io.choria.machine.v1.transition")
    .map((e) => `${e.data.from_state}->${e.data.to_state}`);
  assert.deepEqual(path.slice(0, 2), ["unknown->missing", "missing->present"]);
  assert.ok(path.includes("present->missing"), path.join(" "));
  assert.ok(
    events.some((e) =>
      e.type === "io.choria.machine.watcher.exec.v1.state" && e.data.previous_outcome === "success"
    ),
  );
});

Deno.test("a broken machine is reported and skipped; the good one runs; edits are picked up", async () => {
  await using s = await store("keep_file", "broken");
  await using host = new MachineHost({
    store: s.dir,
    identity: "n1",
    plugins: defaultPlugins(),
    pollMs: 100,
  });
  await host.start();
  assert.deepEqual(host.machines().map((m) => m.name), ["keep_file"]);
  const [broken] = host.broken();
  assert.equal(broken?.path, join(s.dir, "broken", "machine.yaml"));
  assert.deepEqual(broken?.problems, [
    'watchers[0] (w).name: must be a name of 2 or more letters, digits, _ or - starting with a letter: current value is "w"',
    "watchers[0] (w): success_transition 'nowhere' is not a transition of this machine (transitions: go)",
  ]);
  await until(
    "keep_file to restore its file",
    () => exists(join(s.dir, "keep_file", "managed.txt")),
  );
  // Fixing the file brings the machine up without a restart of the other.
  const keep = host.find({ name: "keep_file" });
  await Deno.writeTextFile(
    join(s.dir, "broken", "machine.yaml"),
    "name: fixed\nversion: 1.0.0\ninitial_state: unknown\ntransitions:\n  - { name: go, from: [unknown], destination: elsewhere }\nwatchers:\n  - { name: tick, type: timer, state_match: [unknown], fail_transition: go, properties: { timer: 1s } }\n",
  );
  await until("the fixed machine to load", () => host.machines().length === 2);
  assert.deepEqual(host.broken(), []);
  assert.equal(host.find({ name: "keep_file" }), keep);
  const fixed = host.find({ name: "fixed" });
  await until("the timer to fire", () => fixed.state === "elsewhere", 4_000);
  await Deno.remove(join(s.dir, "broken"), { recursive: true });
  await until("the removed machine to stop", () => host.machines().length === 1);
  assert.throws(() => host.find({ name: "fixed" }), /Cannot find a machine with name 'fixed'/);
});

Deno.test("a Scout check goes CRITICAL and is remediated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-scout-" });
  try {
    await Deno.writeTextFile(
      join(dir, "flag.yaml"),
      [
        `plugin: /usr/bin/sh -c 'if test -f ok.flag; then echo "OK - flag present | age=1s"; else echo "CRITICAL - flag missing"; exit 2; fi'`,
        "interval: 1s",
        "annotations: { team: ops }",
        "remediate:",
        "  command: /usr/bin/touch ok.flag",
        "  interval: 1s",
        "",
      ].join("\n"),
    );
    const events: MachineCloudEvent[] = [];
    await using host = new MachineHost({
      store: "",
      checks: dir,
      identity: "n1",
      plugins: defaultPlugins(),
      publish: (_s, e) => events.push(e),
      pollMs: 0,
    });
    await host.start();
    const check = host.find({ name: "flag" });
    assert.equal(check.scout, true);
    await until("the check to pass after remediation", () => check.state === "ok");
    const states = events.filter((e) => e.type.endsWith("transition")).map((e) => e.data.to_state);
    assert.deepEqual(states, ["critical", "ok"]);
    const nagios = events.filter((e) => e.type === "io.choria.machine.watcher.nagios.v1.state").map(
      (e) => e.data,
    );
    assert.equal(nagios[0]?.status, "CRITICAL");
    assert.equal(nagios[0]?.output, "CRITICAL - flag missing");
    assert.deepEqual(nagios.at(-1)?.perfdata, [{ label: "age", value: 1, unit: "s" }]);
    assert.deepEqual(nagios.at(-1)?.annotations, { team: "ops" });
    // Maintenance stops checking; resume checks at once.
    assert.equal(check.transition("MAINTENANCE", "test").ok, true);
    await Deno.remove(join(dir, "ok.flag"));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(check.state, "maintenance");
    assert.equal(check.transition("RESUME", "test").ok, true);
    await until(
      "the resumed check to go critical",
      () => check.state === "critical" || check.state === "ok",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exec watchers contain a hanging, a missing and a garbage-printing command", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-bad-commands-" });
  try {
    await Deno.mkdir(join(dir, "bad"));
    await Deno.writeTextFile(
      join(dir, "bad", "machine.yaml"),
      [
        "name: bad",
        "version: 1.0.0",
        "initial_state: idle",
        "transitions:",
        "  - { name: hung, from: [idle, missing, garbage, hung], destination: hung }",
        "  - { name: missing, from: [idle, hung, garbage, missing], destination: missing }",
        "  - { name: garbage, from: [idle, hung, missing, garbage], destination: garbage }",
        "watchers:",
        "  - { name: hang, type: exec, state_match: [idle], fail_transition: hung, properties: { command: /usr/bin/sleep 60, timeout: 1s } }",
        "  - { name: nothing, type: exec, state_match: [hung], fail_transition: missing, properties: { command: ./not-here } }",
        "  - { name: noise, type: exec, state_match: [missing], fail_transition: garbage, properties: { command: /usr/bin/head -c 64 /dev/urandom, parse_as_data: true } }",
        "",
      ].join("\n"),
    );
    const events: MachineCloudEvent[] = [];
    await using host = new MachineHost({
      store: dir,
      identity: "n1",
      plugins: defaultPlugins(),
      publish: (_s, e) => events.push(e),
      pollMs: 0,
    });
    await host.start();
    const machine = host.find({ name: "bad" });
    await until("the three failures in turn", () => machine.state === "garbage", 6_000);
    const outcomes = events.filter((e) => e.type.includes("exec")).map((e) =>
      `${e.data.name}:${e.data.previous_outcome}`
    );
    assert.deepEqual(outcomes, ["hang:error", "nothing:error", "noise:error"]);
    assert.deepEqual(machine.data.snapshot(), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a machine whose file breaks is stopped and reported; Scout checks reload too", async () => {
  await using s = await store("keep_file");
  const checks = join(s.dir, "..", `${s.dir.split("/").at(-1)}-checks`);
  await Deno.mkdir(checks);
  try {
    await Deno.writeTextFile(join(checks, "beat.yaml"), "builtin: heartbeat\ninterval: 1h\n");
    await using host = new MachineHost({
      store: s.dir,
      checks,
      identity: "n1",
      plugins: defaultPlugins(),
      pollMs: 100,
    });
    await host.start();
    assert.deepEqual(host.machines().map((m) => m.name).sort(), ["beat", "keep_file"]);
    const beat = host.find({ name: "beat" });
    await Deno.writeTextFile(join(s.dir, "keep_file", "machine.yaml"), "name: [broken\n");
    await until("the broken file to be noticed", () => host.broken().length === 1);
    assert.deepEqual(host.machines().map((m) => m.name), ["beat"]);
    assert.match(host.broken()[0]!.problems[0]!, /^not YAML: /);
    assert.equal(host.find({ name: "beat" }), beat, "the check kept running untouched");
    await Deno.writeTextFile(join(checks, "beat.yaml"), "builtin: heartbeat\ninterval: 2h\n");
    // Between the old one stopping and the new one starting there is no "beat" for a moment.
    await until("the changed check to be reloaded", () => {
      const now = host.machines().find((m) => m.name === "beat");
      return now !== undefined && now !== beat;
    });
    await Deno.remove(join(checks, "beat.yaml"));
    await until("the removed check to stop", () => host.machines().length === 0);
  } finally {
    await Deno.remove(checks, { recursive: true });
  }
});
