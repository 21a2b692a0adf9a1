import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { Client } from "../client/client.ts";
import { runChorale, spawnChorale } from "../client/_testing.ts";
import type { ClientIdentity } from "../client/types.ts";
import type { Logger } from "../core/log.ts";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { startChoraleServer } from "../tests/harness/chorale_server.ts";
import type { TestPki } from "../tests/harness/pki.ts";
import { type EmulatorPki, makeEmulatorPki } from "./_testing.ts";
import { spawnWatched } from "../tests/harness/process.ts";
import { within } from "../tests/harness/wait.ts";
import { emulatedIdentity, planEmulation, WORKER_PERMISSIONS } from "./mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const INSTANCES = 50;
/** alice may do anything; bob is refused rpcutil and emulated by policy. */
const POLICY = "policy default deny\nallow\tchoria=alice.mcollective\t*\t*\t*\n";
const POLICIES = {
  "rpcutil.policy": POLICY,
  "emulated.policy": POLICY,
  "discovery.policy": "policy default allow\n",
};

/** The emulate task's permission flags from deno.json. */
async function emulateTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
    tasks: Record<string, string>;
  };
  return config.tasks.emulate!.split(/\s+/).filter((w) => w.startsWith("--allow-"));
}

function identityOf(pki: TestPki, cert: { name: string; cert: string; key: string }) {
  return { certname: cert.name, cert: cert.cert, key: cert.key, ca: pki.caPem } as ClientIdentity;
}

/** A logger that counts the client's duplicate-reply drops. */
function countingLogger(): Logger & { duplicates: number } {
  const logger = {
    duplicates: 0,
    debug(message: string) {
      if (message === "dropped a duplicate reply") logger.duplicates++;
    },
    info() {},
    warn() {},
    error() {},
    child: () => logger,
  };
  return logger;
}

/** Writes the emulated servers' configuration: broker, policies, facts and an audit log. */
async function writeEmulatorConfig(pki: EmulatorPki, brokerUrl: string) {
  const dir = join(pki.dir, "emulator");
  await Deno.mkdir(join(dir, "policies"), { recursive: true });
  for (const [name, text] of Object.entries(POLICIES)) {
    await Deno.writeTextFile(join(dir, "policies", name), text);
  }
  const factsFile = join(dir, "facts.yaml");
  await Deno.writeTextFile(factsFile, stringify({ role: "emulated", os: { family: "linux" } }));
  const auditFile = join(dir, "rpcaudit.log");
  const config = join(dir, "server.yaml");
  await Deno.writeTextFile(
    config,
    stringify({
      brokers: [brokerUrl],
      facts: [factsFile],
      policies: { enabled: true, dir: join(dir, "policies") },
      audit: { enabled: true, file: auditFile },
    }),
  );
  return { config, auditFile };
}

Deno.test("emulated servers answer a real client once each, and policy refuses them as it refuses a real server", async (t) => {
  await using pki = await makeEmulatorPki();
  const bob = await pki.issue("client", "bob.mcollective");
  await using broker = await startChoraleBroker({
    pki,
    // Choria's permissions: each emulated server has its own certificate, so its own subject.
    choraleConfig: { permissions: { defaults: "choria" } },
  });
  const { config, auditFile } = await writeEmulatorConfig(pki, broker.url);
  await using real = await startChoraleServer({
    pki,
    identity: "real1.fleet",
    brokerPort: broker.port,
    policies: POLICIES,
  });

  // The CLI exactly as `deno task emulate` runs it.
  const proc = spawnWatched(Deno.execPath(), [
    "run",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    ...await emulateTaskFlags(),
    join(ROOT, "client/main.ts"),
    "emulate",
    "--instances",
    String(INSTANCES),
    "--processes",
    "2",
    "--config",
    config,
    "--ca-dir",
    pki.caDir,
    "--reply-size",
    "100",
  ]);
  try {
    const expected = Array.from({ length: INSTANCES }, (_, i) => emulatedIdentity(i)).sort();
    const logger = countingLogger();
    await using client = await Client.connect({
      brokers: [broker.url],
      identity: identityOf(pki, pki.client),
      logger,
    });
    // Ready when discovery finds every emulated server (and the real one).
    await within(
      (async () => {
        while (true) {
          const found = await client.discover({ timeoutMs: 2_000, windowMs: 300 });
          if (found.nodes.length === INSTANCES + 1) return;
          if (proc.lines.some((l) => l.includes('"failed"'))) {
            throw new Error(proc.lines.join("\n"));
          }
        }
      })(),
      "every emulated server to answer discovery",
      60_000,
    ).catch((error) => {
      throw new Error(`${error.message}; the emulator wrote:\n${proc.lines.join("\n")}`);
    });

    await t.step("discovery and rpcutil ping reach every identity exactly once", async () => {
      const found = await client.discover({
        filter: { fact: [{ fact: "role", operator: "==", value: "emulated" }] },
      });
      assertEquals(found.nodes, expected);
      const set = await client.rpc({ agent: "rpcutil", action: "ping", nodes: found.nodes }).done();
      assertEquals(set.stats.responded, expected);
      assertEquals(set.stats.noResponses, []);
      assertEquals(set.stats.unexpected, []);
      assertEquals(set.stats.ok, INSTANCES);
      assertEquals(set.results.length, INSTANCES);
      assert(set.results.every((r) => r.signed), "every reply is signed by the node");
      assertEquals(logger.duplicates, 0);
    });

    await t.step(
      "the emulated agent replies with the configured size and its identity",
      async () => {
        const nodes = expected.slice(0, 10);
        const set = await client.rpc({ agent: "emulated", action: "generate", nodes }).done();
        assertEquals(set.stats.responded, nodes);
        for (const r of set.results) {
          assertEquals(r.statuscode, 0);
          assertEquals((r.data.message as string).length, 100);
          assertEquals(r.data.identity, r.sender);
        }
        const sized = await client.rpc({
          agent: "emulated",
          action: "generate",
          nodes: [expected[0]!],
          data: { size: 7 },
        }).done();
        assertEquals(sized.results[0]?.data.message, "xxxxxxx");
      },
    );

    await t.step("a fact filter selects one emulated server by its own facts", async () => {
      const found = await client.discover({
        filter: { fact: [{ fact: "emulated_index", operator: "==", value: "7" }] },
      });
      assertEquals(found.nodes, ["emulated-7"]);
    });

    await t.step(
      "a request the policy denies is refused by emulated and real servers alike",
      async () => {
        await using denied = await Client.connect({
          brokers: [broker.url],
          identity: identityOf(pki, bob),
        });
        const nodes = [...expected, real.identity];
        const set = await denied.rpc({ agent: "rpcutil", action: "ping", nodes }).done();
        assertEquals(set.stats.responded, [...nodes].sort());
        assertEquals(set.stats.failed, INSTANCES + 1);
        // The same words, but each names its own policy file.
        const messages = new Set(
          set.results.map((r) =>
            `${r.statuscode} ${r.statusmsg.replace(/ \/\S+\/policies\//, " <dir>/policies/")}`
          ),
        );
        assertEquals(messages.size, 1, `one refusal for all: ${[...messages].join(" | ")}`);
        assertEquals(
          [...messages][0],
          "1 You are not authorized to call this agent or action: Denying based on default policy in <dir>/policies/rpcutil.policy",
        );
      },
    );

    await t.step("the shared audit log records alice's requests and none of bob's", async () => {
      const lines = (await Deno.readTextFile(auditFile)).trim().split("\n").map((l) =>
        JSON.parse(l) as { caller: string; agent: string }
      );
      const pings = lines.filter((l) => l.agent === "rpcutil");
      assertEquals(pings.length, INSTANCES);
      assert(lines.every((l) => l.caller === "choria=alice.mcollective"));
    });
  } finally {
    const status = await proc.stop();
    assertEquals(
      status.code,
      0,
      `the emulator stops cleanly on SIGTERM:\n${proc.lines.join("\n")}`,
    );
  }
});

Deno.test("emulator workers stop by themselves when chorale emulate is killed and the broker is gone", async () => {
  await using pki = await makeEmulatorPki();
  await using broker = await startChoraleBroker({ pki });
  const { config } = await writeEmulatorConfig(pki, broker.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      join(ROOT, "deno.json"),
      ...await emulateTaskFlags(),
      join(ROOT, "client/main.ts"),
      "emulate",
      "--instances",
      "4",
      "--processes",
      "2",
      "--config",
      config,
      "--ca-dir",
      pki.caDir,
      "--json",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const alive = async (pid: number) =>
    (await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" }).output())
      .success;
  let pids: number[] = [];
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    pids = await within(
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`chorale emulate ended before it was ready: ${text}`);
          text += value;
          const ready = text.split("\n").find((l) => l.includes('"event":"ready"'));
          if (ready) return (JSON.parse(ready) as { pids: number[] }).pids;
        }
      })(),
      "chorale emulate to report ready",
      30_000,
    );
    reader.releaseLock();
    assertEquals(pids.length, 2);
    // With the broker gone too, the servers keep retrying: the workers must still leave.
    await broker.stop();
    child.kill("SIGKILL");
    await child.status;
    await within(
      (async () => {
        while ((await Promise.all(pids.map(alive))).some(Boolean)) {
          await new Promise((r) => setTimeout(r, 100));
        }
      })(),
      "the orphaned workers to exit",
      20_000,
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.stdout.cancel().catch(() => {});
    await child.status;
    for (const pid of pids) {
      if (await alive(pid)) Deno.kill(pid, "SIGKILL");
    }
  }
});

Deno.test("an emulator worker stops on SIGTERM when its broker went away while it connected", async () => {
  await using pki = await makeEmulatorPki();
  const broker = await startChoraleBroker({ pki });
  const spec = {
    caDir: pki.caDir,
    brokers: [broker.url],
    first: 0,
    count: 600,
    replySize: 0,
    delayMs: 0,
    concurrency: 64,
    connectTimeoutMs: 120_000,
    logLevel: "error",
  };
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      join(ROOT, "deno.json"),
      ...WORKER_PERMISSIONS,
      join(ROOT, "emulator/worker.ts"),
      "--spec",
      JSON.stringify(spec),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { CHORALE_AUDIT_ENABLED: "false" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    // Some servers are connected and more are connecting: stop the broker now.
    await within(
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) throw new Error("the worker ended early");
          if (/"connected":[1-9]\d/.test(value)) return;
        }
      })(),
      "the first servers to connect",
      30_000,
    );
    await broker.stop();
    await new Promise((r) => setTimeout(r, 500));
    child.kill("SIGTERM");
    const status = await within(child.status, "the worker to exit after SIGTERM", 9_000);
    assertEquals(status.code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await reader.cancel().catch(() => {});
    await child.status;
    await child.stdin.close().catch(() => {});
  }
});

Deno.test("chorale emulate refuses bad flags with a specific message", async (t) => {
  await using pki = await makeEmulatorPki();
  const { config } = await writeEmulatorConfig(pki, "tls://127.0.0.1:1");
  const run = (args: string[]) =>
    runChorale(["emulate", "--config", config, "--ca-dir", pki.caDir, ...args], { cwd: pki.dir });

  await t.step("--instances 0", async () => {
    const r = await run(["--instances", "0"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /'--instances' must be a positive integer: current value is 0/);
  });
  await t.step("--processes above --instances", async () => {
    const r = await run(["--instances", "2", "--processes", "3"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /'--processes' must not exceed '--instances': current value is 3/);
  });
  await t.step("too many servers for the processes", async () => {
    const r = await run(["--instances", "40000", "--processes", "2"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /one process holds at most 18000 connections: use --processes 3/);
  });
  await t.step("a reply size that is not a number", async () => {
    const r = await run(["--instances", "2", "--reply-size", "big"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /'--reply-size' as it must be a whole number: current value is 'big'/);
  });
  await t.step("an unknown log level", async () => {
    const r = await run(["--instances", "2", "--log-level", "loud"]);
    assertEquals(r.code, 2);
    assertMatch(
      r.stderr,
      /'--log-level' as it must be debug, info, warn or error: current value is 'loud'/,
    );
  });
  await t.step("a broker that is not a URL", async () => {
    const r = await run(["--instances", "2", "--broker", "127.0.0.1:4222"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /brokers: "127\.0\.0\.1:4222" is not a broker URL/);
  });
  await t.step("spreading over addresses of a broker that is not on loopback", async () => {
    const r = await run([
      "--instances",
      "2",
      "--broker",
      "tls://broker.example.net:4222",
      "--addresses",
      "2",
    ]);
    assertEquals(r.code, 2);
    assertMatch(
      r.stderr,
      /Cannot spread connections over 2 addresses as the broker is not at 127\.0\.0\.1/,
    );
  });
  await t.step("an unreachable broker", async () => {
    const r = await run(["--instances", "2"]);
    assertEquals(r.code, 6);
    assertMatch(r.stderr, /Cannot reach the broker at 127\.0\.0\.1:1/);
  });
  await t.step("a CA directory without a CA", async () => {
    const r = await runChorale(
      ["emulate", "--instances", "2", "--broker", "tls://127.0.0.1:1", "--ca-dir", pki.dir],
      { cwd: pki.dir },
    );
    assertEquals(r.code, 2);
    assertMatch(
      r.stderr,
      /--ca-dir: cannot open the CA that issues the emulated servers' certificates/,
    );
  });
});

Deno.test("chorale emulate under the chorale task's permissions says to use deno task emulate", async () => {
  await using pki = await makeEmulatorPki();
  // Something that accepts TCP connections, so the check of the broker passes.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `tls://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const r = await spawnChorale(
    ["emulate", "--instances", "1", "--broker", url, "--ca-dir", pki.caDir],
    { cwd: pki.dir, env: { HOME: pki.dir } },
  );
  assertEquals(r.code, 1);
  assertMatch(
    r.stderr,
    /Cannot start emulator processes as this process may not run Deno: run it with --allow-run=deno \(deno task emulate\)/,
  );
});

Deno.test("planEmulation spreads 50,000 servers over processes and loopback addresses", () => {
  const plan = planEmulation({ instances: 50_000, brokers: ["tls://127.0.0.1:4222"] });
  assertEquals(plan.processes, 3);
  assertEquals(plan.brokers, ["tls://127.0.0.1:4222", "tls://127.0.0.2:4222"]);
  assertEquals(plan.slices.map((s) => s.count), [16_667, 16_667, 16_666]);
  assertEquals(plan.slices.at(-1)!.first + plan.slices.at(-1)!.count, 50_000);
  const remote = planEmulation({ instances: 50_000, brokers: ["tls://broker.example.net:4222"] });
  assertEquals(remote.brokers, ["tls://broker.example.net:4222"]);
});
