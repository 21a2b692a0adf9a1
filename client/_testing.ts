/**
 * Test helpers for the CLI: run `chorale` in-process with captured output, or as a subprocess with
 * exactly the permissions of the `chorale` task in deno.json.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { CliContext } from "./cli.ts";
import type { FleetDeps } from "./commands/_fleet.ts";
import { main } from "./main.ts";

/** What one run of `chorale` did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runChorale} and {@linkcode spawnChorale}. */
export interface RunOptions {
  /** The working directory. */
  cwd: string;
  /** The environment the CLI sees. @default {} */
  env?: Record<string, string>;
  /** The time. @default now */
  now?: Date;
  /** The user id. @default 1000 */
  uid?: number;
  /** In-process only: how fleet commands reach the fleet. @default the real client */
  fleet?: FleetDeps;
  /** In-process only: whether standard output and error are terminals. @default false */
  terminal?: boolean;
}

/** Runs `chorale` in this process with a captured context. */
export async function runChorale(args: string[], options: RunOptions): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const env = options.env ?? {};
  const ctx: CliContext = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: (name) => env[name],
    cwd: () => options.cwd,
    uid: () => options.uid ?? 1000,
    now: () => options.now ?? new Date(),
    isTerminal: () => options.terminal ?? false,
    columns: () => 80,
  };
  const code = await main(args, ctx, options.fleet);
  return { code, stdout, stderr };
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONFIG = `${ROOT}deno.json`;
const MAIN = `${ROOT}client/main.ts`;

/** The permission flags of the `chorale` task in deno.json. */
export async function choraleTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(CONFIG)) as { tasks: Record<string, string> };
  const words = config.tasks.chorale!.split(/\s+/);
  return words.filter((w) => w.startsWith("--allow-") || w.startsWith("--deny-"));
}

/**
 * Runs `chorale` as `deno run` with the task's exact permission flags (so a permission the task
 * lacks fails the test), in `cwd`, with only the given environment plus what Deno itself needs.
 */
export async function spawnChorale(args: string[], options: RunOptions): Promise<RunResult> {
  const env: Record<string, string> = { NO_COLOR: "1", ...options.env };
  for (const name of ["DENO_DIR", "PATH"]) {
    const value = Deno.env.get(name);
    if (value !== undefined && env[name] === undefined) env[name] = value;
  }
  // Deno finds its cache from HOME when DENO_DIR is unset; keep that working whatever HOME is.
  if (env.DENO_DIR === undefined) {
    const home = Deno.env.get("HOME");
    const xdgCache = Deno.env.get("XDG_CACHE_HOME");
    env.DENO_DIR = xdgCache ? `${xdgCache}/deno` : `${home}/.cache/deno`;
  }
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", CONFIG, ...await choraleTaskFlags(), MAIN, ...args],
    cwd: options.cwd,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
