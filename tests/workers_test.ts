/**
 * `deno task broker --workers N`: several broker processes on one client port, joined by internal
 * routes. Clients spread over the workers; messages, queue groups and permissions behave as on one
 * broker; a worker killed with SIGKILL is restarted and its clients come back.
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { choraleBrokerConfig } from "./harness/chorale_broker.ts";
import { startBroker, type StartedBrokerProcess } from "./harness/broker_process.ts";
import { makeTestPki, type TestPki } from "./harness/pki.ts";
import { taskPermissions } from "./harness/permissions.ts";
import { within } from "./harness/wait.ts";
import { chorale, routesUp } from "./harness/cluster.ts";
import { freePort } from "../broker/ports.ts";
import { automaticWorkers, WORKER_PERMISSIONS } from "../broker/workers.ts";

const WAIT_MS = 15_000;

async function startWorkers(pki: TestPki, count: number): Promise<StartedBrokerProcess> {
  const config = {
    ...choraleBrokerConfig({
      pki,
      permissions: { "mallory.mcollective": { publish: { deny: ["orders.>"] } } },
    }),
    monitor: "127.0.0.1:0",
  };
  return await startBroker({ config, flags: ["--workers", String(count)], waitForMonitor: false });
}

/** Each worker's monitoring port and process id, from its `monitoring` log lines (latest last). */
function workerMonitors(broker: StartedBrokerProcess): Map<number, { port: number; pid: number }> {
  const found = new Map<number, { port: number; pid: number }>();
  for (const line of broker.proc.lines) {
    if (!line.includes('"message":"monitoring"')) continue;
    const entry = JSON.parse(line) as { worker: number; port: number; pid: number };
    found.set(entry.worker, { port: entry.port, pid: entry.pid });
  }
  return found;
}

type Client = NatsConnection & AsyncDisposable;

async function client(
  pki: TestPki,
  port: number,
  name = "alice.mcollective",
  reconnect = false,
): Promise<Client> {
  const cert = name === pki.client.name ? pki.client : await pki.issue("client", name);
  const nc = await within(
    connect({
      servers: `127.0.0.1:${port}`,
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
      reconnect,
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
      timeout: WAIT_MS,
    }),
    `${name} to connect to the workers`,
    WAIT_MS,
  );
  return Object.assign(nc, {
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await nc.close();
    },
  });
}

function counter(nc: NatsConnection, subject: string, queue?: string) {
  const sub = nc.subscribe(subject, queue === undefined ? {} : { queue });
  const state = { count: 0 };
  void (async () => {
    for await (const _ of sub) state.count++;
  })();
  return state;
}

async function until(test: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!test()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    what,
    WAIT_MS,
  );
}

Deno.test("Workers run with the broker task's permissions minus --allow-run", async () => {
  const task = await taskPermissions("broker");
  assert.deepEqual(task.filter((p) => !p.startsWith("--allow-run")), [...WORKER_PERMISSIONS]);
  assert.equal(automaticWorkers(65_536, 2), 4);
  assert.equal(automaticWorkers(1_000, 2), 1);
  assert.equal(automaticWorkers(500_000, 2), 4, "at most two per core");
});

Deno.test("Workers share one port and route between them exactly once, with permissions", async () => {
  await using pki = await makeTestPki();
  await using broker = await startWorkers(pki, 3);
  const clients: Client[] = [];
  try {
    // New connections spread over the workers: 240 of them, 20 handshakes at a time.
    for (let batch = 0; batch < 12; batch++) {
      clients.push(
        ...await Promise.all(Array.from({ length: 20 }, () => client(pki, broker.port))),
      );
    }
    const perWorker = new Map<string, number>();
    for (const nc of clients) {
      perWorker.set(nc.info!.server_id, (perWorker.get(nc.info!.server_id) ?? 0) + 1);
    }
    assert.equal(perWorker.size, 3, "connections reached all three workers");
    for (const count of perWorker.values()) assert.ok(count >= 20, `a fair share: ${count}`);
    const plain = clients.map((nc) => counter(nc, "fleet.broadcast"));
    const group = clients.map((nc) => counter(nc, "fleet.work", "workers"));
    await Promise.all(clients.map((nc) => nc.flush()));
    const publisher = clients[clients.length - 1]!;
    // Interest crosses the routes shortly after SUB: probe until the furthest subscriber hears.
    const probes = clients.map((nc) => counter(nc, "fleet.probe"));
    await until(() => {
      publisher.publish("fleet.probe");
      return probes.every((p) => p.count > 0);
    }, "interest from every worker to reach the publisher's worker");
    for (let i = 0; i < 100; i++) {
      publisher.publish("fleet.broadcast", "x");
      publisher.publish("fleet.work", "x");
    }
    await publisher.flush();
    await until(
      () => plain.every((c) => c.count === 100) && group.reduce((n, c) => n + c.count, 0) === 100,
      "every subscriber to get 100 broadcasts and the queue group 100 jobs",
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(plain.every((c) => c.count === 100), "no broadcast delivered twice");
    assert.equal(group.reduce((n, c) => n + c.count, 0), 100, "each job to one member");

    // A publisher denied orders.> is refused on whichever worker it lands.
    const orders = clients.map((nc) => counter(nc, "orders.new"));
    await Promise.all(clients.map((nc) => nc.flush()));
    await using mallory = await client(pki, broker.port, "mallory.mcollective");
    mallory.publish("orders.new", "forged");
    await mallory.flush().catch(() => {});
    publisher.publish("orders.new", "real");
    await until(() => orders.every((c) => c.count >= 1), "the real order everywhere");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(orders.every((c) => c.count === 1), "mallory's order reached no one");
  } finally {
    await Promise.all(clients.map((nc) => nc.close()));
  }
});

Deno.test("A worker killed with SIGKILL is restarted and its clients reconnect", async () => {
  await using pki = await makeTestPki();
  await using broker = await startWorkers(pki, 3);
  const monitors = workerMonitors(broker);
  assert.equal(monitors.size, 3);
  const victim = monitors.get(1)!;
  const victimId = await (await fetch(`http://127.0.0.1:${victim.port}/varz`)).json() as {
    server_id: string;
  };
  // Connect until one client is on the victim and one on the survivor.
  const clients: Client[] = [];
  try {
    const servers = new Set<string>();
    while (servers.size < 3 && clients.length < 60) {
      const nc = await client(pki, broker.port, pki.client.name, true);
      clients.push(nc);
      servers.add(nc.info!.server_id);
    }
    assert.equal(servers.size, 3, "clients on every worker");
    const onVictim = clients.find((nc) => nc.info!.server_id === victimId.server_id)!;
    const onSurvivor = clients.find((nc) => nc.info!.server_id !== victimId.server_id)!;
    // A broadcast is under way when a worker dies: clients on the two survivors lose nothing,
    // including those reached across the route between the survivors.
    const survivors = clients.filter((nc) => nc.info!.server_id !== victimId.server_id);
    const publisher = survivors[0]!;
    const listeners = survivors.map((nc) => counter(nc, "during.kill"));
    await Promise.all(survivors.map((nc) => nc.flush()));
    let sent = 0;
    const broadcasting = (async () => {
      for (let i = 0; i < 40; i++) {
        for (let k = 0; k < 50; k++, sent++) publisher.publish("during.kill", "x");
        await publisher.flush();
        if (i === 5) Deno.kill(victim.pid, "SIGKILL");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await broadcasting;
    await until(
      () => listeners.every((l) => l.count === sent),
      `every client on the surviving worker to get all ${sent} broadcasts`,
    );
    await broker.proc.waitForLine(
      (l) => l.includes("worker exited; restarting it"),
      "the supervisor to restart the worker",
      WAIT_MS,
    );
    // The victim's client reconnects (to whichever worker), resubscribes, and hears the survivor's.
    const heard = counter(onVictim, "after.restart");
    await until(() => {
      onSurvivor.publish("after.restart");
      return heard.count > 0;
    }, "the reconnected client to hear messages from the other worker");
    await broker.proc.waitForLine(
      (l) =>
        l.includes('"message":"worker listening"') && l.includes('"worker":1') &&
        broker.proc.lines.filter((x) => x.includes('"worker":1') && x.includes("worker listening"))
            .length === 2,
      "the restarted worker to listen again",
      WAIT_MS,
    );
  } finally {
    await Promise.all(clients.map((nc) => nc.close()));
  }
});

Deno.test("Workers join a cluster as members of their own, each reachable by its peers", async () => {
  await using pki = await makeTestPki();
  const peerPort = await freePort();
  await using peer = await chorale(pki, peerPort, []);
  const config = {
    ...choraleBrokerConfig({
      pki,
      cluster: { port: 0, routes: [`nats-route://127.0.0.1:${peerPort}`] },
    }),
  };
  await using broker = await startBroker({ config, flags: ["--workers", "2"] });
  // The peer learns both workers: one dials it, the other is gossiped to it.
  await routesUp(peer, 2);
  const clients: Client[] = [];
  try {
    const servers = new Set<string>();
    while (servers.size < 2 && clients.length < 40) {
      const nc = await client(pki, broker.port);
      clients.push(nc);
      servers.add(nc.info!.server_id);
    }
    assert.equal(servers.size, 2, "clients on both workers");
    await using onPeer = await client(pki, peer.port);
    const atPeer = counter(onPeer, "to.peer");
    const probedPeer = counter(onPeer, "probe.peer");
    await onPeer.flush();
    const atWorkers = clients.map((nc) => counter(nc, "to.workers"));
    const probedWorkers = clients.map((nc) => counter(nc, "probe.workers"));
    await Promise.all(clients.map((nc) => nc.flush()));
    // Probes on their own subjects: once they cross, the counted subjects' interest has too.
    await until(() => {
      for (const nc of clients) nc.publish("probe.peer");
      onPeer.publish("probe.workers");
      return probedPeer.count >= clients.length && probedWorkers.every((c) => c.count > 0);
    }, "interest to cross between the workers and their peer");
    for (const nc of clients) nc.publish("to.peer");
    onPeer.publish("to.workers");
    await Promise.all([...clients.map((nc) => nc.flush()), onPeer.flush()]);
    await until(
      () => atPeer.count === clients.length && atWorkers.every((c) => c.count === 1),
      "one message from every worker's client at the peer, and the peer's at every client",
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(atPeer.count, clients.length, "each publish reached the peer once");
    assert.ok(atWorkers.every((c) => c.count === 1), "the peer's publish reached each client once");
  } finally {
    await Promise.all(clients.map((nc) => nc.close()));
  }
});
