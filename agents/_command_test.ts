import assert from "node:assert/strict";
import { CommandAbortedError, CommandError, PINNED_ENV, runCommand } from "./_command.ts";

Deno.test("runCommand passes arguments verbatim without a shell", async () => {
  const hostile = "$(touch /tmp/chorale-pwned); `id` | cat > /dev/null && echo ok";
  const result = await runCommand(["/bin/echo", hostile, "*"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${hostile} *\n`);
  assert.equal(result.truncated, false);
});

Deno.test("runCommand reports a non-zero exit and stderr without throwing", async () => {
  const result = await runCommand(["/bin/sh", "-c", "echo oops >&2; exit 7"]);
  assert.equal(result.code, 7);
  assert.equal(result.stdout, "");
  assert.equal(result.stderr, "oops\n");
});

Deno.test("runCommand pins the environment and working directory", async () => {
  Deno.env.set("CHORALE_LEAK_CHECK", "leaked");
  try {
    const result = await runCommand(["/usr/bin/env"]);
    const env = Object.fromEntries(
      result.stdout.trim().split("\n").map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
    assert.deepEqual(env, { ...PINNED_ENV });
    const pwd = await runCommand(["/bin/pwd"]);
    assert.equal(pwd.stdout, "/\n");
    const extra = await runCommand(["/usr/bin/env"], { env: { LC_ALL: "C.UTF-8" } });
    assert.match(extra.stdout, /^LC_ALL=C\.UTF-8$/m);
  } finally {
    Deno.env.delete("CHORALE_LEAK_CHECK");
  }
});

Deno.test("runCommand caps captured output and drains the rest", async () => {
  const result = await runCommand(["/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"], {
    maxOutputBytes: 1000,
  });
  assert.equal(result.code, 0);
  assert.equal(result.stdout.length, 1000);
  assert.equal(result.truncated, true);
});

Deno.test("runCommand kills the program when the signal aborts", async () => {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("action timed out")), 200);
  try {
    await assert.rejects(
      runCommand(["/bin/sleep", "30"], { signal: controller.signal }),
      (error: unknown) => {
        assert.ok(error instanceof CommandAbortedError);
        assert.equal(error.name, "CommandAbortedError");
        assert.match(error.message, /^Cannot finish '\/bin\/sleep' as the action was aborted/);
        assert.equal(error.partial?.signal, "SIGTERM");
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
  } finally {
    clearTimeout(timer);
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `sleep 30 should stop within 5s of the abort, took ${elapsed}ms`);
});

Deno.test("runCommand escalates to SIGKILL when SIGTERM is ignored", async () => {
  const started = performance.now();
  await assert.rejects(
    runCommand(["/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"], {
      signal: AbortSignal.timeout(300),
      killGraceMs: 200,
    }),
    (error: unknown) => {
      assert.ok(error instanceof CommandAbortedError);
      assert.equal(error.partial?.signal, "SIGKILL");
      assert.equal(error.partial?.stdout, "ready\n");
      return true;
    },
  );
  assert.ok(performance.now() - started < 5000, "SIGKILL should follow the grace period");
});

Deno.test("runCommand refuses to start when the signal is already aborted", async () => {
  await assert.rejects(
    runCommand(["/bin/true"], { signal: AbortSignal.abort() }),
    CommandAbortedError,
  );
});

Deno.test("runCommand does not wait for a grandchild holding stdout", async () => {
  const started = performance.now();
  const result = await runCommand(["/bin/sh", "-c", "sleep 3 & echo started"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "started\n");
  assert.ok(performance.now() - started < 2000, "the call should return before the grandchild");
});

Deno.test("runCommand throws CommandError for a missing program", async () => {
  await assert.rejects(runCommand(["/nonexistent/chorale-program"]), (error: unknown) => {
    assert.ok(error instanceof CommandError);
    assert.equal(error.name, "CommandError");
    assert.match(error.message, /^Cannot run '\/nonexistent\/chorale-program': /);
    assert.ok(error.cause !== undefined);
    return true;
  });
  await assert.rejects(runCommand([]), /Cannot run a command as 'argv' is empty/);
});
