/**
 * The client library against a live fleet: a broker with Choria's client permissions and three
 * servers, once with Chorale's broker and once with nats-server, with the same assertions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL as toFileUrl } from "node:url";
import { stringify } from "yaml";
import rpcutilJson from "../agents/ddl/rpcutil.json" with { type: "json" };
import packageJson from "../agents/ddl/package.json" with { type: "json" };
import { parseDdl } from "../agents/ddl.ts";
import type { CertFiles } from "../tests/harness/pki.ts";
import type { BrokerKind } from "../tests/harness/types.ts";
import { brokerAvailable, FLEET_NODES, startFleet } from "./_fleet_testing.ts";
import { Client } from "./client.ts";
import { INVENTORY_SCHEMA } from "./discovery_sources.ts";
import {
  CertificateRejectedError,
  ClientStateError,
  ConnectError,
  DiscoveryError,
  InputError,
} from "./errors.ts";
import { generateClient, typedAgent } from "./typed.ts";

const ALL = FLEET_NODES.map((n) => n.identity);
const GHOST = "ghost.example.net";
const rpcutilDdl = parseDdl(rpcutilJson);
const packageDdl = parseDdl(packageJson);

for (const kind of ["chorale", "nats-server"] as BrokerKind[]) {
  Deno.test({
    name: `[${kind}] Client discovers, calls, batches, limits and counts replies`,
    ignore: !brokerAvailable(kind),
    async fn(t) {
      await using fleet = await startFleet(kind);
      await using client = await Client.connect({ brokers: [fleet.url], identity: fleet.identity });
      const dir = await Deno.makeTempDir({ prefix: "chorale-client-test-" });
      try {
        await t.step("broadcast discovery finds every server", async () => {
          const found = await client.discover({ windowMs: 300 });
          assert.deepEqual(found.nodes, ALL);
          assert.ok(found.elapsedMs < 2_000, `discovery took ${found.elapsedMs}ms`);
        });

        await t.step("broadcast discovery with a fact filter finds one server", async () => {
          const found = await client.discover({
            filter: { fact: [{ fact: "os.family", operator: "==", value: "freebsd" }] },
          });
          assert.deepEqual(found.nodes, ["n3.example.net"]);
        });

        await t.step("broadcast discovery that matches nothing ends at the timeout", async () => {
          const found = await client.discover({
            filter: { cf_class: ["nothing"] },
            timeoutMs: 500,
          });
          assert.deepEqual(found.nodes, []);
          assert.ok(found.elapsedMs >= 450, `ended after ${found.elapsedMs}ms`);
        });

        await t.step("flatfile discovery reads names and applies identity filters", async () => {
          const file = join(dir, "nodes.txt");
          await Deno.writeTextFile(file, `# the web tier\nn1.example.net\n\n${GHOST}  # gone\n`);
          assert.deepEqual((await client.discover({ method: "flatfile", source: file })).nodes, [
            GHOST,
            "n1.example.net",
          ]);
          const json = join(dir, "nodes.json");
          await Deno.writeTextFile(json, JSON.stringify(ALL));
          const found = await client.discover({
            method: "flatfile",
            source: json,
            filter: { identity: ["/n[23]/"] },
          });
          assert.deepEqual(found.nodes, ["n2.example.net", "n3.example.net"]);
          await assert.rejects(
            client.discover({ method: "flatfile", source: join(dir, "missing.txt") }),
            DiscoveryError,
          );
        });

        await t.step("inventory discovery applies the filter to the file's nodes", async () => {
          const file = join(dir, "inventory.yaml");
          await Deno.writeTextFile(
            file,
            stringify({
              $schema: INVENTORY_SCHEMA,
              groups: [{ name: "databases", filter: { classes: ["mysql"] } }],
              nodes: [
                ...FLEET_NODES.map((n) => ({
                  name: n.identity,
                  collectives: ["mcollective"],
                  facts: n.facts,
                  classes: n.classes,
                  agents: ["rpcutil", "discovery"],
                })),
                {
                  name: "other.example.net",
                  collectives: ["other"],
                  facts: { role: "web" },
                  classes: [],
                  agents: ["rpcutil"],
                },
              ],
            }),
          );
          const web = await client.discover({
            method: "inventory",
            source: file,
            filter: { fact: [{ fact: "role", operator: "==", value: "web" }] },
          });
          assert.deepEqual(web.nodes, ["n1.example.net", "n3.example.net"]);
          const group = await client.discover({
            method: "inventory",
            source: file,
            filter: { identity: ["group:databases"] },
          });
          assert.deepEqual(group.nodes, ["n2.example.net"]);
          const { results, stats } = await client.rpc({
            agent: "rpcutil",
            action: "ping",
            filter: { compound: [[{ expr: "memory > 1500" }]] },
            discovery: { method: "inventory", source: file },
          }).done();
          assert.deepEqual(stats.discovered, ["n1.example.net", "n2.example.net"]);
          assert.deepEqual(results.map((r) => r.sender), stats.discovered);
        });

        await t.step("rpc to every node gives signed results and stats", async () => {
          const call = client.rpc({ agent: "rpcutil", action: "ping", ddl: rpcutilDdl });
          const streamed: string[] = [];
          for await (const result of call) streamed.push(result.sender);
          const { results, stats } = await call.done();
          assert.deepEqual(streamed.sort(), ALL);
          assert.deepEqual(results.map((r) => r.sender), ALL);
          assert.ok(results.every((r) => r.statuscode === 0 && r.signed));
          assert.ok(results.every((r) => typeof r.data.pong === "number"));
          assert.deepEqual(stats.discovered, ALL);
          assert.deepEqual(stats.responded, ALL);
          assert.equal(stats.ok, 3);
          assert.equal(stats.failed, 0);
          assert.deepEqual(stats.noResponses, []);
          assert.deepEqual(stats.unexpected, []);
          assert.ok(stats.discoveryMs > 0 && stats.totalMs >= stats.discoveryMs);
          // Everyone answered, so the call ended long before its 4 s timeout.
          assert.ok(stats.repliesMs < 2_000, `replies took ${stats.repliesMs}ms`);
        });

        await t.step("rpc requiring signed replies accepts the servers' signatures", async () => {
          const { stats } = await client.rpc({
            agent: "rpcutil",
            action: "get_fact",
            data: { fact: "role" },
            nodes: ALL,
            requireSignedReplies: true,
          }).done();
          assert.deepEqual(stats.responded, ALL);
        });

        await t.step("a failing action counts as failed", async () => {
          const { results, stats } = await client.rpc({
            agent: "package",
            action: "status",
            data: { package: "bash; reboot" },
            nodes: ["n1.example.net"],
          }).done();
          assert.equal(results[0]?.statuscode, 4);
          assert.equal(stats.failed, 1);
          assert.equal(stats.ok, 0);
        });

        await t.step("batches of one are spaced by the batch sleep", async () => {
          const call = client.rpc({
            agent: "rpcutil",
            action: "ping",
            nodes: ALL,
            batchSize: 1,
            batchSleepMs: 300,
          });
          const order: string[] = [];
          for await (const result of call) order.push(result.sender);
          const { results, stats } = await call.done();
          assert.deepEqual(order, ALL, "batches go in node order, one at a time");
          // Each reply is timed from its own batch's publish, not the first one.
          assert.ok(results.every((r) => r.elapsedMs < 300), JSON.stringify(results));
          assert.deepEqual(stats.responded, ALL);
          assert.ok(stats.repliesMs >= 600, `replies took ${stats.repliesMs}ms`);
          assert.ok(stats.totalMs >= 600, `the call took ${stats.totalMs}ms`);
        });

        await t.step("a limit of one picks the same node for the same seed", async () => {
          const pick = async (limit: number | `${number}%`, seed: number) => {
            const { stats } = await client.rpc({
              agent: "rpcutil",
              action: "ping",
              limit,
              limitSeed: seed,
              discovery: { windowMs: 200 },
            }).done();
            assert.deepEqual(stats.responded, stats.discovered);
            return stats.discovered;
          };
          const one = await pick(1, 7);
          assert.equal(one.length, 1);
          assert.deepEqual(await pick(1, 7), one);
          const half = await pick("50%", 11);
          assert.equal(half.length, 2);
          assert.deepEqual(await pick("50%", 11), half);
          const seeds = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => pick(1, seed)));
          assert.ok(
            new Set(seeds.map((s) => s[0])).size > 1,
            "different seeds pick different nodes",
          );
        });

        await t.step("a directed request to a missing node is a no-response", async () => {
          const started = performance.now();
          const { results, stats } = await client.rpc({
            agent: "rpcutil",
            action: "ping",
            nodes: ["n1.example.net", GHOST],
            timeoutMs: 800,
          }).done();
          assert.deepEqual(results.map((r) => r.sender), ["n1.example.net"]);
          assert.deepEqual(stats.noResponses, [GHOST]);
          assert.deepEqual(stats.responded, ["n1.example.net"]);
          assert.ok(performance.now() - started >= 750, "waited for the timeout");
        });

        await t.step("replies from nodes not targeted are unexpected", async () => {
          const { results, stats } = await client.rpc({
            agent: "rpcutil",
            action: "ping",
            nodes: ["n1.example.net", GHOST],
            mode: "broadcast",
            timeoutMs: 800,
          }).done();
          assert.deepEqual(results.map((r) => r.sender), ALL);
          assert.deepEqual(stats.responded, ["n1.example.net"]);
          assert.deepEqual(stats.unexpected, ["n2.example.net", "n3.example.net"]);
          assert.deepEqual(stats.noResponses, [GHOST]);
          assert.equal(stats.ok, 3);
        });

        await t.step("invalid inputs throw before anything is sent", async () => {
          const before = await Promise.all(
            fleet.servers.map((s) => Deno.readTextFile(s.auditFile).catch(() => "")),
          );
          let error: unknown;
          try {
            client.rpc({
              agent: "package",
              action: "status",
              data: { package: "bash; reboot", extra: 1 },
              ddl: packageDdl,
            });
          } catch (e) {
            error = e;
          }
          assert.ok(error instanceof InputError, String(error));
          assert.deepEqual(error.problems.map((p) => [p.input, p.statuscode]), [
            ["package", 4],
            ["extra", 4],
          ]);
          assert.match(error.message, /Cannot call package#status as its inputs are invalid: /);
          assert.throws(
            () => client.rpc({ agent: "package", action: "nope", ddl: packageDdl }),
            (e: unknown) => e instanceof InputError && e.problems[0]?.statuscode === 2,
          );
          assert.throws(
            () => client.rpc({ agent: "rpcutil", action: "ping", limit: 0 }),
            TypeError,
          );
          // Nothing reached a server: their audit logs did not grow.
          await new Promise((resolve) => setTimeout(resolve, 200));
          const after = await Promise.all(
            fleet.servers.map((s) => Deno.readTextFile(s.auditFile).catch(() => "")),
          );
          assert.deepEqual(after.map((a) => a.length), before.map((b) => b.length));
        });

        await t.step("a typed agent client calls with checked inputs", async () => {
          const rpcutil = typedAgent(client, {
            metadata: { name: "rpcutil", timeout: 2 },
            actions: [{
              action: "get_fact",
              input: { fact: { type: "string", optional: false, maxlength: 100 } },
              output: { fact: { type: "string" }, value: {} },
            }],
          });
          const { results } = await rpcutil.get_fact({ fact: "role" }, { nodes: ALL }).done();
          assert.deepEqual(results.map((r) => r.data.value), ["web", "db", "web"]);
          const fact: string | undefined = results[0]?.data.fact;
          assert.equal(fact, "role");
          assert.throws(() => rpcutil.get_fact({ fact: 1 as unknown as string }), InputError);
        });

        await t.step("a generated client module calls the fleet", async () => {
          const file = join(dir, "rpcutil_client.ts");
          const from = new URL("./mod.ts", import.meta.url).href;
          await Deno.writeTextFile(file, generateClient(rpcutilDdl, { importFrom: from }));
          const generated = await import(toFileUrl(file).href);
          const rpcutil = generated.rpcutilClient(client);
          const { stats } = await rpcutil.ping(undefined, { nodes: ALL }).done();
          assert.deepEqual(stats.responded, ALL);
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      await client.close();
      await assert.rejects(
        client.rpc({ agent: "rpcutil", action: "ping", nodes: ALL }).done(),
        ClientStateError,
      );
    },
  });

  Deno.test({
    name: `[${kind}] Client connect reports unreachable brokers and refused certificates`,
    ignore: !brokerAvailable(kind),
    async fn(t) {
      await using fleet = await startFleet(kind, { servers: false });
      const { pki } = fleet;

      await t.step("an unreachable broker is a ConnectError", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = listener.addr.port;
        listener.close();
        await assert.rejects(
          Client.connect({ brokers: [`tls://127.0.0.1:${port}`], identity: fleet.identity }),
          (e: unknown) =>
            e instanceof ConnectError && /nothing accepts connections/.test(e.message),
        );
      });

      await t.step("a broker that never speaks is a ConnectError after the timeout", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const accepted: Deno.Conn[] = [];
        const accepting = (async () => {
          for await (const conn of listener) accepted.push(conn);
        })();
        try {
          await assert.rejects(
            Client.connect({
              brokers: [`127.0.0.1:${listener.addr.port}`],
              identity: fleet.identity,
              connectTimeoutMs: 300,
            }),
            (e: unknown) => e instanceof ConnectError && /within 300ms/.test(e.message),
          );
        } finally {
          listener.close();
          await accepting.catch(() => {});
          for (const conn of accepted) conn.close();
        }
      });

      const refused: [string, CertFiles][] = [
        ["certificate from a foreign CA", await pki.foreign()],
        ["expired certificate", await pki.expired()],
      ];
      for (const [what, cert] of refused) {
        await t.step(`a client ${what} is refused by the broker`, async () => {
          await assert.rejects(
            Client.connect({
              brokers: [fleet.url],
              identity: { certname: cert.name, cert: cert.cert, key: cert.key, ca: pki.caPem },
            }),
            (e: unknown) =>
              e instanceof CertificateRejectedError && e.side === "broker" &&
              e.message.includes(cert.name),
          );
        });
      }

      await t.step("a broker certificate from another CA is refused by the client", async () => {
        const foreign = await pki.foreign();
        await assert.rejects(
          Client.connect({
            brokers: [fleet.url],
            identity: { ...fleet.identity, ca: foreign.cert },
          }),
          (e: unknown) => e instanceof CertificateRejectedError && e.side === "client",
        );
      });

      await t.step("a good client still connects afterwards", async () => {
        await using client = await Client.connect({
          brokers: [fleet.url],
          identity: fleet.identity,
        });
        assert.equal(client.certname, "alice.mcollective");
      });
    },
  });
}
