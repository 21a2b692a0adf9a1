/**
 * What every `chorale` command shares: the context it runs in (output, environment, clock), the
 * errors that choose its exit code, its configuration (defaults < environment < flags) and plain
 * text tables.
 *
 * Exit codes: 0 success, 1 the operation failed or was refused, 2 a usage or configuration error.
 *
 * @module
 */
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { join, resolve } from "node:path";
import { ConfigError, type ConfigKey, loadConfig } from "../core/config.ts";
import { defaultPuppetSslDir } from "../core/security/providers.ts";

/** Where a command writes and what it may read of its surroundings; tests pass their own. */
export interface CliContext {
  /** Writes text to standard output as is. */
  stdout(text: string): void;
  /** Writes text to standard error as is. */
  stderr(text: string): void;
  /** Reads an environment variable (only those in the task's `--allow-env` list). */
  env(name: string): string | undefined;
  /** The directory relative paths are resolved against. */
  cwd(): string;
  /** The user id, or null where there is none. */
  uid(): number | null;
  /** The current time. */
  now(): Date;
  /** Whether a stream is a terminal (progress bars and colours need one). @default false */
  isTerminal?(stream: "stdout" | "stderr"): boolean;
  /** The terminal's width in characters. @default 80 */
  columns?(): number;
}

const encoder = new TextEncoder();

/**
 * The context of the running process.
 *
 * @example Write a line
 * ```ts
 * import { processContext } from "./cli.ts";
 * processContext().stdout("hello\n");
 * ```
 */
export function processContext(): CliContext {
  return {
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    env: (name) => Deno.env.get(name),
    cwd: () => Deno.cwd(),
    uid: () => Deno.uid(),
    now: () => new Date(),
    isTerminal: (stream) => (stream === "stdout" ? Deno.stdout : Deno.stderr).isTerminal(),
    columns: () => {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 80;
      }
    },
  };
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/** Options for {@linkcode CliError}. */
export interface CliErrorOptions extends ErrorOptions {
  /** What the person could do about it, shown on a line of its own. */
  hint?: string;
  /** More problems of the same kind, one sentence each, shown on lines of their own. */
  details?: readonly string[];
}

/** A failure a command reports to the person running it, with the exit code it means. */
export class CliError extends Error {
  override name = "CliError";
  /** The process exit code. */
  readonly exitCode: number;
  /** What the person could do about it. */
  readonly hint: string | undefined;
  /** More problems, one sentence each. */
  readonly details: readonly string[];

  constructor(message: string, exitCode = 1, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }
}

/** Arguments that do not make sense together, or values that are not allowed: exit code 2. */
export class UsageError extends CliError {
  override name = "UsageError";

  constructor(message: string, options: CliErrorOptions = {}) {
    super(message, 2, options);
  }
}

/**
 * Ends a command with an exit code and nothing more to say: the command has already written its
 * output (such as `chorale rpc` after some nodes did not answer).
 */
export class ExitStatus extends CliError {
  override name = "ExitStatus";

  constructor(exitCode: number) {
    super(`exit status ${exitCode}`, exitCode);
  }
}

/** `error` as a {@linkcode CliError} with a hint on what to do about it. */
export function withHint(error: Error, hint: string, exitCode = 1): CliError {
  return new CliError(error.message, exitCode, { cause: error, hint });
}

/** The lines that report `error` to a person: its message, then its hint if it has one. */
export function describeError(error: unknown): string {
  if (error instanceof ExitStatus) return "";
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof CliError
    ? error.details.map((line) => `\nchorale: ${line}`).join("")
    : "";
  const hint = error instanceof CliError && error.hint ? `\nchorale: hint: ${error.hint}` : "";
  return `chorale: ${message}${details}${hint}\n`;
}

/** The exit code of an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof ConfigError) return 2;
  return 1;
}

/** Writes one line to standard output. */
export function say(ctx: CliContext, line = ""): void {
  ctx.stdout(`${line}\n`);
}

/** Writes a warning line to standard error. */
export function warn(ctx: CliContext, message: string): void {
  ctx.stderr(`chorale: warning: ${message}\n`);
}

/** The CLI's configuration keys. */
export const ChoraleConfigKeys: readonly ConfigKey[] = [
  {
    key: "ca_dir",
    type: "string",
    default: "",
    env: "CHORALE_CA_DIR",
    doc: "the CA directory of 'chorale ca'; empty means $XDG_CONFIG_HOME/chorale/ca, " +
      "or ~/.config/chorale/ca when XDG_CONFIG_HOME is not set",
  },
  {
    key: "ssl_dir",
    type: "string",
    default: "",
    env: "CHORALE_SSL_DIR",
    doc: "the ssl directory (Puppet layout) of 'chorale enroll'; empty means " +
      "~/.puppetlabs/etc/puppet/ssl, or /etc/puppetlabs/puppet/ssl for root",
  },
];

function configured(ctx: CliContext, key: string, flag: string | undefined): string {
  const { values, problems } = loadConfig(ChoraleConfigKeys, {
    env: (name) => ctx.env(name),
    flags: { [key]: flag },
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return String(values[key]);
}

/**
 * The CA directory: `--dir`, else CHORALE_CA_DIR, else `$XDG_CONFIG_HOME/chorale/ca`, else
 * `~/.config/chorale/ca`; relative paths are taken from the current directory.
 *
 * @example Without flags or CHORALE_CA_DIR
 * ```ts
 * import { caDir, processContext } from "./cli.ts";
 * const env: Record<string, string> = { HOME: "/home/alice" };
 * console.log(caDir({ ...processContext(), env: (n) => env[n] }, undefined));
 * // /home/alice/.config/chorale/ca
 * ```
 */
export function caDir(ctx: CliContext, flag: string | undefined): string {
  const chosen = configured(ctx, "ca_dir", flag);
  if (chosen !== "") return resolve(ctx.cwd(), chosen);
  const xdg = ctx.env("XDG_CONFIG_HOME");
  // The XDG base directory specification says relative values are to be ignored.
  if (xdg && xdg.startsWith("/")) return join(xdg, "chorale", "ca");
  const home = ctx.env("HOME");
  if (home) return join(home, ".config", "chorale", "ca");
  throw new UsageError(
    "Cannot choose a CA directory as neither XDG_CONFIG_HOME nor HOME is set: " +
      "pass --dir or set CHORALE_CA_DIR",
  );
}

/**
 * The ssl directory: `--ssl-dir`, else CHORALE_SSL_DIR, else Puppet's (root's or the user's).
 */
export function sslDir(ctx: CliContext, flag: string | undefined): string {
  const chosen = configured(ctx, "ssl_dir", flag);
  if (chosen !== "") return resolve(ctx.cwd(), chosen);
  const home = ctx.env("HOME");
  const root = ctx.uid() === 0;
  if (!root && !home) {
    throw new UsageError(
      "Cannot choose an ssl directory as HOME is not set: pass --ssl-dir or set CHORALE_SSL_DIR",
    );
  }
  return defaultPuppetSslDir({ root, ...(home ? { home } : {}) });
}

/**
 * Lays rows out in columns padded with spaces, headers first, for people to read.
 *
 * @example A two-column table
 * ```ts
 * import { formatTable } from "./cli.ts";
 * console.log(formatTable(["NAME", "KIND"], [["n1.example.net", "server"]]));
 * // NAME            KIND
 * // n1.example.net  server
 * ```
 */
export function formatTable(headers: readonly string[], rows: readonly string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(headers), ...rows.map(line)].join("\n");
}

/** A date as `YYYY-MM-DD HH:MM UTC`. */
export function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Parses a positive whole number of days for `--days`. */
export function parseDays(value: string): number {
  const days = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(days) || days < 1 || days > 36_500) {
    throw new InvalidArgumentError("Give a whole number of days from 1 to 36500.");
  }
  return days;
}

/** Collects a repeatable option's values; commas separate several in one value. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...previous ?? [], ...value.split(",").map((v) => v.trim()).filter(Boolean)];
}
