/**
 * Runs one program for an agent: an argv array handed to `Deno.Command`, never a shell, so nothing
 * a request carries is ever parsed by `sh`. The environment is pinned (C locale, non-interactive
 * Debian frontend, a fixed `PATH`), the working directory is `/`, stdin is closed, and stdout and
 * stderr are captured up to a size cap each.
 *
 * An {@linkcode AbortSignal} (the action's timeout) sends SIGTERM to the program, then SIGKILL
 * after a grace period. Only the direct child is signalled: when `apt-get` is stopped, a `dpkg`
 * it already started finishes its unpack instead of leaving half-configured packages behind.
 * A grandchild that keeps stdout open (a daemon an init script forgot to detach) does not hold the
 * call up: output is read for a short while after the program exits, then the pipes are dropped.
 *
 * @module
 */

/** What a finished program left behind. */
export interface CommandResult {
  /** The exit code; 128 + the signal number when a signal ended it. */
  code: number;
  /** The signal that ended the program, if one did. */
  signal: Deno.Signal | null;
  /** Standard output as UTF-8, cut at the size cap. */
  stdout: string;
  /** Standard error as UTF-8, cut at the size cap. */
  stderr: string;
  /** Whether stdout or stderr was cut at the size cap. */
  truncated: boolean;
}

/** Options for {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Aborting it stops the program and makes the call reject with {@linkcode CommandAbortedError}. */
  signal?: AbortSignal;
  /** Bytes kept from each of stdout and stderr; the rest is read and dropped. @default 1048576 */
  maxOutputBytes?: number;
  /** Variables added to the pinned environment ({@linkcode PINNED_ENV}), overriding it. @default {} */
  env?: Record<string, string>;
  /** The working directory. @default "/" */
  cwd?: string;
  /** Milliseconds between SIGTERM and SIGKILL once the signal aborts. @default 5000 */
  killGraceMs?: number;
  /** Milliseconds to keep reading output after the program exits. @default 250 */
  outputGraceMs?: number;
}

/** Runs a program: {@linkcode runCommand}, or a stand-in an agent is given. */
export type CommandRunner = (
  argv: readonly string[],
  options?: RunCommandOptions,
) => Promise<CommandResult>;

/** The environment every program starts with; nothing is inherited from the server. */
export const PINNED_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LC_ALL: "C",
  LANG: "C",
  DEBIAN_FRONTEND: "noninteractive",
  APT_LISTCHANGES_FRONTEND: "none",
});

/** A program could not be started, or its run was cut short. */
export class CommandError extends Error {
  override name = "CommandError";
  /** The argv that was run. */
  readonly argv: readonly string[];

  constructor(argv: readonly string[], message: string, options?: ErrorOptions) {
    super(message, options);
    this.argv = argv;
  }
}

/** The signal aborted a program; its output so far travels along. */
export class CommandAbortedError extends CommandError {
  override name = "CommandAbortedError";
  /** Output captured before the program was stopped, if it had started. */
  readonly partial: CommandResult | undefined;

  constructor(
    argv: readonly string[],
    message: string,
    partial: CommandResult | undefined,
    options?: ErrorOptions,
  ) {
    super(argv, message, options);
    this.partial = partial;
  }
}

interface Collected {
  bytes: Uint8Array;
  truncated: boolean;
}

/** Reads a stream to its end (or until cancelled), keeping at most `cap` bytes. */
function collect(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  cap: number,
): Promise<Collected> {
  return (async () => {
    const chunks: Uint8Array[] = [];
    let kept = 0;
    let truncated = false;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (kept >= cap) {
          truncated = true;
          continue;
        }
        const take = Math.min(value.byteLength, cap - kept);
        if (take < value.byteLength) truncated = true;
        chunks.push(take === value.byteLength ? value : value.subarray(0, take));
        kept += take;
      }
    } catch {
      // A cancelled or broken pipe ends the output; what was read so far stands.
    }
    const bytes = new Uint8Array(kept);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    return { bytes, truncated };
  })();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Deno.unrefTimer(timer);
  });
}

function checkOption(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot run a command as '${name}' must be a non-negative integer: current value is ${value}`,
    );
  }
}

/**
 * Runs `argv[0]` with the arguments `argv[1..]` and waits for it to exit. A non-zero exit is not an
 * error: the caller reads {@linkcode CommandResult.code}.
 *
 * @throws {CommandError} when the program cannot be started (not found, not permitted)
 * @throws {CommandAbortedError} when `options.signal` aborts before the program exits
 *
 * @example Run a program and read its output
 * ```ts
 * import { runCommand } from "./_command.ts";
 * const result = await runCommand(["/bin/echo", "hello; rm -rf /"]);
 * console.log(result.code, result.stdout); // 0 "hello; rm -rf /\n"
 * ```
 *
 * @example Stop a program at a deadline
 * ```ts
 * import { CommandAbortedError, runCommand } from "./_command.ts";
 * try {
 *   await runCommand(["/bin/sleep", "30"], { signal: AbortSignal.timeout(100) });
 * } catch (error) {
 *   console.log(error instanceof CommandAbortedError); // true
 * }
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (program === undefined || program === "") {
    throw new CommandError(argv, "Cannot run a command as 'argv' is empty");
  }
  const cap = options.maxOutputBytes ?? 1024 * 1024;
  const killGraceMs = options.killGraceMs ?? 5000;
  const outputGraceMs = options.outputGraceMs ?? 250;
  checkOption("maxOutputBytes", cap);
  checkOption("killGraceMs", killGraceMs);
  checkOption("outputGraceMs", outputGraceMs);
  const signal = options.signal;
  if (signal?.aborted) {
    throw new CommandAbortedError(
      argv,
      `Cannot run '${program}' as the action was aborted before it started`,
      undefined,
      { cause: signal.reason },
    );
  }

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      cwd: options.cwd ?? "/",
      clearEnv: true,
      env: { ...PINNED_ENV, ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new CommandError(
      argv,
      `Cannot run '${program}': ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }

  const outReader = child.stdout.getReader();
  const errReader = child.stderr.getReader();
  const outputs = Promise.all([collect(outReader, cap), collect(errReader, cap)]);

  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const onAbort = () => {
    stopped = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // It has already exited.
    }
    killTimer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited within the grace period.
      }
    }, killGraceMs);
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (killTimer !== undefined) clearTimeout(killTimer);
  }

  // A grandchild may still hold the pipes open; give the output a moment, then let go of it.
  const settled = await Promise.race([outputs.then(() => true), delay(outputGraceMs)]);
  if (!settled) {
    await Promise.all([outReader.cancel(), errReader.cancel()]).catch(() => {});
  }
  const [out, err] = await outputs;
  const decoder = new TextDecoder();
  const result: CommandResult = {
    code: status.code,
    signal: status.signal,
    stdout: decoder.decode(out.bytes),
    stderr: decoder.decode(err.bytes),
    truncated: out.truncated || err.truncated,
  };
  if (stopped && signal) {
    const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
    throw new CommandAbortedError(
      argv,
      `Cannot finish '${program}' as the action was aborted: ${reason}`,
      result,
      { cause: signal.reason },
    );
  }
  return result;
}
