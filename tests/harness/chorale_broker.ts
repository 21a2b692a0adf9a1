/**
 * Starts Chorale's broker (`broker/main.ts`) in a child process on a free loopback port.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { taskPermissions } from "./permissions.ts";
import { spawnWatched } from "./process.ts";
import type { BrokerFactory, BrokerOptions, RunningBroker } from "./types.ts";

const MAIN = new URL("../../broker/main.ts", import.meta.url).pathname;

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
  return { ...config, ...options.choraleConfig };
}

/** Starts Chorale's broker with `options`; disposal stops it. */
export const startChoraleBroker: BrokerFactory = async (options) => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-broker-" });
  const configFile = join(dir, "broker.yaml");
  await Deno.writeTextFile(configFile, stringify(choraleBrokerConfig(options)));
  const permissions = await taskPermissions("broker");
  const proc = spawnWatched(Deno.execPath(), ["run", ...permissions, MAIN, "--config", configFile]);
  let port: number;
  try {
    const line = await proc.waitForLine(
      (l) => l.includes('"message":"listening"'),
      "the broker to listen",
    );
    port = JSON.parse(line).port;
  } catch (error) {
    await proc.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  let stopped: Promise<void> | null = null;
  const stop = () =>
    stopped ??= (async () => {
      await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  const broker: RunningBroker = {
    kind: "chorale",
    port,
    url: `tls://127.0.0.1:${port}`,
    pid: proc.child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return broker;
};
