/**
 * A fleet over a cluster of three brokers, two Chorale and one nats-server: servers spread over
 * them answer an RPC from a client on any broker, and when one broker dies the other brokers'
 * nodes keep answering while its own node fails over to a broker it lists second.
 */
import assert from "node:assert/strict";
import { RpcClient } from "../client/rpc_client.ts";
import { freePort } from "../broker/ports.ts";
import { chorale, type Member, natsServer, routesUp } from "./harness/cluster.ts";
import { natsServerPath } from "./harness/nats_server.ts";
import { makeTestPki, type TestPki } from "./harness/pki.ts";
import { type RunningServer, startChoraleServer } from "./harness/chorale_server.ts";

const NODES = ["on-a.example.net", "on-b.example.net", "on-n.example.net"];

async function rpcPing(pki: TestPki, member: Member, expect: number): Promise<string[]> {
  await using client = await RpcClient.connect([`127.0.0.1:${member.port}`], {
    certname: pki.client.name,
    cert: pki.client.cert,
    key: pki.client.key,
    ca: pki.caPem,
  });
  const replies = await client.request({
    agent: "rpcutil",
    action: "ping",
    expect,
    timeoutMs: 8_000,
  });
  assert.ok(replies.every((r) => r.statuscode === 0 && r.signed));
  return replies.map((r) => r.sender);
}

/** The broker port a server is connected to now, from its log. */
function brokerPortOf(server: RunningServer): number {
  let port = 0;
  for (const line of server.proc.lines) {
    const entry = JSON.parse(line) as {
      message: string;
      server?: string;
      event?: string;
      data?: string;
    };
    if (entry.message === "connected") port = Number(entry.server?.split(":").pop());
    if (entry.message === "broker connection" && entry.event === "reconnect") {
      port = Number(entry.data?.split(":").pop());
    }
  }
  return port;
}

Deno.test({
  name: "Fleet over a mixed cluster answers an RPC from any broker and survives a broker's death",
  ignore: natsServerPath() === null,
  async fn() {
    await using pki = await makeTestPki();
    // nats-server maps certificates to users when it starts: issue the nodes' certificates first.
    for (const node of NODES) await pki.issue("server", node);
    const [portA, portB, portN] = [await freePort(), await freePort(), await freePort()];
    await using n = await natsServer(pki, portN, []);
    await using a = await chorale(pki, portA, [portN]);
    await using b = await chorale(pki, portB, [portN]);
    await routesUp(a, 2);
    await routesUp(b, 2);
    const members = [a, b, n];
    const servers: RunningServer[] = [];
    try {
      for (const [i, identity] of NODES.entries()) {
        // Each node lists its own broker first (brokers are tried in order) and a spare.
        const own = members[i]!;
        const spare = members[(i + 1) % members.length]!;
        servers.push(
          await startChoraleServer({
            pki,
            identity,
            brokerPort: own.port,
            config: { brokers: [`tls://127.0.0.1:${own.port}`, `tls://127.0.0.1:${spare.port}`] },
          }),
        );
      }
      for (const member of members) {
        assert.deepEqual(await rpcPing(pki, member, 3), NODES, `a client on ${member.kind}`);
      }

      // Stop the broker that on-b is on: its own (B) unless, on a loaded machine, its first
      // handshake timed out and it went on to its second.
      const victim = members.find((m) => m.port === brokerPortOf(servers[1]!))!;
      const survivors = members.filter((m) => m !== victim);
      await victim.stop();
      // The other brokers' nodes answer at once; the victim's fail over to their other broker.
      const moved = servers.filter((s) => brokerPortOf(s) === victim.port);
      assert.ok(moved.some((s) => s.identity === NODES[1]), "on-b was on the stopped broker");
      const others = NODES.filter((node) => !moved.some((s) => s.identity === node));
      assert.deepEqual(
        await rpcPing(pki, survivors[0]!, others.length),
        others,
        "the other brokers' nodes",
      );
      for (const server of moved) {
        await server.proc.waitForLine(
          (l) => l.includes('"message":"broker connection"') && l.includes('"event":"reconnect"'),
          `${server.identity} to fail over from the stopped broker`,
          15_000,
        );
      }
      for (const member of survivors) {
        assert.deepEqual(
          await rpcPing(pki, member, 3),
          NODES,
          `every node, asked on ${member.kind}`,
        );
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  },
});
