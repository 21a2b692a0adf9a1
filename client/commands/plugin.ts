/**
 * `chorale plugin doc [AGENT]`: an agent's DDL rendered as a reference page, or without AGENT
 * the agents that have a DDL.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, formatTable, say, warn } from "../cli.ts";
import { ddlDirs, findAction, findDdl, listAgents } from "../ddl_store.ts";
import { toCliError } from "../exit_codes.ts";
import { renderActionHelp, renderDdlDoc } from "../output/ddl_doc.ts";

/** Adds `chorale plugin` and `chorale plugin doc` to `program`. */
export function registerPluginCommand(program: Command, ctx: CliContext): void {
  const plugin = program.command("plugin").description("read the DDLs of agents");
  plugin.command("doc")
    .description("show an agent's DDL as help: actions, inputs with their rules, outputs")
    .argument("[agent]", "the agent (agent/NAME also works), or AGENT/ACTION; none lists them")
    .option("--ddl-dir <dir>", "another directory of agent DDLs, searched first")
    .addHelpText(
      "after",
      `
Examples:
  chorale plugin doc
  chorale plugin doc rpcutil
  chorale plugin doc package/install`,
    )
    .action(async (name, opts) => {
      const dirs = ddlDirs(ctx, opts.ddlDir ? [opts.ddlDir] : []);
      try {
        if (name === undefined) {
          const rows: string[][] = [];
          for (const agent of await listAgents(dirs)) {
            try {
              const { ddl } = await findDdl(dirs, agent);
              rows.push([agent, ddl.metadata.version, ddl.metadata.description]);
            } catch (error) {
              warn(ctx, error instanceof Error ? error.message : String(error));
            }
          }
          say(ctx, formatTable(["AGENT", "VERSION", "DESCRIPTION"], rows));
          say(ctx, "\nRun 'chorale plugin doc AGENT' for one of them.");
          return;
        }
        const [agent, action] = name.replace(/^agent\//, "").split("/", 2) as [string, string?];
        const { ddl } = await findDdl(dirs, agent);
        ctx.stdout(action ? renderActionHelp(ddl, findAction(ddl, action)) : renderDdlDoc(ddl));
      } catch (error) {
        throw toCliError(error);
      }
    });
}
