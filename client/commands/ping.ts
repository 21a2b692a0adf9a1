/**
 * `chorale ping`: how long each node takes to answer the discovery agent's ping, with the
 * minimum, average and maximum round trip.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, say } from "../cli.ts";
import {
  coloursFor,
  discoverTargets,
  finishCall,
  type FleetDeps,
  progressWanted,
  requireNodes,
  runCall,
  withFleet,
} from "./_fleet.ts";
import { pingSummary, renderPing } from "../output/reports.ts";
import {
  addTargetingOptions,
  parseSeconds,
  type TargetingFlags,
  targetingOf,
} from "../targeting.ts";
import { connectFlags } from "./rpc.ts";

/** How long a ping waits for replies unless `--timeout` says otherwise, milliseconds. */
export const DEFAULT_PING_TIMEOUT_MS = 5_000;

/** Adds `chorale ping` to `program`. */
export function registerPingCommand(program: Command, ctx: CliContext, deps: FleetDeps): void {
  const command = program.command("ping")
    .description("ping the nodes the filters select and report round-trip times")
    .option("--timeout <seconds>", "how long to wait for replies (default: 5)", parseSeconds)
    .option("--json", "print the times and statistics as JSON")
    .option("--no-progress", "never draw the progress bar");
  addTargetingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  chorale ping
  chorale ping -F role=web --timeout 2

Exit codes: 0 every node answered, 1 nothing discovered, 3 some did not answer, 4 none answered,
6 no broker reachable, 7 certificate problem.`,
  ).action(async () => {
    const opts = command.opts() as TargetingFlags & {
      timeout?: number;
      json?: boolean;
      progress?: boolean;
    };
    const targeting = targetingOf(ctx, opts);
    await withFleet(ctx, deps, connectFlags(opts), async (client) => {
      const found = await discoverTargets(client, targeting, "discovery");
      requireNodes(found, "ping");
      const set = await runCall(
        ctx,
        client,
        {
          agent: "discovery",
          action: "ping",
          nodes: found.nodes,
          filter: targeting.filter,
          mode: "broadcast",
          timeoutMs: opts.timeout ?? DEFAULT_PING_TIMEOUT_MS,
          ...(targeting.collective !== undefined ? { collective: targeting.collective } : {}),
        },
        found,
        { progress: progressWanted(ctx, opts.json === true, opts.progress) },
      );
      if (opts.json) {
        say(
          ctx,
          JSON.stringify(
            {
              replies: set.results.map((r) => ({ sender: r.sender, elapsedMs: r.elapsedMs })),
              summary: pingSummary(set.results),
              stats: set.stats,
            },
            null,
            2,
          ),
        );
      } else ctx.stdout(renderPing(set.results, set.stats, coloursFor(ctx)));
      finishCall(set);
    });
  });
}
