/**
 * The brokers of the fleet benchmark, on one fixed port on 0.0.0.0 (so emulated servers can
 * spread over 127.0.0.x addresses and come back to the same place after a restart), with mutual
 * TLS against the emulator's test CA: Chorale's broker exactly as `deno task broker` runs it
 * (with `--workers` when one process cannot hold the fleet and the flag exists), and Debian's
 * nats-server with `verify` (any certificate of the CA, no per-user map: 50,000 users would not
 * be a fair fight).
 *
 * Needs `--allow-run` (deno, nats-server and `cat` for /proc), `--allow-read`, `--allow-write`
 * (temporary configuration files) and `--allow-env=PATH`.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { spawnBroker } from "../tests/harness/broker_process.ts";
import { natsServerPath } from "../tests/harness/nats_server.ts";
import { taskPermissions } from "../tests/harness/permissions.ts";
import type { TestPki } from "../tests/harness/pki.ts";
import { spawnWatched, type WatchedProcess } from "../tests/harness/process.ts";
import { rssKib } from "./proc.ts";

/** Connections one Chorale broker process is given at most before another worker is added. */
export const CONNECTIONS_PER_WORKER = 18_000;

/** A broker of the fleet benchmark. */
export interface FleetBroker {
  kind: "chorale" | "nats-server";
  /** Process ids whose memory is the broker's (every worker). */
  pids(): Promise<number[]>;
  /** Stops it and waits for it to exit. */
  stop(): Promise<void>;
  /** The last lines it logged, for notes when something goes wrong. */
  logTail(lines?: number): string[];
  /**
   * Whether it said it is ready: Chorale's broker logs `listening` once every worker listens and
   * is routed; nats-server is ready when it accepts connections.
   */
  ready(): boolean;
}

/** Whether `deno task broker` knows `--workers` (it may not have landed yet). */
export async function brokerHasWorkers(): Promise<boolean> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...await taskPermissions("broker"), "broker/main.ts", "--help"],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return new TextDecoder().decode(out.stdout).includes("--workers");
}

/** A free TCP port on 0.0.0.0 now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function childrenOf(pid: number): Promise<number[]> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat /proc/${pid}/task/*/children 2>/dev/null`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split(/\s+/).filter((s) => s !== "").map(Number);
}

/** `pid` and every process below it. */
export async function processTree(pid: number): Promise<number[]> {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...await childrenOf(all[i]!));
  return all;
}

/** Resident memory of a set of processes, KiB (those that exited count 0). */
export async function totalRssKib(pids: number[]): Promise<number> {
  const each = await Promise.all(pids.map((pid) => rssKib(pid).catch(() => 0)));
  return each.reduce((a, b) => a + b, 0);
}

/** Starts Chorale's broker on `port`; `workers` > 1 passes `--workers`. */
export async function startChoraleFleetBroker(
  pki: TestPki,
  port: number,
  workers: number,
): Promise<FleetBroker> {
  const broker = await spawnBroker({
    config: {
      listen: `0.0.0.0:${port}`,
      tls: { cert: pki.broker.certFile, key: pki.broker.keyFile, ca: pki.caFile },
      permissions: { defaults: "choria" },
      log_level: "warn",
    },
    flags: workers > 1 ? ["--workers", String(workers)] : [],
  });
  try {
    await waitListening(broker.proc, port);
  } catch (error) {
    await broker.stop();
    throw error;
  }
  return {
    kind: "chorale",
    pids: () => processTree(broker.proc.child.pid),
    logTail: (lines = 3) => broker.proc.lines.slice(-lines),
    ready: () => broker.proc.lines.some((l) => l.includes('"message":"listening"')),
    stop: async () => {
      await broker.stop();
    },
  };
}

/** Waits until something accepts connections on `hostname`:`port`. */
async function waitListening(
  proc: WatchedProcess,
  port: number,
  hostname = "127.0.0.1",
  timeoutMs = 30_000,
) {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  proc.child.status.then(() => exited = true);
  while (performance.now() < deadline) {
    if (exited) {
      throw new Error(`The broker exited before listening:\n${proc.lines.slice(-20).join("\n")}`);
    }
    try {
      const conn = await Deno.connect({ hostname, port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(
    `The broker did not listen on ${port} within ${timeoutMs} ms:\n${
      proc.lines.slice(-20).join("\n")
    }`,
  );
}

/**
 * Starts nats-server with mutual TLS against the PKI's CA: one process on 0.0.0.0:`port`, or, when
 * `nodes` > 1, a cluster of `nodes` processes where node `k` listens on 127.0.0.<k+1>:`port` (one
 * nats-server process cannot hold more than the 20,000 descriptors a process may open here, and
 * the emulated servers spread over those addresses), joined by routes on loopback.
 */
export async function startNatsFleetBroker(
  pki: TestPki,
  port: number,
  nodes = 1,
): Promise<FleetBroker> {
  const binary = natsServerPath();
  if (binary === null) throw new Error("Cannot start nats-server as it is not installed");
  const dir = await Deno.makeTempDir({ prefix: "chorale-fleet-nats-" });
  const routePorts = Array.from({ length: nodes }, () => freePort());
  const procs: WatchedProcess[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (let k = 0; k < nodes; k++) {
      const file = join(dir, `nats-server-${k}.conf`);
      const cluster = nodes === 1 ? [] : [
        `cluster {`,
        `  name: "fleet"`,
        `  host: "127.0.0.1"`,
        `  port: ${routePorts[k]}`,
        `  routes: ${
          JSON.stringify(
            routePorts.filter((_, j) => j !== k).map((p) => `nats-route://127.0.0.1:${p}`),
          )
        }`,
        `}`,
      ];
      await Deno.writeTextFile(
        file,
        [
          `host: "${nodes === 1 ? "0.0.0.0" : `127.0.0.${k + 1}`}"`,
          `port: ${port}`,
          `server_name: "fleet-${k}"`,
          `max_connections: 100000`,
          `tls {`,
          `  cert_file: ${JSON.stringify(pki.broker.certFile)}`,
          `  key_file: ${JSON.stringify(pki.broker.keyFile)}`,
          `  ca_file: ${JSON.stringify(pki.caFile)}`,
          `  verify: true`,
          `  timeout: 5`,
          `}`,
          ...cluster,
          ``,
        ].join("\n"),
      );
      procs.push(spawnWatched(binary, ["-c", file]));
    }
    await Promise.all(procs.map((p, k) => waitListening(p, port, `127.0.0.${k + 1}`)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    kind: "nats-server",
    pids: () => Promise.resolve(procs.map((p) => p.child.pid)),
    logTail: (lines = 3) => procs.flatMap((p) => p.lines.slice(-lines)),
    ready: () => true,
    stop,
  };
}

/** The YAML of a client configuration for the benchmark's CLI runs. */
export function clientConfigText(pki: TestPki, port: number): string {
  return stringify({
    brokers: [`tls://127.0.0.1:${port}`],
    security: {
      provider: "file",
      certificate: pki.client.certFile,
      key: pki.client.keyFile,
      ca: pki.caFile,
    },
    discovery_timeout: "60s",
  });
}
