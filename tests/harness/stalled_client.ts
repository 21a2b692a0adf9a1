/**
 * A subscriber in its own process, for slow-consumer tests: it connects over mutual TLS,
 * subscribes, writes `ready` to stderr and then idles, so the test can stop the whole process
 * with SIGSTOP. Pausing a `node:tls` socket in the test's own process does not stop Deno from
 * reading it, so the broker would never see a client that does not read.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read=<pki dir> tests/harness/stalled_client.ts \
 *   <port> <subject> <ca file> <cert file> <key file>
 * ```
 *
 * @module
 */
import { openRawSocket } from "./raw_socket.ts";
import { spawnWatched, type WatchedProcess } from "./process.ts";

const SCRIPT = new URL(import.meta.url).pathname;

/** A stalled subscriber process; disposal kills it. */
export interface StalledClient extends AsyncDisposable {
  proc: WatchedProcess;
  /** Stops the process, so it reads nothing more. */
  stall(): void;
  /** Lets the process run again. */
  resume(): void;
}

/**
 * Starts a subscriber to `subject` in a child process and waits until it is subscribed.
 * `tls` names the CA, certificate and key files.
 */
export async function startStalledClient(
  port: number,
  subject: string,
  tls: { caFile: string; certFile: string; keyFile: string; dir: string },
): Promise<StalledClient> {
  const proc = spawnWatched(Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    `--allow-read=${tls.dir}`,
    SCRIPT,
    String(port),
    subject,
    tls.caFile,
    tls.certFile,
    tls.keyFile,
  ]);
  const kill = async () => {
    try {
      proc.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await proc.stop();
  };
  try {
    await proc.waitForLine((l) => l === "ready", `the stalled client to subscribe to ${subject}`);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    proc,
    stall: () => proc.child.kill("SIGSTOP"),
    resume: () => proc.child.kill("SIGCONT"),
    [Symbol.asyncDispose]: kill,
  };
}

if (import.meta.main) {
  const [port, subject, caFile, certFile, keyFile] = Deno.args;
  const conn = await openRawSocket(Number(port), {
    tls: {
      ca: await Deno.readTextFile(caFile!),
      cert: await Deno.readTextFile(certFile!),
      key: await Deno.readTextFile(keyFile!),
    },
  });
  await conn.write(`CONNECT {"verbose":false}\r\nSUB ${subject} 1\r\nPING\r\n`);
  await conn.waitFor(/PONG\r\n/, "PONG after subscribing");
  console.error("ready");
  await conn.waitClosed("the broker to close the connection", 2 ** 31 - 1);
  console.error(`closed after ${conn.receivedBytes} bytes`);
}
