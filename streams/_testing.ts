/**
 * Test helpers: the stream store as a real child process with exactly `deno task store`'s
 * permissions, and a broker connection as a given test identity.
 *
 * @module
 */
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { stringify } from "yaml";
import { createSigner } from "../core/security/signing.ts";
import {
  buildInventory,
  createRegistrationMessage,
  inventoryContent,
} from "../server/registration.ts";
import { taskPermissions } from "../tests/harness/permissions.ts";
import type { TestPki } from "../tests/harness/pki.ts";
import { spawnWatched, type WatchedProcess } from "../tests/harness/process.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** A store process. */
export interface StoreProcess extends AsyncDisposable {
  proc: WatchedProcess;
  /** Starts it again on the same directory (after a kill). */
  restart(): Promise<void>;
  /** SIGKILL, no grace. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `streams/main.ts` as `identity` against the broker on `brokerPort`, keeping `dir`. */
export async function startStoreProcess(
  pki: TestPki,
  options: { identity: string; brokerPort: number; dir: string },
): Promise<StoreProcess> {
  const cert = await pki.issue("server", options.identity);
  const configFile = join(options.dir, "store.yaml");
  await Deno.mkdir(options.dir, { recursive: true });
  await Deno.writeTextFile(
    configFile,
    stringify({
      dir: join(options.dir, "data"),
      brokers: [`tls://127.0.0.1:${options.brokerPort}`],
      security: { certificate: cert.certFile, key: cert.keyFile, ca: pki.caFile },
    }),
  );
  const flags = await taskPermissions("store");
  const handle = { proc: null as unknown as WatchedProcess };
  const start = async () => {
    handle.proc = spawnWatched(Deno.execPath(), ["run", ...flags, MAIN, "--config", configFile]);
    await handle.proc.waitForLine((l) => l.includes("stream store serving"), "the store to serve");
  };
  await start();
  return {
    get proc() {
      return handle.proc;
    },
    restart: start,
    async kill() {
      handle.proc.child.kill("SIGKILL");
      await handle.proc.stop(0);
    },
    async stop() {
      await handle.proc.stop();
    },
    async [Symbol.asyncDispose]() {
      await handle.proc.stop();
    },
  };
}

/** Connects to a broker as a certificate from the test PKI. */
export async function connectAs(
  pki: TestPki,
  kind: "client" | "server",
  identity: string,
  port: number,
  options: { inboxPrefix?: string } = {},
): Promise<NatsConnection> {
  const cert = await pki.issue(kind, identity);
  return await connect({
    servers: `127.0.0.1:${port}`,
    name: identity,
    tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
  });
}

/** A signed registration message from `identity`, as a server publishes it. */
export async function registrationPayload(
  pki: TestPki,
  identity: string,
  facts: Record<string, unknown> = {},
): Promise<Uint8Array> {
  const cert = await pki.issue("server", identity);
  const message = await createRegistrationMessage(
    inventoryContent(
      buildInventory({ agents: [], collectives: ["mcollective"], version: "0.1.0", facts }),
    ),
    createSigner(cert.cert, cert.key),
    { collective: "mcollective", identity },
  );
  return new TextEncoder().encode(message.payload);
}
