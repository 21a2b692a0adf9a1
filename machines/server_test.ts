/**
 * Autonomous agents and Scout in a real server process on a real broker: events captured on the
 * broker and checked against Choria's schemas, drift repaired, a check remediated, maintenance
 * and resume over RPC, and a broken machine that disturbs nothing.
 */
import AjvDraft04 from "ajv-draft-04";
import Ajv07 from "ajv";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runChorale } from "../client/_testing.ts";
import { RpcClient } from "../client/rpc_client.ts";
import {
  machineTransitionSubject,
  machineWatcherSubject,
  registrationSubject,
} from "../core/protocol/subjects.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import { decodeRegistration } from "../server/registration.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { startChoraleServer } from "../tests/harness/chorale_server.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import { within } from "../tests/harness/wait.ts";
import type { MachineCloudEvent } from "./events.ts";

const SCHEMAS = new URL("../../shared/choria/schemas/choria/machine/", import.meta.url);
const TESTDATA = new URL("./testdata/", import.meta.url).pathname;
const IDENTITY = "n1.example.net";

async function validators(): Promise<Map<string, (data: unknown) => boolean>> {
  const found = new Map<string, (data: unknown) => boolean>();
  for (
    const [protocol, file] of [
      ["io.choria.machine.v1.transition", "v1/transition.json"],
      ["io.choria.machine.watcher.exec.v1.state", "watcher/exec/v1/state.json"],
      ["io.choria.machine.watcher.file.v1.state", "watcher/file/v1/state.json"],
      ["io.choria.machine.watcher.nagios.v1.state", "watcher/nagios/v1/state.json"],
    ] as const
  ) {
    const schema = JSON.parse(await Deno.readTextFile(new URL(file, SCHEMAS)));
    // The nagios schema is draft-07 (named with draft-04's `id`); the others draft-04.
    let validate;
    if (schema.$schema.includes("draft-07")) {
      delete schema.$schema;
      delete schema.id;
      // ajv 8 has no date-time format built in: the history times are checked below instead.
      validate = new Ajv07.default({ strict: false, allErrors: true, validateFormats: false })
        .compile(schema);
    } else {
      validate = new AjvDraft04.default({ strict: false, allErrors: true }).compile(schema);
    }
    found.set(protocol, (data) => {
      const ok = validate(data) as boolean;
      if (!ok) {
        throw new Error(
          `${protocol}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(data)}`,
        );
      }
      return ok;
    });
  }
  return found;
}

async function until(
  what: string,
  test: () => boolean | Promise<boolean>,
  ms = 10_000,
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
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("a server runs machines and Scout checks, publishes valid events and obeys RPC", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const root = await Deno.makeTempDir({ prefix: "chorale-server-machines-" });
  try {
    const store = join(root, "machines");
    const checks = join(root, "checks");
    const textfiles = join(root, "textfiles");
    for (const dir of [store, checks, textfiles]) await Deno.mkdir(dir);
    for (const name of ["keep_file", "broken"]) {
      await Deno.mkdir(join(store, name));
      for await (const entry of Deno.readDir(join(TESTDATA, "store", name))) {
        await Deno.copyFile(
          join(TESTDATA, "store", name, entry.name),
          join(store, name, entry.name),
        );
      }
    }
    await Deno.writeTextFile(
      join(checks, "flag.yaml"),
      [
        `plugin: /usr/bin/sh -c 'if test -f ok.flag; then echo "OK - flag present | age=1s"; else echo "CRITICAL - flag missing"; exit 2; fi'`,
        "interval: 1s",
        "remediate: { command: /usr/bin/touch ok.flag, interval: 1s }",
        "",
      ].join("\n"),
    );
    await using client = await RpcClient.connect([`127.0.0.1:${broker.port}`], {
      certname: pki.client.name,
      cert: pki.client.cert,
      key: pki.client.key,
      ca: pki.caPem,
    });
    const events: Array<{ subject: string; event: MachineCloudEvent }> = [];
    for (const subject of [machineTransitionSubject(), machineWatcherSubject("*")]) {
      client.nc.subscribe(subject, {
        callback: (_e, msg) =>
          events.push({ subject: msg.subject, event: msg.json<MachineCloudEvent>() }),
      });
    }
    const registrations: Uint8Array[] = [];
    client.nc.subscribe(registrationSubject("mcollective"), {
      callback: (_e, msg) => registrations.push(msg.data),
    });
    await client.nc.flush();
    await using server = await startChoraleServer({
      pki,
      identity: IDENTITY,
      brokerPort: broker.port,
      config: {
        "plugin.choria.machine.store": store,
        "plugin.scout.checks": checks,
        "plugin.choria.machine.poll_interval": "1s",
        "plugin.choria.prometheus_textfile_directory": textfiles,
        registration: { interval: "1s", splay: "0s" },
      },
      extraPermissions: ["--allow-run=/usr/bin/cp,/usr/bin/sh,/usr/bin/touch"],
    });
    const brokenLine = await server.proc.waitForLine(
      (l) => l.includes('"machine not loaded"'),
      "the broken machine report",
    );
    assert.match(brokenLine, /success_transition 'nowhere' is not a transition of this machine/);

    // Drift repaired: the file is restored, deleted, and restored again within the interval.
    const managed = join(store, "keep_file", "managed.txt");
    await until("keep_file to restore its file", () => exists(managed));
    await until(
      "keep_file to reach present",
      () =>
        events.some((e) =>
          e.event.data.machine === "keep_file" && e.event.data.to_state === "present"
        ),
    );
    await Deno.remove(managed);
    const deleted = Date.now();
    await until("the file to come back", () => exists(managed));
    assert.ok(Date.now() - deleted < 3_000, `restored after ${Date.now() - deleted} ms`);

    // The Scout check goes CRITICAL and is remediated.
    await until(
      "the check to recover",
      () => events.some((e) => e.event.data.machine === "flag" && e.event.data.to_state === "ok"),
    );
    const flagPath = events.filter((e) =>
      e.event.data.machine === "flag" && e.subject === "choria.machine.transition"
    ).map((e) => e.event.data.to_state);
    assert.deepEqual(flagPath.slice(0, 2), ["critical", "ok"]);

    // Maintenance and resume over RPC.
    const call = async (agent: string, action: string, data: Record<string, unknown> = {}) => {
      const [reply] = await client.request({
        agent,
        action,
        data,
        node: IDENTITY,
        expect: 1,
        timeoutMs: 5_000,
      });
      assert.ok(reply, `${agent}#${action} answered`);
      return reply;
    };
    const paused = await call("scout", "maintenance", { checks: ["flag"] });
    assert.deepEqual([paused.statuscode, paused.data], [0, {
      transitioned: ["flag"],
      skipped: [],
      failed: [],
    }]);
    const state = await call("choria_util", "machine_state", { name: "flag" });
    assert.equal(state.data.state, "maintenance");
    assert.equal(state.data.scout, true);
    assert.deepEqual(state.data.available_transitions, ["RESUME"]);
    const list = await call("scout", "checks");
    assert.deepEqual(
      (list.data.checks as Array<{ name: string; state: string }>).map((c) => [c.name, c.state]),
      [["flag", "maintenance"]],
    );
    const resumed = await call("scout", "resume", {});
    assert.deepEqual(resumed.data, { transitioned: ["flag"], skipped: [], failed: [] });
    await until(
      "the resumed check to pass",
      () =>
        events.filter((e) => e.event.data.machine === "flag" && e.event.data.to_state === "ok")
          .length >= 2,
    );
    const states = await call("choria_util", "machine_states");
    assert.deepEqual((states.data.machine_names as string[]).sort(), ["flag", "keep_file"]);
    const forced = await call("choria_util", "machine_transition", {
      name: "keep_file",
      transition: "missing",
    });
    assert.deepEqual([forced.statuscode, forced.data], [0, { success: true }]);

    // The same through the CLI.
    const env = {
      HOME: root,
      CHORALE_BROKERS: broker.url,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const chorale = async (args: string[], code = 0) => {
      const result = await runChorale(args, { cwd: root, env });
      assert.equal(
        result.code,
        code,
        `chorale ${args.join(" ")}\n${result.stdout}${result.stderr}`,
      );
      return result.stdout;
    };
    const table = await chorale(["scout", "status", "--discovery-timeout", "1"]);
    assert.match(
      table,
      /^NODE +CHECK +STATE +STARTED +OUTPUT\nn1\.example\.net +flag +OK +\d{4}-\S+ +OK - flag present\n/,
    );
    assert.match(table, /\n1 checks on 1 nodes: 1 OK\n$/);
    assert.equal(
      await chorale(["scout", "maintenance", "flag", "nope", "--discovery-timeout", "1"]),
      "n1.example.net: transitioned flag; skipped none; unknown nope\n",
    );
    assert.match(
      await chorale(["scout", "status", "--json", "--discovery-timeout", "1"]),
      /"state": "maintenance"/,
    );
    assert.equal(
      await chorale(["scout", "resume", "-I", IDENTITY, "--discovery-timeout", "1"]),
      "n1.example.net: transitioned flag; skipped none; unknown none\n",
    );
    const watching = chorale(["scout", "watch", "--check", "flag", "--count", "2", "--for", "10"]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      await chorale(["scout", "trigger", "--discovery-timeout", "1"]),
      "n1.example.net: triggered flag; skipped none; unknown none\n",
    );
    const watched = (await watching).trim().split("\n");
    assert.equal(watched.length, 2, watched.join("\n"));
    for (const line of watched) {
      assert.match(line, /n1\.example\.net flag nagios check OK: OK - flag present/);
    }
    const machineWatch = chorale([
      "machine",
      "watch",
      "--machine",
      "keep_file",
      "--type",
      "transition",
      "--json",
      "--count",
      "1",
      "--for",
      "10",
    ]);
    await new Promise((r) => setTimeout(r, 500));
    await Deno.remove(managed);
    const [json] = (await machineWatch).trim().split("\n");
    assert.deepEqual(
      { ...JSON.parse(json!).data, id: "", timestamp: 0 },
      {
        protocol: "io.choria.machine.v1.transition",
        identity: IDENTITY,
        id: "",
        version: "1.0.0",
        timestamp: 0,
        machine: "keep_file",
        transition: "missing",
        from_state: "present",
        to_state: "missing",
      },
    );

    // The textfile shows the machines for node_exporter.
    await until(
      "the textfile",
      async () =>
        (await Deno.readTextFile(join(textfiles, "chorale_machines.prom")).catch(() => ""))
          .includes('chorale_machine_state{machine="flag",state="ok"} 1'),
    );

    // Registration carries the machines and their states, as go-choria's does.
    await until("a registration with both machines", () => registrations.length > 2);
    const registered = decodeRegistration(registrations.at(-1)!, {
      verifier: new CertificateVerifier({ ca: pki.caPem }),
    });
    assert.equal(registered.type, "inventory");
    if (registered.type === "inventory") {
      assert.deepEqual(
        registered.inventory.machines.map((m) => m.name).sort(),
        ["flag", "keep_file"],
      );
      assert.ok(
        registered.inventory.machines.every((m) => m.version === "1.0.0" && m.state !== ""),
      );
    }

    // Every event is a CloudEvent from this node whose data is valid against Choria's schema.
    const validate = await validators();
    assert.ok(events.length > 6, `${events.length} events`);
    for (const { subject, event } of events) {
      assert.equal(event.specversion, "1.0");
      assert.equal(event.source, "io.choria.machine");
      assert.equal(event.subject, IDENTITY);
      assert.equal(event.type, event.data.protocol);
      assert.equal(
        subject,
        event.type === "io.choria.machine.v1.transition"
          ? "choria.machine.transition"
          : `choria.machine.watcher.${event.data.type}.state`,
      );
      const check = validate.get(event.type);
      assert.ok(check, `a schema for ${event.type}`);
      check(event.data);
      for (const item of (event.data.history as Array<{ execute: string }> | undefined) ?? []) {
        assert.match(item.execute, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      }
    }
    const types = new Set(events.map((e) => e.event.type));
    for (const type of validate.keys()) assert.ok(types.has(type), `saw ${type}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
