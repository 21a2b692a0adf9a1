/**
 * `deno task broker --store DIR`: the broker keeps the stream store (`streams/main.ts`) running
 * beside it as a child process with the store's own permissions, connected back to the broker
 * with the broker's certificate. The broker's identity gets the store's permission rule, so the
 * store may take the lifecycle and machine events and serve its API, and nothing more.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import type { Logger } from "../core/log.ts";
import { certificateName } from "../core/security/signing.ts";
import { streamsPermissionRules } from "../streams/mod.ts";
import type { IdentityRule } from "./broker.ts";
import { KeptChild } from "./kept_child.ts";

/** The permissions of `deno task store`: what the store child runs with. A test checks them. */
export const STORE_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=CHORALE_*,LOG_TOKENS,LOG_STREAM",
];

/** Where the store child keeps its data and how it reaches the broker. */
export interface StoreChildOptions {
  dir: string;
  /** The broker URL the store dials, `tls://127.0.0.1:<port>` by default. */
  broker: string;
  /** Paths of the broker's certificate, key and CA, which the store connects with. */
  cert: string;
  key: string;
  ca: string;
}

/** The permission rules that let the broker's own identity run the store. */
export function storeRules(brokerCertPem: string): IdentityRule[] {
  const name = certificateName(new X509Certificate(brokerCertPem));
  return streamsPermissionRules({ store: name });
}

/** A kept child running the store; call `start()`, and `stop()` on shutdown. */
export function storeChild(options: StoreChildOptions, logger: Logger): KeptChild {
  const main = new URL("../streams/main.ts", import.meta.url).pathname;
  return new KeptChild({
    name: "stream store",
    args: () => ["run", ...STORE_PERMISSIONS, main, "--dir", options.dir],
    env: {
      CHORALE_BROKERS: options.broker,
      CHORALE_CERTIFICATE: options.cert,
      CHORALE_KEY: options.key,
      CHORALE_CA: options.ca,
    },
  }, logger);
}
