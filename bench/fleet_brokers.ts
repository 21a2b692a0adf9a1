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
    stop: async () => {
      await broker.stop();
    },
  };
}

/** Waits until something accepts connections on 127.0.0.1:`port`. */
async function waitListening(proc: WatchedProcess, port: number, timeoutMs = 30_000) {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  proc.child.status.then(() => exited = true);
  while (performance.now() < deadline) {
    if (exited) {
      throw new Error(`The broker exited before listening:\n${proc.lines.slice(-20).join("\n")}`);
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
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

/** Starts nats-server on `port` with mutual TLS against the PKI's CA. */
export async function startNatsFleetBroker(pki: TestPki, port: number): Promise<FleetBroker> {
  const binary = natsServerPath();
  if (binary === null) throw new Error("Cannot start nats-server as it is not installed");
  const dir = await Deno.makeTempDir({ prefix: "chorale-fleet-nats-" });
  const file = join(dir, "nats-server.conf");
  await Deno.writeTextFile(
    file,
    [
      `host: "0.0.0.0"`,
      `port: ${port}`,
      `max_connections: 100000`,
      `tls {`,
      `  cert_file: ${JSON.stringify(pki.broker.certFile)}`,
      `  key_file: ${JSON.stringify(pki.broker.keyFile)}`,
      `  ca_file: ${JSON.stringify(pki.caFile)}`,
      `  verify: true`,
      `  timeout: 5`,
      `}`,
      ``,
    ].join("\n"),
  );
  const proc = spawnWatched(binary, ["-c", file]);
  try {
    await waitListening(proc, port);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return {
    kind: "nats-server",
    pids: () => Promise.resolve([proc.child.pid]),
    stop: async () => {
      await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
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
