/**
 * How `chorale events`, `chorale fleet`, `chorale inventory` and registry discovery reach the
 * stream store: a broker connection made from the client configuration whose inbox is the
 * caller's reply prefix (the only subjects Choria's permissions let a client read), and a
 * {@linkcode StoreClient} over it. The identity must also be allowed to publish to
 * `chorale.streams.api.read.>` (see the README).
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import type { CliContext } from "../cli.ts";
import { CliError, UsageError, warn } from "../cli.ts";
import type { DiscoverOptions, DiscoveryResult } from "../types.ts";
import type { FleetDeps } from "./_fleet.ts";
import { loadClientOptions } from "../config.ts";
import { ExitCodes, toCliError } from "../exit_codes.ts";
import { callerId, replyPrefix } from "../../core/protocol/subjects.ts";
import { StoreApiError, StoreClient } from "../../streams/api.ts";

/** An open store client and the collective of the configuration. */
export interface StoreSession extends AsyncDisposable {
  store: StoreClient;
  collective: string;
  connection: NatsConnection;
}

/** Connects to the broker as the configured client and returns a store client. */
export async function connectStore(
  ctx: CliContext,
  flags: { config?: string },
): Promise<StoreSession> {
  let loaded;
  try {
    loaded = await loadClientOptions({
      env: (name) => ctx.env(name),
      cwd: ctx.cwd(),
      uid: ctx.uid(),
      now: ctx.now(),
      ...(flags.config !== undefined ? { file: flags.config } : {}),
    });
  } catch (error) {
    throw toCliError(error);
  }
  for (const w of loaded.warnings) warn(ctx, w);
  const { identity, brokers, collective = "mcollective" } = loaded.client;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: brokers.map((b) => b.replace(/^(tls|nats):\/\//, "")),
      name: identity.certname,
      inboxPrefix: replyPrefix(collective, callerId(identity.certname)),
      // As the client library: a refused certificate must fail the handshake, so TLS 1.2.
      tls: { ca: identity.ca, cert: identity.cert, key: identity.key, maxVersion: "TLSv1.2" } as {
        ca: string;
        cert: string;
        key: string;
      },
      timeout: 5_000,
    });
  } catch (error) {
    throw new CliError(
      `Cannot reach a broker at ${brokers.join(", ")}: ${(error as Error).message}`,
      ExitCodes.brokerUnreachable,
      { cause: error, hint: "check the brokers in the configuration and that one is running" },
    );
  }
  return {
    store: new StoreClient(nc),
    collective,
    connection: nc,
    [Symbol.asyncDispose]: async () => {
      await nc.close();
    },
  };
}

/** A store failure as a CLI error with a hint. */
export function storeCliError(error: unknown): unknown {
  if (error instanceof StoreApiError) {
    return new CliError(error.message, ExitCodes.error, {
      cause: error,
      hint:
        "is the stream store running (deno task store), and may this identity publish to chorale.streams.api.read.>?",
    });
  }
  return toCliError(error);
}

/** A duration for people: `42 s`, `5 min`, `3 h`, `2 d`. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/**
 * Shows a node's last registration from the store. With `fallback` (the node did not answer)
 * a store that cannot be asked is not an error: it returns false and the caller reports the
 * original problem.
 */
export async function showStoredInventory(
  ctx: CliContext,
  node: string,
  opts: { config?: string; json?: boolean },
  fallback: boolean,
): Promise<boolean> {
  let found;
  try {
    await using session = await connectStore(ctx, opts);
    found = await session.store.node(node);
  } catch (error) {
    if (fallback) return false;
    throw storeCliError(error);
  }
  if (found === null) {
    if (fallback) return false;
    throw new CliError(
      `Cannot show the inventory of ${node} as it never registered with the stream store`,
      ExitCodes.error,
      { hint: "check the name with 'chorale discover --dm registry -I NODE'" },
    );
  }
  const seen = new Date(found.lastSeenMs);
  const when = `${seen.toISOString()} (${ago(ctx.now().getTime() - found.lastSeenMs)} ago)`;
  if (fallback) warn(ctx, `${node} did not answer: showing its last registration, from ${when}`);
  if (opts.json) {
    ctx.stdout(
      JSON.stringify({ sender: node, ...found, last_seen: seen.toISOString() }, null, 2) + "\n",
    );
    return true;
  }
  const lines = [
    node,
    `   Last seen: ${when}`,
    `     Version: ${found.version || "(unknown)"}`,
    ` Collectives: ${found.collectives.join(", ")}`,
    `      Agents: ${found.agents.join(", ")}`,
    `     Classes: ${found.classes.join(", ") || "(none)"}`,
    "       Facts:",
    ...Object.entries(found.facts).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) =>
      `              ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`
    ),
  ];
  ctx.stdout(lines.join("\n") + "\n");
  return true;
}

/** The discovery methods `--dm` takes: `inventory` and `registry` both read the stream store. */
export const DISCOVERY_METHODS = ["broadcast", "inventory", "registry"] as const;

/**
 * Fleet dependencies whose discovery reads the stream store's registration data when
 * `method()` says `inventory` or `registry`: no broadcast, nodes found by facts, classes, agents
 * and identities as they last registered. Flatfile discovery (`--nodes`) is left alone.
 */
export function withRegistryDiscovery(deps: FleetDeps, method: () => string): FleetDeps {
  return {
    connect: async (ctx, flags) => {
      const chosen = method();
      if (!(DISCOVERY_METHODS as readonly string[]).includes(chosen)) {
        throw new UsageError(
          `Cannot discover with method '${chosen}': use ${DISCOVERY_METHODS.join(", ")}`,
        );
      }
      const client = await deps.connect(ctx, flags);
      if (chosen === "broadcast") return client;
      return {
        discover: async (options: DiscoverOptions = {}): Promise<DiscoveryResult> => {
          if ((options.method ?? "broadcast") !== "broadcast") {
            return await client.discover(options);
          }
          const started = performance.now();
          try {
            await using session = await connectStore(ctx, flags);
            const nodes = await session.store.discover({
              collective: options.collective ?? flags.collective ?? session.collective,
              ...(options.filter ? { filter: options.filter } : {}),
            });
            return { nodes, elapsedMs: Math.round(performance.now() - started) };
          } catch (error) {
            throw storeCliError(error);
          }
        },
        rpc: (request) => client.rpc(request),
        [Symbol.asyncDispose]: () => client[Symbol.asyncDispose](),
      };
    },
  };
}
