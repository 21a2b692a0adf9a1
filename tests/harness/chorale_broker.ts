/**
 * Starts Chorale's broker (`broker/main.ts`) in a child process on a free loopback port.
 *
 * @module
 */
import { startBroker } from "./broker_process.ts";
import type { BrokerFactory, BrokerOptions, RunningBroker } from "./types.ts";

/** The broker's YAML settings for `options`: every unlisted identity may do anything. */
export function choraleBrokerConfig(options: BrokerOptions): Record<string, unknown> {
  const { pki } = options;
  const config: Record<string, unknown> = {
    listen: "127.0.0.1:0",
    tls: { cert: pki.broker.certFile, key: pki.broker.keyFile, ca: pki.caFile },
    max_payload: options.maxPayload ?? 1_048_576,
    max_control_line: options.maxControlLine ?? 4_096,
    ping_interval: options.pingIntervalSeconds ?? 120,
    max_pings_out: options.maxPingsOut ?? 2,
    auth_timeout: options.authTimeoutSeconds ?? 2,
    max_connections: options.maxConnections ?? 65_536,
    permissions: {
      defaults: "open",
      identities: Object.entries(options.permissions ?? {}).map(([match, p]) => ({ match, ...p })),
    },
  };
  if (options.cluster) {
    config.cluster = {
      listen: `127.0.0.1:${options.cluster.port}`,
      routes: options.cluster.routes,
      name: options.cluster.name ?? "chorale",
    };
  }
  return { ...config, ...options.choraleConfig };
}

/** Starts Chorale's broker with `options`; disposal stops it. */
export const startChoraleBroker: BrokerFactory = async (options) => {
  const process = await startBroker({ config: choraleBrokerConfig(options) });
  const stop = async () => {
    await process.stop();
  };
  const broker: RunningBroker = {
    kind: "chorale",
    port: process.port,
    url: `tls://127.0.0.1:${process.port}`,
    pid: process.proc.child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return broker;
};
