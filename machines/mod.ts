/**
 * Autonomous agents: Choria's machine files (finite state machines with watchers) run on every
 * node, and Scout checks compiled into them.
 *
 * @example Validate a machine file
 * ```ts
 * import { defaultPlugins, validateManifest } from "./mod.ts";
 * const check = validateManifest({ name: "m" }, { plugins: defaultPlugins() });
 * console.log(check.ok); // false
 * ```
 *
 * @module
 */
export * from "./command.ts";
export * from "./cron.ts";
export * from "./data_store.ts";
export * from "./duration.ts";
export * from "./events.ts";
export * from "./governor.ts";
export * from "./graph.ts";
export * from "./host.ts";
export * from "./machine.ts";
export * from "./manifest.ts";
export * from "./nagios.ts";
export * from "./prometheus.ts";
export * from "./scout.ts";
export * from "./state_machine.ts";
export * from "./watchers/mod.ts";
export * from "./control.ts";
