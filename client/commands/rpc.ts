/**
 * `chorale rpc AGENT ACTION key=value ...` (alias `req`): calls an agent action on the nodes the
 * filters select, with the agent's DDL as the single source of its inputs, validation, help and
 * output. Inputs are converted to the DDL's types and checked before anything is sent.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import type { AgentDdl } from "../../agents/agent.ts";
import { type CliContext, say, UsageError } from "../cli.ts";
import { parseDdl } from "../../agents/ddl.ts";
import { ddlDirs, findAction, findDdl, listAgents, UnknownAgentError } from "../ddl_store.ts";
import { toCliError } from "../exit_codes.ts";
import { renderActionHelp, renderAgentHelp } from "../output/ddl_doc.ts";
import {
  type DisplayMode,
  DisplayModes,
  renderRpcTable,
  renderRpcText,
  replyLine,
  rpcDocument,
  statsLine,
} from "../output/rpc_text.ts";
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
  type ConnectFlags,
  discoverTargets,
  finishCall,
  type FleetDeps,
  progressWanted,
  requireNodes,
  runCall,
  withFleet,
} from "./_fleet.ts";

/** The options of `chorale rpc`. */
export interface RpcFlags extends TargetingFlags, CallFlags, OutputFlags {
  help?: boolean;
  display?: DisplayMode;
  progress?: boolean;
}

/** The output format flags. */
export interface OutputFlags {
  json?: boolean;
  jsonl?: boolean;
  table?: boolean;
}

/** How a command prints: text, `--json`, `--jsonl` or `--table`. */
export type OutputFormat = "text" | "json" | "jsonl" | "table";

/** The output format the flags ask for; more than one is a usage error. */
export function outputFormatOf(flags: OutputFlags): OutputFormat {
  const chosen = (["json", "jsonl", "table"] as const).filter((f) => flags[f] === true);
  if (chosen.length > 1) {
    throw new UsageError(
      `Cannot print as ${chosen.map((f) => `--${f}`).join(" and ")} at once: choose one`,
    );
  }
  return chosen[0] ?? "text";
}

async function loadDdl(dirs: string[], agent: string): Promise<AgentDdl> {
  try {
    return (await findDdl(dirs, agent)).ddl;
  } catch (error) {
    throw toCliError(error);
  }
}

/**
 * The agent's DDL from the local directories, else fetched from the fleet through the
 * `choria_registry` agent (introspection); the local "unknown agent" error stands when no node
 * has it either.
 */
async function ddlFor(
  ctx: CliContext,
  deps: FleetDeps,
  flags: ConnectFlags,
  dirs: string[],
  agent: string,
): Promise<AgentDdl> {
  try {
    return (await findDdl(dirs, agent)).ddl;
  } catch (local) {
    if (!(local instanceof UnknownAgentError)) throw toCliError(local);
    let fetched: AgentDdl | undefined;
    await withFleet(ctx, deps, flags, async (client) => {
      const set = await client.rpc({
        agent: "choria_registry",
        action: "ddl",
        data: { name: agent, plugin_type: "agent", format: "json" },
        filter: { agent: ["choria_registry"] },
        limit: 1,
        timeoutMs: 5_000,
      }).done();
      const reply = set.results.find((r) => r.statuscode === 0);
      if (reply) fetched = parseDdl(String(reply.data.ddl), { file: `${reply.sender}:${agent}` });
    });
    if (!fetched) throw toCliError(local);
    return fetched;
  }
}

/** Adds `chorale rpc` (and its alias `req`) to `program`. */
export function registerRpcCommand(program: Command, ctx: CliContext, deps: FleetDeps): void {
  const command = program.command("rpc")
    .alias("req")
    .description("call an agent action on the nodes the filters select")
    .argument("[agent]", "the agent, as its DDL names it")
    .argument("[action]", "the action")
    .argument("[inputs...]", "the action's inputs as key=value; types and rules come from the DDL")
    .helpOption(false)
    .option("-h, --help", "show help; after AGENT its actions, after ACTION its inputs");
  addTargetingOptions(command);
  addCallOptions(command);
  command
    .addOption(
      new Option("--display <which>", "which replies to print (default: the DDL's policy)")
        .choices(DisplayModes),
    )
    .option("--json", "print one JSON document: every reply, the summaries and the stats")
    .option("--jsonl", "print a JSON line per reply as it comes, then a stats line")
    .option("--table", "print the replies as a table")
    .option("--no-progress", "never draw the progress bar")
    .addHelpText(
      "after",
      `
Examples:
  chorale rpc rpcutil ping
  chorale rpc rpcutil --help                      # the agent's actions and their inputs
  chorale rpc package install package=zsh -C web --batch 10 --batch-sleep 5
  chorale req rpcutil get_fact fact=os.family -F role=db --json

Exit codes: 0 every node answered OK, 1 error or nothing discovered (invalid inputs are
refused before anything is sent), 2 some nodes failed, 3 some did not answer, 4 none answered,
5 unknown agent or action, 6 no broker reachable, 7 certificate problem.`,
    )
    .action(async (agent, action, inputs) => {
      const opts = command.opts() as RpcFlags;
      const dirs = ddlDirs(ctx, opts.ddlDir ?? []);
      if (opts.help) {
        if (agent === undefined) {
          ctx.stdout(command.helpInformation());
          const agents = await listAgents(dirs);
          say(ctx, `\nAgents with a DDL: ${agents.length === 0 ? "none" : agents.join(", ")}`);
          return;
        }
        const ddl = await loadDdl(dirs, agent);
        if (action === undefined) ctx.stdout(renderAgentHelp(ddl));
        else ctx.stdout(renderActionHelp(ddl, withCliError(() => findAction(ddl, action))));
        return;
      }
      if (agent === undefined) {
        const agents = await listAgents(dirs);
        throw new UsageError("Cannot call an action without an agent: give AGENT ACTION", {
          hint: `agents with a DDL: ${agents.join(", ")}; 'chorale rpc AGENT --help' shows one`,
        });
      }
      const ddl = await ddlFor(ctx, deps, connectFlags(opts), dirs, agent);
      if (action === undefined) {
        throw new UsageError(
          `Cannot call agent '${agent}' without an action: its actions are ${
            ddl.actions.map((a) => a.action).join(", ")
          }`,
          { hint: `'chorale rpc ${agent} --help' shows them with their inputs` },
        );
      }
      const actionDdl = withCliError(() => findAction(ddl, action));
      const data = withCliError(() => parseRpcInputs(actionDdl, inputs, { agent }));
      const format = outputFormatOf(opts);
      const targeting = targetingOf(ctx, opts);
      const colours = coloursFor(ctx);
      await withFleet(ctx, deps, connectFlags(opts), async (client) => {
        const found = await discoverTargets(client, targeting, agent);
        requireNodes(found, `call ${agent}#${action}`);
        const set = await runCall(
          ctx,
          client,
          {
            agent,
            action,
            data,
            ddl,
            ...callSettings(targeting, found.nodes, opts),
          },
          found,
          {
            progress: progressWanted(ctx, format === "json" || format === "jsonl", opts.progress),
            ...(format === "jsonl" ? { onReply: (r) => say(ctx, replyLine(r)) } : {}),
          },
        );
        const view = {
          agent,
          action,
          ddl: actionDdl,
          results: set.results,
          stats: set.stats,
          ...(opts.display !== undefined ? { display: opts.display } : {}),
          colours,
        };
        switch (format) {
          case "json":
            say(ctx, JSON.stringify(rpcDocument(view), null, 2));
            break;
          case "jsonl":
            say(ctx, statsLine(set.stats));
            break;
          case "table":
            ctx.stdout(renderRpcTable(view));
            break;
          default:
            ctx.stdout(renderRpcText(view));
        }
        finishCall(set);
      });
    });
}

/** `--config` and `-T` for connecting. */
export function connectFlags(opts: { config?: string; target?: string }) {
  return {
    ...(opts.config !== undefined ? { config: opts.config } : {}),
    ...(opts.target !== undefined ? { collective: opts.target } : {}),
  };
}

function withCliError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toCliError(error);
  }
}
