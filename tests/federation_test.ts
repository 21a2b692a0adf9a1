/**
 * A federation end to end: two separate member networks (east and west, each a Chorale broker
 * with two servers) joined through federation brokers on a third broker (the federation
 * network), and a client there.
 */
import assert from "node:assert/strict";
import { connect } from "nats";
import { main } from "../client/main.ts";
import { Client } from "../client/client.ts";
import type { CliContext } from "../client/cli.ts";
import { startFederationBroker } from "../federation/_testing.ts";
import { freePort } from "../broker/ports.ts";
import { federationCollectiveSubject } from "../core/protocol/subjects.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";
import { startChoraleServer } from "./harness/chorale_server.ts";
import { natsServerPath, startNatsServer } from "./harness/nats_server.ts";
import { makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

const REQ = "bbb95c73eadb41c39f82a7eedffecee1";
const EAST = ["east1", "east2"];
const WEST = ["west1.example.net", "west2.example.net"];
const ALL = [...EAST, ...WEST].sort();
// One process per broker rather than a supervisor with workers: fewer processes on a shared machine.
const ONE_PROCESS = { workers: 1 };
/** Choria's default permissions, with the federation preset for the federation brokers. */
const CHORIA_PERMISSIONS = {
  ...ONE_PROCESS,
  permissions: {
    defaults: "choria",
    identities: [{ match: "/\\.federation$/", preset: "federation" }],
  },
};

Deno.test("a federation of two networks answers through federation brokers", async (t) => {
  await using pki = await makeTestPki();
  const [fedNet, eastNet, westNet] = await Promise.all([
    startChoraleBroker({ pki, choraleConfig: CHORIA_PERMISSIONS }),
    startChoraleBroker({ pki, choraleConfig: CHORIA_PERMISSIONS }),
    startChoraleBroker({ pki, choraleConfig: CHORIA_PERMISSIONS }),
  ]);
  await using _fedNet = fedNet;
  await using _eastNet = eastNet;
  await using westNetDisposal = westNet;
  const servers = await Promise.all([
    ...EAST.map((identity) => startChoraleServer({ pki, identity, brokerPort: eastNet.port })),
    ...WEST.map((identity) => startChoraleServer({ pki, identity, brokerPort: westNet.port })),
  ]);
  await using _servers = {
    async [Symbol.asyncDispose]() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  const members = { east: eastNet.port, west: westNet.port };
  await using fed1 = await startFederationBroker({
    pki,
    identity: "fed1.federation",
    federationPort: fedNet.port,
    members,
  });
  const identity = {
    certname: pki.client.name,
    cert: pki.client.cert,
    key: pki.client.key,
    ca: pki.caPem,
  };
  await using client = await Client.connect({
    brokers: [fedNet.url],
    identity,
    federations: ["east", "west"],
  });

  await t.step("discovery finds every node of both members", async () => {
    const found = await client.discover({ timeoutMs: 3_000, windowMs: 500 });
    assert.deepEqual(found.nodes, ALL);
  });

  await t.step("every node answers a directed RPC and a broadcast one", async () => {
    const direct = await client.rpc({
      agent: "rpcutil",
      action: "ping",
      nodes: ALL,
      timeoutMs: 5_000,
    }).done();
    assert.deepEqual(direct.stats.responded, ALL);
    assert.equal(direct.stats.ok, 4);
    const broadcast = await client.rpc({
      agent: "rpcutil",
      action: "ping",
      nodes: ALL,
      mode: "broadcast",
      timeoutMs: 5_000,
    }).done();
    assert.deepEqual(broadcast.stats.responded, ALL);
    assert.ok(
      await fed1.metric(`chorale_federation_messages_out_total{direction="reply",member="west"}`) >=
        4,
    );
  });

  await t.step("the trace shows the hops both ways with their times", async () => {
    const trace = await client.trace("west2.example.net");
    assert.ok(trace.federated);
    assert.deepEqual(
      trace.steps.map((s) => [s.leg, s.via]),
      [
        ["request", pki.client.name],
        ["request", "fed1.federation (request)"],
        ["node", "west2.example.net"],
        ["reply", "fed1.federation (reply)"],
        ["reply", pki.client.name],
      ],
    );
    assert.equal(trace.steps[1]!.from, `127.0.0.1:${fedNet.port}`);
    assert.equal(trace.steps[1]!.to, `127.0.0.1:${westNet.port}`);
    for (const step of trace.steps.slice(1)) {
      assert.ok(step.transitMs !== null && step.spentMs !== null, JSON.stringify(step));
    }
    assert.ok(trace.roundTripMs > 0 && trace.roundTripMs < 5_000);
  });

  await t.step("chorale federation trace prints the path, with --federations", async () => {
    const out: string[] = [];
    const env: Record<string, string> = {
      CHORALE_BROKERS: fedNet.url,
      CHORALE_CERTIFICATE: pki.client.certFile,
      CHORALE_KEY: pki.client.keyFile,
      CHORALE_CA: pki.caFile,
    };
    const ctx: CliContext = {
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
      env: (name) => env[name],
      cwd: () => pki.dir,
      uid: () => 1000,
      now: () => new Date(),
    };
    const code = await main(["federation", "trace", "east1", "--federations", "east"], ctx);
    const text = out.join("");
    assert.equal(code, 0, text);
    assert.match(text, /Trace of east1 \(request [0-9a-f]{32}\), through federation/);
    assert.match(text, /request\s+fed1\.federation \(request\)/);
    assert.match(text, /reply\s+fed1\.federation \(reply\)/);
    assert.match(text, /Round trip: \d+\.\d{3} ms/);
    out.length = 0;
    // Without the flag the client is not federated, and the federation network has no nodes.
    const direct = await main(["federation", "trace", "east1", "--timeout", "0.5"], ctx);
    assert.equal(direct, 1, out.join(""));
    assert.match(out.join(""), /Cannot trace east1 as it did not answer within 500ms/);
  });

  await t.step("a client inside one member cannot reach the other", async () => {
    await using inside = await Client.connect({ brokers: [eastNet.url], identity });
    const found = await inside.discover({ timeoutMs: 1_000, windowMs: 300 });
    assert.deepEqual(found.nodes, EAST);
    const set = await inside.rpc({
      agent: "rpcutil",
      action: "ping",
      nodes: ["east1", "west1.example.net"],
      timeoutMs: 1_000,
    }).done();
    assert.deepEqual(set.stats.responded, ["east1"]);
    assert.deepEqual(set.stats.noResponses, ["west1.example.net"]);
    // Inside a member the trace goes straight to the node and back.
    const trace = await inside.trace("east1");
    assert.ok(!trace.federated);
    assert.deepEqual(trace.steps.map((s) => [s.leg, s.via]), [
      ["request", pki.client.name],
      ["node", "east1"],
      ["reply", pki.client.name],
    ]);
  });

  await t.step(
    "malformed, unheaded and unknown-collective requests are refused and counted",
    async () => {
      const raw = await connect({
        servers: [fedNet.url],
        tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
      });
      try {
        const transport = (headers: Record<string, unknown>) =>
          JSON.stringify({ protocol: "choria:transport:1", data: "e30=", headers });
        const replyTo = "mcollective.reply.00.11";
        raw.publish("choria.federation.east.federation", "{not json");
        raw.publish("choria.federation.east.federation", transport({ "reply-to": replyTo }));
        raw.publish(
          "choria.federation.east.federation",
          transport({ "reply-to": replyTo, federation: { req: REQ, target: ["ops.node.east1"] } }),
        );
        raw.publish(
          "choria.federation.north.federation",
          transport({
            "reply-to": replyTo,
            federation: { req: REQ, target: ["mcollective.node.n1"] },
          }),
        );
        await raw.flush();
        const errors = (reason: string, member = "east") =>
          fed1.metric(
            `chorale_federation_errors_total{direction="request",member="${member}",reason="${reason}"}`,
          );
        await within(
          (async () => {
            while (
              await errors("malformed") < 1 || await errors("missing_headers") < 1 ||
              await errors("unknown_collective") < 1 ||
              await errors("unknown_collective", "(unknown)") < 1
            ) await new Promise((r) => setTimeout(r, 50));
          })(),
          "the federation broker to count four refusals",
        );
        assert.ok(
          fed1.proc.lines.some((l) =>
            l.includes(
              "Cannot forward a request on choria.federation.north.federation as member collective 'north' is unknown here",
            )
          ),
        );
        assert.ok(
          fed1.proc.lines.some((l) =>
            l.includes("names collective 'ops', which member 'east' does not serve")
          ),
        );
      } finally {
        await raw.close();
      }
      // Still serving.
      const set = await client.rpc({ agent: "rpcutil", action: "ping", nodes: ["east1"] }).done();
      assert.deepEqual(set.stats.responded, ["east1"]);
    },
  );

  await t.step(
    "a second instance shares the work and answers alone when the first dies; a member down leaves only its nodes unanswered",
    async () => {
      await using fed2 = await startFederationBroker({
        pki,
        identity: "fed2.federation",
        federationPort: fedNet.port,
        members,
      });
      const requests = (f: typeof fed1) =>
        Promise.all(
          ["east", "west"].map((m) =>
            f.metric(`chorale_federation_messages_in_total{direction="request",member="${m}"}`)
          ),
        ).then(([a, b]) => a! + b!);
      const before = await requests(fed2);
      for (let i = 0; i < 12; i++) {
        const set = await client.rpc({
          agent: "rpcutil",
          action: "ping",
          nodes: ALL,
          timeoutMs: 5_000,
        }).done();
        assert.deepEqual(set.stats.responded, ALL);
      }
      assert.ok(await requests(fed2) > before, "fed2 took none of the requests");
      await fed1.kill();
      const after = await client.rpc({
        agent: "rpcutil",
        action: "ping",
        nodes: ALL,
        timeoutMs: 5_000,
      }).done();
      assert.deepEqual(after.stats.responded, ALL);
      const trace = await client.trace("east2");
      assert.ok(trace.steps.some((s) => s.via === "fed2.federation (request)"));

      // A member that is down leaves its nodes unanswered while the others answer.
      {
        {
          await westNetDisposal.stop();
          await fed2.proc.waitForLine(
            (l) => l.includes('"message":"member disconnected') && l.includes('"member":"west"'),
            "fed2 to notice that west is down",
          );
          const set = await client.rpc({
            agent: "rpcutil",
            action: "ping",
            nodes: ALL,
            timeoutMs: 1_500,
          }).done();
          assert.deepEqual(set.stats.responded, EAST);
          assert.deepEqual(set.stats.noResponses, WEST);
          assert.ok(
            await fed2.metric(
              `chorale_federation_errors_total{direction="request",member="west",reason="collective_down"}`,
            ) >= 1,
          );
          // It still stops cleanly on SIGTERM, its member's broker gone or not.
          const status = await fed2.stop();
          assert.equal(status.code, 0, "fed2 did not stop by itself on SIGTERM");
          assert.ok(fed2.proc.lines.some((l) => l.includes('"message":"stopped"')));
        }
      }
    },
  );
});

Deno.test("a federation broker started while a member is down serves it once it comes up; one that cannot reach a member takes none of its requests", async () => {
  await using pki = await makeTestPki();
  await using fedNet = await startChoraleBroker({ pki, choraleConfig: ONE_PROCESS });
  const port = await freePort();
  await using fed = await startFederationBroker({
    pki,
    identity: "fed1.federation",
    federationPort: fedNet.port,
    members: { east: port },
    waitForMembers: false,
  });
  await using client = await Client.connect({
    brokers: [fedNet.url],
    identity: {
      certname: pki.client.name,
      cert: pki.client.cert,
      key: pki.client.key,
      ca: pki.caPem,
    },
    federations: ["east"],
  });
  const down = await client.rpc({
    agent: "rpcutil",
    action: "ping",
    nodes: ["east1"],
    timeoutMs: 500,
  }).done();
  assert.deepEqual(down.stats.noResponses, ["east1"]);
  const refused =
    `chorale_federation_errors_total{direction="request",member="east",reason="collective_down"}`;
  assert.equal(await fed.metric(refused), 1);
  assert.equal(await fed.metric(`chorale_federation_member_connected{member="east"}`), 0);

  await using eastNet = await startChoraleBroker({
    pki,
    choraleConfig: { ...ONE_PROCESS, listen: `127.0.0.1:${port}` },
  });
  await using _east1 = await startChoraleServer({
    pki,
    identity: "east1",
    brokerPort: eastNet.port,
  });
  await fed.proc.waitForLine(
    (l) => l.includes('"message":"member connected"') && l.includes('"member":"east"'),
    "the federation broker to reach east once it is up",
  );
  const up = await client.rpc({ agent: "rpcutil", action: "ping", nodes: ["east1"] }).done();
  assert.deepEqual(up.stats.responded, ["east1"]);
  assert.equal(await fed.metric(`chorale_federation_member_connected{member="east"}`), 1);

  // An instance that cannot reach east stays out of east's queue group, so it loses nothing that
  // the instance that can reach east carries.
  await using cutOff = await startFederationBroker({
    pki,
    identity: "fed2.federation",
    federationPort: fedNet.port,
    members: { east: await freePort() },
    waitForMembers: false,
  });
  for (let i = 0; i < 8; i++) {
    const set = await client.rpc({
      agent: "rpcutil",
      action: "ping",
      nodes: ["east1"],
      timeoutMs: 2_000,
    }).done();
    assert.deepEqual(set.stats.responded, ["east1"], `request ${i} was lost`);
  }
  assert.equal(
    await cutOff.metric(`chorale_federation_messages_out_total{direction="request",member="east"}`),
    0,
  );

  // A reply that does not say where it goes is refused on the reply leg, and counted.
  const raw = await connect({
    servers: [eastNet.url],
    tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
  });
  try {
    raw.publish(
      federationCollectiveSubject("east"),
      JSON.stringify({ protocol: "choria:transport:1", data: "e30=", headers: { mc_sender: "x" } }),
    );
    await raw.flush();
  } finally {
    await raw.close();
  }
  await fed.proc.waitForLine(
    (l) =>
      l.includes(
        "Cannot forward a reply from member 'east' from 'x' as its transport has no federation headers",
      ),
    "the federation broker to refuse the reply",
  );
  assert.equal(
    await fed.metric(
      `chorale_federation_errors_total{direction="reply",member="east",reason="missing_headers"}`,
    ),
    1,
  );
});

Deno.test({
  name: "a federation runs over nats-server brokers as well",
  ignore: natsServerPath() === null,
  async fn() {
    await using pki = await makeTestPki();
    // nats-server only knows the certificates that exist when it starts.
    await pki.issue("server", "fed1.federation");
    await pki.issue("server", "east1.example.net");
    await using fedNet = await startNatsServer({ pki });
    await using eastNet = await startNatsServer({ pki });
    await using _east1 = await startChoraleServer({
      pki,
      identity: "east1.example.net",
      brokerPort: eastNet.port,
    });
    await using _fed = await startFederationBroker({
      pki,
      identity: "fed1.federation",
      federationPort: fedNet.port,
      members: { east: eastNet.port },
    });
    await using client = await Client.connect({
      brokers: [fedNet.url],
      identity: {
        certname: pki.client.name,
        cert: pki.client.cert,
        key: pki.client.key,
        ca: pki.caPem,
      },
      federations: ["east"],
    });
    assert.deepEqual((await client.discover({ timeoutMs: 2_000, windowMs: 300 })).nodes, [
      "east1.example.net",
    ]);
    const set = await client.rpc({ agent: "rpcutil", action: "ping", nodes: ["east1.example.net"] })
      .done();
    assert.equal(set.stats.ok, 1);
    const trace = await client.trace("east1.example.net");
    assert.deepEqual(trace.steps.map((s) => s.leg), [
      "request",
      "request",
      "node",
      "reply",
      "reply",
    ]);
  },
});
