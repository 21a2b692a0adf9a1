/**
 * A check that a listener still accepts. Under Deno a `node:net` listener whose accept fails with
 * EMFILE stops accepting for good and says nothing, while the kernel keeps queueing connections
 * on its socket. The probe connects to the listener and waits for the broker's INFO line.
 *
 * @module
 */
import * as net from "node:net";

/** What a probe found. */
export type ProbeResult =
  /** The listener answered; `clientId` is the id the broker gave the probe's connection. */
  | { state: "alive"; clientId: number; serverId: string }
  /** Connected, but no INFO came in time: nothing accepts on the socket. */
  | { state: "dead" }
  /** The probe could not connect at all (for example, out of descriptors itself). */
  | { state: "unknown"; reason: string };

/** The address to reach a listener bound to `host` from the same machine. */
export function probeHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/** Connects to `host:port` and waits up to `timeoutMs` for an INFO line. */
export function probeListener(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let received = "";
    const socket = net.connect({ host: probeHost(host), port });
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish(connected ? { state: "dead" } : { state: "unknown", reason: "connect timed out" }),
      timeoutMs,
    );
    socket.on("connect", () => {
      connected = true;
    });
    socket.on("data", (chunk: Uint8Array) => {
      received += new TextDecoder().decode(chunk);
      const end = received.indexOf("\r\n");
      if (end < 0) return;
      const line = received.slice(0, end);
      const id = /"client_id":(\d+)/.exec(line)?.[1];
      const serverId = /"server_id":"([^"]*)"/.exec(line)?.[1] ?? "";
      finish({ state: "alive", clientId: Number(id ?? 0), serverId });
    });
    socket.on("error", (error: Error) => finish({ state: "unknown", reason: error.message }));
    socket.on("close", () => {
      if (connected) finish({ state: "dead" });
    });
  });
}
