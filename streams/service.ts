/**
 * The stream store service: owns a {@linkcode StreamStore}, keeps what is published on the
 * capturing streams' subjects (lifecycle and machine events, checked first), and answers the API
 * of `./api.ts` on `chorale.streams.api.>` over the broker, so no client opens the database.
 *
 * @module
 */
import { connect, type Msg, type NatsConnection, type Subscription } from "nats";
import { selectRegistryNodes } from "../client/discovery_sources.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import type { RequestFilter } from "../core/protocol/request.ts";
import {
  isKvName,
  kvStreamName,
  kvSubject,
  lifecycleWildcard,
  machineWildcard,
  registrationStreamWildcard,
  streamsApiWildcard,
} from "../core/protocol/subjects.ts";
import { decodeLifecycleEvent } from "../server/lifecycle.ts";
import { bytesOf, fromFromWire, toWire } from "./api.ts";
import { fleetSummary, InventoryIndex } from "./inventory.ts";
import {
  type AppendResult,
  type StreamConfig,
  type StreamInfo,
  StreamStore,
  StreamStoreError,
  subjectMatches,
} from "./store.ts";

/** The lifecycle events stream, as Choria names it. */
export const EVENTS_STREAM = "CHORIA_EVENTS";
/** The autonomous agent events stream. */
export const MACHINE_STREAM = "CHORIA_MACHINE";
/** The registration stream: each node's latest inventory. */
export const REGISTRATION_STREAM = "CHORIA_REGISTRATION";

/**
 * The streams Choria creates: `CHORIA_EVENTS` (lifecycle events, 24 hours), `CHORIA_MACHINE`
 * (autonomous agent events, 24 hours) and `CHORIA_REGISTRATION` (the latest registration of every
 * node, fed by the registration data adapter).
 *
 * @example The default streams
 * ```ts
 * import { defaultStreams } from "./service.ts";
 * console.log(defaultStreams().map((s) => s.name)); // [ "CHORIA_EVENTS", "CHORIA_MACHINE", "CHORIA_REGISTRATION" ]
 * ```
 */
export function defaultStreams(): StreamConfig[] {
  const day = 86_400_000;
  return [
    {
      name: EVENTS_STREAM,
      subjects: [lifecycleWildcard()],
      maxAgeMs: day,
      capture: true,
      description: "Choria lifecycle events",
    },
    {
      name: MACHINE_STREAM,
      subjects: [machineWildcard()],
      maxAgeMs: day,
      capture: true,
      description: "Choria autonomous agent events",
    },
    {
      name: REGISTRATION_STREAM,
      subjects: [registrationStreamWildcard()],
      maxMsgsPerSubject: 1,
      description: "The latest registration data of every node",
    },
  ];
}

/** How the service reaches the broker. */
export interface ServiceConnectionOptions {
  /** Broker addresses, `tls://host:port` or `host:port`. */
  servers: string[];
  /** The service identity's certificate, key and CA, PEM text. */
  tls: { ca: string; cert: string; key: string };
  /** The connection's name. @default "chorale-streams" */
  name?: string;
}

/** Options for {@linkcode startStoreService}. */
export interface StoreServiceOptions extends ServiceConnectionOptions {
  /** The store directory (`streams.db` inside), or `:memory:`. */
  dir: string;
  /** Streams to create or update at start. @default defaultStreams() */
  streams?: StreamConfig[];
  /** Where log lines go. @default silentLogger */
  logger?: Logger;
  /** The largest message kept, bytes. @default 1 MiB */
  maxMessageBytes?: number;
  /** The longest a fetch may wait for new messages, ms. @default 30000 */
  maxWaitMs?: number;
  /** Caps the database's size in 4 KiB pages, as `OpenStoreOptions.maxPages`. @default no cap */
  maxPages?: number;
}

/** The service's counters. */
export interface StoreServiceStats {
  /** Messages stored through publishes and captures. */
  stored: number;
  /** Messages captured from the broker that failed their check (lifecycle schema, JSON). */
  invalid: number;
  /** Captured messages that could not be stored (disk full, ...), kept for another try. */
  store_errors: number;
  /** Captured messages dropped because the retry backlog was full. */
  dropped: number;
  /** API requests answered. */
  requests: number;
  /** API requests answered with an error. */
  request_errors: number;
  /** Registration messages that could not be indexed. */
  index_errors: number;
  /** Nodes in the inventory index. */
  nodes: number;
}

/** A running store service. */
export interface StoreService extends AsyncDisposable {
  /** The store it serves (do not share it with another process). */
  store: StreamStore;
  /** The broker connection. */
  connection: NatsConnection;
  /** The counters. */
  stats(): StoreServiceStats;
  /** Adds or updates a stream. */
  addStream(config: StreamConfig): StreamInfo;
  /**
   * Stores messages in this process (say from adapters the broker runs) and wakes readers
   * waiting for them, as an API publish does.
   */
  appendBatch(messages: readonly { subject: string; data: Uint8Array }[]): AppendResult[];
  /** Stops answering, stores what was captured, closes the connection and the store. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const CAPTURE_BATCH = 1_000;
const BACKLOG_LIMIT = 100_000;
const FETCH_REPLY_BYTES = 400 * 1024;

/**
 * Opens the store, creates the configured streams and serves them over the broker. The broker
 * (`broker/main.ts --store DIR`) can call this with its own connection settings.
 *
 * @throws {StoreLockedError} When another process holds the store.
 *
 * @example Serve a store
 * ```ts
 * import { startStoreService } from "./service.ts";
 *
 * // Type-checked only: it needs a broker and certificates.
 * export async function serve(ca: string, cert: string, key: string) {
 *   return await startStoreService({
 *     dir: "/var/lib/chorale/streams",
 *     servers: ["tls://127.0.0.1:4222"],
 *     tls: { ca, cert, key },
 *   });
 * }
 * ```
 */
export async function startStoreService(options: StoreServiceOptions): Promise<StoreService> {
  const logger = options.logger ?? silentLogger;
  const store = StreamStore.open(options.dir, {
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
    ...(options.maxPages ? { maxPages: options.maxPages } : {}),
  });
  let nc: NatsConnection;
  try {
    for (const config of options.streams ?? defaultStreams()) store.addStream(config);
    nc = await connect({
      servers: options.servers.map((s) => s.replace(/^(tls|nats):\/\//, "")),
      name: options.name ?? "chorale-streams",
      tls: { ...options.tls },
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      waitOnFirstConnect: true,
    });
  } catch (error) {
    store.close();
    throw error;
  }
  const service = new Service(store, nc, logger, options.maxWaitMs ?? 30_000);
  await service.start();
  logger.info("stream store serving", {
    path: store.path,
    streams: store.streamNames(),
    server: nc.getServer(),
  });
  return service;
}

interface Waiter {
  stream: string;
  wake: () => void;
}

class Service implements StoreService {
  readonly store: StreamStore;
  readonly connection: NatsConnection;
  readonly #logger: Logger;
  readonly #maxWaitMs: number;
  readonly #index = new InventoryIndex();
  readonly #subs: Subscription[] = [];
  readonly #waiters = new Set<Waiter>();
  #pending: { subject: string; data: Uint8Array }[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  readonly #counts: Omit<StoreServiceStats, "nodes" | "index_errors"> = {
    stored: 0,
    invalid: 0,
    store_errors: 0,
    dropped: 0,
    requests: 0,
    request_errors: 0,
  };
  #warned = new Map<string, number>();

  constructor(store: StreamStore, nc: NatsConnection, logger: Logger, maxWaitMs: number) {
    this.store = store;
    this.connection = nc;
    this.#logger = logger;
    this.#maxWaitMs = maxWaitMs;
  }

  async start(): Promise<void> {
    this.#catchUp();
    this.#subs.push(
      this.connection.subscribe(streamsApiWildcard(), {
        queue: "chorale.streams",
        callback: (error, msg) => {
          if (error) return;
          this.#handle(msg).catch((cause) => {
            this.#logger.error("API handler failed", { error: String(cause) });
          });
        },
      }),
    );
    for (const name of this.store.streamNames()) {
      const { config } = this.store.info(name);
      if (!config.capture) continue;
      for (const subject of config.subjects) {
        this.#subs.push(
          this.connection.subscribe(subject, {
            callback: (error, msg) => {
              if (!error) this.#capture(msg.subject, msg.data);
            },
          }),
        );
      }
    }
    await this.connection.flush();
  }

  stats(): StoreServiceStats {
    return { ...this.#counts, index_errors: this.#index.errors, nodes: this.#index.size };
  }

  addStream(config: StreamConfig): StreamInfo {
    return this.store.addStream(config);
  }

  appendBatch(messages: readonly { subject: string; data: Uint8Array }[]): AppendResult[] {
    const acks = this.store.appendBatch(messages);
    this.#stored(acks);
    return acks;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const sub of this.#subs) sub.unsubscribe();
      for (const w of this.#waiters) w.wake();
      clearTimeout(this.#flushTimer);
      this.#flush();
      try {
        await this.connection.drain();
      } catch {
        // Already closed by the broker going away: nothing left to drain.
      }
      this.store.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // Warns at most once a minute per kind, so a flood of bad input does not flood the log.
  #warn(kind: string, message: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - (this.#warned.get(kind) ?? 0) < 60_000) return;
    this.#warned.set(kind, now);
    this.#logger.warn(message, { ...fields, ...this.stats() });
  }

  #capture(subject: string, data: Uint8Array): void {
    try {
      if (subjectMatches(lifecycleWildcard(), subject)) decodeLifecycleEvent(data);
      else {
        const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          throw new TypeError("it is not a JSON object");
        }
      }
    } catch (error) {
      this.#counts.invalid++;
      this.#warn("invalid", "dropped an event that failed its check", {
        subject,
        error: (error as Error).message,
      });
      return;
    }
    if (this.#pending.length >= BACKLOG_LIMIT) {
      this.#counts.dropped++;
      this.#warn("dropped", "dropped an event as the store backlog is full", { subject });
      return;
    }
    this.#pending.push({ subject, data });
    if (this.#pending.length >= CAPTURE_BATCH) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), 0);
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.length === 0 || this.#closed()) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      this.#stored(this.store.appendBatch(batch));
    } catch (error) {
      this.#counts.store_errors += batch.length;
      this.#warn("store", "cannot store captured events; retrying in 1 s", {
        error: (error as Error).message,
      });
      // Keep them (bounded) and try again: the disk may have room later.
      this.#pending = batch.concat(this.#pending).slice(0, BACKLOG_LIMIT);
      this.#flushTimer = setTimeout(() => this.#flush(), 1_000);
    }
  }

  #closed(): boolean {
    try {
      this.store.streamNames();
      return false;
    } catch {
      return true;
    }
  }

  #stored(acks: { stream: string }[]): void {
    this.#counts.stored += acks.length;
    const streams = new Set(acks.map((a) => a.stream));
    for (const w of this.#waiters) if (streams.has(w.stream)) w.wake();
  }

  #catchUp(): void {
    if (!this.store.streamNames().includes(REGISTRATION_STREAM)) return;
    while (true) {
      const page = this.store.fetch(REGISTRATION_STREAM, {
        from: { seq: this.#index.lastSeq + 1 },
        limit: 5_000,
      });
      if (page.length === 0) break;
      for (const message of page) this.#index.add(message);
    }
    if (this.#index.lastError !== null) {
      this.#warn("index", "registration data that does not decode was skipped", {
        error: this.#index.lastError,
      });
    }
  }

  #liveNodes() {
    const { maxAgeMs } = this.store.info(REGISTRATION_STREAM).config;
    const oldest = maxAgeMs > 0 ? Date.now() - maxAgeMs : -Infinity;
    return [...this.#index.nodes()].filter((n) => n.lastSeenMs >= oldest);
  }

  async #handle(msg: Msg): Promise<void> {
    this.#counts.requests++;
    const op = msg.subject.split(".").slice(3).join(".");
    let answer: unknown;
    try {
      let body: Record<string, unknown>;
      try {
        body = msg.data.length === 0 ? {} : JSON.parse(new TextDecoder().decode(msg.data));
      } catch (cause) {
        throw new TypeError(`Cannot handle ${op} as the request is not JSON`, { cause });
      }
      if (typeof body !== "object" || body === null) {
        throw new TypeError(`Cannot handle ${op} as the request is not a JSON object`);
      }
      answer = await this.#answer(op, body);
    } catch (error) {
      this.#counts.request_errors++;
      const e = error as Error;
      answer = { error: { name: e.name ?? "Error", message: e.message ?? String(error) } };
    }
    if (!msg.reply) return;
    let bytes = encoder.encode(JSON.stringify(answer));
    if (bytes.byteLength > this.#maxReplyBytes()) {
      this.#counts.request_errors++;
      bytes = encoder.encode(JSON.stringify({
        error: {
          name: "StreamStoreError",
          message:
            `Cannot answer ${op} as the answer is ${bytes.byteLength} bytes: the broker takes at most ${this.#maxReplyBytes()}`,
        },
      }));
    }
    msg.respond(bytes);
  }

  #maxReplyBytes(): number {
    // Leave room for the protocol line and headers.
    return (this.connection.info?.max_payload ?? 1_048_576) - 4_096;
  }

  async #answer(op: string, body: Record<string, unknown>): Promise<unknown> {
    switch (op) {
      case "read.streams":
        return { streams: this.store.streamNames().map((n) => this.store.info(n)) };
      case "read.fetch":
        return await this.#fetch(body);
      case "read.kv":
        return this.#kvGet(body);
      case "read.discover": {
        this.#catchUp();
        const started = performance.now();
        const nodes = selectRegistryNodes(this.#liveNodes(), {
          collective: typeof body.collective === "string" ? body.collective : "mcollective",
          ...(body.filter ? { filter: body.filter as Partial<RequestFilter> } : {}),
        });
        return { nodes, indexed: this.#index.size, elapsed_ms: performance.now() - started };
      }
      case "read.node": {
        this.#catchUp();
        if (typeof body.identity !== "string") {
          throw new TypeError("Cannot look up a node as 'identity' must be a string");
        }
        return { node: this.#index.get(body.identity) ?? null };
      }
      case "read.fleet": {
        this.#catchUp();
        const since = typeof body.events_since_ms === "number"
          ? body.events_since_ms
          : Date.now() - 86_400_000;
        const events = this.store.streamNames().includes(EVENTS_STREAM)
          ? this.store.fetch(EVENTS_STREAM, { from: { timeMs: since }, limit: 100_000 })
          : [];
        return fleetSummary(this.#liveNodes(), {
          events,
          ...(Array.isArray(body.facts) ? { facts: body.facts as string[] } : {}),
          ...(typeof body.stale_after_ms === "number" ? { staleAfterMs: body.stale_after_ms } : {}),
        });
      }
      case "read.stats":
        return this.stats();
      case "write.publish": {
        if (!Array.isArray(body.messages)) {
          throw new TypeError("Cannot publish as 'messages' must be a list");
        }
        const messages = body.messages.map((m: Record<string, unknown>, i: number) => {
          if (typeof m?.subject !== "string") {
            throw new TypeError(`Cannot publish as messages[${i}].subject must be a string`);
          }
          return { subject: m.subject, data: bytesOf(m) };
        });
        return { acks: this.appendBatch(messages) };
      }
      case "manage.add": {
        const stream = this.store.addStream(body.config as StreamConfig);
        return { stream };
      }
      case "manage.delete":
        return { deleted: this.store.deleteStream(String(body.name)) };
      case "manage.purge": {
        const purged = this.store.purge(String(body.name));
        if (body.name === REGISTRATION_STREAM) {
          const last = this.store.info(REGISTRATION_STREAM).lastSeq;
          this.#index.clear();
          this.#index.lastSeq = last;
        }
        return { purged };
      }
      default:
        throw new StreamStoreError(
          `Cannot handle '${op}' as the stream store has no such operation`,
        );
    }
  }

  /**
   * The latest value of one key of a key-value bucket, or null. Only `KV_` streams are read, so
   * nodes may be allowed this operation without reading the rest of the store.
   */
  #kvGet(body: Record<string, unknown>): unknown {
    const bucket = String(body.bucket ?? "");
    const key = String(body.key ?? "");
    if (!isKvName(bucket, key)) {
      throw new TypeError(
        `Cannot read key '${key}' of bucket '${bucket}' as they are not key-value names: buckets take letters, digits, '_' and '-'; keys also '/'`,
      );
    }
    const stream = kvStreamName(bucket);
    if (!this.store.streamNames().includes(stream)) {
      throw new TypeError(`Cannot read bucket '${bucket}' as it does not exist`);
    }
    const [last] = this.store.fetch(stream, {
      from: { lastPerSubject: true },
      subject: kvSubject(bucket, key),
      limit: 1,
    });
    return { entry: last ? toWire(last) : null };
  }

  async #fetch(body: Record<string, unknown>): Promise<unknown> {
    const stream = String(body.stream);
    const from = fromFromWire(body.from);
    const options = {
      from,
      limit: typeof body.limit === "number" ? body.limit : 1_000,
      maxBytes: FETCH_REPLY_BYTES,
      ...(typeof body.subject === "string" ? { subject: body.subject } : {}),
    };
    let messages = this.store.fetch(stream, options);
    const waitMs = Math.min(typeof body.wait_ms === "number" ? body.wait_ms : 0, this.#maxWaitMs);
    if (messages.length === 0 && waitMs > 0) {
      const deadline = Date.now() + waitMs;
      while (messages.length === 0 && Date.now() < deadline && this.#closing === undefined) {
        await new Promise<void>((resolve) => {
          const waiter: Waiter = { stream, wake: () => finish() };
          const timer = setTimeout(() => finish(), deadline - Date.now());
          const finish = () => {
            clearTimeout(timer);
            this.#waiters.delete(waiter);
            resolve();
          };
          this.#waiters.add(waiter);
        });
        if (this.#closing !== undefined) break;
        messages = this.store.fetch(stream, options);
      }
    }
    const lastSeq = this.store.info(stream).lastSeq;
    // Text is escaped and binary is base64 on the wire: shorten the page until it fits the
    // broker's payload limit; the caller asks again from where it ends.
    let wire = messages.map(toWire);
    while (
      wire.length > 1 &&
      encoder.encode(JSON.stringify({ messages: wire, last_seq: lastSeq })).byteLength >
        this.#maxReplyBytes()
    ) {
      wire = wire.slice(0, Math.ceil(wire.length / 2));
    }
    return { messages: wire, last_seq: lastSeq };
  }
}
