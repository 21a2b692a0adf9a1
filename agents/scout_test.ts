import assert from "node:assert/strict";
import { parseDdl } from "./ddl.ts";
import { callAction } from "./_testing.ts";
import { scoutAgent } from "./scout.ts";
import { defaultPlugins, hostedMachines, MachineHost } from "../machines/mod.ts";

const CHORIA_DDL = new URL("../../shared/choria/ddl/scout.json", import.meta.url);

Deno.test("scout's DDL is Choria's without goss_validate", async () => {
  const choria = JSON.parse(await Deno.readTextFile(CHORIA_DDL));
  const copy = JSON.parse(await Deno.readTextFile(new URL("./ddl/scout.json", import.meta.url)));
  assert.deepEqual(copy.metadata, choria.metadata);
  assert.deepEqual(
    copy.actions,
    choria.actions.filter((a: { action: string }) => a.action !== "goss_validate"),
  );
  assert.deepEqual(parseDdl(copy).actions.map((a) => a.action), [
    "checks",
    "resume",
    "maintenance",
    "trigger",
  ]);
});

Deno.test("scout lists checks, pauses, resumes and triggers them, naming the unknown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-scout-agent-" });
  try {
    await Deno.writeTextFile(`${dir}/heartbeat.yaml`, "builtin: heartbeat\ninterval: 1h\n");
    await Deno.writeTextFile(`${dir}/pulse.yaml`, "builtin: heartbeat\ninterval: 1h\n");
    await using host = new MachineHost({
      store: "",
      checks: dir,
      identity: "n1",
      plugins: defaultPlugins(),
      pollMs: 0,
    });
    await host.start();
    const agent = scoutAgent(hostedMachines(host));
    const deadline = Date.now() + 5_000;
    while (host.machines().some((m) => m.state !== "ok") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const { checks } = await callAction(agent, "checks") as { checks: Record<string, unknown>[] };
    assert.deepEqual(checks.map((c) => c.output), ["heartbeat", "heartbeat"]);
    assert.deepEqual(checks.map((c) => [c.name, c.state, c.version]), [
      ["heartbeat", "ok", "1.0.0"],
      ["pulse", "ok", "1.0.0"],
    ]);
    assert.deepEqual(await callAction(agent, "maintenance", { checks: ["heartbeat", "nope"] }), {
      transitioned: ["heartbeat"],
      skipped: [],
      failed: ["nope"],
    });
    assert.deepEqual(await callAction(agent, "trigger", {}), {
      transitioned: ["pulse"],
      skipped: ["heartbeat"],
      failed: [],
    });
    assert.deepEqual(await callAction(agent, "resume", {}), {
      transitioned: ["heartbeat"],
      skipped: ["pulse"],
      failed: [],
    });
    assert.equal(host.find({ name: "heartbeat" }).state !== "maintenance", true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
