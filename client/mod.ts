/**
 * The Chorale client library: connect to a broker as a client identity, discover nodes, call
 * agent actions on them with signed requests, and read the verified replies with the call's
 * figures; load the client configuration; call agents through clients typed from their DDL.
 *
 * @example Discover the web servers and ping them
 * ```ts
 * import { Client, loadClientOptions, parseFilterArgs } from "./mod.ts";
 *
 * // Type-checked only: it needs a configuration, a broker and servers to run (as
 * // client/example_test.ts does).
 * export async function pingWebServers(): Promise<void> {
 *   const { client: options } = await loadClientOptions();
 *   await using client = await Client.connect(options);
 *   const web = await client.discover({ filter: parseFilterArgs({ facts: ["role=web"] }) });
 *   const call = client.rpc({ agent: "rpcutil", action: "ping", nodes: web.nodes });
 *   for await (const reply of call) console.log(reply.sender, reply.statusmsg);
 *   const { stats } = await call.done();
 *   console.log(`${stats.ok}/${stats.discovered.length} ok in ${stats.totalMs}ms`);
 *   if (stats.noResponses.length > 0) console.log("no reply:", stats.noResponses.join(" "));
 * }
 * ```
 *
 * @module
 */
export * from "./client.ts";
export * from "./config.ts";
export * from "./discovery_sources.ts";
export * from "./errors.ts";
export * from "./limit.ts";
export * from "./typed.ts";
export type * from "./types.ts";
export { type FilterArgs, parseFilterArgs } from "../core/filter/mod.ts";
