/**
 * The rpcaudit log: one JSON object a line for every request an agent is about to run, in the
 * format of Choria's rpcaudit plugin.
 *
 * ```json
 * {"timestamp":"2024-05-01T10:00:00.123000+0000","request_id":"8e2c…","request_time":1714557599,"caller":"choria=rip.mcollective","sender":"client.example.net","agent":"service","action":"restart","data":{"service":"nginx"}}
 * ```
 *
 * By default the times are written as go-choria and the Ruby plugin write them (`timestamp` as
 * `2006-01-02T15:04:05.000000+0000`, `request_time` as Unix seconds), so Chorale's files mix with
 * Choria's and its tools parse them; `timeFormat: "rfc3339"` writes both as RFC 3339 instead.
 *
 * The log file is created with mode 0600 (see {@linkcode AuditLogOptions.mode}); an existing file
 * whose mode grants more is narrowed to it when opened, because audit lines carry request data.
 * Writes go through one queue per {@linkcode AuditLog}, each line in one append, so concurrent
 * records never interleave or get lost; separate processes appending to the same file rely on
 * `O_APPEND`. After log rotation, call {@linkcode AuditLog.reopen}.
 *
 * Needs `--allow-write` on the log file.
 *
 * @module
 */

/** A request about to run, as the audit log needs it. */
export interface AuditEntry {
  /** The request's id. */
  requestId: string;
  /** When the caller created the request (the v1 request's `time`). */
  requestTime: Date;
  /** The caller id, `choria=<certname>` for certificate callers. */
  caller: string;
  /** The identity of the client that sent the request. */
  sender: string;
  agent: string;
  action: string;
  /** The request's input data; written as `{}` when absent. */
  data?: unknown;
}

/** One line of the log, as written. */
export interface AuditLine {
  timestamp: string;
  request_id: string;
  /** RFC 3339, or Unix seconds with `timeFormat: "choria"`. */
  request_time: string | number;
  caller: string;
  sender: string;
  agent: string;
  action: string;
  data: unknown;
}

/**
 * How times are written: `rfc3339` writes both as RFC 3339 in UTC with milliseconds; `choria`
 * writes them as go-choria does, `timestamp` with microseconds and a `+0000` offset and
 * `request_time` as Unix seconds.
 */
export type AuditTimeFormat = "rfc3339" | "choria";

/** Options for {@linkcode formatAuditLine}. */
export interface FormatAuditOptions {
  /**
   * How times are written.
   *
   * @default "choria"
   */
  timeFormat?: AuditTimeFormat;
}

/** Options for {@linkcode AuditLog.open}. */
export interface AuditLogOptions extends FormatAuditOptions {
  /**
   * The file's permission bits: used when creating it (less the umask), and to narrow an existing
   * file that grants more. Choria's `plugin.rpcaudit.logfile.mode`. Ignored on Windows.
   *
   * @default 0o600
   */
  mode?: number;
  /**
   * The clock for `timestamp`.
   *
   * @default () => new Date()
   */
  now?: () => Date;
}

/** The audit log cannot be opened or written, or an entry cannot be written as JSON. */
export class AuditError extends Error {
  override name = "AuditError";
  /** The log file. */
  readonly path: string;

  /**
   * @example Tell audit failures apart
   * ```ts
   * import { AuditError } from "./audit.ts";
   * const error = new AuditError("Cannot open audit log '/x' as its directory does not exist", {
   *   path: "/x",
   * });
   * console.log(error.name, error.path); // "AuditError" "/x"
   * ```
   */
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
  }
}

/**
 * Formats one audit line, newline included. Pure: the caller supplies the time.
 *
 * @param now The line's `timestamp`.
 * @throws {TypeError} when the request time is not a valid date or the data cannot be written
 *   as JSON.
 *
 * @example Format a line
 * ```ts
 * import { formatAuditLine } from "./audit.ts";
 * const line = formatAuditLine({
 *   requestId: "b7e2",
 *   requestTime: new Date("2024-05-01T09:59:59Z"),
 *   caller: "choria=rip.mcollective",
 *   sender: "client.example.net",
 *   agent: "service",
 *   action: "restart",
 *   data: { service: "nginx" },
 * }, new Date("2024-05-01T10:00:00.123Z"));
 * console.log(JSON.parse(line).request_time); // "2024-05-01T09:59:59.000Z"
 * ```
 */
export function formatAuditLine(
  entry: AuditEntry,
  now: Date,
  options: FormatAuditOptions = {},
): string {
  const choria = (options.timeFormat ?? "choria") === "choria";
  for (const [name, date] of [["request time", entry.requestTime], ["time", now]] as const) {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new TypeError(
        `Cannot format the audit line of request '${entry.requestId}' as its ${name} is not a valid date`,
      );
    }
  }
  const line: AuditLine = {
    timestamp: choria ? now.toISOString().replace(/Z$/, "000+0000") : now.toISOString(),
    request_id: entry.requestId,
    request_time: choria
      ? Math.floor(entry.requestTime.getTime() / 1000)
      : entry.requestTime.toISOString(),
    caller: entry.caller,
    sender: entry.sender,
    agent: entry.agent,
    action: entry.action,
    data: entry.data ?? {},
  };
  let json: string | undefined;
  try {
    json = JSON.stringify(line);
  } catch (cause) {
    throw new TypeError(
      `Cannot format the audit line of request '${entry.requestId}' as its data cannot be written as JSON`,
      { cause },
    );
  }
  return `${json}\n`;
}

const encoder = new TextEncoder();

/**
 * An append-only rpcaudit log file. Record each request before its action runs; `record`
 * resolves once the line is written to the file and rejects with an {@linkcode AuditError} when
 * it cannot be, so the caller can refuse to run an action it could not audit.
 *
 * @example Audit a request before running it
 * ```ts
 * import { AuditLog } from "./audit.ts";
 * const dir = await Deno.makeTempDir();
 * {
 *   await using audit = await AuditLog.open(`${dir}/rpcaudit.log`);
 *   await audit.record({
 *     requestId: "b7e2",
 *     requestTime: new Date(),
 *     caller: "choria=rip.mcollective",
 *     sender: "client.example.net",
 *     agent: "service",
 *     action: "restart",
 *     data: { service: "nginx" },
 *   });
 * }
 * console.log((await Deno.readTextFile(`${dir}/rpcaudit.log`)).split("\n").length); // 2
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class AuditLog implements AsyncDisposable {
  /** The log file. */
  readonly path: string;
  // An AuditError after a failed reopen, which each write then reports.
  #file: Deno.FsFile | AuditError;
  readonly #mode: number;
  readonly #now: () => Date;
  readonly #format: FormatAuditOptions;
  // Every write, reopen and close chains onto this, so they happen one at a time in call order.
  #tail: Promise<void> = Promise.resolve();
  #closed: Promise<void> | undefined;

  private constructor(path: string, file: Deno.FsFile, options: AuditLogOptions) {
    this.path = path;
    this.#file = file;
    this.#mode = options.mode ?? 0o600;
    this.#now = options.now ?? (() => new Date());
    this.#format = options.timeFormat === undefined ? {} : { timeFormat: options.timeFormat };
  }

  /**
   * Opens the log for appending, creating it with `mode` or narrowing an existing file's mode.
   *
   * @throws {AuditError} when the file cannot be opened or its mode cannot be narrowed.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const file = await openLog(path, options.mode ?? 0o600);
    return new AuditLog(path, file, options);
  }

  /**
   * Appends the entry's line, timestamped now.
   *
   * @throws {AuditError} when the log is closed, the entry cannot be written as JSON or the
   *   write fails.
   */
  async record(entry: AuditEntry): Promise<void> {
    if (this.#closed !== undefined) {
      throw new AuditError(
        `Cannot record request '${entry.requestId}' as the audit log '${this.path}' is closed`,
        { path: this.path },
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(formatAuditLine(entry, this.#now(), this.#format));
    } catch (cause) {
      throw new AuditError(
        `Cannot record request '${entry.requestId}' in audit log '${this.path}': ${
          (cause as Error).message
        }`,
        { path: this.path, cause },
      );
    }
    await this.#enqueue(() => this.#write(bytes, entry.requestId));
  }

  /**
   * Closes and opens the file again after lines already recorded are written, for log rotation
   * (call it on SIGHUP, say).
   *
   * @throws {AuditError} when the log is closed or the file cannot be opened; records then fail
   *   until a reopen succeeds.
   */
  async reopen(): Promise<void> {
    if (this.#closed !== undefined) {
      throw new AuditError(`Cannot reopen the audit log '${this.path}' as it is closed`, {
        path: this.path,
      });
    }
    await this.#enqueue(async () => {
      if (!(this.#file instanceof AuditError)) this.#file.close();
      try {
        this.#file = await openLog(this.path, this.#mode);
      } catch (error) {
        this.#file = error as AuditError;
        throw error;
      }
    });
  }

  /** Writes what was recorded, then closes the file; later records reject. */
  close(): Promise<void> {
    this.#closed ??= this.#tail.then(() => {
      if (!(this.#file instanceof AuditError)) this.#file.close();
    });
    return this.#closed;
  }

  /** Same as {@linkcode AuditLog.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const done = this.#tail.then(task);
    this.#tail = done.catch(() => {});
    return done;
  }

  async #write(bytes: Uint8Array, requestId: string): Promise<void> {
    const file = this.#file;
    try {
      if (file instanceof AuditError) throw file;
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
    } catch (cause) {
      throw new AuditError(
        `Cannot record request '${requestId}' in audit log '${this.path}': ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
        { path: this.path, cause },
      );
    }
  }
}

async function openLog(path: string, mode: number): Promise<Deno.FsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { append: true, create: true, mode });
  } catch (cause) {
    const why = cause instanceof Deno.errors.NotFound
      ? " as its directory does not exist"
      : cause instanceof Deno.errors.IsADirectory
      ? " as it is a directory"
      : cause instanceof Deno.errors.PermissionDenied
      ? " as permission was denied"
      : cause instanceof Deno.errors.NotCapable
      ? " as Deno was not granted --allow-write for it"
      : `: ${cause instanceof Error ? cause.message : String(cause)}`;
    throw new AuditError(`Cannot open audit log '${path}'${why}`, { path, cause });
  }
  try {
    const info = await file.stat();
    // Devices and pipes (/dev/stderr) keep their modes; Windows reports none.
    if (info.isFile && info.mode !== null) {
      const current = info.mode & 0o777;
      if ((current & ~mode) !== 0) {
        try {
          await Deno.chmod(path, current & mode);
        } catch (cause) {
          throw new AuditError(
            `Cannot narrow the mode of audit log '${path}' from ${octal(current)} to ${
              octal(current & mode)
            }: ${cause instanceof Error ? cause.message : String(cause)}`,
            { path, cause },
          );
        }
      }
    }
  } catch (error) {
    file.close();
    if (error instanceof AuditError) throw error;
    throw new AuditError(
      `Cannot check the mode of audit log '${path}': ${
        error instanceof Error ? error.message : String(error)
      }`,
      { path, cause: error },
    );
  }
  return file;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}
