/**
 * Starts Debian's `nats-server` with JetStream (`-js`) and mutual TLS against the test PKI's CA,
 * keeping its store directory across {@linkcode RunningJetStream.restart} so a test can take the
 * server away and bring it back on the same port with its streams intact.
 *
 * Needs `--allow-read`, `--allow-write` (config and store directory), `--allow-run` and
 * `--allow-env=PATH`.
 *
 * @module
 */
import { join } from "node:path";
import { natsServerPath, NatsServerStartError } from "./nats_server.ts";
import type { TestPki } from "./pki.ts";
import { spawnWatched, type WatchedProcess } from "./process.ts";

/** A JetStream server; disposal stops it and removes its files. */
export interface RunningJetStream extends AsyncDisposable {
  /** The loopback port, the same after a restart. */
  port: number;
  /** `127.0.0.1:<port>` */
  url: string;
  /** Where JetStream keeps its streams. */
  storeDir: string;
  /** Stops the server (SIGTERM). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
}

const LISTENING = /Listening for client connections on [^\s]*:(\d+)/;

/** Starts nats-server -js on a free loopback port. */
export async function startJetStream(pki: TestPki): Promise<RunningJetStream> {
  const binary = natsServerPath();
  if (binary === null) {
    throw new NatsServerStartError("Cannot start nats-server as it is not installed");
  }
  const dir = await Deno.makeTempDir({ prefix: "chorale-jetstream-" });
  const storeDir = join(dir, "store");
  const configFile = join(dir, "nats-server.conf");
  let port = -1;
  let proc: WatchedProcess | null = null;
  const start = async () => {
    await Deno.writeTextFile(
      configFile,
      [
        `host: "127.0.0.1"`,
        `port: ${port}`,
        `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
        `tls {`,
        `  cert_file: ${JSON.stringify(pki.broker.certFile)}`,
        `  key_file: ${JSON.stringify(pki.broker.keyFile)}`,
        `  ca_file: ${JSON.stringify(pki.caFile)}`,
        `  verify: true`,
        `  timeout: 2`,
        `}`,
        ``,
      ].join("\n"),
    );
    proc = spawnWatched(binary, ["-js", "-c", configFile]);
    const line = await proc.waitForLine((l) => LISTENING.test(l), "nats-server -js to listen");
    port = Number(LISTENING.exec(line)![1]);
    await proc.waitForLine((l) => l.includes("Server is ready"), "nats-server -js to be ready");
  };
  const stop = async () => {
    if (proc !== null) await proc.stop();
    proc = null;
  };
  try {
    await start();
  } catch (error) {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    port,
    url: `127.0.0.1:${port}`,
    storeDir,
    stop,
    restart: start,
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
