import assert from "node:assert/strict";
import { within } from "../../tests/harness/wait.ts";
import type { MachineCloudEvent } from "../events.ts";
import { Machine } from "../machine.ts";
import type { MachineManifest } from "../manifest.ts";
import { compileScoutCheck } from "../scout.ts";
import { defaultPlugins } from "./mod.ts";
import type { MetricSample, NodeStatus } from "./watcher.ts";

async function until(what: string, test: () => boolean, ms = 5_000): Promise<void> {
  await within(
    (async () => {
      while (!test()) await new Promise((r) => setTimeout(r, 20));
    })(),
    what,
    ms,
  );
}

function manifest(watchers: MachineManifest["watchers"]): MachineManifest {
  return {
    name: "test_machine",
    version: "1.0.0",
    initial_state: "idle",
    splay_start: 0,
    transitions: [
      { name: "go", from: ["idle", "done"], destination: "busy" },
      { name: "stop", from: ["idle", "busy"], destination: "done" },
    ],
    watchers,
  };
}

Deno.test("the schedule watcher turns on in its window and off after its duration", async () => {
  await using machine = new Machine({
    manifest: manifest([{
      name: "window",
      type: "schedule",
      state_match: [],
      success_transition: "go",
      fail_transition: "stop",
      properties: { schedules: ["* * * * *"], duration: "1s" },
    }]),
    directory: "/tmp",
    identity: "n1",
    plugins: defaultPlugins(),
  });
  await machine.start();
  await until("the window to open", () => machine.state === "busy", 3_000);
  await until("the window to close", () => machine.state === "done", 4_000);
  assert.equal(machine.watcherState(machine.watchers[0]!).state, "off");
});

Deno.test("the metric watcher records what its command prints and fails on garbage", async () => {
  const samples: MetricSample[] = [];
  const events: MachineCloudEvent[] = [];
  await using machine = new Machine({
    manifest: manifest([
      {
        name: "load",
        type: "metric",
        state_match: ["idle"],
        success_transition: "go",
        properties: {
          command: `/usr/bin/echo '{"labels":{"disk":"sda"},"metrics":{"busy":0.5,"bad name":1}}'`,
          interval: "1m",
          labels: { site: "lon" },
          store: true,
        },
      },
      {
        name: "noise",
        type: "metric",
        state_match: ["busy"],
        fail_transition: "stop",
        properties: { command: "/usr/bin/echo not json", interval: "1m" },
      },
    ]),
    directory: "/tmp",
    identity: "n1",
    plugins: defaultPlugins(),
    recordMetrics: (s) => samples.push(s),
    publish: (_s, e) => events.push(e),
  });
  await machine.start();
  await until("the garbage to fail the second watcher", () => machine.state === "done");
  assert.deepEqual(samples, [{
    machine: "test_machine",
    watcher: "load",
    labels: { disk: "sda", site: "lon" },
    values: { busy: 0.5 },
  }]);
  assert.deepEqual(machine.data.snapshot(), { busy: 0.5 });
  const noise = events.find((e) => e.data.name === "noise");
  assert.match(
    String(noise?.data.error),
    /Cannot read metrics from '\/usr\/bin\/echo not json' as its output is not JSON/,
  );
});

Deno.test("nagios builtins: heartbeat passes and choria_status fails a disconnected node", async () => {
  let status: NodeStatus = {
    connected: true,
    lastMessageMs: Date.now(),
    certificateExpiresMs: null,
  };
  const check = (builtin: string, extra: Record<string, unknown> = {}) =>
    compileScoutCheck(JSON.stringify({ builtin, interval: "1h", ...extra }), builtin, {
      plugins: defaultPlugins(),
    });
  await using heartbeat = new Machine({
    manifest: check("heartbeat"),
    directory: "/tmp",
    identity: "n1",
    plugins: defaultPlugins(),
  });
  await using choria = new Machine({
    manifest: check("choria_status", { last_message: "1h" }),
    directory: "/tmp",
    identity: "n1",
    plugins: defaultPlugins(),
    nodeStatus: () => status,
  });
  await heartbeat.start();
  await choria.start();
  await until("both checks to pass", () => heartbeat.state === "ok" && choria.state === "ok");
  status = { connected: false, lastMessageMs: null, certificateExpiresMs: null };
  await choria.trigger();
  assert.equal(choria.state, "critical");
  assert.equal(
    choria.watcherState(choria.watchers[0]!).output,
    "not connected to a broker, no request received yet",
  );
});

Deno.test("a nagios plugin that hangs, is missing or exits 42 is UNKNOWN with the reason", async () => {
  for (
    const [plugin, output] of [
      ["/usr/bin/sleep 30", /ran past its 1000 ms timeout and was killed/],
      ["./missing-plugin", /Cannot run '\.\/missing-plugin' as it does not exist/],
      ["/usr/bin/sh -c 'echo odd; exit 42'", /exited with code 42, not a Nagios status: odd/],
    ] as const
  ) {
    await using check = new Machine({
      manifest: compileScoutCheck(
        JSON.stringify({ plugin, interval: "1h", timeout: "1s" }),
        "odd",
        { plugins: defaultPlugins() },
      ),
      directory: "/tmp",
      identity: "n1",
      plugins: defaultPlugins(),
    });
    await check.start();
    await until(
      `${plugin} to be UNKNOWN`,
      () => Number(check.watcherState(check.watchers[0]!).check_time) > 0,
      4_000,
    );
    assert.equal(check.state, "unknown");
    assert.match(String(check.watcherState(check.watchers[0]!).output), output);
  }
});

Deno.test("Scout remediation runs in the states it names", () => {
  const m = compileScoutCheck(
    "plugin: /bin/true\nremediate: { command: /bin/true, states: [warning, critical] }\n",
    "x1",
    { plugins: defaultPlugins() },
  );
  assert.deepEqual(m.watchers[1]?.state_match, ["warning", "critical"]);
  assert.throws(
    () =>
      compileScoutCheck(
        "plugin: /bin/true\nremediate: { command: /bin/true, states: [ok] }\n",
        "x1",
        { plugins: defaultPlugins() },
      ),
    /remediate\.states: must be a list of unknown, warning or critical: current value is \["ok"\]/,
  );
});

Deno.test("a check that flaps on every run is throttled, and each dropped transition is logged", async () => {
  const dir = await Deno.makeTempDir();
  const warnings: string[] = [];
  const logger = {
    debug: () => {},
    info: () => {},
    warn: (message: string, fields?: Record<string, unknown>) =>
      warnings.push(`${message}: ${fields?.error}`),
    error: () => {},
    child: () => logger,
  };
  const published: MachineCloudEvent[] = [];
  try {
    const manifest = compileScoutCheck(
      JSON.stringify({
        plugin: "/usr/bin/sh -c 'if [ -f up ]; then rm up; exit 2; else touch up; exit 0; fi'",
        interval: "1s",
      }),
      "flappy",
      { plugins: defaultPlugins() },
    );
    // Faster than files may ask for, to flap ten times a second.
    manifest.watchers[0]!.interval = "100ms";
    await using machine = new Machine({
      manifest,
      directory: dir,
      identity: "n1",
      plugins: defaultPlugins(),
      logger,
      limit: { burst: 4, refillMs: 60_000 },
      publish: (_s, e) => published.push(e),
    });
    await machine.start();
    await until("transitions to be dropped", () => machine.rateLimited >= 3, 5_000);
    assert.equal(machine.transitions, 4);
    assert.equal(published.filter((e) => e.type.endsWith("transition")).length, 4);
    assert.match(
      warnings.find((w) => w.startsWith("transition dropped")) ?? "",
      /^transition dropped: Cannot fire transition '(OK|CRITICAL)' as the machine made 4 transitions back to back and may make one more every 60000 ms: retry in \d+ ms$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kv watcher keeps each changed value in its data, and reports an unset key", async () => {
  const values = new Map<string, string>();
  const reads: string[] = [];
  const moves: string[] = [];
  await using machine = new Machine({
    manifest: {
      ...manifest([{
        name: "setting",
        type: "kv",
        state_match: ["idle", "busy", "done"],
        interval: "1s",
        success_transition: "go",
        properties: { bucket: "cfg", key: "mode", on_matching_update: "stop" },
      }]),
      transitions: [
        { name: "go", from: ["idle", "done", "busy"], destination: "busy" },
        { name: "stop", from: ["idle", "busy"], destination: "done" },
      ],
    },
    directory: "/tmp",
    identity: "n1",
    plugins: defaultPlugins(),
    kv: (bucket, key) => {
      reads.push(`${bucket}/${key}`);
      const value = values.get(key);
      return Promise.resolve(value === undefined ? null : new TextEncoder().encode(value));
    },
    onTransition: ({ transition, to }) => moves.push(`${transition}:${to}`),
  });
  await machine.start();
  const watcher = machine.watchers[0]!;
  await until(
    "the watcher to report the unset key",
    () => machine.watcherState(watcher).state === "missing",
  );
  assert.equal(moves.length, 0, "an unset key moves nothing without a fail_transition");
  // A new value fires success; reading it unchanged right after fires on_matching_update.
  values.set("mode", '{"level":3}');
  await until("a new value, then the same again", () => moves.length >= 2, 3_000);
  assert.deepEqual(moves.slice(0, 2), ["go:busy", "stop:done"]);
  assert.deepEqual(machine.data.get("cfg_mode"), { level: 3 });
  values.set("mode", "plain text");
  await until("a changed value to succeed again", () => moves.includes("go:busy", 2), 3_000);
  assert.equal(machine.data.get("cfg_mode"), "plain text");
  // Once the transitions settle, one read a second: a check that fires a transition must not
  // leave a second chain of timers behind.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const before = reads.length;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const quiet = reads.length - before;
  assert.ok(quiet >= 2 && quiet <= 4, `about one read a second: ${quiet} in 3 s`);
  assert.ok(reads.every((r) => r === "cfg/mode"));
});

Deno.test("the kv watcher's properties are checked", () => {
  const problems: string[] = [];
  const plugin = defaultPlugins().get("kv")!;
  plugin.validate({
    name: "bad",
    type: "kv",
    state_match: [],
    properties: { bucket: "a b", key: "x.y", mode: "watch", hiera_config: true },
  }, (p) => problems.push(p));
  for (
    const fragment of [
      "not key-value|buckets take",
      "mode: only poll",
      "hiera_config: not supported",
      "interval:",
    ]
  ) {
    assert.ok(
      problems.some((p) => new RegExp(fragment).test(p)),
      `${fragment} in ${problems.join("; ")}`,
    );
  }
});
