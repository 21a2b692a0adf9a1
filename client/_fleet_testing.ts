/**
 * A test fleet for the client library's live tests: a throwaway PKI, a broker (Chorale's, or
 * nats-server) with Choria's client permissions for the test client, and three servers with
 * facts and classes, all on loopback and all stopped by disposal.
 *
 * @module
 */
import { callerHash, callerId } from "../core/protocol/subjects.ts";
import { brokerFactories } from "../tests/harness/brokers.ts";
import { type RunningServer, startChoraleServer } from "../tests/harness/chorale_server.ts";
import { makeTestPki, type TestPki } from "../tests/harness/pki.ts";
import type { BrokerKind, RunningBroker } from "../tests/harness/types.ts";
import type { ClientIdentity } from "./types.ts";

/** The fleet's nodes: n3 is the only FreeBSD node, n2 the only database. */
export const FLEET_NODES = [
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
] as const;

/** A running fleet. */
export interface Fleet extends AsyncDisposable {
  pki: TestPki;
  broker: RunningBroker;
  servers: RunningServer[];
  /** The test client's identity (`alice.mcollective`). */
  identity: ClientIdentity;
  /** `tls://127.0.0.1:<port>` */
  url: string;
}

/** Whether a broker kind can run here (nats-server needs Debian's package). */
export function brokerAvailable(kind: BrokerKind): boolean {
  return brokerFactories[kind] !== null;
}

/** Options for {@linkcode startFleet}. */
export interface FleetOptions {
  /** Start the three servers. @default true */
  servers?: boolean;
}

/** Starts a broker of `kind` and the three servers; disposal stops everything. */
export async function startFleet(kind: BrokerKind, options: FleetOptions = {}): Promise<Fleet> {
  const stack = new AsyncDisposableStack();
  try {
    const pki = stack.use(await makeTestPki());
    // nats-server only knows the certificates that exist when it starts.
    for (const node of FLEET_NODES) await pki.issue("server", node.identity);
    await pki.foreign();
    await pki.expired();
    const reply = `*.reply.${callerHash(callerId(pki.client.name))}.>`;
    const broker = stack.use(
      await brokerFactories[kind]!({
        pki,
        // Choria's client permissions on nats-server too: replies only on the caller's prefix.
        permissions: {
          [pki.client.name]: {
            publish: { allow: ["*.broadcast.agent.>", "*.node.>"] },
            subscribe: { allow: [reply] },
          },
        },
        choraleConfig: { permissions: { defaults: "choria" } },
      }),
    );
    const started = await Promise.allSettled(
      (options.servers === false ? [] : FLEET_NODES).map((node) =>
        startChoraleServer({
          pki,
          brokerPort: broker.port,
          identity: node.identity,
          facts: node.facts,
          classes: [...node.classes],
        })
      ),
    );
    const servers: RunningServer[] = [];
    for (const result of started) {
      if (result.status === "fulfilled") servers.push(stack.use(result.value));
    }
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const moved = stack.move();
    return {
      pki,
      broker,
      servers,
      url: broker.url,
      identity: {
        certname: pki.client.name,
        cert: pki.client.cert,
        key: pki.client.key,
        ca: pki.caPem,
      },
      async [Symbol.asyncDispose]() {
        await moved.disposeAsync();
      },
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}
