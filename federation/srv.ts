/**
 * Finding the federation network's brokers by DNS, as Choria does:
 * `_mcollective-federation_server._tcp.<domain>`, sorted as server/brokers.ts sorts SRV answers.
 *
 * @module
 */
import {
  BrokerLookupError,
  brokersFromSrv,
  type SrvRecord,
  type SrvResolver,
} from "../server/brokers.ts";

export { BrokerLookupError };
export type { SrvResolver };

/** The SRV name prefix of federation brokers. */
export const FEDERATION_SRV_NAME = "_mcollective-federation_server._tcp";

/**
 * The federation network's brokers: `configured` when not empty, else the SRV records of
 * `_mcollective-federation_server._tcp.<domain>`.
 *
 * @throws {BrokerLookupError} When the lookup fails or finds nothing.
 *
 * @example Find brokers by SRV
 * ```ts
 * import { resolveFederationBrokers } from "./srv.ts";
 * const resolver = (name: string) =>
 *   Promise.resolve(name.startsWith("_mcollective-federation_server._tcp.")
 *     ? [{ priority: 10, weight: 0, port: 4333, target: "fed.example.net." }]
 *     : []);
 * console.log(await resolveFederationBrokers([], "example.net", resolver));
 * // [ "tls://fed.example.net:4333" ]
 * ```
 */
export async function resolveFederationBrokers(
  configured: readonly string[],
  domain: string,
  resolver: SrvResolver,
): Promise<string[]> {
  if (configured.length > 0) return [...configured];
  const name = `${FEDERATION_SRV_NAME}.${domain}`;
  let records: SrvRecord[];
  try {
    records = await resolver(name);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) records = [];
    else {
      throw new BrokerLookupError(
        `Cannot look up SRV records for ${name}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  if (records.length === 0) {
    throw new BrokerLookupError(`Cannot find a federation broker: no SRV records for ${name}`);
  }
  return brokersFromSrv(records);
}
