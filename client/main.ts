/**
 * `deno task chorale`: the Chorale command line.
 *
 * ```sh
 * deno task chorale ca init                                   # a CA in ~/.config/chorale/ca
 * deno task chorale ca issue client alice.mcollective --out ~/.chorale
 * deno task chorale enroll n1.example.net                     # on a node: key and request
 * deno task chorale rpc rpcutil ping                          # call an action on every node
 * deno task chorale rpc package install package=zsh -C web --batch 10
 * deno task chorale rpc rpcutil --help                        # an agent's actions, from its DDL
 * deno task chorale discover -F os.family=linux               # the nodes a filter selects
 * deno task chorale ping                                      # round-trip times
 * deno task chorale facts role                                # each value and who has it
 * deno task chorale inventory n1.example.net                  # one node in detail
 * deno task chorale machine validate keep_file/machine.yaml  # every problem of the file
 * deno task chorale scout status -F role=web                 # Scout checks and their states
 * deno task chorale discover --dm registry -F role=web        # from the stream store, no broadcast
 * deno task chorale events tail --since 1h --type shutdown    # lifecycle events, then live
 * deno task chorale fleet                                     # nodes, versions, stopped, facts
 * deno task chorale plugin doc rpcutil                        # a DDL as help
 * deno task chorale generate client rpcutil --out rpcutil.ts  # a client typed from a DDL
 * deno task chorale completion bash                           # shell completion
 * deno task chorale federation trace n1.example.net --federations east  # hops and their times
 * ```
 *
 * Each subcommand is a module in `client/commands/` exporting a function that adds it to the
 * program; `--help` works on every command. Fleet commands read the client configuration
 * (`client/config.ts`: `--config FILE`, else `~/.config/chorale/client.yaml` and the nearest
 * `chorale.yaml`, then CHORALE_BROKERS, CHORALE_CERTIFICATE, CHORALE_KEY, CHORALE_CA, ...) and
 * agent DDLs from `--ddl-dir`, `~/.config/chorale/ddl` and the built-in `agents/ddl/`.
 *
 * Exit codes (Choria's for the outcome of a call, then one per way to fail before sending):
 *
 * | code | meaning                                                                          |
 * | ---- | -------------------------------------------------------------------------------- |
 * | 0    | success; for a call, every node answered OK                                      |
 * | 1    | the operation failed: invalid inputs (nothing is sent), nothing discovered, ...  |
 * | 2    | a usage or configuration error; after a call, some nodes answered with failure  |
 * | 3    | some nodes did not answer (they are named)                                       |
 * | 4    | no node answered                                                                 |
 * | 5    | unknown agent (no DDL) or unknown action                                         |
 * | 6    | no broker could be reached                                                       |
 * | 7    | the certificate or key is missing, expired, not yet valid, or refused            |
 *
 * Configuration, lowest precedence first: defaults, files, environment, flags.
 *
 * Permissions it needs, and why:
 * - `--allow-net`: the brokers, chosen by the configuration at run time;
 * - `--allow-read`, `--allow-write`: the configuration, certificates, DDL directories, the CA
 *   directory, the ssl directory and the files named on the command line, all chosen at run
 *   time, so they cannot be listed in advance;
 * - `--allow-env=HOME,XDG_CONFIG_HOME,USER,CHORALE_*` for the default directories, the client
 *   configuration's variables and the puppet provider's default certname;
 *   `LOG_TOKENS,LOG_STREAM`, which npm:yaml reads while it parses the configuration; and
 *   `NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE`, which decide on colour;
 * - `--allow-sys=uid` to tell root (Puppet's system ssl directory) from other users.
 *
 * No subprocesses.
 *
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import denoJson from "../deno.json" with { type: "json" };
import { type CliContext, describeError, exitCodeOf, processContext } from "./cli.ts";
import { defaultFleetDeps, type FleetDeps } from "./commands/_fleet.ts";
import { registerCaCommand } from "./commands/ca.ts";
import { registerCompletionCommand } from "./commands/completion.ts";
import { registerDiscoverCommand } from "./commands/discover.ts";
import { registerEmulateCommand } from "./commands/emulate.ts";
import { registerEnrollCommand } from "./commands/enroll.ts";
import { registerFactsCommand } from "./commands/facts.ts";
import { registerFederationCommand } from "./commands/federation.ts";
import { registerGenerateCommand } from "./commands/generate.ts";
import { registerInventoryCommand } from "./commands/inventory.ts";
import { registerMachineCommand } from "./commands/machine.ts";
import { registerPingCommand } from "./commands/ping.ts";
import { registerPluginCommand } from "./commands/plugin.ts";
import { registerRpcCommand } from "./commands/rpc.ts";
import { registerScoutCommand } from "./commands/scout.ts";
import { registerEventsCommand } from "./commands/events.ts";
import { registerFleetCommand } from "./commands/fleet_report.ts";
import { registerKvCommand } from "./commands/kv.ts";
import { DISCOVERY_METHODS, withRegistryDiscovery } from "./commands/_store.ts";

/**
 * Builds the `chorale` program for a context, with every subcommand registered.
 *
 * @example List the subcommands
 * ```ts
 * import { processContext } from "./cli.ts";
 * import { buildProgram } from "./main.ts";
 * console.log(buildProgram(processContext()).commands.map((c) => c.name()));
 * ```
 */
export function buildProgram(ctx: CliContext, fleet: FleetDeps = defaultFleetDeps): Command {
  const program = new Command("chorale")
    .description("Chorale: fleet orchestration in the model of Choria")
    .version(denoJson.version)
    .configureOutput({
      writeOut: (text) => ctx.stdout(text),
      writeErr: (text) => ctx.stderr(text),
    })
    .showHelpAfterError("(run with --help for usage)")
    .option(
      "--federations <names>",
      "reach these member collectives through federation brokers, comma-separated (federation.collectives)",
    )
    .option(
      "--dm, --discovery-method <method>",
      `how fleet commands find nodes: ${
        DISCOVERY_METHODS.join(", ")
      } (inventory and registry read the stream store's registration data)`,
    )
    .exitOverride();
  // The discovery method is program-wide; fleet commands see it through their dependencies.
  let method = "broadcast";
  program.hook("preAction", (_program, action) => {
    method = (action.optsWithGlobals() as { discoveryMethod?: string }).discoveryMethod ??
      "broadcast";
  });
  fleet = withRegistryDiscovery(fleet, () => method);
  // --federations is the highest-precedence source of federation.collectives. The fleet commands
  // read the configuration through their context, so the flag reaches it as that key's variable.
  const fleetCtx: CliContext = {
    ...ctx,
    env: (name) =>
      name === "CHORALE_FEDERATION_COLLECTIVES"
        ? program.opts().federations ?? ctx.env(name)
        : ctx.env(name),
  };
  // Subcommands made with .command() inherit the settings above, so configure them first.
  registerRpcCommand(program, fleetCtx, fleet);
  registerDiscoverCommand(program, fleetCtx, fleet);
  registerPingCommand(program, fleetCtx, fleet);
  registerFactsCommand(program, fleetCtx, fleet);
  registerInventoryCommand(program, fleetCtx, fleet);
  registerFederationCommand(program, fleetCtx);
  registerScoutCommand(program, fleetCtx, fleet);
  registerMachineCommand(program, fleetCtx);
  registerPluginCommand(program, ctx);
  registerGenerateCommand(program, ctx);
  registerCompletionCommand(program, ctx);
  registerCaCommand(program, ctx);
  registerEnrollCommand(program, ctx);
  registerEmulateCommand(program, ctx);
  registerEventsCommand(program, fleetCtx);
  registerFleetCommand(program, fleetCtx);
  registerKvCommand(program, fleetCtx);
  return program;
}

/**
 * Runs `chorale` with `args` (without the program name) and returns the exit code.
 *
 * @example Show the help
 * ```ts
 * import { main } from "./main.ts";
 * const code = await main(["--help"]);
 * console.log(code); // 0
 * ```
 */
export async function main(
  args: readonly string[],
  ctx: CliContext = processContext(),
  fleet: FleetDeps = defaultFleetDeps,
): Promise<number> {
  const program = buildProgram(ctx, fleet);
  try {
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the help or the problem already.
      if (error.exitCode === 0) return 0;
      return 2;
    }
    const described = describeError(error);
    if (described !== "") ctx.stderr(described);
    return exitCodeOf(error);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
