/**
 * `chorale facts FACT`: how many nodes have each value of a fact, and which nodes.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, say } from "../cli.ts";
import { ddlDirs, findAction, findDdl } from "../ddl_store.ts";
import { toCliError } from "../exit_codes.ts";
import { factValueCounts, renderFacts } from "../output/reports.ts";
import { parseRpcInputs } from "../rpc_inputs.ts";
import {
  addCallOptions,
  addTargetingOptions,
  type CallFlags,
  callSettings,
  type TargetingFlags,
  targetingOf,
} from "../targeting.ts";
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
import { connectFlags } from "./rpc.ts";

/** Adds `chorale facts` to `program`. */
export function registerFactsCommand(program: Command, ctx: CliContext, deps: FleetDeps): void {
  const command = program.command("facts")
    .description("report the values of a fact across the nodes, and which nodes have each")
    .argument("<fact>", "the fact, a dotted path into nested facts: os.family")
    .option("--json", "print the values, counts and nodes as JSON")
    .option("--no-progress", "never draw the progress bar");
  addTargetingOptions(command);
  addCallOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  chorale facts role
  chorale facts os.family -C base

Exit codes as 'chorale rpc': 0 ok, 1 nothing discovered, 2 some failed, 3 some did not answer,
4 none answered.`,
  ).action(async (fact) => {
    const opts = command.opts() as TargetingFlags & CallFlags & {
      json?: boolean;
      progress?: boolean;
    };
    let ddl, data;
    try {
      ddl = (await findDdl(ddlDirs(ctx, opts.ddlDir ?? []), "rpcutil")).ddl;
      data = parseRpcInputs(findAction(ddl, "get_fact"), [`fact=${fact}`], { agent: "rpcutil" });
    } catch (error) {
      throw toCliError(error);
    }
    const targeting = targetingOf(ctx, opts);
    await withFleet(ctx, deps, connectFlags(opts), async (client) => {
      const found = await discoverTargets(client, targeting, "rpcutil");
      requireNodes(found, `report fact '${fact}'`);
      const set = await runCall(
        ctx,
        client,
        {
          agent: "rpcutil",
          action: "get_fact",
          data,
          ddl,
          ...callSettings(targeting, found.nodes, opts),
        },
        found,
        { progress: progressWanted(ctx, opts.json === true, opts.progress) },
      );
      if (opts.json) {
        say(
          ctx,
          JSON.stringify({ fact, values: factValueCounts(set.results), stats: set.stats }, null, 2),
        );
      } else ctx.stdout(renderFacts(fact, set.results, set.stats, coloursFor(ctx)));
      finishCall(set);
    });
  });
}
