import assert from "node:assert/strict";
import { assertActionError, callAction as call } from "./_testing.ts";
import { type CommandResult, type CommandRunner, runCommand } from "./_command.ts";
import { parseServiceName, serviceAgent } from "./service.ts";

/** Whether a process runs; a killed orphan stays a zombie where PID 1 does not reap, so ask ps. */
async function alive(pid: number): Promise<boolean> {
  const ps = await runCommand(["/bin/ps", "-o", "stat=", "-p", String(pid)]);
  return ps.code === 0 && !ps.stdout.trim().startsWith("Z");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const systemdBooted = await exists("/run/systemd/system");
/** A SysV service whose status is harmless to ask for, if this machine has one. */
const sysvService = systemdBooted ? undefined : (
  await Promise.all(
    ["procps", "cron", "dbus", "hwclock.sh"].map(async (name) =>
      await exists(`/etc/init.d/${name}`) ? name : undefined
    ),
  )
).find((name) => name !== undefined);

/**
 * A well-behaved LSB init script for a harmless daemon (`sleep 300`) that keeps its pid file beside
 * itself; `slow` hangs on start, `broken` fails on start.
 */
const DEMO_SCRIPT = `#!/bin/sh
PIDFILE="$0.pid"
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
case "$1" in
  start)
    case "$(basename "$0")" in
      slow) exec sleep 30 ;;
      broken) echo "demo: cannot open /etc/demo.conf" >&2; exit 6 ;;
    esac
    running && exit 0
    sleep 300 </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    echo "Starting demo"
    ;;
  stop)
    running && kill "$(cat "$PIDFILE")"
    rm -f "$PIDFILE"
    echo "Stopping demo"
    ;;
  restart) "$0" stop && "$0" start ;;
  status) running && exit 0; exit 3 ;;
  *) echo "Usage: $0 {start|stop|restart|status}" >&2; exit 2 ;;
esac
`;

/** A temporary init directory with the demo scripts; stops what they started when disposed. */
async function initDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "chorale-initd-" });
  for (const name of ["demo", "slow", "broken"]) {
    await Deno.writeTextFile(`${path}/${name}`, DEMO_SCRIPT);
    await Deno.chmod(`${path}/${name}`, 0o755);
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      await runCommand([`${path}/demo`, "stop"]).catch(() => {});
      await Deno.remove(path, { recursive: true });
    },
  };
}

Deno.test("serviceAgent refuses bad service names before running anything", async () => {
  const ran: string[][] = [];
  const runner: CommandRunner = (argv, options) => {
    ran.push([...argv]);
    return runCommand(argv, options);
  };
  await using dir = await initDir();
  for (const agent of [serviceAgent({ runner }), serviceAgent({ runner, initDir: dir.path })]) {
    for (const action of ["status", "start", "stop", "restart"]) {
      for (
        const name of [
          "cron; reboot",
          "$(id)",
          "`id`",
          "cron|id",
          "-h",
          "--help",
          "--now",
          "cron stop",
          "cron\n",
          "../demo",
          "/etc/init.d/cron",
          ".",
          "..",
          ".hidden",
          "cron!",
          "x".repeat(91),
        ]
      ) {
        await assertActionError(
          call(agent, action, { service: name }),
          4,
          /^Cannot use ".*" as a service name: /s,
        );
      }
      await assertActionError(call(agent, action, {}), 3, /Cannot find the 'service' input/);
      await assertActionError(call(agent, action, { service: ["cron"] }), 4, /must be a string/);
    }
  }
  assert.deepEqual(ran, [], "no program should have run");
});

Deno.test("parseServiceName accepts the names Choria's validator accepts", () => {
  for (
    const name of ["rspec", "rspec-service-1", "rspec.service", "rspec@service", "rspec:service"]
  ) {
    assert.equal(parseServiceName(name), name);
  }
  assert.equal(parseServiceName("hwclock.sh"), "hwclock.sh");
  assert.equal(parseServiceName("getty@tty1.service"), "getty@tty1.service");
});

Deno.test({
  name: "serviceAgent reports the status of a SysV service through service(8)",
  ignore: sysvService === undefined,
  fn: async () => {
    const reply = await call(serviceAgent(), "status", { service: sysvService });
    assert.ok(["running", "stopped"].includes(String(reply.status)), String(reply.status));
    assert.deepEqual(Object.keys(reply), ["status"]);
  },
});

Deno.test({
  name: "serviceAgent reports an unknown SysV service as status 1",
  ignore: systemdBooted,
  fn: async () => {
    await assertActionError(
      call(serviceAgent(), "status", { service: "chorale-no-such-service" }),
      1,
      /^Cannot find service 'chorale-no-such-service': there is no init script \/etc\/init\.d\/chorale-no-such-service$/,
    );
  },
});

Deno.test({
  name: "serviceAgent reports systemctl's error where systemd is not running",
  ignore: systemdBooted || !await exists("/usr/bin/systemctl"),
  fn: async () => {
    await assertActionError(
      call(serviceAgent({ manager: "systemd" }), "status", { service: "cron" }),
      1,
      /^Cannot get the status of 'cron' as systemctl failed with exit code 1: /,
    );
  },
});

Deno.test({
  name: "serviceAgent reports the status of a systemd unit",
  ignore: !systemdBooted,
  fn: async () => {
    const reply = await call(serviceAgent(), "status", { service: "systemd-journald" });
    assert.equal(reply.status, "running");
    await assertActionError(
      call(serviceAgent(), "status", { service: "chorale-no-such-service" }),
      1,
      /^Cannot find service 'chorale-no-such-service'$/,
    );
  },
});

Deno.test("serviceAgent maps systemctl answers to running and stopped", async () => {
  // systemd is not PID 1 on every test machine, so this one replays systemctl's answers.
  const ran: string[][] = [];
  const answers: Record<string, Partial<CommandResult>> = {
    "show --property=LoadState --value -- cron": { stdout: "loaded\n" },
    "is-active -- cron": { stdout: "active\n" },
    "show --property=LoadState --value -- ntp": { stdout: "loaded\n" },
    "is-active -- ntp": { code: 3, stdout: "inactive\n" },
    "show --property=LoadState --value -- nope": { stdout: "not-found\n" },
    "stop -- cron": { code: 1, stderr: "Failed to stop cron.service: Access denied\n" },
  };
  const runner: CommandRunner = (argv) => {
    ran.push([...argv]);
    assert.equal(argv[0], "/usr/bin/systemctl");
    const answer = answers[argv.slice(1).join(" ")];
    assert.ok(answer, `unexpected command: ${argv.join(" ")}`);
    return Promise.resolve({
      code: 0,
      signal: null,
      stdout: "",
      stderr: "",
      truncated: false,
      ...answer,
    });
  };
  const agent = serviceAgent({ runner, manager: "systemd", settleMs: 0 });
  assert.deepEqual(await call(agent, "status", { service: "cron" }), { status: "running" });
  assert.deepEqual(await call(agent, "status", { service: "ntp" }), { status: "stopped" });
  await assertActionError(
    call(agent, "status", { service: "nope" }),
    1,
    /^Cannot find service 'nope'$/,
  );
  await assertActionError(
    call(agent, "start", { service: "cron" }),
    1,
    /^Could not start 'cron': Service is already running$/,
  );
  await assertActionError(
    call(agent, "stop", { service: "cron" }),
    1,
    /^Cannot stop 'cron' as systemctl failed with exit code 1: Failed to stop cron\.service: Access denied$/,
  );
  assert.deepEqual(ran.at(-1), ["/usr/bin/systemctl", "stop", "--", "cron"]);
});

Deno.test("serviceAgent starts, restarts and stops a SysV service", async () => {
  await using dir = await initDir();
  const agent = serviceAgent({ initDir: dir.path });
  assert.deepEqual(await call(agent, "status", { service: "demo" }), { status: "stopped" });
  await assertActionError(
    call(agent, "stop", { service: "demo" }),
    1,
    /^Could not stop 'demo': Service is already stopped$/,
  );

  assert.deepEqual(await call(agent, "start", { service: "demo" }), { status: "running" });
  const pid = Number(await Deno.readTextFile(`${dir.path}/demo.pid`));
  assert.ok(await alive(pid), "the daemon should run");
  await assertActionError(
    call(agent, "start", { service: "demo" }),
    1,
    /^Could not start 'demo': Service is already running$/,
  );

  assert.deepEqual(await call(agent, "restart", { service: "demo" }), { status: "running" });
  const restarted = Number(await Deno.readTextFile(`${dir.path}/demo.pid`));
  assert.notEqual(restarted, pid, "restart should start a new daemon");

  assert.deepEqual(await call(agent, "stop", { service: "demo" }), { status: "stopped" });
  assert.ok(!await alive(restarted), "the daemon should have stopped");
  assert.deepEqual(await call(agent, "status", { service: "demo" }), { status: "stopped" });
});

Deno.test("serviceAgent reports a failing init script as status 1", async () => {
  await using dir = await initDir();
  const agent = serviceAgent({ initDir: dir.path });
  await assertActionError(
    call(agent, "start", { service: "broken" }),
    1,
    /^Cannot start 'broken' as its init script failed with exit code 6: demo: cannot open \/etc\/demo\.conf$/,
  );
  await assertActionError(
    call(agent, "status", { service: "missing" }),
    1,
    /^Cannot find service 'missing': there is no init script /,
  );
});

Deno.test("serviceAgent stops a hung init script when the action times out", async () => {
  await using dir = await initDir();
  const agent = serviceAgent({ initDir: dir.path });
  const started = performance.now();
  await assertActionError(
    call(agent, "start", { service: "slow" }, AbortSignal.timeout(300)),
    1,
    /^Cannot start 'slow' as it was aborted$/,
  );
  assert.ok(performance.now() - started < 5000, "the hung script should be stopped promptly");
});

Deno.test("serviceAgent covers every action of its DDL", () => {
  const agent = serviceAgent();
  assert.equal(agent.ddl.metadata.name, "service");
  assert.deepEqual(
    Object.keys(agent.actions).sort(),
    agent.ddl.actions.map((a) => a.action).sort(),
  );
});
