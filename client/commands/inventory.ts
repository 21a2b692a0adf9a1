/**
 * `chorale inventory NODE`: one node's agents, classes, facts and server details, from
 * `rpcutil#inventory`; for a node that does not answer (or with `--store`), its last registration
 * from the stream store, saying when it was last seen.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, CliError, say } from "../cli.ts";
import { ddlDirs, findDdl } from "../ddl_store.ts";
import { ExitCodes, toCliError } from "../exit_codes.ts";
import { formatDuration } from "../output/format.ts";
import { renderInventory } from "../output/reports.ts";
import { parseSeconds } from "../targeting.ts";
import { coloursFor, type FleetDeps, withFleet } from "./_fleet.ts";
import { connectFlags } from "./rpc.ts";
import { showStoredInventory } from "./_store.ts";

/** Adds `chorale inventory` to `program`. */
export function registerInventoryCommand(program: Command, ctx: CliContext, deps: FleetDeps): void {
  program.command("inventory")
    .description("show one node's agents, classes, facts and server details")
    .argument("<node>", "the node's identity")
    .option(
      "--config <file>",
      "client configuration file (default: chorale.yaml here or above, else the user's)",
    )
    .option("-T, --target <collective>", "the collective to ask (default: the configuration's)")
    .option("--ddl-dir <dir>", "another directory of agent DDLs, searched first")
    .option(
      "--timeout <seconds>",
      "how long to wait for the reply (default: the DDL's timeout + 2)",
      parseSeconds,
    )
    .option("--json", "print the inventory as JSON")
    .option("--store", "show the node's last registration from the stream store; do not ask it")
    .addHelpText(
      "after",
      `
Examples:
  chorale inventory n1.example.net
  chorale inventory n1.example.net --json
  chorale inventory n1.example.net --store   # also works while the node is offline

Exit codes: 0 ok, 2 the node answered with a failure, 4 it did not answer, 6 no broker
reachable, 7 certificate problem.`,
    )
    .action(async (node, opts) => {
      if (opts.store) {
        await showStoredInventory(ctx, node, opts, false);
        return;
      }
      let ddl;
      try {
        ddl = (await findDdl(ddlDirs(ctx, opts.ddlDir ? [opts.ddlDir] : []), "rpcutil")).ddl;
      } catch (error) {
        throw toCliError(error);
      }
      await withFleet(ctx, deps, connectFlags(opts), async (client) => {
        const set = await client.rpc({
          agent: "rpcutil",
          action: "inventory",
          ddl,
          nodes: [node],
          ...(opts.target !== undefined ? { collective: opts.target } : {}),
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
        }).done();
        const reply = set.results.find((r) => r.sender === node);
        // An offline node: its last registration in the stream store, when there is one.
        if (reply === undefined && await showStoredInventory(ctx, node, opts, true)) return;
        if (reply === undefined) {
          throw new CliError(
            `Cannot show the inventory of ${node} as it did not answer within ${
              formatDuration(set.stats.totalMs)
            }`,
            ExitCodes.noReply,
            { hint: "check the name with 'chorale discover -I NODE'" },
          );
        }
        if (reply.statuscode !== 0) {
          throw new CliError(
            `Cannot show the inventory of ${node} as it answered: ${reply.statusmsg}`,
            ExitCodes.someFailed,
          );
        }
        if (opts.json) say(ctx, JSON.stringify({ sender: node, ...reply.data }, null, 2));
        else ctx.stdout(renderInventory(reply, coloursFor(ctx)));
      });
    });
}
