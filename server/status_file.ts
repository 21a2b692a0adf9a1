/**
 * The server status file: the JSON go-choria's server writes every `status_update_interval`
 * seconds to `plugin.choria.status_file_path`, read by monitoring (`choria tool status`, Nagios
 * checks) and carried as `status` in inventory registration. Fields and order are go-choria's
 * `statistics.InstanceStatus`:
 *
 * ```json
 * {"identity":"n1","uptime":42,"connected_server":"nats://b1:4222","last_message":1700000000,
 *  "provisioning_mode":false,"stats":{"total":0,"valid":0,"invalid":0,"passed":0,"filtered":0,
 *  "replies":0,"ttlexpired":0,"events":0},"certificate_expires":"2029-01-01T00:00:00Z",
 *  "token_expires":"0001-01-01T00:00:00Z"}
 * ```
 *
 * `last_message` is 0 until a message is processed (go-choria starts it at the Unix epoch),
 * `connected_server` is empty while disconnected, and unknown expiry times are Go's zero time.
 * {@linkcode serverStatus} and {@linkcode decodeServerStatus} are pure; {@linkcode writeStatusFile}
 * writes a temporary file beside the target and renames it over, so readers never see half a file.
 *
 * @module
 */

/** Go's zero `time.Time` as `encoding/json` writes it: what unknown expiry times read as. */
export const ZERO_TIME = "0001-01-01T00:00:00Z" as const;

/** The mode go-choria gives the status file. */
export const STATUS_FILE_MODE = 0o644;

/** Counters of the messages a server handled, as go-choria's `statistics.ServerStats`. */
export interface ServerStats {
  /** Messages received. */
  total: number;
  /** Messages that passed security validation. */
  valid: number;
  /** Messages that failed it. */
  invalid: number;
  /** Messages that matched the node's filters. */
  passed: number;
  /** Messages that did not. */
  filtered: number;
  /** Replies sent. */
  replies: number;
  /** Messages refused as expired. */
  ttlexpired: number;
  /** Lifecycle and other events published. */
  events: number;
}

/** The status file, as go-choria's `statistics.InstanceStatus` (snake_case wire fields). */
export interface ServerStatus {
  /** The server's identity. */
  identity: string;
  /** Seconds since the server started. */
  uptime: number;
  /** The broker URL the server is connected to; empty when disconnected. */
  connected_server: string;
  /** When the last message was processed, Unix seconds; 0 when none was. */
  last_message: number;
  /** Whether the server runs in provisioning mode. */
  provisioning_mode: boolean;
  /** Message counters. */
  stats: ServerStats;
  /** When the server's certificate expires, RFC 3339; {@linkcode ZERO_TIME} when unknown. */
  certificate_expires: string;
  /** When the server's signer token expires, RFC 3339; {@linkcode ZERO_TIME} without one. */
  token_expires: string;
}

/** A time: a Date or ms since the epoch. */
export type Instant = Date | number;

/** Options for {@linkcode serverStatus}. */
export interface ServerStatusOptions {
  /** The server's identity. */
  identity: string;
  /** When the server started. */
  startedAt: Instant;
  /** The current time, ms since the epoch. @default Date.now() */
  now?: number;
  /** The connected broker's URL (passwords redacted); empty when disconnected. @default "" */
  connectedServer?: string;
  /** When the last message was processed; null when none was. @default null */
  lastMessage?: Instant | null;
  /** Whether the server runs in provisioning mode. @default false */
  provisioning?: boolean;
  /** Message counters; missing ones are 0. @default all 0 */
  stats?: Partial<ServerStats>;
  /** When the certificate expires; null when unknown. @default null */
  certificateExpires?: Instant | null;
  /** When the signer token expires; null without one. @default null */
  tokenExpires?: Instant | null;
}

/** A status file that cannot be read, decoded or written. */
export class StatusFileError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StatusFileError";
  }
}

const STAT_FIELDS = [
  "total",
  "valid",
  "invalid",
  "passed",
  "filtered",
  "replies",
  "ttlexpired",
  "events",
] as const satisfies readonly (keyof ServerStats)[];

/**
 * A time as Go's `encoding/json` writes a UTC `time.Time`: RFC 3339 with the fraction's trailing
 * zeros dropped (`2029-01-01T00:00:00Z`, `2029-01-01T00:00:00.5Z`); null is Go's zero time.
 *
 * @example Format an expiry
 * ```ts
 * import { goTime } from "./status_file.ts";
 * console.log(goTime(Date.UTC(2029, 0, 1)), goTime(null)); // 2029-01-01T00:00:00Z 0001-01-01T00:00:00Z
 * ```
 */
export function goTime(instant: Instant | null): string {
  if (instant === null) return ZERO_TIME;
  const ms = msOf(instant, "time");
  return new Date(ms).toISOString().replace(
    /\.(\d*?)0*Z$/,
    (_, digits: string) => digits === "" ? "Z" : `.${digits}Z`,
  );
}

/**
 * Builds the status of a server at `now`; throws a RangeError for invalid times.
 *
 * @example Describe a running server
 * ```ts
 * import { serverStatus } from "./status_file.ts";
 * const status = serverStatus({
 *   identity: "n1.example.net",
 *   startedAt: Date.UTC(2024, 0, 1),
 *   now: Date.UTC(2024, 0, 1, 0, 1),
 *   connectedServer: "nats://broker.example.net:4222",
 *   stats: { total: 3, valid: 3, passed: 2, filtered: 1, replies: 2 },
 * });
 * console.log(status.uptime, status.stats.replies); // 60 2
 * ```
 */
export function serverStatus(options: ServerStatusOptions): ServerStatus {
  const now = options.now ?? Date.now();
  const started = msOf(options.startedAt, "startedAt");
  const stats = {} as ServerStats;
  for (const field of STAT_FIELDS) {
    const value = options.stats?.[field] ?? 0;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `Cannot build server status as 'stats.${field}' must be a non-negative integer: current value is ${value}`,
      );
    }
    stats[field] = value;
  }
  const last = options.lastMessage ?? null;
  return {
    identity: options.identity,
    uptime: Math.max(0, Math.floor((msOf(now, "now") - started) / 1000)),
    connected_server: options.connectedServer ?? "",
    last_message: last === null ? 0 : Math.floor(msOf(last, "lastMessage") / 1000),
    provisioning_mode: options.provisioning ?? false,
    stats,
    certificate_expires: goTime(options.certificateExpires ?? null),
    token_expires: goTime(options.tokenExpires ?? null),
  };
}

/**
 * The JSON text of a status, compact as go-choria writes it.
 *
 * @example Encode a status
 * ```ts
 * import { encodeServerStatus, serverStatus } from "./status_file.ts";
 * const text = encodeServerStatus(serverStatus({ identity: "n1", startedAt: 0, now: 0 }));
 * console.log(text.startsWith('{"identity":"n1","uptime":0,"connected_server":""')); // true
 * ```
 */
export function encodeServerStatus(status: ServerStatus): string {
  return JSON.stringify(status);
}

/**
 * Decodes a status file's text (or a parsed value, say inventory registration's `status`) and
 * checks its fields; missing counters read as 0 and missing expiry times as
 * {@linkcode ZERO_TIME}, as Go reads them. Throws {@linkcode StatusFileError}.
 *
 * @example Read a status back
 * ```ts
 * import { decodeServerStatus } from "./status_file.ts";
 * const status = decodeServerStatus(
 *   '{"identity":"n1","uptime":5,"connected_server":"","last_message":0,' +
 *     '"provisioning_mode":false,"stats":{"total":1}}',
 * );
 * console.log(status.stats.total, status.stats.valid, status.token_expires);
 * // 1 0 0001-01-01T00:00:00Z
 * ```
 */
export function decodeServerStatus(input: unknown): ServerStatus {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (cause) {
      throw new StatusFileError(
        `Cannot decode server status as it is not JSON: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  const what = "decode server status";
  const object = objectOf(value, what, "status");
  const string = (field: string, fallback?: string): string => {
    const v = object[field] ?? fallback;
    if (typeof v !== "string") {
      throw new StatusFileError(
        `Cannot ${what} as its '${field}' must be a string: found ${kind(v)}`,
      );
    }
    return v;
  };
  const integer = (o: Record<string, unknown>, field: string, fallback?: number): number => {
    const v = o[field] ?? fallback;
    if (!Number.isSafeInteger(v)) {
      const name = o === object ? field : `stats.${field}`;
      throw new StatusFileError(
        `Cannot ${what} as its '${name}' must be an integer: found ${kind(v)}`,
      );
    }
    return v as number;
  };
  if (typeof object.provisioning_mode !== "boolean") {
    throw new StatusFileError(
      `Cannot ${what} as its 'provisioning_mode' must be a boolean: found ${
        kind(object.provisioning_mode)
      }`,
    );
  }
  const rawStats = object.stats === null ? {} : objectOf(object.stats, what, "stats");
  const stats = {} as ServerStats;
  for (const field of STAT_FIELDS) stats[field] = integer(rawStats, field, 0);
  return {
    identity: string("identity"),
    uptime: integer(object, "uptime"),
    connected_server: string("connected_server"),
    last_message: integer(object, "last_message"),
    provisioning_mode: object.provisioning_mode,
    stats,
    certificate_expires: string("certificate_expires", ZERO_TIME),
    token_expires: string("token_expires", ZERO_TIME),
  };
}

/** Options for {@linkcode writeStatusFile}. */
export interface WriteStatusFileOptions {
  /** The file's permissions. @default 0o644 */
  mode?: number;
}

/**
 * Writes a status file atomically: the JSON goes to a new temporary file in the same directory,
 * is flushed to disk, given `mode` (regardless of umask) and renamed over `path`; on failure the
 * temporary file is removed and a {@linkcode StatusFileError} keeps the cause. Needs
 * `--allow-write` (and `--allow-read`) for the directory.
 *
 * @example Write a status file
 * ```ts
 * import { serverStatus, writeStatusFile } from "./status_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeStatusFile(`${dir}/status.json`, serverStatus({ identity: "n1", startedAt: 0 }));
 * console.log(JSON.parse(await Deno.readTextFile(`${dir}/status.json`)).identity); // n1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeStatusFile(
  path: string,
  status: ServerStatus,
  options: WriteStatusFileOptions = {},
): Promise<void> {
  const mode = options.mode ?? STATUS_FILE_MODE;
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash < 0 ? "." : path.slice(0, slash + 1);
  const base = path.slice(slash + 1);
  if (base === "") {
    throw new StatusFileError(`Cannot write status file '${path}' as it names a directory`);
  }
  // Same directory: rename(2) is atomic only within one file system.
  const temp = `${dir === "." ? "" : dir}.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const data = new TextEncoder().encode(encodeServerStatus(status));
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode });
    try {
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    // The open mode is filtered by the umask; go-choria chmods to 0644 too.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (cause) {
    await Deno.remove(temp).catch(() => {});
    throw new StatusFileError(
      `Cannot write status file '${path}': ${(cause as Error).message ?? String(cause)}`,
      { cause },
    );
  }
}

/**
 * Reads and decodes a status file; throws {@linkcode StatusFileError}.
 *
 * @example Read a status file
 * ```ts
 * import { readStatusFile, serverStatus, writeStatusFile } from "./status_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeStatusFile(`${dir}/s.json`, serverStatus({ identity: "n1", startedAt: 0 }));
 * console.log((await readStatusFile(`${dir}/s.json`)).identity); // n1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readStatusFile(path: string): Promise<ServerStatus> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    throw new StatusFileError(
      `Cannot read status file '${path}': ${(cause as Error).message}`,
      { cause },
    );
  }
  return decodeServerStatus(text);
}

function msOf(instant: Instant, field: string): number {
  const ms = instant instanceof Date ? instant.getTime() : instant;
  if (!Number.isFinite(ms)) {
    throw new RangeError(
      `Cannot build server status as '${field}' must be a valid time: current value is ${
        String(instant)
      }`,
    );
  }
  return ms;
}

function objectOf(value: unknown, what: string, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StatusFileError(
      `Cannot ${what} as its '${field}' must be an object: found ${kind(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

function kind(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
