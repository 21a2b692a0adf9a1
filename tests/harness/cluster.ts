/**
 * Brokers for cluster tests: Chorale's and nats-server, each with a route port on 127.0.0.1 and
 * mutual TLS between brokers with the PKI's broker certificate.
 *
 * @module
 */
import { choraleBrokerConfig } from "./chorale_broker.ts";
import { startBroker } from "./broker_process.ts";
import { startNatsServer } from "./nats_server.ts";
import type { TestPki } from "./pki.ts";
import { within } from "./wait.ts";

const WAIT_MS = 10_000;

/** A broker of a test cluster; disposal stops it. */
export interface Member extends AsyncDisposable {
  kind: "chorale" | "nats-server";
  port: number;
  routePort: number;
  monitorPort: number | null;
  /** The broker's log lines so far (Chorale only). */
  lines(): string[];
  stop(): Promise<void>;
}

/** Starts Chorale's broker with routes to `routes` (route ports) and monitoring on. */
export async function chorale(
  pki: TestPki,
  routePort: number,
  routes: number[],
  extra: Record<string, unknown> = {},
): Promise<Member> {
  const config = {
    ...choraleBrokerConfig({
      pki,
      cluster: { port: routePort, routes: routes.map((p) => `nats-route://127.0.0.1:${p}`) },
    }),
    monitor: "127.0.0.1:0",
    ...extra,
  };
  const broker = await startBroker({ config });
  const stop = async () => {
    await broker.stop();
  };
  return {
    kind: "chorale",
    port: broker.port,
    routePort,
    monitorPort: broker.monitorPort,
    lines: () => broker.proc.lines,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Starts nats-server with routes to `routes` (route ports). */
export async function natsServer(
  pki: TestPki,
  routePort: number,
  routes: number[],
): Promise<Member> {
  const broker = await startNatsServer({
    pki,
    cluster: { port: routePort, routes: routes.map((p) => `nats-route://127.0.0.1:${p}`) },
  });
  return {
    kind: "nats-server",
    port: broker.port,
    routePort,
    monitorPort: null,
    lines: () => [],
    stop: broker.stop,
    [Symbol.asyncDispose]: broker.stop,
  };
}

/** A Chorale member's `/routez`. */
export async function routez(member: Member): Promise<{ num_routes: number; routes: unknown[] }> {
  const response = await fetch(`http://127.0.0.1:${member.monitorPort}/routez`);
  return await response.json();
}

/** Waits until a Chorale member has `count` routes registered. */
export async function routesUp(member: Member, count: number): Promise<void> {
  await within(
    (async () => {
      while ((await routez(member)).num_routes < count) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    `broker on ${member.port} to have ${count} routes`,
    WAIT_MS,
  );
}
