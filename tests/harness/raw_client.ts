/**
 * A raw NATS protocol client over mutual TLS, for tests that send bytes no well-behaved client
 * would: `raw_socket.ts` with its TLS upgrade always on. Also a plaintext read for refusals that
 * come before the handshake.
 *
 * Needs `--allow-net=127.0.0.1`.
 *
 * @module
 */
import * as net from "node:net";
import { openRawSocket, type RawSocket, RawSocketTimeoutError } from "./raw_socket.ts";
import { within } from "./wait.ts";

/** Error raised when a raw-client wait runs out of time. */
export { RawSocketTimeoutError as RawClientTimeoutError };

/** Options for {@linkcode connectRaw}. */
export interface RawClientOptions {
  /** CA certificate PEM the broker's certificate must chain to. */
  ca: string;
  /** Client certificate PEM; omit to connect without one. */
  cert?: string;
  /** Client private key PEM. */
  key?: string;
  /** Name checked against the broker's certificate. @default "localhost" */
  servername?: string;
  /** Time allowed for the TCP connect, INFO line and TLS handshake, in ms. @default 5000 */
  timeoutMs?: number;
}

/** A connected raw client over TLS; `await using` destroys the socket. */
export type RawClient = RawSocket;

/** Connects to a broker on 127.0.0.1, reads INFO and completes the TLS handshake. */
export function connectRaw(port: number, options: RawClientOptions): Promise<RawClient> {
  const { timeoutMs, ...tls } = options;
  return openRawSocket(port, { tls, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/**
 * Reads everything a broker sends in plaintext until it closes, without starting TLS: for
 * refusals that happen before the handshake, like nats-server's maximum connections error.
 */
export async function readPlaintext(
  port: number,
  what: string,
  timeoutMs = 5_000,
): Promise<string> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let received = "";
  const decoder = new TextDecoder();
  const closed = new Promise<string>((resolve) => {
    socket.on("data", (chunk: Uint8Array) => {
      received += decoder.decode(chunk, { stream: true });
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
  return await within(closed, what, timeoutMs).finally(() => socket.destroy());
}
