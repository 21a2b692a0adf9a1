/**
 * Runs the commands watchers name: split into words as a shell would (quotes and backslashes,
 * no expansion), relative paths resolved against the machine's directory, with a timeout that
 * kills the process, bounded output, and every way to fail (missing, not allowed, killed,
 * crashed) turned into a result rather than an exception.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";

/** A command line that cannot be split. */
export class CommandLineError extends Error {
  override name = "CommandLineError";
}

/**
 * Splits a command line into words: single and double quotes and backslash escapes as in a
 * POSIX shell; nothing else is interpreted.
 *
 * @example Split a command line
 * ```ts
 * import { splitCommandLine } from "./command.ts";
 * console.log(splitCommandLine(`check_disk -w 10% -p "/var/lib/my data"`));
 * // ["check_disk", "-w", "10%", "-p", "/var/lib/my data"]
 * ```
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let started = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) {
        word += line[++i];
      } else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (quote !== null) {
    throw new CommandLineError(
      `Cannot split command ${JSON.stringify(line)} as a ${quote} quote is not closed`,
    );
  }
  if (started) words.push(word);
  if (words.length === 0) throw new CommandLineError("Cannot run an empty command");
  return words;
}

/** What running a command gave. */
export interface CommandResult {
  /** The exit code, or null when it did not exit by itself. */
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Why it did not run to completion: killed on timeout, could not start, or killed by a signal. */
  failure?: { kind: "timeout" | "spawn" | "signal"; message: string };
}

/** Options for {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Relative program paths are resolved against, and the working directory. */
  cwd: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill it after this long. */
  timeoutMs: number;
  /** Keep at most this many bytes of each stream. @default 65536 */
  maxOutput?: number;
  signal?: AbortSignal;
}

/**
 * Runs a command line and never throws for the command's sake.
 *
 * @example Run a command
 * ```ts ignore
 * import { runCommand } from "./command.ts";
 * const result = await runCommand("/bin/echo hello", { cwd: "/tmp", timeoutMs: 5_000 });
 * console.log(result.code, result.stdout); // 0 "hello\n"
 * ```
 */
export async function runCommand(line: string, options: RunCommandOptions): Promise<CommandResult> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  let words: string[];
  try {
    words = splitCommandLine(line);
  } catch (error) {
    return {
      code: null,
      stdout: "",
      stderr: "",
      durationMs: 0,
      failure: { kind: "spawn", message: (error as Error).message },
    };
  }
  const first = words[0]!;
  let child: Deno.ChildProcess;
  try {
    // A relative path is the machine directory's; a bare name is looked for there first, as
    // Choria does, then on PATH.
    const local = join(options.cwd, first);
    const path = isAbsolute(first)
      ? first
      : first.includes("/") || (await exists(local))
      ? local
      : first;
    child = new Deno.Command(path, {
      args: words.slice(1),
      cwd: options.cwd,
      env: options.env ?? {},
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    const e = error as Error;
    const message = e.name === "NotCapable" || e.name === "PermissionDenied"
      ? `Cannot run '${
        words[0]
      }' as Deno was not allowed to run it: add its path to Deno's --allow-run`
      : e.name === "NotFound"
      ? `Cannot run '${words[0]}' as it does not exist`
      : `Cannot run '${words[0]}': ${e.message}`;
    return {
      code: null,
      stdout: "",
      stderr: "",
      durationMs: took(),
      failure: { kind: "spawn", message },
    };
  }
  let timedOut = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It already exited.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  options.signal?.addEventListener("abort", kill, { once: true });
  const max = options.maxOutput ?? 65_536;
  try {
    const [stdout, stderr, status] = await Promise.all([
      readBounded(child.stdout, max),
      readBounded(child.stderr, max),
      child.status,
    ]);
    const result: CommandResult = {
      code: status.signal ? null : status.code,
      stdout,
      stderr,
      durationMs: took(),
    };
    if (timedOut) {
      result.failure = {
        kind: "timeout",
        message: `Cannot finish '${
          words[0]
        }' as it ran past its ${options.timeoutMs} ms timeout and was killed`,
      };
    } else if (status.signal) {
      result.failure = {
        kind: "signal",
        message: `Cannot finish '${words[0]}' as it was killed by ${status.signal}`,
      };
    }
    return result;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readBounded(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    // Keep reading past the limit so the child never blocks on a full pipe.
    if (size < max) chunks.push(chunk.subarray(0, max - size));
    size += chunk.length;
  }
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
