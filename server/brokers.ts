/**
 * Finding brokers: the configured URLs, or SRV records in the configured domain, as Choria looks
 * them up (`_mcollective-server._tcp`, then `_x-puppet-mcollective._tcp`).
 *
 * @module
 */

/** One SRV answer, as `Deno.resolveDns` returns it. */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** Looks up the SRV records of a name; `Deno.resolveDns(name, "SRV")` in the daemon. */
export type SrvResolver = (name: string) => Promise<SrvRecord[]>;

/** The SRV names Choria servers look up, in order. */
export const SERVER_SRV_NAMES = ["_mcollective-server._tcp", "_x-puppet-mcollective._tcp"] as const;

/** Broker URLs from SRV records: lowest priority first, then highest weight. */
export function brokersFromSrv(records: readonly SrvRecord[]): string[] {
  return [...records]
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
    .map((r) => `tls://${r.target.replace(/\.$/, "")}:${r.port}`);
}

/** A failure to find any broker. */
export class BrokerLookupError extends Error {
  override name = "BrokerLookupError";
}

/**
 * The brokers to connect to: `configured` when it is not empty, else the first SRV name in
 * `domain` that has records.
 *
 * @example Sort SRV answers
 * ```ts
 * import { resolveBrokers } from "./brokers.ts";
 * const resolver = () =>
 *   Promise.resolve([
 *     { priority: 20, weight: 0, port: 4222, target: "b2.example.net." },
 *     { priority: 10, weight: 5, port: 4222, target: "b1.example.net." },
 *   ]);
 * console.log(await resolveBrokers([], "example.net", resolver));
 * // ["tls://b1.example.net:4222", "tls://b2.example.net:4222"]
 * ```
 */
export async function resolveBrokers(
  configured: readonly string[],
  domain: string,
  resolver: SrvResolver,
): Promise<string[]> {
  if (configured.length > 0) return [...configured];
  const tried: string[] = [];
  for (const prefix of SERVER_SRV_NAMES) {
    const name = `${prefix}.${domain}`;
    tried.push(name);
    try {
      const records = await resolver(name);
      if (records.length > 0) return brokersFromSrv(records);
    } catch (cause) {
      if (!(cause instanceof Deno.errors.NotFound)) {
        throw new BrokerLookupError(
          `Cannot look up SRV records for ${name}: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
    }
  }
  throw new BrokerLookupError(`Cannot find a broker: no SRV records for ${tried.join(" or ")}`);
}
