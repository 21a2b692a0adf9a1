/**
 * The Chorale federation broker: it joins isolated member collectives into one federation, as
 * Choria's Federation Broker does. A client configured with `federation.collectives` publishes
 * each request to `choria.federation.<member>.federation` on the federation network, with the
 * request subjects it is for in the transport's `federation.target` header (up to 200
 * `<collective>.node.<identity>` subjects, or one broadcast subject). A federation broker takes
 * it (one of any number of instances, by queue group), re-publishes it to each target inside the
 * member collective with reply-to `choria.federation.<member>.collective`, and sends each node's
 * reply to the client's original reply subject. Every hop is recorded with its times in
 * `seen-by`, which `chorale federation trace` shows.
 *
 * @example Transform a request for a member collective
 * ```ts
 * import { transformRequest } from "./mod.ts";
 * const request = JSON.stringify({
 *   protocol: "choria:transport:1",
 *   data: "e30=",
 *   headers: {
 *     "reply-to": "mcollective.reply.0f.1e",
 *     federation: { req: "bbb95c73eadb41c39f82a7eedffecee1", target: ["mcollective.node.n1"] },
 *   },
 * });
 * const out = transformRequest(request, { name: "east", collectives: ["mcollective"] }, {
 *   identity: "fed1", from: "f:4222", to: "e:4222", arrivedMs: 0, now: () => 0.2,
 * });
 * console.log(out.targets, JSON.parse(out.payload).headers["reply-to"]);
 * // [ "mcollective.node.n1" ] choria.federation.east.collective
 * ```
 *
 * @module
 */
export * from "./broker.ts";
export * from "./config.ts";
export * from "./hops.ts";
export * from "./metrics.ts";
export * from "./pipeline.ts";
export * from "./srv.ts";
