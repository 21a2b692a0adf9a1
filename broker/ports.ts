/**
 * Free ports for listeners that must be named before they start: the shared client port and the
 * internal route ports of `--workers`, and a test cluster's route ports.
 *
 * @module
 */
import * as net from "node:net";

/**
 * A port the kernel just handed out on `host` and that nothing listens on now.
 *
 * @example
 * ```ts
 * import { freePort } from "./ports.ts";
 * console.log((await freePort()) > 0); // true
 * ```
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
