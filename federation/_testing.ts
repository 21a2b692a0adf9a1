/**
 * Test helper: runs the federation broker (`federation/main.ts`) in a child process with exactly
 * the permissions of `deno task federation`, configured for brokers on loopback.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { taskPermissions } from "../tests/harness/permissions.ts";
import type { TestPki } from "../tests/harness/pki.ts";
import { spawnWatched, type WatchedProcess } from "../tests/harness/process.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Options for {@linkcode startFederationBroker}. */
export interface FederationProcessOptions {
  pki: TestPki;
  /** The federation broker's identity (a server certificate is issued for it). */
  identity: string;
  /** The federation network's broker port on 127.0.0.1. */
  federationPort: number;
  /** Member name to its broker port on 127.0.0.1. */
  members: Record<string, number>;
  /** Serve /metrics on a free loopback port. @default true */
  metrics?: boolean;
  /** Wait until every member is connected. @default true */
  waitForMembers?: boolean;
}

/** A running federation broker; disposal stops it. */
export interface FederationProcess extends AsyncDisposable {
  proc: WatchedProcess;
  /** The /metrics port, or null. */
  metricsPort: number | null;
  /** Fetches /metrics and returns the value of one series (0 when absent). */
  metric(series: string): Promise<number>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL at once: a crash. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Starts a federation broker and waits until it is ready (and its members are connected). */
export async function startFederationBroker(
  options: FederationProcessOptions,
): Promise<FederationProcess> {
  const cert = await options.pki.issue("server", options.identity);
  const dir = await Deno.makeTempDir({ prefix: `chorale-federation-${options.identity}-` });
  const configFile = join(dir, "federation.yaml");
  await Deno.writeTextFile(
    configFile,
    stringify({
      security: { certificate: cert.certFile, key: cert.keyFile, ca: options.pki.caFile },
      federation: { brokers: [`tls://127.0.0.1:${options.federationPort}`] },
      members: Object.fromEntries(
        Object.entries(options.members).map((
          [name, port],
        ) => [name, { brokers: [`tls://127.0.0.1:${port}`] }]),
      ),
      ...(options.metrics ?? true ? { metrics: "127.0.0.1:0" } : {}),
    }),
  );
  const proc = spawnWatched(Deno.execPath(), [
    "run",
    ...await taskPermissions("federation"),
    MAIN,
    "--config",
    configFile,
  ]);
  let stopped: Promise<Deno.CommandStatus> | null = null;
  const finish = (how: () => Promise<Deno.CommandStatus>) =>
    stopped ??= (async () => {
      const status = await how();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      return status;
    })();
  const stop = () => finish(() => proc.stop());
  const kill = () =>
    finish(async () => {
      try {
        proc.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      return await proc.stop(0);
    });
  try {
    let metricsPort: number | null = null;
    if (options.metrics ?? true) {
      const line = await proc.waitForLine(
        (l) => l.includes('"message":"metrics"'),
        `${options.identity} to serve metrics`,
      );
      metricsPort = JSON.parse(line).port as number;
    }
    await proc.waitForLine((l) => l.includes('"message":"ready"'), `${options.identity} ready`);
    if (options.waitForMembers ?? true) {
      for (const name of Object.keys(options.members)) {
        await proc.waitForLine(
          (l) => l.includes('"message":"member connected"') && l.includes(`"member":"${name}"`),
          `${options.identity} to connect to member ${name}`,
        );
      }
    }
    return {
      proc,
      metricsPort,
      async metric(series) {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const line = text.split("\n").find((l) => l.startsWith(`${series} `));
        return line === undefined ? 0 : Number(line.slice(series.length + 1));
      },
      stop,
      kill,
      async [Symbol.asyncDispose]() {
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
