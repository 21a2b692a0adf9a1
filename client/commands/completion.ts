/**
 * `chorale completion bash|zsh`: a shell completion script made from the program's commands and
 * options and the agents' DDLs (agents, actions and inputs of `chorale rpc`).
 *
 * @module
 */
import { type Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { type CliContext, warn } from "../cli.ts";
import { ddlDirs, findDdl, listAgents } from "../ddl_store.ts";
import {
  type CompletionCommand,
  type CompletionModel,
  renderBashCompletion,
  renderZshCompletion,
} from "../output/completion.ts";

function modelOf(command: CommandUnknownOpts): CompletionCommand {
  const flags: string[] = ["--help"];
  const valueFlags: string[] = [];
  for (const option of command.options) {
    const names = [option.short, option.long].filter((n): n is string => n !== undefined);
    flags.push(...names);
    if (option.required || option.optional) valueFlags.push(...names);
  }
  const choices = command.name() === "completion" ? { choices: ["bash", "zsh"] } : {};
  return {
    name: command.name(),
    aliases: command.aliases(),
    flags: [...new Set(flags)],
    valueFlags,
    subcommands: command.commands.map((c) => modelOf(c)),
    ...choices,
  };
}

/** Adds `chorale completion` to `program`. */
export function registerCompletionCommand(program: Command, ctx: CliContext): void {
  program.command("completion")
    .description("print a shell completion script")
    .addOption(new Option("--ddl-dir <dir>", "another directory of agent DDLs to complete from"))
    .argument("<shell>", "bash or zsh")
    .addHelpText(
      "after",
      `
Examples:
  source <(chorale completion bash)               # in ~/.bashrc
  chorale completion zsh > ~/.zfunc/_chorale      # with ~/.zfunc on $fpath`,
    )
    .action(async (shell, opts) => {
      if (shell !== "bash" && shell !== "zsh") {
        program.error(`error: shell '${shell}' is not supported: choose bash or zsh`, {
          exitCode: 2,
        });
      }
      const dirs = ddlDirs(ctx, opts.ddlDir ? [opts.ddlDir] : []);
      const agents: CompletionModel["agents"] = {};
      for (const agent of await listAgents(dirs)) {
        try {
          const { ddl } = await findDdl(dirs, agent);
          agents[agent] = Object.fromEntries(
            ddl.actions.map((a) => [a.action, Object.keys(a.input)]),
          );
        } catch (error) {
          warn(ctx, error instanceof Error ? error.message : String(error));
        }
      }
      const model = { program: modelOf(program as unknown as CommandUnknownOpts), agents };
      ctx.stdout(shell === "bash" ? renderBashCompletion(model) : renderZshCompletion(model));
    });
}
