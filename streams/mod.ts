/**
 * Streams and data adapters: the embedded stream store (`node:sqlite`, WAL), its service over the
 * broker, Choria's data adapters with store and JetStream targets, the registration inventory
 * and the fleet summary.
 *
 * A broker (or any process) runs the store with {@linkcode startStoreService}:
 *
 * ```ts ignore
 * import { startStoreService } from "./streams/mod.ts";
 * const service = await startStoreService({
 *   dir: "/var/lib/chorale/streams",
 *   servers: ["tls://127.0.0.1:4222"],
 *   tls: { ca, cert, key },
 * });
 * // ... on shutdown
 * await service.close();
 * ```
 *
 * @example Keep events in a throwaway store
 * ```ts
 * import { defaultStreams, StreamStore } from "./mod.ts";
 * using store = StreamStore.open(":memory:");
 * for (const stream of defaultStreams()) store.addStream(stream);
 * console.log(store.streamNames()); // [ "CHORIA_EVENTS", "CHORIA_MACHINE", "CHORIA_REGISTRATION" ]
 * ```
 *
 * @module
 */
export * from "./store.ts";
export * from "./service.ts";
export * from "./api.ts";
export * from "./adapter.ts";
export * from "./targets.ts";
export * from "./inventory.ts";
export * from "./events.ts";
export * from "./permissions.ts";
export * from "./config.ts";
