/**
 * A Deno child process the broker keeps running: a worker of `--workers`, or the stream store of
 * `--store`. Its log lines are passed on to the broker's standard error (and to a watcher), it is
 * started again when it exits by itself, and it is stopped with SIGTERM (SIGKILL after a grace
 * period) when the broker stops.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";

/** How to run one kept child. */
export interface KeptChildOptions {
  /** Names it in log lines, such as `worker` or `stream store`. */
  name: string;
  /** Fields added to its log lines, such as `{ worker: 2 }`. @default {} */
  fields?: Record<string, unknown>;
  /** Arguments to `deno` (`run`, permissions, the module, its flags), built anew at each start. */
  args: () => string[];
  /** Environment added to the broker's. @default {} */
  env?: Record<string, string>;
  /** Sees every line the child writes to standard error, before it is passed on. */
  onLine?: (line: string) => void;
  /**
   * Sees every line the child writes to standard output, which is not passed on: a channel for
   * events the supervisor needs whatever the log level. @default standard output is discarded
   */
  onStdoutLine?: (line: string) => void;
  /** Called before each start, including restarts. */
  onStart?: () => void;
}

const RESTART_DELAY_MS = 500;
const STOP_GRACE_MS = 5_000;

/** Runs a child until stopped, restarting it when it exits. */
export class KeptChild {
  readonly #options: KeptChildOptions;
  readonly #log: Logger;
  #child: Deno.ChildProcess | null = null;
  #stopped = false;
  #restarts = 0;

  constructor(options: KeptChildOptions, logger: Logger) {
    this.#options = options;
    this.#log = logger;
  }

  /** How many times the child was started again after it exited. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the child (`deno` from PATH, which the broker's `--allow-run=deno` admits). */
  start(): void {
    if (this.#stopped) return;
    this.#options.onStart?.();
    const child = new Deno.Command("deno", {
      args: this.#options.args(),
      env: this.#options.env ?? {},
      stdin: "null",
      stdout: this.#options.onStdoutLine ? "piped" : "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const onStdout = this.#options.onStdoutLine;
    if (onStdout) void forwardLines(child.stdout, onStdout);
    void forwardLines(child.stderr, (line) => {
      this.#options.onLine?.(line);
      console.error(line);
    });
    void child.status.then((status) => {
      if (this.#child !== child) return;
      this.#child = null;
      if (this.#stopped) return;
      this.#restarts++;
      this.#log.warn(`${this.#options.name} exited; restarting it`, {
        ...this.#options.fields,
        code: status.code,
        signal: status.signal,
      });
      setTimeout(() => this.start(), RESTART_DELAY_MS);
    });
  }

  /** Stops the child for good: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    try {
      child.kill("SIGTERM");
    } catch {
      return; // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, STOP_GRACE_MS);
    await child.status;
    clearTimeout(timer);
  }
}

async function forwardLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let partial = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
  } catch {
    // The stream ends with an error when the child is killed mid-write.
  }
  if (partial !== "") onLine(partial);
}
