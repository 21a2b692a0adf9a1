/**
 * The fleet emulator behind `chorale emulate`: many real Chorale servers (`emulated-<i>`) against
 * one broker, spread over processes and loopback addresses so that 50,000 connections fit this
 * machine's descriptor and ephemeral-port limits.
 *
 * - `supervisor.ts`: checks the options, splits the fleet and runs one worker process per slice;
 * - `worker.ts`: one process, one {@linkcode EmulatedFleet}, reporting as JSON lines;
 * - `fleet.ts`: the servers of one process, sharing what can be shared;
 * - `config.ts`: the server configuration they all use.
 *
 * @example Plan a run without starting it
 * ```ts
 * import { planEmulation } from "./mod.ts";
 * const plan = planEmulation({ instances: 50_000, brokers: ["tls://127.0.0.1:4222"] });
 * console.log(plan.processes, plan.brokers.length); // 3 2
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./fleet.ts";
export * from "./supervisor.ts";
