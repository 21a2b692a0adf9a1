/**
 * Free loopback ports for listeners a test must name before they start (a cluster's route ports,
 * which every member's configuration lists).
 *
 * @module
 */
import * as net from "node:net";

/** A port the kernel just handed out on 127.0.0.1 and that nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
