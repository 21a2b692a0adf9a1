/**
 * End to end: a broker and three servers on loopback, driven with signed requests: discovery with
 * every filter kind, rpcutil, the package agent on a real package, bad inputs, policy denials,
 * and the lifecycle and registration messages the servers publish. The same suite runs with
 * Chorale's broker (Choria's default permissions) and with nats-server.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type Msg } from "nats";
import { decodeLifecycleEvent } from "../server/lifecycle.ts";
import { decodeRegistration } from "../server/registration.ts";
import { brokerFactories } from "./harness/brokers.ts";
import { type RunningServer, startChoraleServer } from "./harness/chorale_server.ts";
import { makeTestPki } from "./harness/pki.ts";
import { RpcClient } from "../client/rpc_client.ts";
import type { BrokerKind } from "./harness/types.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";

const NODES = [
  {
    identity: "n1.example.net",
    facts: { os: { family: "linux" }, role: "web", memory: 2048 },
    classes: ["apache", "base"],
  },
  {
    identity: "n2.example.net",
    facts: { os: { family: "linux" }, role: "db", memory: 8192 },
    classes: ["mysql", "base"],
  },
  {
    identity: "n3.example.net",
    facts: { os: { family: "freebsd" }, role: "web", memory: 1024 },
    classes: ["base"],
  },
];
const OBSERVER = "observer.mcollective";

for (const kind of ["chorale", "nats-server"] as BrokerKind[]) {
  const factory = brokerFactories[kind];
  Deno.test({
    name:
      `[${kind}] Servers answer signed requests, filter, validate, authorize and announce themselves`,
    ignore: factory === null,
    async fn(t) {
      await using pki = await makeTestPki();
      // nats-server only knows the certificates that exist when it starts.
      for (const node of NODES) await pki.issue("server", node.identity);
      const observerCert = await pki.issue("client", OBSERVER);
      await using broker = await factory!({
        pki,
        choraleConfig: {
          permissions: {
            defaults: "choria",
            identities: [{ match: OBSERVER, subscribe: { allow: [">"] }, publish: { allow: [] } }],
          },
        },
      });
      const observer = await connect({
        servers: `127.0.0.1:${broker.port}`,
        tls: { ca: pki.caPem, cert: observerCert.cert, key: observerCert.key },
        reconnect: false,
      });
      const events: Msg[] = [];
      const registrations: Msg[] = [];
      observer.subscribe("choria.lifecycle.event.>", { callback: (_e, m) => events.push(m) });
      observer.subscribe("mcollective.broadcast.agent.registration", {
        callback: (_e, m) => registrations.push(m),
      });
      await observer.flush();

      const servers: RunningServer[] = [];
      try {
        for (const node of NODES) {
          servers.push(
            await startChoraleServer({
              pki,
              brokerPort: broker.port,
              ...node,
              ...(node.identity === "n1.example.net"
                ? {
                  policies: {
                    "package.policy": "policy default deny\n",
                    "rpcutil.policy": "policy default allow\n",
                    "discovery.policy": "policy default allow\n",
                  },
                  config: { registration: { interval: "1s", splay: "0s" } },
                }
                : {}),
            }),
          );
        }
        await using client = await RpcClient.connect([`127.0.0.1:${broker.port}`], {
          certname: pki.client.name,
          cert: pki.client.cert,
          key: pki.client.key,
          ca: pki.caPem,
        });
        const senders = (replies: { sender: string }[]) => replies.map((r) => r.sender);
        const all = NODES.map((n) => n.identity);

        await t.step("discovery ping reaches every node with a signed reply", async () => {
          const replies = await client.request({ agent: "discovery", action: "ping", expect: 3 });
          assert.deepEqual(senders(replies), all);
          assert.ok(
            replies.every((r) => r.statuscode === 0 && r.signed && r.data.message === "pong"),
          );
        });

        await t.step(
          "filters select nodes by fact, class, identity, agent and compound",
          async () => {
            const ask = async (filter: Record<string, unknown>, expect: number) =>
              senders(
                await client.request({
                  agent: "discovery",
                  action: "ping",
                  filter,
                  expect,
                  timeoutMs: expect === 3 ? 5_000 : 1_500,
                }),
              );
            assert.deepEqual(
              await ask({ fact: [{ fact: "role", operator: "==", value: "web" }] }, 2),
              ["n1.example.net", "n3.example.net"],
            );
            assert.deepEqual(
              await ask({ fact: [{ fact: "memory", operator: ">=", value: "2048" }] }, 2),
              ["n1.example.net", "n2.example.net"],
            );
            assert.deepEqual(
              await ask({ fact: [{ fact: "os.family", operator: "==", value: "freebsd" }] }, 1),
              ["n3.example.net"],
            );
            assert.deepEqual(await ask({ cf_class: ["mysql"] }, 1), ["n2.example.net"]);
            assert.deepEqual(await ask({ cf_class: ["/^apa/"] }, 1), ["n1.example.net"]);
            assert.deepEqual(await ask({ identity: ["/n[12]\\./"] }, 2), [
              "n1.example.net",
              "n2.example.net",
            ]);
            assert.deepEqual(await ask({ agent: ["package"] }, 3), all);
            assert.deepEqual(
              await ask({ compound: [[{ expr: "role == 'web' and memory > 1500" }]] }, 1),
              ["n1.example.net"],
            );
            assert.deepEqual(await ask({ cf_class: ["nothing"] }, 0), []);
          },
        );

        await t.step("rpcutil ping and inventory answer directed requests", async () => {
          const [ping] = await client.request({
            agent: "rpcutil",
            action: "ping",
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(ping?.sender, "n2.example.net");
          assert.equal(typeof ping?.data.pong, "number");
          const [inventory] = await client.request({
            agent: "rpcutil",
            action: "inventory",
            node: "n2.example.net",
            expect: 1,
          });
          assert.ok((inventory?.data.agents as string[]).includes("package"));
          assert.deepEqual([...(inventory?.data.classes as string[])].sort(), ["base", "mysql"]);
          const [fact] = await client.request({
            agent: "rpcutil",
            action: "get_fact",
            data: { fact: "role" },
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(fact?.data.value, "db");
        });

        await t.step("every rpcutil action answers as its DDL says", async () => {
          const ask = async (action: string, data: Record<string, unknown> = {}) =>
            (await client.request({
              agent: "rpcutil",
              action,
              data,
              node: "n2.example.net",
              expect: 1,
            }))[0];
          for (
            const action of [
              "agent_inventory",
              "collective_info",
              "daemon_stats",
              "inventory",
              "ping",
            ]
          ) {
            const reply = await ask(action);
            assert.equal(reply?.statuscode, 0, `${action}: ${reply?.statusmsg}`);
          }
          assert.equal(
            (await ask("get_config_item", { item: "identity" }))?.data.value,
            "n2.example.net",
          );
          assert.equal((await ask("get_fact", { fact: "os.family" }))?.data.value, "linux");
          const facts = await ask("get_facts", { facts: "role, memory" });
          assert.deepEqual(facts?.data.values, { role: "db", memory: 8192 });
          const collectives = await ask("collective_info");
          assert.equal(collectives?.data.main_collective, "mcollective");
          // Chorale has no data plugins: get_data refuses, as go-choria does for an unknown source.
          assert.equal((await ask("get_data", { source: "none" }))?.statuscode, 1);
        });

        await t.step("package status reports a real installed package", async () => {
          const [status] = await client.request({
            agent: "package",
            action: "status",
            data: { package: "bash" },
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(status?.statuscode, 0, status?.statusmsg);
          assert.equal(status?.data.name, "bash");
          assert.notEqual(status?.data.ensure, "absent");
        });

        await t.step("bad inputs and unknown actions get their status codes", async () => {
          const [unsafe] = await client.request({
            agent: "package",
            action: "status",
            data: { package: "bash; reboot" },
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(unsafe?.statuscode, 4);
          const [missing] = await client.request({
            agent: "package",
            action: "status",
            data: {},
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(missing?.statuscode, 3);
          const [unknown] = await client.request({
            agent: "rpcutil",
            action: "reboot",
            node: "n2.example.net",
            expect: 1,
          });
          assert.equal(unknown?.statuscode, 2);
        });

        await t.step(
          "a node whose policy denies the agent answers status 1 and audits nothing for it",
          async () => {
            const replies = await client.request({
              agent: "package",
              action: "status",
              data: { package: "bash" },
              expect: 3,
            });
            const n1 = replies.find((r) => r.sender === "n1.example.net");
            assert.equal(n1?.statuscode, 1);
            assert.match(n1?.statusmsg ?? "", /not authorized/);
            assert.ok(
              replies.filter((r) => r.sender !== "n1.example.net").every((r) => r.statuscode === 0),
            );
            const audit = await Deno.readTextFile(servers[0]!.auditFile);
            assert.ok(!audit.includes('"agent":"package"'));
            assert.ok(audit.includes('"agent":"rpcutil"') || audit.includes('"agent":"discovery"'));
          },
        );

        await t.step(
          "startup events, registration and a shutdown event are published",
          async () => {
            const deadline = Date.now() + 5_000;
            while (registrations.length === 0 && Date.now() < deadline) {
              await new Promise((r) => setTimeout(r, 100));
            }
            const startups = events.map((m) => decodeLifecycleEvent(m.data).event).filter((e) =>
              e.type === "startup"
            );
            assert.deepEqual(startups.map((e) => e.identity).sort(), all);
            assert.ok(registrations.length > 0, "no registration from n1");
            const registration = decodeRegistration(registrations[0]!.data, { verifier: null });
            assert.ok(JSON.stringify(registration).includes("n1.example.net"));
            await servers[2]!.stop();
            const shutdown = events.map((m) => decodeLifecycleEvent(m.data).event).find((e) =>
              e.type === "shutdown"
            );
            assert.equal(shutdown?.identity, "n3.example.net");
          },
        );
      } finally {
        await Promise.allSettled(servers.map((s) => s.stop()));
        await observer.close();
      }
    },
  });
}

Deno.test("A server survives a broker restart: it reconnects, resubscribes and answers again", async () => {
  await using pki = await makeTestPki();
  const first = await startChoraleBroker({ pki });
  const port = first.port;
  await using server = await startChoraleServer({
    pki,
    brokerPort: port,
    identity: "n1.example.net",
  });
  const identity = {
    certname: pki.client.name,
    cert: pki.client.cert,
    key: pki.client.key,
    ca: pki.caPem,
  };
  const ping = async () => {
    await using client = await RpcClient.connect([`127.0.0.1:${port}`], identity);
    return await client.request({
      agent: "rpcutil",
      action: "ping",
      node: "n1.example.net",
      expect: 1,
      timeoutMs: 2_000,
    });
  };
  assert.equal((await ping()).length, 1);
  await first.stop();
  await using _second = await startChoraleBroker({
    pki,
    choraleConfig: { listen: `127.0.0.1:${port}` },
  });
  const deadline = Date.now() + 15_000;
  let replies: Awaited<ReturnType<typeof ping>> = [];
  while (replies.length === 0 && Date.now() < deadline) {
    replies = await ping().catch(() => []);
  }
  assert.equal(
    replies.length,
    1,
    `no reply within 15 s of the restart; server log:\n${server.proc.lines.slice(-5).join("\n")}`,
  );
  assert.ok(
    server.proc.lines.some((l) => l.includes('"event":"reconnect"')),
    "the server logged its reconnect",
  );
});

Deno.test("A server serves its counters as Prometheus metrics on a localhost port", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const metricsPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using _server = await startChoraleServer({
    pki,
    brokerPort: broker.port,
    identity: "n1.example.net",
    config: { metrics_port: metricsPort },
  });
  await using client = await RpcClient.connect([`127.0.0.1:${broker.port}`], {
    certname: pki.client.name,
    cert: pki.client.cert,
    key: pki.client.key,
    ca: pki.caPem,
  });
  assert.equal(
    (await client.request({ agent: "rpcutil", action: "ping", node: "n1.example.net", expect: 1 }))
      .length,
    1,
  );
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(text, /^chorale_server_requests_replies_total 1$/m);
  assert.match(text, /^chorale_server_connected 1$/m);
  assert.match(text, /^chorale_server_certificate_expiry_seconds \d{10}$/m);
  const missing = await fetch(`http://127.0.0.1:${metricsPort}/nothing`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("A server loads an external agent from its agents directory and answers with it", async () => {
  await using pki = await makeTestPki();
  await using broker = await startChoraleBroker({ pki });
  const agentsDir = await Deno.makeTempDir({ prefix: "chorale-agents-" });
  try {
    const fixtures = new URL("../agents/testdata/external/", import.meta.url).pathname;
    await Deno.copyFile(`${fixtures}echo`, `${agentsDir}/echo`);
    await Deno.copyFile(`${fixtures}echo.json`, `${agentsDir}/echo.json`);
    await Deno.chmod(`${agentsDir}/echo`, 0o755);
    await Deno.copyFile(`${fixtures}hang`, `${agentsDir}/hang`);
    await Deno.copyFile(`${fixtures}hang.json`, `${agentsDir}/hang.json`);
    await Deno.chmod(`${agentsDir}/hang`, 0o755);
    await using server = await startChoraleServer({
      pki,
      brokerPort: broker.port,
      identity: "n1.example.net",
      config: { agents_dir: agentsDir, agents_poll_interval: "1s" },
      extraPermissions: [`--allow-run=${agentsDir}/echo,${agentsDir}/hang`],
    });
    await server.proc.waitForLine(
      (l) =>
        l.includes('"message":"external agents"') && l.includes('"echo"') && l.includes('"hang"'),
      "the server to load the echo agent",
    );
    await using client = await RpcClient.connect([`127.0.0.1:${broker.port}`], {
      certname: pki.client.name,
      cert: pki.client.cert,
      key: pki.client.key,
      ca: pki.caPem,
    });
    let replies: Awaited<ReturnType<typeof client.request>> = [];
    const deadline = Date.now() + 10_000;
    while (replies.length === 0 && Date.now() < deadline) {
      replies = await client.request({
        agent: "echo",
        action: "echo",
        data: { message: "hello; $(reboot)" },
        node: "n1.example.net",
        expect: 1,
        timeoutMs: 1_000,
      });
    }
    assert.equal(replies.length, 1, "the external agent never answered");
    assert.equal(replies[0]?.statuscode, 0, replies[0]?.statusmsg);
    assert.ok(JSON.stringify(replies[0]?.data).includes("hello; $(reboot)"));
    // An action still running at its DDL timeout (5 s) is answered 'Aborted' and its program killed.
    const started = Date.now();
    const [hung] = await client.request({
      agent: "hang",
      action: "run",
      data: { pidfile: `${agentsDir}/hang.pid` },
      node: "n1.example.net",
      expect: 1,
      timeoutMs: 10_000,
    });
    assert.equal(hung?.statuscode, 1, hung?.statusmsg);
    assert.match(hung?.statusmsg ?? "", /timed out|Aborted/);
    assert.ok(Date.now() - started < 9_000);
  } finally {
    await Deno.remove(agentsDir, { recursive: true }).catch(() => {});
  }
});
