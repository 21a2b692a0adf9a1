/**
 * `chorale federation trace NODE`: the path a request to one node and its reply took, hop by hop
 * (client, federation brokers, the node, and back), with the time spent getting to each hop and
 * inside it, from the times every hop recorded in the transport's `seen-by`.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, formatTable, say, warn } from "../cli.ts";
import { Client, type TraceResult } from "../client.ts";
import { loadClientOptions } from "../config.ts";
import { toCliError } from "../exit_codes.ts";
import { parseSeconds } from "../targeting.ts";

/** How long a trace waits for the node unless `--timeout` says otherwise, milliseconds. */
export const DEFAULT_TRACE_TIMEOUT_MS = 5_000;

function ms(value: number | null): string {
  return value === null ? "-" : value.toFixed(3);
}

/**
 * A trace as a table for people.
 *
 * @example Render a two-hop trace
 * ```ts
 * import { renderTrace } from "./federation.ts";
 * console.log(renderTrace({
 *   node: "n1", requestId: "bbb95c73eadb41c39f82a7eedffecee1", federated: false, roundTripMs: 1.5,
 *   steps: [
 *     { index: 1, leg: "request", from: "", via: "alice.mcollective", to: "b:4222", arrivedMs: 0, leftMs: 0, transitMs: null, spentMs: 0 },
 *     { index: 2, leg: "node", from: "", via: "n1", to: "", arrivedMs: 1, leftMs: 1, transitMs: 1, spentMs: 0 },
 *   ],
 * }));
 * ```
 */
export function renderTrace(trace: TraceResult): string {
  const start = trace.steps[0]?.arrivedMs ?? null;
  const rows = trace.steps.map((s) => [
    String(s.index),
    s.leg,
    s.via,
    `${s.from || "-"} -> ${s.to || "-"}`,
    start === null || s.arrivedMs === null ? "-" : ms(s.arrivedMs - start),
    ms(s.transitMs),
    ms(s.spentMs),
  ]);
  return [
    `Trace of ${trace.node} (request ${trace.requestId}), ${
      trace.federated ? "through federation" : "direct"
    }:`,
    "",
    formatTable(["#", "LEG", "VIA", "FROM -> TO", "AT MS", "TRANSIT MS", "IN HOP MS"], rows),
    "",
    `Round trip: ${ms(trace.roundTripMs)} ms (times are each hop's own clock)`,
  ].join("\n");
}

/** Adds `chorale federation` with its `trace` subcommand to `program`. */
export function registerFederationCommand(program: Command, ctx: CliContext): void {
  const federation = program.command("federation")
    .description("inspect a federation of collectives");
  const trace = federation.command("trace")
    .description("show the path a request to NODE and its reply took, with the time at each hop")
    .argument("<node>", "the node's identity")
    .option("--config <file>", "the client configuration file")
    .option(
      "-T, --target <collective>",
      "the collective the node is in (default: the configuration's)",
    )
    .option("--timeout <seconds>", "how long to wait for the node (default: 5)", parseSeconds)
    .option("--json", "print the trace as JSON");
  trace.addHelpText(
    "after",
    `
Examples:
  chorale federation trace n1.example.net --federations east
  chorale federation trace n1.example.net --json

Exit codes: 0 the node answered, 1 it did not, 2 configuration error, 6 no broker reachable,
7 certificate problem.`,
  ).action(async (node) => {
    const opts = trace.opts();
    try {
      const { client: options, warnings } = await loadClientOptions({
        env: (name) => ctx.env(name),
        cwd: ctx.cwd(),
        uid: ctx.uid(),
        now: ctx.now(),
        ...(opts.config !== undefined ? { file: opts.config } : {}),
      });
      for (const message of warnings) warn(ctx, message);
      await using client = await Client.connect(options);
      const result = await client.trace(node, {
        ...(opts.target !== undefined ? { collective: opts.target } : {}),
        timeoutMs: opts.timeout ?? DEFAULT_TRACE_TIMEOUT_MS,
      });
      say(ctx, opts.json ? JSON.stringify(result, null, 2) : renderTrace(result));
    } catch (error) {
      throw toCliError(error);
    }
  });
}
