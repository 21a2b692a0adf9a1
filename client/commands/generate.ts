/**
 * `chorale generate client DDL`: a TypeScript module with a client typed from an agent's DDL
 * (one method per action, typed inputs and outputs), from `generateClient` in client/typed.ts.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { parseDdl } from "../../agents/ddl.ts";
import { type CliContext, CliError, say, withHint } from "../cli.ts";
import { ddlDirs, findDdl } from "../ddl_store.ts";
import { toCliError } from "../exit_codes.ts";
import { generateClient } from "../typed.ts";
import { FileExistsError, pathExists } from "../../core/security/pem_files.ts";

/** Adds `chorale generate` and `chorale generate client` to `program`. */
export function registerGenerateCommand(program: Command, ctx: CliContext): void {
  const generate = program.command("generate").description("generate code from DDLs");
  generate.command("client")
    .description("write a TypeScript client typed from an agent's DDL")
    .argument("<ddl>", "a DDL file (ending in .json), or an agent whose DDL is found locally")
    .option("--ddl-dir <dir>", "another directory of agent DDLs, searched first")
    .option("--out <file>", "write the module here instead of printing it")
    .option(
      "--import-from <specifier>",
      "where the module imports Chorale from",
      "jsr:@chorale/chorale",
    )
    .option("--force", "replace --out if it exists")
    .addHelpText(
      "after",
      `
Examples:
  chorale generate client rpcutil --out rpcutil_client.ts
  chorale generate client ./ddl/acme.json --import-from ../chorale/client/mod.ts`,
    )
    .action(async (source, opts) => {
      try {
        const ddl = source.endsWith(".json")
          ? parseDdl(await Deno.readTextFile(resolve(ctx.cwd(), source)), { file: source })
          : (await findDdl(ddlDirs(ctx, opts.ddlDir ? [opts.ddlDir] : []), source)).ddl;
        const code = generateClient(ddl, { importFrom: opts.importFrom });
        if (opts.out === undefined) {
          ctx.stdout(code);
          return;
        }
        const out = resolve(ctx.cwd(), opts.out);
        if (!opts.force && await pathExists(out)) {
          throw withHint(new FileExistsError("client module", out), "pass --force to replace it");
        }
        await Deno.writeTextFile(out, code);
        say(ctx, `Wrote a typed client for '${ddl.metadata.name}' to ${out}`);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new CliError(`Cannot read DDL ${source} as it does not exist`, 1, { cause: error });
        }
        throw toCliError(error);
      }
    });
}
