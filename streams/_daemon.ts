/**
 * What the store and adapter processes share: reading their identity's PEM files, connecting to
 * brokers, and serving counters in Prometheus text format on a loopback port.
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import type { Logger } from "../core/log.ts";
import type { ConnectionConfig } from "./config.ts";

/** The PEM text of the configured certificate, key and CA. */
export async function readTls(
  config: ConnectionConfig,
): Promise<{ ca: string; cert: string; key: string }> {
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new Error(`Cannot read the ${what} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    cert: await read(config.certificate, "certificate"),
    key: await read(config.key, "key"),
    ca: await read(config.ca, "CA"),
  };
}

/** Connects to `servers` over mutual TLS, retrying for ever once connected. */
export async function connectTls(
  servers: string[],
  tls: { ca: string; cert: string; key: string } | undefined,
  name: string,
  logger: Logger,
): Promise<NatsConnection> {
  const nc = await connect({
    servers: servers.map((s) => s.replace(/^(tls|nats):\/\//, "")),
    name,
    ...(tls ? { tls: { ...tls } } : {}),
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    waitOnFirstConnect: true,
  });
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") {
        logger.info(`connection ${status.type}`, { name, server: String(status.data) });
      }
    }
  })().catch(() => {});
  return nc;
}

/** Counters as Prometheus text, each `<prefix>_<name>` with the labels given. */
export function prometheusText(
  prefix: string,
  rows: { labels: Record<string, string>; counters: Record<string, number> }[],
): string {
  const lines: string[] = [];
  for (const { labels, counters } of rows) {
    const l = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",");
    for (const [name, value] of Object.entries(counters)) {
      lines.push(`${prefix}_${name}${l ? `{${l}}` : ""} ${value}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** Serves `text()` on http://127.0.0.1:port/metrics; port 0 serves nothing. */
export function serveMetrics(
  port: number,
  text: () => string,
  logger: Logger,
): AsyncDisposable {
  if (port === 0) return { [Symbol.asyncDispose]: async () => {} };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => logger.info("metrics listening", { port }) },
    (request) =>
      new URL(request.url).pathname === "/metrics"
        ? new Response(text(), { headers: { "content-type": "text/plain; version=0.0.4" } })
        : new Response("not found\n", { status: 404 }),
  );
  return { [Symbol.asyncDispose]: () => server.shutdown() };
}
