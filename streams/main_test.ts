import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { startChoraleBroker } from "../tests/harness/chorale_broker.ts";
import { taskPermissions } from "../tests/harness/permissions.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import { spawnWatched } from "../tests/harness/process.ts";
import { within } from "../tests/harness/wait.ts";
import { connectAs, registrationPayload, startStoreProcess } from "./_testing.ts";
import { REGISTRATION_STREAM, startStoreService } from "./service.ts";

const STORE_MAIN = new URL("./main.ts", import.meta.url).pathname;
const ADAPTER_MAIN = new URL("./adapter_main.ts", import.meta.url).pathname;

async function run(task: string, main: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...await taskPermissions(task), main, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { CHORALE_BROKERS: "" },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("deno task store and deno task adapter report every configuration problem with exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-streams-main-" });
  try {
    const file = join(dir, "bad.yaml");
    await Deno.writeTextFile(file, "dir: ''\nmetrics_port: 99999\n");
    const store = await run("store", STORE_MAIN, ["--config", file]);
    assertEquals(store.code, 2);
    for (
      const p of ["'brokers' must list", "'security.key' is required", "'metrics_port'", "'dir'"]
    ) {
      assert(store.stderr.includes(p), store.stderr);
    }
    const adapter = await run("adapter", ADAPTER_MAIN, ["--config", join(dir, "missing.yaml")]);
    assertEquals(adapter.code, 2);
    assert(adapter.stderr.includes("cannot read"), adapter.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second store process on a held directory exits 1 saying so", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const dir = await Deno.makeTempDir({ prefix: "chorale-streams-held-" });
  try {
    await using _first = await startStoreProcess(pki, {
      identity: "streams.test",
      brokerPort: broker.port,
      dir,
    });
    const second = await run("store", STORE_MAIN, ["--config", join(dir, "store.yaml")]);
    assertEquals(second.code, 1);
    assert(second.stderr.includes("another process holds it"), second.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("deno task adapter stores registration in the store and stops on SIGTERM", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const dir = await Deno.makeTempDir({ prefix: "chorale-adapter-main-" });
  const storeCert = await pki.issue("server", "streams.test");
  const adapterCert = await pki.issue("server", "adapter.test");
  const node = await connectAs(pki, "server", "n1.test", broker.port);
  try {
    await using service = await startStoreService({
      dir: join(dir, "store"),
      servers: [`127.0.0.1:${broker.port}`],
      tls: { ca: pki.caPem, cert: storeCert.cert, key: storeCert.key },
    });
    const config = join(dir, "adapter.yaml");
    await Deno.writeTextFile(
      config,
      stringify({
        brokers: [`tls://127.0.0.1:${broker.port}`],
        security: { certificate: adapterCert.certFile, key: adapterCert.keyFile, ca: pki.caFile },
        adapters: [{
          name: "registration",
          ingest: { topic: "mcollective.broadcast.agent.registration", protocol: "request" },
          stream: { topic: "choria.registration.%s" },
          target: { type: "store" },
        }],
      }),
    );
    const proc = spawnWatched(Deno.execPath(), [
      "run",
      ...await taskPermissions("adapter"),
      ADAPTER_MAIN,
      "--config",
      config,
    ]);
    try {
      await proc.waitForLine((l) => l.includes("adapter started"), "the adapter to start");
      node.publish(
        "mcollective.broadcast.agent.registration",
        await registrationPayload(pki, "n1.test"),
      );
      await within(
        (async () => {
          while (service.store.fetch(REGISTRATION_STREAM).length === 0) {
            await new Promise((r) => setTimeout(r, 50));
          }
        })(),
        "the registration in the store",
      );
      assertEquals(
        service.store.fetch(REGISTRATION_STREAM).map((m) => m.subject),
        ["choria.registration.n1.test"],
      );
    } finally {
      const status = await proc.stop();
      assertEquals(status.code, 0, proc.lines.join("\n"));
      assert(proc.lines.some((l) => l.includes("adapter stopped") && l.includes('"stored":1')));
    }
  } finally {
    await node.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
