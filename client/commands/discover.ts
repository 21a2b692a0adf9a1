/**
 * `chorale discover`: the nodes the filters select, one identity a line.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, say } from "../cli.ts";
import { formatDuration } from "../output/format.ts";
import { addTargetingOptions, type TargetingFlags, targetingOf } from "../targeting.ts";
import { discoverTargets, type FleetDeps, requireNodes, withFleet } from "./_fleet.ts";
import { connectFlags } from "./rpc.ts";

/** Adds `chorale discover` to `program`. */
export function registerDiscoverCommand(program: Command, ctx: CliContext, deps: FleetDeps): void {
  const command = program.command("discover")
    .description("list the nodes the filters select, one a line")
    .option("--json", "print a JSON array of identities");
  addTargetingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  chorale discover
  chorale discover -C apache -F os.family=linux
  chorale discover -S "role == 'web' and memory > 1500" --json

Exit codes: 0 nodes found, 1 none found, 2 usage or configuration error, 6 no broker reachable,
7 certificate problem.`,
  ).action(async () => {
    const opts = command.opts() as TargetingFlags & { json?: boolean };
    const targeting = targetingOf(ctx, opts);
    await withFleet(ctx, deps, connectFlags(opts), async (client) => {
      const found = await discoverTargets(client, targeting);
      if (opts.json) say(ctx, JSON.stringify(found.nodes));
      else if (found.nodes.length > 0) say(ctx, found.nodes.join("\n"));
      requireNodes(found, "list nodes");
      if (!opts.json && (ctx.isTerminal?.("stdout") ?? false)) {
        say(
          ctx,
          `\nDiscovered ${found.nodes.length} node${found.nodes.length === 1 ? "" : "s"} in ${
            formatDuration(found.elapsedMs)
          }`,
        );
      }
    });
  });
}
