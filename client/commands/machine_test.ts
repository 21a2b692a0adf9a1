import assert from "node:assert/strict";
import { join } from "node:path";
import { startChoraleBroker } from "../../tests/harness/chorale_broker.ts";
import { makeTestPki } from "../../tests/harness/pki.ts";
import { transitionEvent, watcherStateEvent } from "../../machines/events.ts";
import { connectAs, startStoreProcess } from "../../streams/_testing.ts";
import { streamsPermissionRules } from "../../streams/permissions.ts";
import { runChorale, spawnChorale } from "../_testing.ts";
import { palette, stripColour } from "../output/colour.ts";
import { renderMachineEvent } from "./machine.ts";

const TESTDATA = new URL("../../machines/testdata/", import.meta.url).pathname;

Deno.test("machine validate reports every problem of a bad file and exits 1", async () => {
  const result = await runChorale(
    ["machine", "validate", "store/keep_file", "bad_machine.yaml"],
    { cwd: TESTDATA },
  );
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stdout.split("\n");
  assert.equal(
    lines[0],
    "store/keep_file: ok: keep_file 1.0.0, 3 states, 2 transitions, 2 watchers",
  );
  assert.equal(lines[1], "bad_machine.yaml: 15 problems:");
  assert.equal(lines.filter((l) => l.startsWith("  ")).length, 15);
  assert.match(
    result.stdout,
    /^ {2}watchers\[0\] \(check\): fail_transition 'vanish' is not a transition of this machine/m,
  );
  assert.equal(result.stderr, "chorale: Cannot accept 1 of 2 files\n");
});

Deno.test("machine validate reads Scout check files and names their problems", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "disk.yaml"),
      "plugin: /usr/lib/nagios/plugins/check_disk -w 10%\ninterval: 1m\n",
    );
    await Deno.writeTextFile(
      join(dir, "bad.yaml"),
      "builtin: telepathy\ninterval: often\nremediate: { cmd: x }\n",
    );
    const result = await runChorale(["machine", "validate", "disk.yaml", "bad.yaml"], { cwd: dir });
    assert.equal(result.code, 1);
    assert.equal(
      result.stdout,
      [
        "disk.yaml: ok: disk 1.0.0, 5 states, 6 transitions, 1 watchers",
        "bad.yaml: 4 problems:",
        '  interval: must be a Go duration such as 30s or 5m: current value is "often"',
        "  remediate.cmd: is not a remediation setting (known: command, interval, timeout, states)",
        '  builtin: must be one of heartbeat, choria_status: current value is "telepathy"',
        "  remediate.command: is required",
        "",
      ].join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("machine graph prints DOT, and refuses a broken machine with its problems", async () => {
  const good = await runChorale(["machine", "graph", "store/keep_file/machine.yaml"], {
    cwd: TESTDATA,
  });
  assert.equal(good.code, 0);
  assert.match(good.stdout, /^digraph "keep_file" \{\n/);
  assert.match(good.stdout, /\n {2}"present" -> "missing" \[label="missing"\];\n/);
  const bad = await runChorale(["machine", "graph", "store/broken"], { cwd: TESTDATA });
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /^chorale: Cannot load machine .*broken\/machine\.yaml\nchorale: watchers\[0\] \(w\)\.name: must be a name/,
  );
});

Deno.test("machine run runs a machine in the foreground and prints its events", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["machine.yaml", "golden.txt"]) {
      await Deno.copyFile(join(TESTDATA, "store/keep_file", name), join(dir, name));
    }
    const result = await runChorale(["machine", "run", ".", "--for", "1.5", "--identity", "dev1"], {
      cwd: dir,
    });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "keep_file 1.0.0 starts in state unknown");
    assert.match(result.stdout, / dev1 keep_file missing: unknown -> missing\n/);
    assert.match(result.stdout, / dev1 keep_file exec restore success \(\d+ ms\)\n/);
    assert.match(result.stdout, / dev1 keep_file present: missing -> present\n/);
    assert.equal(await Deno.readTextFile(join(dir, "managed.txt")), "managed by chorale\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("machine events render with their status colours and history", () => {
  const line = renderMachineEvent({
    subject: "choria.machine.watcher.nagios.state",
    data: {
      protocol: "io.choria.machine.watcher.nagios.v1.state",
      identity: "n1",
      machine: "disk",
      timestamp: 0,
      type: "nagios",
      name: "check",
      status: "CRITICAL",
      output: "DISK CRITICAL",
      history: [{ status: 0 }, { status: 2 }],
    },
  }, palette(true));
  assert.ok(line.includes("\x1b[31mCRITICAL\x1b[39m"));
  assert.equal(
    stripColour(line),
    "1970-01-01T00:00:00Z n1 disk nagios check CRITICAL: DISK CRITICAL history OK CRIT",
  );
});

Deno.test("machine watch says what to do when the broker refuses the subscription", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({
    pki,
    choraleConfig: { permissions: { defaults: "choria" } },
  });
  const env = {
    CHORALE_BROKERS: broker.url,
    CHORALE_CERTIFICATE: pki.client.certFile,
    CHORALE_KEY: pki.client.keyFile,
    CHORALE_CA: pki.caFile,
  };
  const dir = await Deno.makeTempDir();
  try {
    const result = await runChorale(["machine", "watch", "--for", "5"], {
      cwd: dir,
      env: { ...env, HOME: dir },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^chorale: Cannot watch machine events as the broker refused: .*Permissions Violation for Subscription to "choria\.machine\./,
    );
    assert.match(
      result.stderr,
      /hint: allow 'alice\.mcollective' to subscribe to choria\.machine\.> in the broker's permissions/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("machine run under the chorale task says a command is not allowed, and keeps going", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["machine.yaml", "golden.txt"]) {
      await Deno.copyFile(join(TESTDATA, "store/keep_file", name), join(dir, name));
    }
    const result = await spawnChorale(["machine", "run", dir, "--for", "2.5"], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /^chorale: exec watcher failed: Cannot run '\/usr\/bin\/cp' as Deno was not allowed to run it: add its path to Deno's --allow-run\n/,
    );
    assert.ok(
      result.stderr.split("\n").filter(Boolean).length >= 2,
      "it tried again after its interval",
    );
    assert.match(result.stdout, / keep_file exec restore error \(\d+ ms\)\n/);
    assert.equal(await Deno.stat(join(dir, "managed.txt")).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("machine and scout watch --since replay the stream store's events with no subscribe right", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({
    pki,
    choraleConfig: {
      permissions: {
        defaults: "choria",
        identities: streamsPermissionRules({
          store: "store.example.net",
          readers: pki.client.name,
        }),
      },
    },
  });
  const dir = await Deno.makeTempDir();
  try {
    await using _store = await startStoreProcess(pki, {
      identity: "store.example.net",
      brokerPort: broker.port,
      dir: join(dir, "store"),
    });
    const node = await connectAs(pki, "server", "n1.example.net", broker.port);
    const ref = { id: "a-b-c-d-e", identity: "n1.example.net", machine: "disk", version: "1.0.0" };
    for (
      const { subject, event } of [
        transitionEvent(ref, { transition: "CRITICAL", from: "ok", to: "critical" }),
        watcherStateEvent(ref, {
          name: "check",
          type: "nagios",
          fields: {
            plugin: "check_disk",
            status: "CRITICAL",
            status_code: 2,
            output: "DISK CRITICAL - 2% free",
            check_time: 0,
            perfdata: [],
            runtime: 0.1,
            annotations: {},
          },
        }),
      ]
    ) node.publish(subject, JSON.stringify(event));
    await node.flush();
    await node.close();
    const env = {
      HOME: dir,
      CHORALE_BROKERS: broker.url,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const run = (args: string[]) => runChorale(args, { cwd: dir, env });
    // The store keeps what it hears shortly after: poll until both are there.
    let machine = await run(["machine", "watch", "--since", "1h", "--count", "2", "--for", "3"]);
    for (let i = 0; i < 10 && machine.stdout.split("\n").filter(Boolean).length < 2; i++) {
      machine = await run(["machine", "watch", "--since", "1h", "--count", "2", "--for", "3"]);
    }
    assert.equal(machine.code, 0, machine.stderr);
    assert.deepEqual(
      machine.stdout.split("\n").filter(Boolean).map(stripColour).map((l) => l.slice(21)),
      [
        "n1.example.net disk CRITICAL: ok -> critical",
        "n1.example.net disk nagios check CRITICAL: DISK CRITICAL - 2% free",
      ],
    );
    const scout = await run([
      "scout",
      "watch",
      "--since",
      "1h",
      "--check",
      "disk",
      "--json",
      "--count",
      "2",
      "--for",
      "3",
    ]);
    assert.equal(scout.code, 0, scout.stderr);
    assert.deepEqual(
      scout.stdout.trim().split("\n").map((l) => JSON.parse(l).subject),
      ["choria.machine.transition", "choria.machine.watcher.nagios.state"],
    );
    const bad = await run(["machine", "watch", "--since", "yesterday"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^chorale: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
