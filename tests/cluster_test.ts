/**
 * Brokers in a cluster: routes over mutual TLS speaking nats-server's route protocol, between
 * Chorale brokers and with Debian's nats-server in the same cluster. Messages cross exactly once,
 * queue groups deliver to one member cluster-wide, gossip completes the mesh, and a broker that
 * dies leaves the others serving.
 */
import assert from "node:assert/strict";
import * as tls from "node:tls";
import { connect, type NatsConnection } from "nats";
import { chorale, type Member, natsServer, routesUp, routez } from "./harness/cluster.ts";
import { natsServerPath } from "./harness/nats_server.ts";
import { makeTestPki, type TestPki } from "./harness/pki.ts";
import { freePort } from "../broker/ports.ts";
import { within } from "./harness/wait.ts";

const WAIT_MS = 10_000;

type Client = NatsConnection & AsyncDisposable;

async function client(pki: TestPki, member: Member): Promise<Client> {
  const nc = await within(
    connect({
      servers: `127.0.0.1:${member.port}`,
      tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
      reconnect: false,
      timeout: WAIT_MS,
    }),
    `a client to connect to ${member.kind} on ${member.port}`,
    WAIT_MS + 1_000,
  );
  return Object.assign(nc, {
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await nc.close();
    },
  });
}

/**
 * Publishes on `from` until a subscriber on `to` hears one: interest has crossed the cluster.
 * Returns once a probe arrived; probes do not count in later tallies (their own subject).
 */
async function interestCrossed(from: Client, to: Client, subject: string): Promise<void> {
  const sub = to.subscribe(`probe.${subject}`, { max: 1 });
  await to.flush();
  const got = (async () => {
    for await (const _ of sub) return;
  })();
  const timer = setInterval(() => from.publish(`probe.${subject}`), 50);
  try {
    await within(got, `interest in ${subject} to reach the publisher's broker`, WAIT_MS);
  } finally {
    clearInterval(timer);
  }
}

/** Counts messages on `subject` (optionally in a queue group) until disposed. */
function counter(nc: Client, subject: string, queue?: string) {
  const sub = nc.subscribe(subject, queue === undefined ? {} : { queue });
  const state = { count: 0 };
  void (async () => {
    for await (const _ of sub) state.count++;
  })();
  return state;
}

async function settle(ms = 300): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("Cluster of two Chorale brokers delivers across the route exactly once", async () => {
  await using pki = await makeTestPki();
  const [portA, portB] = [await freePort(), await freePort()];
  await using a = await chorale(pki, portA, []);
  await using b = await chorale(pki, portB, [portA]);
  await routesUp(a, 1);
  await routesUp(b, 1);
  await using pub = await client(pki, a);
  await using subs = await client(pki, b);
  const plain = counter(subs, "orders.*");
  const exact = counter(subs, "orders.new");
  await interestCrossed(pub, subs, "orders");
  for (let i = 0; i < 200; i++) pub.publish("orders.new", `order ${i}`);
  await pub.flush();
  await within(
    (async () => {
      while (plain.count < 200 || exact.count < 200) await settle(20);
    })(),
    "200 messages on each subscription across the route",
    WAIT_MS,
  );
  await settle();
  assert.equal(plain.count, 200);
  assert.equal(exact.count, 200);

  // Request and reply across the route, both ways.
  const service = subs.subscribe("svc.echo");
  void (async () => {
    for await (const m of service) m.respond(m.data);
  })();
  await interestCrossed(pub, subs, "svc");
  const reply = await pub.request("svc.echo", "ping", { timeout: WAIT_MS });
  assert.equal(reply.string(), "ping");

  const info = await routez(a);
  assert.equal(info.num_routes, 1);
  const [route] = info.routes as { did_solicit: boolean; out_msgs: number }[];
  assert.equal(route!.did_solicit, false);
  assert.ok(route!.out_msgs > 199);
});

Deno.test("Cluster delivers each queue group message to one member cluster-wide", async () => {
  await using pki = await makeTestPki();
  const [portA, portB] = [await freePort(), await freePort()];
  await using a = await chorale(pki, portA, []);
  await using b = await chorale(pki, portB, [portA]);
  await routesUp(b, 1);
  await using onA = await client(pki, a);
  await using onB = await client(pki, b);
  await using pub = await client(pki, b);
  const members = [
    counter(onA, "jobs", "workers"),
    counter(onA, "jobs", "workers"),
    counter(onB, "jobs", "workers"),
    counter(onB, "jobs", "workers"),
  ];
  await onA.flush();
  await onB.flush();
  await routesUp(a, 1);
  // The queue group's weight reaches B once A's subscriptions have crossed.
  await interestCrossed(pub, onA, "jobs-ready");
  const total = () => members.reduce((n, m) => n + m.count, 0);
  for (let i = 0; i < 400; i++) pub.publish("jobs", `job ${i}`);
  await pub.flush();
  await within(
    (async () => {
      while (total() < 400) await settle(20);
    })(),
    "400 jobs shared by the queue group",
    WAIT_MS,
  );
  await settle();
  assert.equal(total(), 400, "every job went to exactly one member");
  assert.ok(members[0]!.count + members[1]!.count > 0, "members on the other broker got some");
  assert.ok(members[2]!.count + members[3]!.count > 0, "members on the same broker got some");
});

Deno.test({
  name: "Mixed cluster of two Chorale brokers and nats-server completes the mesh by gossip",
  ignore: natsServerPath() === null,
  async fn() {
    await using pki = await makeTestPki();
    const [portN, portA, portB] = [await freePort(), await freePort(), await freePort()];
    await using n = await natsServer(pki, portN, []);
    // A and B know only nats-server; nats-server gossips each to the other.
    await using a = await chorale(pki, portA, [portN]);
    await using b = await chorale(pki, portB, [portN]);
    await routesUp(a, 2);
    await routesUp(b, 2);
    await using onN = await client(pki, n);
    await using onA = await client(pki, a);
    await using onB = await client(pki, b);
    const counts = {
      n: counter(onN, "fleet.>"),
      a: counter(onA, "fleet.>"),
      b: counter(onB, "fleet.>"),
    };
    for (const [from, to] of [[onA, onB], [onB, onA], [onN, onA], [onA, onN], [onB, onN]]) {
      await interestCrossed(from!, to!, "ready");
    }
    // Every broker publishes 100; every subscriber must see all 300 exactly once.
    for (let i = 0; i < 100; i++) {
      onN.publish("fleet.n", "x");
      onA.publish("fleet.a", "x");
      onB.publish("fleet.b", "x");
    }
    await Promise.all([onN.flush(), onA.flush(), onB.flush()]);
    await within(
      (async () => {
        while (counts.n.count < 300 || counts.a.count < 300 || counts.b.count < 300) {
          await settle(20);
        }
      })(),
      "300 messages at each broker's subscriber",
      WAIT_MS,
    );
    await settle();
    assert.deepEqual([counts.n.count, counts.a.count, counts.b.count], [300, 300, 300]);
  },
});

Deno.test("Cluster keeps serving when one broker dies", async () => {
  await using pki = await makeTestPki();
  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
  await using a = await chorale(pki, portA, []);
  await using b = await chorale(pki, portB, [portA]);
  await using c = await chorale(pki, portC, [portA]);
  await routesUp(b, 2); // B learned C through A's gossip
  await routesUp(c, 2);
  await using onB = await client(pki, b);
  await using onC = await client(pki, c);
  await interestCrossed(onB, onC, "before");
  await a.stop();
  // B and C have their own route: traffic between them does not need A.
  await routesUp(b, 1);
  const got = counter(onC, "after");
  await interestCrossed(onB, onC, "after-probe");
  for (let i = 0; i < 50; i++) onB.publish("after", "x");
  await onB.flush();
  await within(
    (async () => {
      while (got.count < 50) await settle(20);
    })(),
    "50 messages between the surviving brokers",
    WAIT_MS,
  );
});

Deno.test("Route listener refuses a certificate that is not a cluster peer", async () => {
  await using pki = await makeTestPki();
  const port = await freePort();
  await using a = await chorale(pki, port, []);
  // A client certificate from the right CA is not a broker.
  const closed = await within(
    new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: "127.0.0.1",
        port,
        ca: pki.caPem,
        cert: pki.client.cert,
        key: pki.client.key,
      });
      let text = "";
      socket.on("data", (d) => text += d);
      socket.on("error", () => {});
      socket.on("close", () => resolve(text));
    }),
    "the broker to drop a client certificate on the route port",
    WAIT_MS,
  );
  assert.ok(!closed.includes("INFO"), "no INFO for a refused peer");
  const metrics = await (await fetch(`http://127.0.0.1:${a.monitorPort}/metrics`)).text();
  assert.match(metrics, /chorale_broker_route_peers_refused_total 1/);
  assert.equal((await routez(a)).num_routes, 0);
});

Deno.test("Route with another cluster name or malformed operations is refused", async () => {
  await using pki = await makeTestPki();
  const port = await freePort();
  await using a = await chorale(pki, port, []);
  const talk = (lines: string) =>
    within(
      new Promise<string>((resolve) => {
        const socket = tls.connect({
          host: "127.0.0.1",
          port,
          ca: pki.caPem,
          cert: pki.broker.cert,
          key: pki.broker.key,
        }, () => socket.write(lines));
        let text = "";
        socket.on("data", (d) => text += d);
        socket.on("error", () => {});
        socket.on("close", () => resolve(text));
      }),
      "the broker to close a bad route",
      WAIT_MS,
    );
  const wrongName = await talk('CONNECT {"cluster":"elsewhere"}\r\n');
  assert.match(
    wrongName,
    /-ERR 'Rejecting connection, cluster name "elsewhere" does not match "chorale"'/,
  );
  const garbage = await talk('INFO {"server_id":"X1"}\r\nRS+ $G\r\n');
  assert.match(garbage, /-ERR 'Invalid Arguments'/);
  const notJson = await talk("INFO {oops\r\n");
  assert.match(notJson, /-ERR 'Invalid INFO'/);
  // The broker still serves clients.
  await using nc = await client(pki, a);
  await nc.flush();
});
