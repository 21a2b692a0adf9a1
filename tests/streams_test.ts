/**
 * Streams end to end: Chorale's broker with Choria permissions plus the stream store's rules,
 * the store as its own process, the registration data adapter, and three servers that register
 * and emit lifecycle events; then registry discovery, `chorale events tail`, `chorale inventory`
 * for an offline node and `chorale fleet`, all through the CLI.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import AjvDraft04 from "ajv-draft-04";
import { stringify } from "yaml";
import { runChorale, spawnChorale } from "../client/_testing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import { DataAdapter } from "../streams/adapter.ts";
import { StoreClient } from "../streams/api.ts";
import { connectAs, startStoreProcess } from "../streams/_testing.ts";
import { streamsPermissionRules } from "../streams/permissions.ts";
import { REGISTRATION_STREAM } from "../streams/service.ts";
import { StoreApiTarget } from "../streams/targets.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";
import { startChoraleServer } from "./harness/chorale_server.ts";
import { makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";
import { callerId, lifecycleSubject, replyPrefix } from "../core/protocol/subjects.ts";

const SCHEMA = new URL(
  "../../shared/choria/schemas/choria/adapters/choria_streams/v1/output.json",
  import.meta.url,
);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  return await within(
    (async () => {
      while (true) {
        const value = await fn().catch(() => undefined);
        if (value !== undefined) return value;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    what,
    ms,
  );
}

Deno.test("servers' registration and lifecycle events are kept by the store and read back through the CLI", async () => {
  await using pki = await makeTestPki();
  const admin = "ops.mcollective";
  await pki.issue("client", admin);
  await using broker = await startChoraleBroker({
    pki,
    choraleConfig: {
      permissions: {
        defaults: "choria",
        identities: streamsPermissionRules({
          store: "streams.test",
          adapter: "adapter.test",
          readers: admin,
        }),
      },
    },
  });
  const work = await Deno.makeTempDir({ prefix: "chorale-streams-e2e-" });
  try {
    await using store = await startStoreProcess(pki, {
      identity: "streams.test",
      brokerPort: broker.port,
      dir: join(work, "store"),
    });
    const adapterNc = await connectAs(pki, "server", "adapter.test", broker.port);
    const adapter = new DataAdapter({
      name: "registration",
      connection: adapterNc,
      ingest: {
        topic: "mcollective.broadcast.agent.registration",
        protocol: "request",
        verifier: new CertificateVerifier({ ca: pki.caPem }),
        maxBytes: 256 * 1024,
      },
      output: { topic: "choria.registration.%s" },
      target: new StoreApiTarget(new StoreClient(adapterNc)),
    });
    await adapter.start();
    const reader = await connectAs(pki, "client", admin, broker.port, {
      inboxPrefix: replyPrefix("mcollective", callerId(admin)),
    });
    const api = new StoreClient(reader);
    try {
      const nodes = [
        { identity: "web1.test", facts: { role: "web", dc: "east" } },
        { identity: "web2.test", facts: { role: "web", dc: "west" } },
        { identity: "db1.test", facts: { role: "db", dc: "east" } },
      ];
      const servers = await Promise.all(nodes.map((n) =>
        startChoraleServer({
          pki,
          identity: n.identity,
          brokerPort: broker.port,
          facts: n.facts,
          classes: n.identity.startsWith("db") ? ["mysql"] : ["nginx"],
          config: { registration: { interval: "1m", splay: 0 } },
        })
      ));
      const [web1, web2, db1] = servers;
      try {
        await until("three nodes in the registration stream", async () => {
          const all = await api.discover({});
          return all.length === 3 ? all : undefined;
        });
        assertEquals(
          await api.discover({
            filter: { fact: [{ fact: "role", operator: "==", value: "web" }] },
          }),
          ["web1.test", "web2.test"],
        );
        assertEquals(await api.discover({ filter: { cf_class: ["mysql"] } }), ["db1.test"]);

        // Adapter output is Choria's format (time as the RFC 3339 string go-choria really sends).
        const schema = JSON.parse(await Deno.readTextFile(SCHEMA));
        schema.properties.time = { type: "string" };
        const validate = new AjvDraft04.default({ strict: false, allErrors: true }).compile(schema);
        const { messages } = await api.fetch(REGISTRATION_STREAM);
        assertEquals(messages.length, 3);
        for (const m of messages) {
          const output = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, string>;
          assert(validate(output), JSON.stringify(validate.errors));
          assert(Number.isFinite(Date.parse(output.time ?? "")));
          assertEquals(m.subject, `choria.registration.${output.sender}`);
        }

        // The CLI as a configured operator.
        const dir = join(work, "cli");
        await Deno.mkdir(dir);
        const cert = await pki.issue("client", admin);
        await Deno.writeTextFile(
          join(dir, "chorale.yaml"),
          stringify({
            brokers: [`tls://127.0.0.1:${broker.port}`],
            security: {
              provider: "file",
              certificate: cert.certFile,
              key: cert.keyFile,
              ca: pki.caFile,
            },
          }),
        );
        const cli = (args: string[]) => runChorale(args, { cwd: dir });
        const found = await cli(["discover", "--dm", "registry", "-F", "dc=east"]);
        assertEquals(found.code, 0, found.stderr);
        assertEquals(found.stdout.trim().split("\n"), ["db1.test", "web1.test"]);

        const byClass = await cli(["discover", "--dm", "inventory", "-C", "mysql"]);
        assertEquals(byClass.stdout.trim(), "db1.test", byClass.stderr);
        // Any fleet command discovers through the store: rpc asks just the nodes it found.
        const ping = await cli([
          "rpc",
          "rpcutil",
          "ping",
          "--dm",
          "registry",
          "-F",
          "role=web",
          "--jsonl",
        ]);
        assertEquals(ping.code, 0, ping.stderr);
        const senders = ping.stdout.trim().split("\n").map((l) => JSON.parse(l).sender)
          .filter((s) => typeof s === "string").sort();
        assertEquals(senders, ["web1.test", "web2.test"], ping.stdout);

        // db1 stops: its shutdown is kept, and its inventory is still there.
        await db1!.stop();
        await until("db1's shutdown event", async () => {
          const r = await cli([
            "events",
            "tail",
            "--since",
            "1h",
            "--type",
            "shutdown",
            "--no-follow",
          ]);
          return r.stdout.includes("db1.test") ? r : undefined;
        });
        const tail = await cli(["events", "tail", "--since", "1h", "--no-follow"]);
        assertEquals(tail.code, 0, tail.stderr);
        const lines = tail.stdout.trim().split("\n");
        assertEquals(lines.filter((l) => / startup /.test(l)).length, 3, tail.stdout);
        assert(lines.some((l) => / shutdown .*db1\.test/.test(l)), tail.stdout);
        const inventory = await cli(["inventory", "db1.test", "--store"]);
        assertEquals(inventory.code, 0, inventory.stderr);
        assert(/Last seen: \d{4}-\d\d-\d\dT.* ago\)/.test(inventory.stdout), inventory.stdout);
        assert(inventory.stdout.includes("role: db"), inventory.stdout);
        // Without --store it asks the node first, then says when it was last seen.
        const offline = await cli(["inventory", "db1.test", "--timeout", "1"]);
        assertEquals(offline.code, 0, offline.stderr);
        assert(offline.stderr.includes("db1.test did not answer: showing its last registration"));
        assert(offline.stdout.includes("Last seen:"), offline.stdout);
        if (Deno.env.get("CHORALE_SHOW_STREAMS_OUTPUT")) {
          for (
            const args of [["fleet", "--fact", "role"], [
              "discover",
              "--dm",
              "registry",
              "-F",
              "dc=east",
            ]]
          ) {
            console.log(`$ chorale ${args.join(" ")}\n${(await cli(args)).stdout}`);
          }
          console.log(`${tail.stdout}\n${offline.stderr}${offline.stdout}`);
        }
        // With exactly `deno task chorale`'s permissions, as a user runs it.
        const fleet = await spawnChorale(["fleet", "--json", "--fact", "role"], { cwd: dir });
        assertEquals(fleet.code, 0, fleet.stderr);
        const summary = JSON.parse(fleet.stdout);
        assertEquals(summary.nodes, 3);
        assertEquals(summary.stopped.map((s: { identity: string }) => s.identity), ["db1.test"]);
        assertEquals(summary.facts.role, [{ value: "web", nodes: 2 }, { value: "db", nodes: 1 }]);

        // Bad input is counted, never stored, and nothing breaks.
        const rogue = await connectAs(pki, "server", "rogue.test", broker.port);
        try {
          rogue.publish(lifecycleSubject("startup", "server"), "{not json");
          rogue.publish(
            lifecycleSubject("startup", "server"),
            JSON.stringify({ protocol: "io.choria.lifecycle.v1.startup", id: "x", identity: "n" }),
          );
          rogue.publish("mcollective.broadcast.agent.registration", "garbage");
          rogue.publish("mcollective.broadcast.agent.registration", "x".repeat(300 * 1024));
          await rogue.flush();
        } finally {
          await rogue.close();
        }
        await until("the bad events to be counted", async () => {
          const stats = await api.stats();
          return stats.invalid >= 2 ? stats : undefined;
        });
        await until(
          "the bad registrations to be counted",
          () => Promise.resolve(adapter.stats().invalid >= 2 ? true : undefined),
        );
        assertEquals((await api.discover({})).length, 3);

        // Only authorised identities may read: a plain client is refused by the broker.
        const plain = await connectAs(pki, "client", "bob.mcollective", broker.port, {
          inboxPrefix: replyPrefix("mcollective", callerId("bob.mcollective")),
        });
        try {
          await rejects(
            new StoreClient(plain, { timeoutMs: 1_000 }).discover({}),
            /Permissions Violation for Publish to "chorale.streams.api.read.discover"/,
          );
        } finally {
          await plain.close();
        }
        void web1;
        void web2;
        void store;
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    } finally {
      await adapter.close(500);
      await adapterNc.close();
      await reader.close();
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
