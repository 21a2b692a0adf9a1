/**
 * The embedded stream store: named streams of messages kept by subject in one `node:sqlite`
 * database (WAL mode), in the model of a JetStream file store.
 *
 * - Each stream has subjects (NATS patterns with `*` and `>`), a sequence that only grows (purged
 *   messages never give their numbers back), and retention by age, count, bytes and messages per
 *   subject; a registration stream with `maxMsgsPerSubject: 1` keeps each node's latest inventory.
 * - Replay reads from a sequence, from a time, or the last message of every subject.
 * - An append returns only after its transaction committed with `synchronous = FULL`, so an
 *   acknowledged message survives the process being killed.
 * - One process owns the database: it is opened in exclusive locking mode, and a second opener gets
 *   {@linkcode StoreLockedError} at once instead of waiting on a lock.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** How a stream is configured. */
export interface StreamConfig {
  /** The name: letters, digits, `_` and `-`. */
  name: string;
  /** The subjects it keeps, NATS patterns; at least one. */
  subjects: string[];
  /** Drop messages older than this, ms; 0 keeps them forever. @default 0 */
  maxAgeMs?: number;
  /** Keep at most this many messages; 0 for no limit. @default 0 */
  maxMsgs?: number;
  /** Keep at most this many bytes of message data; 0 for no limit. @default 0 */
  maxBytes?: number;
  /** Keep at most this many messages per subject; 0 for no limit. @default 0 */
  maxMsgsPerSubject?: number;
  /**
   * Whether a store service subscribes to the subjects on the broker and keeps what is published
   * there (as JetStream captures core NATS subjects); otherwise only API publishes land. @default false
   */
  capture?: boolean;
  /** Said by `info`. @default "" */
  description?: string;
}

/** A stored message. */
export interface StoredMessage {
  /** The stream it is in. */
  stream: string;
  /** Its sequence in the stream, from 1. */
  seq: number;
  /** The subject it was published to. */
  subject: string;
  /** When it was stored, ms since the epoch. */
  timeMs: number;
  /** The payload. */
  data: Uint8Array;
}

/** A stream's configuration and state. */
export interface StreamInfo {
  /** The configuration, with defaults filled in. */
  config: Required<StreamConfig>;
  /** Messages kept. */
  messages: number;
  /** Bytes of data kept. */
  bytes: number;
  /** The first kept sequence, 0 when empty. */
  firstSeq: number;
  /** The last sequence ever given, 0 for a new stream. */
  lastSeq: number;
}

/** Where a replay starts. */
export type ReplayFrom =
  | { /** From this sequence on. */ seq: number }
  | { /** Messages stored at or after this time, ms since the epoch. */ timeMs: number }
  | {
    /** The last message of every subject. */
    lastPerSubject: true;
    /** Only those after this sequence, to page through a long answer. @default 0 */
    afterSeq?: number;
  };

/** Options for {@linkcode StreamStore.fetch}. */
export interface FetchOptions {
  /** Where to start. @default { seq: 1 } */
  from?: ReplayFrom;
  /** Only messages whose subject matches this pattern. @default every subject */
  subject?: string;
  /** At most this many messages. @default 1000 */
  limit?: number;
  /** Stop once this many bytes of data are gathered (at least one message is returned). @default 16 MiB */
  maxBytes?: number;
}

/** What one append stored. */
export interface AppendResult {
  /** The stream. */
  stream: string;
  /** The message's sequence. */
  seq: number;
}

/** Options for {@linkcode StreamStore.open}. */
export interface OpenStoreOptions {
  /** The clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** The largest message, bytes. @default 1 MiB */
  maxMessageBytes?: number;
  /**
   * Caps the database at this many pages (4 KiB each); past it writes fail with
   * {@linkcode StoreFullError}, as on a full disk. @default no cap
   */
  maxPages?: number;
}

/** Any stream store failure. */
export class StreamStoreError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamStoreError";
  }
}

/** The database is held by another process. */
export class StoreLockedError extends StreamStoreError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreLockedError";
  }
}

/** The database file is not a stream store (or is damaged). */
export class StoreCorruptError extends StreamStoreError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreCorruptError";
  }
}

/** The disk is full: nothing of the failed append was stored. */
export class StoreFullError extends StreamStoreError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreFullError";
  }
}

/** A stream that does not exist, or a subject no stream keeps. */
export class StreamNotFoundError extends StreamStoreError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamNotFoundError";
  }
}

/** A bad stream configuration or message. */
export class StreamConfigError extends StreamStoreError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamConfigError";
  }
}

/** The database file name inside the store directory. */
export const STORE_FILE = "streams.db";

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const DEFAULT_FETCH_LIMIT = 1_000;
const DEFAULT_FETCH_BYTES = 16 * 1_048_576;

/**
 * Whether a NATS subject pattern (`*` one token, `>` the rest) matches a subject.
 *
 * @example Match lifecycle events
 * ```ts
 * import { subjectMatches } from "./store.ts";
 * console.log(subjectMatches("choria.lifecycle.>", "choria.lifecycle.event.startup.server")); // true
 * console.log(subjectMatches("choria.*.x", "choria.a.b")); // false
 * ```
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

function fillConfig(config: StreamConfig): Required<StreamConfig> {
  return {
    name: config.name,
    subjects: [...config.subjects],
    maxAgeMs: config.maxAgeMs ?? 0,
    maxMsgs: config.maxMsgs ?? 0,
    maxBytes: config.maxBytes ?? 0,
    maxMsgsPerSubject: config.maxMsgsPerSubject ?? 0,
    capture: config.capture ?? false,
    description: config.description ?? "",
  };
}

/**
 * Checks a stream configuration, listing every problem at once.
 *
 * @throws {StreamConfigError} Naming each bad field.
 *
 * @example A good configuration
 * ```ts
 * import { checkStreamConfig } from "./store.ts";
 * const config = checkStreamConfig({ name: "EVENTS", subjects: ["choria.lifecycle.>"] });
 * console.log(config.maxAgeMs); // 0
 * ```
 */
export function checkStreamConfig(config: StreamConfig): Required<StreamConfig> {
  const problems: string[] = [];
  if (typeof config.name !== "string" || !STREAM_NAME.test(config.name)) {
    problems.push(
      `'name' must be 1 to 64 letters, digits, '_' or '-': current value is ${
        JSON.stringify(config.name)
      }`,
    );
  }
  if (!Array.isArray(config.subjects) || config.subjects.length === 0) {
    problems.push("'subjects' must list at least one subject");
  } else {
    for (const subject of config.subjects) {
      if (
        typeof subject !== "string" || subject === "" || /\s/.test(subject) ||
        subject.split(".").some((t, i, all) => t === "" || (t === ">" && i !== all.length - 1))
      ) {
        problems.push(`'subjects' holds an invalid subject: ${JSON.stringify(subject)}`);
      }
    }
  }
  for (const key of ["maxAgeMs", "maxMsgs", "maxBytes", "maxMsgsPerSubject"] as const) {
    const value = config[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      problems.push(`'${key}' must be a whole number, 0 or more: current value is ${value}`);
    }
  }
  if (problems.length > 0) {
    throw new StreamConfigError(
      `Cannot use stream configuration ${JSON.stringify(config.name)}: ${problems.join("; ")}`,
    );
  }
  return fillConfig(config);
}

interface StreamState {
  config: Required<StreamConfig>;
  lastSeq: number;
  messages: number;
  bytes: number;
}

function sqliteCode(error: unknown): string {
  const e = error as { errcode?: number; errstr?: string; message?: string; code?: string };
  return `${e.errstr ?? ""} ${e.message ?? ""}`.toLowerCase();
}

/**
 * Named streams in one SQLite database. Not safe to share between processes: serve it with the
 * store service (`startStoreService`) and let everything else use the API.
 *
 * @example Keep and replay lifecycle events
 * ```ts
 * import { StreamStore } from "./store.ts";
 * using store = StreamStore.open(":memory:");
 * store.addStream({ name: "EVENTS", subjects: ["choria.lifecycle.>"], maxAgeMs: 86_400_000 });
 * store.append("choria.lifecycle.event.startup.server", new TextEncoder().encode("{}"));
 * console.log(store.fetch("EVENTS").map((m) => m.seq)); // [ 1 ]
 * ```
 */
export class StreamStore implements Disposable {
  /** Where the database is, or `:memory:`. */
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #streams = new Map<string, StreamState>();
  readonly #now: () => number;
  readonly #maxMessageBytes: number;
  readonly #insert: StatementSync;
  readonly #setLastSeq: StatementSync;
  #lastAgeSweep = 0;
  #closed = false;

  private constructor(path: string, db: DatabaseSync, options: OpenStoreOptions) {
    this.path = path;
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#maxMessageBytes = options.maxMessageBytes ?? 1_048_576;
    this.#insert = db.prepare(
      "INSERT INTO messages (stream, seq, subject, time_ms, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.#setLastSeq = db.prepare("UPDATE streams SET last_seq = ? WHERE name = ?");
    for (const row of db.prepare("SELECT name, config, last_seq FROM streams").all()) {
      const config = fillConfig(JSON.parse(String(row.config)) as StreamConfig);
      const stats = db.prepare(
        "SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS b FROM messages WHERE stream = ?",
      ).get(config.name) as { n: number; b: number };
      this.#streams.set(config.name, {
        config,
        lastSeq: Number(row.last_seq),
        messages: Number(stats.n),
        bytes: Number(stats.b),
      });
    }
  }

  /**
   * Opens (or creates) the store: `dir/streams.db`, or `:memory:` for a throwaway store.
   *
   * @throws {StoreLockedError} When another process has the database open.
   * @throws {StoreCorruptError} When the file is not a SQLite database of streams.
   */
  static open(dir: string, options: OpenStoreOptions = {}): StreamStore {
    let path = dir;
    if (dir !== ":memory:") {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (cause) {
        throw new StreamStoreError(
          `Cannot open the stream store in ${dir} as the directory cannot be made: ${
            (cause as Error).message
          }`,
          { cause },
        );
      }
      path = join(dir, STORE_FILE);
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout: 0 });
    } catch (cause) {
      throw new StreamStoreError(
        `Cannot open the stream store at ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    try {
      // Exclusive: one owner, and a second opener fails at once instead of corrupting the view
      // the owner keeps in memory (sequence numbers, counters).
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
      if (options.maxPages !== undefined) {
        if (!Number.isSafeInteger(options.maxPages) || options.maxPages < 1) {
          throw new StreamConfigError(
            `Cannot open the stream store as 'maxPages' must be a whole number above 0: current value is ${options.maxPages}`,
          );
        }
        db.exec(`PRAGMA max_page_count = ${options.maxPages}`);
      }
      db.exec("BEGIN IMMEDIATE");
      db.exec(`
        CREATE TABLE IF NOT EXISTS streams (
          name TEXT PRIMARY KEY, config TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS messages (
          stream TEXT NOT NULL, seq INTEGER NOT NULL, subject TEXT NOT NULL,
          time_ms INTEGER NOT NULL, data BLOB NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS messages_seq ON messages (stream, seq);
        CREATE INDEX IF NOT EXISTS messages_subject ON messages (stream, subject, seq);
        CREATE INDEX IF NOT EXISTS messages_time ON messages (stream, time_ms);
      `);
      db.exec("COMMIT");
    } catch (cause) {
      try {
        db.close();
      } catch {
        // Closing a half-opened database may fail too; the first error is the one to report.
      }
      if (cause instanceof StreamConfigError) throw cause;
      const text = sqliteCode(cause);
      if (text.includes("locked") || text.includes("busy")) {
        throw new StoreLockedError(
          `Cannot open the stream store at ${path} as another process holds it: ${
            (cause as Error).message
          }`,
          { cause },
        );
      }
      if (text.includes("not a database") || text.includes("malformed")) {
        throw new StoreCorruptError(
          `Cannot open the stream store at ${path} as the file is not a stream store database: ${
            (cause as Error).message
          }`,
          { cause },
        );
      }
      throw new StreamStoreError(
        `Cannot open the stream store at ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    return new StreamStore(path, db, options);
  }

  /** Adds a stream, or updates the configuration of one that exists; returns its info. */
  addStream(config: StreamConfig): StreamInfo {
    this.#checkOpen("add a stream");
    const checked = checkStreamConfig(config);
    for (const other of this.#streams.values()) {
      if (other.config.name === checked.name) continue;
      for (const s of checked.subjects) {
        for (const o of other.config.subjects) {
          if (subjectMatches(s, o) || subjectMatches(o, s)) {
            throw new StreamConfigError(
              `Cannot add stream '${checked.name}' as its subject '${s}' overlaps '${o}' of stream '${other.config.name}'`,
            );
          }
        }
      }
    }
    const existing = this.#streams.get(checked.name);
    this.#write(() => {
      this.#db.prepare(
        "INSERT INTO streams (name, config) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET config = excluded.config",
      ).run(checked.name, JSON.stringify(checked));
    });
    const state = existing ?? { config: checked, lastSeq: 0, messages: 0, bytes: 0 };
    state.config = checked;
    this.#streams.set(checked.name, state);
    this.#write(() => this.#enforce(state, null));
    return this.#info(state);
  }

  /** Deletes a stream and its messages; false when there was none. */
  deleteStream(name: string): boolean {
    this.#checkOpen("delete a stream");
    if (!this.#streams.has(name)) return false;
    this.#write(() => {
      this.#db.prepare("DELETE FROM messages WHERE stream = ?").run(name);
      this.#db.prepare("DELETE FROM streams WHERE name = ?").run(name);
    });
    this.#streams.delete(name);
    return true;
  }

  /** Drops every message of a stream, keeping its sequence; returns how many went. */
  purge(name: string): number {
    const state = this.#stream(name, "purge");
    let removed = 0;
    this.#write(() => {
      removed = Number(this.#db.prepare("DELETE FROM messages WHERE stream = ?").run(name).changes);
    });
    state.messages = 0;
    state.bytes = 0;
    return removed;
  }

  /** The names of every stream, sorted. */
  streamNames(): string[] {
    return [...this.#streams.keys()].sort();
  }

  /** A stream's configuration and state. */
  info(name: string): StreamInfo {
    return this.#info(this.#stream(name, "describe"));
  }

  /** The stream that keeps a subject, or undefined. */
  streamFor(subject: string): string | undefined {
    for (const state of this.#streams.values()) {
      if (state.config.subjects.some((p) => subjectMatches(p, subject))) return state.config.name;
    }
    return undefined;
  }

  /**
   * Stores one message in the stream that keeps its subject and returns its sequence.
   *
   * @throws {StreamNotFoundError} When no stream keeps the subject.
   * @throws {StoreFullError} When the disk is full.
   */
  append(subject: string, data: Uint8Array): AppendResult {
    const [result] = this.appendBatch([{ subject, data }]);
    return result!;
  }

  /**
   * Stores messages in one transaction: all of them or, on error, none. Returns each one's
   * stream and sequence, in order, once committed.
   */
  appendBatch(messages: readonly { subject: string; data: Uint8Array }[]): AppendResult[] {
    this.#checkOpen("store messages");
    const plan = messages.map(({ subject, data }) => {
      if (data.byteLength > this.#maxMessageBytes) {
        throw new StreamConfigError(
          `Cannot store a message on '${subject}' as it is ${data.byteLength} bytes: the limit is ${this.#maxMessageBytes}`,
        );
      }
      const name = this.streamFor(subject);
      if (name === undefined) {
        throw new StreamNotFoundError(
          `Cannot store a message on '${subject}' as no stream keeps that subject: streams are ${
            this.streamNames().join(", ") || "none"
          }`,
        );
      }
      return { subject, data, state: this.#streams.get(name)! };
    });
    const now = this.#now();
    const results: AppendResult[] = [];
    const touched = new Map<StreamState, Set<string>>();
    const saved = new Map<StreamState, { lastSeq: number; messages: number; bytes: number }>();
    for (const { state } of plan) {
      if (!saved.has(state)) {
        saved.set(state, { lastSeq: state.lastSeq, messages: state.messages, bytes: state.bytes });
      }
    }
    try {
      this.#write(() => {
        for (const { subject, data, state } of plan) {
          const seq = state.lastSeq + 1;
          this.#insert.run(state.config.name, seq, subject, now, data);
          state.lastSeq = seq;
          state.messages++;
          state.bytes += data.byteLength;
          results.push({ stream: state.config.name, seq });
          let subjects = touched.get(state);
          if (subjects === undefined) touched.set(state, subjects = new Set());
          subjects.add(subject);
        }
        for (const [state, subjects] of touched) {
          this.#setLastSeq.run(state.lastSeq, state.config.name);
          this.#enforce(state, subjects);
        }
      });
    } catch (error) {
      // Nothing was committed: put the counters back.
      for (const [state, before] of saved) Object.assign(state, before);
      throw error;
    }
    return results;
  }

  /** Messages of a stream from a sequence, a time, or the last of each subject, oldest first. */
  fetch(name: string, options: FetchOptions = {}): StoredMessage[] {
    const state = this.#stream(name, "read");
    this.#sweepAge();
    const from = options.from ?? { seq: 1 };
    const limit = Math.max(1, Math.min(options.limit ?? DEFAULT_FETCH_LIMIT, 100_000));
    const maxBytes = options.maxBytes ?? DEFAULT_FETCH_BYTES;
    let rows: Record<string, unknown>[];
    if ("lastPerSubject" in from) {
      rows = this.#db.prepare(
        `SELECT seq, subject, time_ms, data FROM messages WHERE stream = ? AND seq >= ? AND seq IN
           (SELECT max(seq) FROM messages WHERE stream = ? GROUP BY subject)
         ORDER BY seq LIMIT ?`,
      ).all(
        state.config.name,
        from.afterSeq === undefined ? 0 : from.afterSeq + 1,
        state.config.name,
        options.subject === undefined ? limit : -1,
      );
    } else if ("timeMs" in from) {
      rows = this.#db.prepare(
        "SELECT seq, subject, time_ms, data FROM messages WHERE stream = ? AND time_ms >= ? ORDER BY seq LIMIT ?",
      ).all(state.config.name, from.timeMs, options.subject === undefined ? limit : -1);
    } else {
      rows = this.#db.prepare(
        "SELECT seq, subject, time_ms, data FROM messages WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT ?",
      ).all(state.config.name, from.seq, options.subject === undefined ? limit : -1);
    }
    const out: StoredMessage[] = [];
    let bytes = 0;
    for (const row of rows) {
      const subject = String(row.subject);
      if (options.subject !== undefined && !subjectMatches(options.subject, subject)) continue;
      const data = row.data as Uint8Array;
      if (out.length > 0 && bytes + data.byteLength > maxBytes) break;
      bytes += data.byteLength;
      out.push({
        stream: state.config.name,
        seq: Number(row.seq),
        subject,
        timeMs: Number(row.time_ms),
        data,
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Applies age retention now to every stream; returns how many messages went. */
  sweepAge(): number {
    this.#checkOpen("expire messages");
    this.#lastAgeSweep = this.#now();
    let removed = 0;
    this.#write(() => {
      for (const state of this.#streams.values()) removed += this.#expire(state);
    });
    return removed;
  }

  /** Closes the database; later calls throw. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  /** Closes the database. */
  [Symbol.dispose](): void {
    this.close();
  }

  #sweepAge(): void {
    // Reads apply age retention at most once a second, so a stream read after a quiet spell
    // never shows messages past their age.
    if (this.#now() - this.#lastAgeSweep >= 1_000) this.sweepAge();
  }

  #info(state: StreamState): StreamInfo {
    const first = this.#db.prepare("SELECT min(seq) AS s FROM messages WHERE stream = ?").get(
      state.config.name,
    ) as { s: number | null };
    return {
      config: { ...state.config, subjects: [...state.config.subjects] },
      messages: state.messages,
      bytes: state.bytes,
      firstSeq: Number(first.s ?? 0),
      lastSeq: state.lastSeq,
    };
  }

  #stream(name: string, what: string): StreamState {
    this.#checkOpen(`${what} stream '${name}'`);
    const state = this.#streams.get(name);
    if (state === undefined) {
      throw new StreamNotFoundError(
        `Cannot ${what} stream '${name}' as it does not exist: streams are ${
          this.streamNames().join(", ") || "none"
        }`,
      );
    }
    return state;
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new StreamStoreError(`Cannot ${what} as the store is closed`);
  }

  #write(fn: () => void): void {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (cause) {
      throw this.#translate(cause);
    }
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (cause) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // SQLite rolls back by itself after some errors (SQLITE_FULL): nothing left to undo.
      }
      throw this.#translate(cause);
    }
  }

  #translate(cause: unknown): Error {
    if (cause instanceof StreamStoreError) return cause;
    const text = sqliteCode(cause);
    if (text.includes("full")) {
      return new StoreFullError(
        `Cannot write to the stream store at ${this.path} as the disk is full: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    return new StreamStoreError(
      `Cannot write to the stream store at ${this.path}: ${(cause as Error).message}`,
      { cause },
    );
  }

  // Inside a transaction: count, bytes, per-subject and age limits.
  #enforce(state: StreamState, subjects: Set<string> | null): void {
    const { name, maxMsgs, maxBytes, maxMsgsPerSubject } = state.config;
    if (maxMsgsPerSubject > 0) {
      const list = subjects ?? new Set(
        this.#db.prepare("SELECT DISTINCT subject FROM messages WHERE stream = ?").all(name).map((
          r,
        ) => String(r.subject)),
      );
      const drop = this.#db.prepare(
        `DELETE FROM messages WHERE stream = ? AND subject = ? AND seq <= coalesce(
           (SELECT seq FROM messages WHERE stream = ? AND subject = ? ORDER BY seq DESC LIMIT 1 OFFSET ?), 0)
         RETURNING length(data) AS size`,
      );
      for (const subject of list) {
        this.#forget(state, drop.all(name, subject, name, subject, maxMsgsPerSubject));
      }
    }
    if (maxMsgs > 0 && state.messages > maxMsgs) {
      this.#forget(
        state,
        this.#db.prepare(
          `DELETE FROM messages WHERE stream = ? AND seq IN
           (SELECT seq FROM messages WHERE stream = ? ORDER BY seq LIMIT ?) RETURNING length(data) AS size`,
        ).all(name, name, state.messages - maxMsgs),
      );
    }
    if (maxBytes > 0 && state.bytes > maxBytes) {
      let excess = state.bytes - maxBytes;
      let upTo = 0;
      for (
        const row of this.#db.prepare(
          "SELECT seq, length(data) AS size FROM messages WHERE stream = ? ORDER BY seq",
        ).iterate(name)
      ) {
        upTo = Number(row.seq);
        excess -= Number(row.size);
        if (excess <= 0) break;
      }
      this.#forget(
        state,
        this.#db.prepare(
          "DELETE FROM messages WHERE stream = ? AND seq <= ? RETURNING length(data) AS size",
        ).all(name, upTo),
      );
    }
    this.#expire(state);
  }

  #expire(state: StreamState): number {
    if (state.config.maxAgeMs <= 0) return 0;
    const rows = this.#db.prepare(
      "DELETE FROM messages WHERE stream = ? AND time_ms < ? RETURNING length(data) AS size",
    ).all(state.config.name, this.#now() - state.config.maxAgeMs);
    this.#forget(state, rows);
    return rows.length;
  }

  #forget(state: StreamState, rows: Record<string, unknown>[]): void {
    state.messages -= rows.length;
    for (const row of rows) state.bytes -= Number(row.size);
  }
}
