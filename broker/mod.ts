/**
 * The broker's public surface: the {@linkcode Broker}, its settings, permissions and the monitor.
 *
 * @module
 */
export * from "./broker.ts";
export * from "./config.ts";
export * from "./monitor.ts";
export * from "./permissions.ts";
