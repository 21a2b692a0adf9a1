/**
 * `deno task chorale`: the Chorale command line.
 *
 * ```sh
 * deno task chorale ca init                                   # a CA in ~/.config/chorale/ca
 * deno task chorale ca issue server broker.example.net --dns nats.example.net --ip 10.0.0.5
 * deno task chorale ca issue client alice.mcollective --out ~/.chorale
 * deno task chorale ca list                                   # what the CA issued, with expiry
 * deno task chorale enroll n1.example.net                     # on a node: key and request
 * deno task chorale ca sign n1.example.net.csr --out n1.example.net.crt
 * deno task chorale enroll --install n1.example.net.crt --ca ca.pem
 * ```
 *
 * Each subcommand is a module in `client/commands/` exporting a function that adds it to the
 * program; `--help` works on every command. Exit codes: 0 success, 1 the operation failed or was
 * refused, 2 a usage or configuration error.
 *
 * Configuration, lowest precedence first: defaults, environment (CHORALE_CA_DIR,
 * CHORALE_SSL_DIR), flags (`--dir`, `--ssl-dir`).
 *
 * Permissions it needs, and why:
 * - `--allow-read`, `--allow-write`: the CA directory, the ssl directory and the files named on
 *   the command line, all chosen at run time, so they cannot be listed in advance;
 * - `--allow-env=HOME,XDG_CONFIG_HOME,CHORALE_CA_DIR,CHORALE_SSL_DIR` for the default
 *   directories and their overrides, and `NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE`, which the
 *   commander library reads to decide on colour in help;
 * - `--allow-sys=uid` to tell root (Puppet's system ssl directory) from other users.
 *
 * No network access, no subprocesses.
 *
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import denoJson from "../deno.json" with { type: "json" };
import { type CliContext, describeError, exitCodeOf, processContext } from "./cli.ts";
import { registerCaCommand } from "./commands/ca.ts";
import { registerEnrollCommand } from "./commands/enroll.ts";

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
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("chorale")
    .description("Chorale: fleet orchestration in the model of Choria")
    .version(denoJson.version)
    .configureOutput({
      writeOut: (text) => ctx.stdout(text),
      writeErr: (text) => ctx.stderr(text),
    })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  // Subcommands made with .command() inherit the settings above, so configure them first.
  registerCaCommand(program, ctx);
  registerEnrollCommand(program, ctx);
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
export async function main(args: readonly string[], ctx = processContext()): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the help or the problem already.
      if (error.exitCode === 0) return 0;
      return 2;
    }
    ctx.stderr(describeError(error));
    return exitCodeOf(error);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
