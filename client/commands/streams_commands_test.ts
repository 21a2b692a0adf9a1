import * as assert from "node:assert/strict";
import { runChorale } from "../_testing.ts";

Deno.test("streams commands refuse bad arguments with exit 2 before connecting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-streams-cli-" });
  try {
    const dm = await runChorale(["discover", "--dm", "nope"], { cwd: dir });
    assert.equal(dm.code, 2);
    assert.match(
      dm.stderr,
      /Cannot discover with method 'nope': use broadcast, inventory, registry/,
    );
    const since = await runChorale(["events", "tail", "--since", "yesterday"], { cwd: dir });
    assert.equal(since.code, 2);
    assert.match(since.stderr, /Cannot use 'yesterday' as a start: give a duration such as 90s/);
    const type = await runChorale(["events", "tail", "--type", "reboot"], { cwd: dir });
    assert.equal(type.code, 2);
    assert.match(type.stderr, /Give one of startup, shutdown, alive/);
    const fleet = await runChorale(["fleet", "--stale", "soon"], { cwd: dir });
    assert.equal(fleet.code, 2);
    assert.match(fleet.stderr, /Cannot use 'soon' as a start/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streams commands without a configuration say what is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-streams-cli-" });
  try {
    const result = await runChorale(["fleet"], { cwd: dir, env: { HOME: dir } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /'brokers' is empty/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
