import assert from "node:assert/strict";
import { runCommand, splitCommandLine } from "./command.ts";

Deno.test("splitCommandLine splits words as a shell would, without expanding", () => {
  assert.deepEqual(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g $HOME`), [
    "a",
    "b c",
    'd "e"',
    "f g",
    "$HOME",
  ]);
  assert.throws(() => splitCommandLine("echo 'open"), /a ' quote is not closed/);
  assert.throws(() => splitCommandLine("   "), /Cannot run an empty command/);
});

Deno.test("runCommand kills a command that hangs past its timeout", async () => {
  const started = Date.now();
  const result = await runCommand("/usr/bin/sleep 30", { cwd: "/tmp", timeoutMs: 300 });
  assert.ok(Date.now() - started < 5_000);
  assert.equal(result.failure?.kind, "timeout");
  assert.match(result.failure!.message, /ran past its 300 ms timeout and was killed/);
});

Deno.test("runCommand reports a missing program instead of throwing", async () => {
  const result = await runCommand("./no-such-program --flag", { cwd: "/tmp", timeoutMs: 1_000 });
  assert.deepEqual(result.failure, {
    kind: "spawn",
    message: "Cannot run './no-such-program' as it does not exist",
  });
});

Deno.test("runCommand keeps bounded output and the exit code of a command printing garbage", async () => {
  const result = await runCommand("/usr/bin/head -c 100000 /dev/urandom", {
    cwd: "/tmp",
    timeoutMs: 5_000,
    maxOutput: 1_000,
  });
  assert.equal(result.code, 0);
  assert.ok(result.stdout.length <= 1_000 * 3, `kept ${result.stdout.length} characters`);
  assert.equal(result.failure, undefined);
});
