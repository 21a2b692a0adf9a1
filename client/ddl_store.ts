/**
 * Where `chorale` finds agent DDLs: the directories given with `--ddl-dir` first, then the
 * user's (`$XDG_CONFIG_HOME/chorale/ddl`, else `~/.config/chorale/ddl`), then the DDLs built
 * into Chorale (`agents/ddl/`). The first `<agent>.json` found wins, so a local copy overrides a
 * built-in one. This module reads files; parsing and checking is `parseDdl`'s.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ActionDdl, AgentDdl } from "../agents/agent.ts";
import { DdlError, parseDdl } from "../agents/ddl.ts";
import type { CliContext } from "./cli.ts";

/** The DDLs that ship with Chorale's built-in agents. */
export const BUILTIN_DDL_DIR: string = fileURLToPath(new URL("../agents/ddl/", import.meta.url));

/** An agent or action with no DDL in any directory searched. */
export class UnknownAgentError extends Error {
  override name = "UnknownAgentError";
  /** Whether the agent or one of its actions is unknown. */
  readonly kind: "agent" | "action";

  constructor(message: string, kind: "agent" | "action", options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

/**
 * The directories to search, most important first: `flags` (from `--ddl-dir`, relative to the
 * working directory), the user's DDL directory, then the built-in one.
 */
export function ddlDirs(ctx: CliContext, flags: readonly string[] = []): string[] {
  const dirs = flags.map((dir) => resolve(ctx.cwd(), dir));
  const xdg = ctx.env("XDG_CONFIG_HOME");
  const home = ctx.env("HOME");
  if (xdg && xdg.startsWith("/")) dirs.push(join(xdg, "chorale", "ddl"));
  else if (home) dirs.push(join(home, ".config", "chorale", "ddl"));
  dirs.push(BUILTIN_DDL_DIR);
  return [...new Set(dirs)];
}

/** A DDL and the file it came from. */
export interface FoundDdl {
  ddl: AgentDdl;
  file: string;
}

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

const AGENT_NAME = /^[a-z0-9_]+$/;

/**
 * The names of every agent with a DDL in `dirs`, sorted.
 */
export async function listAgents(dirs: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of dirs) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        const name = entry.name.replace(/\.json$/, "");
        if (entry.isFile && entry.name.endsWith(".json") && AGENT_NAME.test(name)) names.add(name);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        continue;
      }
      throw error;
    }
  }
  return [...names].sort();
}

/**
 * The DDL of `agent` from the first directory that has `<agent>.json`.
 *
 * @throws {UnknownAgentError} When none has it, naming the agents there are.
 * @throws {DdlError} When the file is not a valid DDL.
 */
export async function findDdl(dirs: readonly string[], agent: string): Promise<FoundDdl> {
  if (AGENT_NAME.test(agent)) {
    for (const dir of dirs) {
      const file = join(dir, `${agent}.json`);
      const text = await readIfThere(file);
      if (text === undefined) continue;
      const ddl = parseDdl(text, { file });
      if (ddl.metadata.name !== agent) {
        throw new DdlError(
          `Cannot load DDL '${file}' as it describes agent '${ddl.metadata.name}', not '${agent}'`,
          { file, problems: [{ path: "metadata.name", message: `is not '${agent}'` }] },
        );
      }
      return { ddl, file };
    }
  }
  const known = await listAgents(dirs);
  throw new UnknownAgentError(
    `Cannot find agent '${agent}': the agents with a DDL are ${
      known.length === 0 ? "none" : known.join(", ")
    }`,
    "agent",
  );
}

/**
 * The action `name` of `ddl`.
 *
 * @throws {UnknownAgentError} Naming the actions the agent has.
 */
export function findAction(ddl: AgentDdl, name: string): ActionDdl {
  const action = ddl.actions.find((a) => a.action === name);
  if (action !== undefined) return action;
  throw new UnknownAgentError(
    `Cannot find action '${name}' in agent '${ddl.metadata.name}': its actions are ${
      ddl.actions.map((a) => a.action).join(", ")
    }`,
    "action",
  );
}
