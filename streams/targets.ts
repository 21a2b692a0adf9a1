/**
 * Where data adapters put their output. A target stores a batch and resolves only once every
 * message in it is stored (committed by the stream store, or acknowledged by JetStream), so the
 * adapter never drops a message it has not seen stored.
 *
 * Three targets exist: the stream store over the broker ({@linkcode StoreApiTarget}), a store
 * opened in the same process ({@linkcode LocalStoreTarget}, for a broker or store process that
 * runs adapters itself) and NATS JetStream ({@linkcode JetStreamTarget}). A Kafka target needs only
 * the same two methods: create a topic with the retention, and produce a batch with `acks=all`.
 *
 * @module
 */
import type { JetStreamClient, JetStreamManager, NatsConnection } from "nats";
import { RetentionPolicy, StorageType } from "nats";
import type { StoreClient } from "./api.ts";
import type { StreamConfig, StreamStore } from "./store.ts";

/** One message an adapter hands its target. */
export interface OutboundMessage {
  /** The output subject (the template with `%s` replaced by the sender). */
  subject: string;
  /** The output message's JSON bytes. */
  data: Uint8Array;
  /** A key that identifies the message for de-duplication on retries: sender and request id. */
  id: string;
}

/** A place adapters store into. Kafka fits the same shape: topic creation and acked produce. */
export interface AdapterTarget extends AsyncDisposable {
  /** What it is, for logs and metrics: `store`, `local`, `jetstream`. */
  readonly kind: string;
  /** Creates (or updates) the stream the adapter writes to, with its retention. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** Stores a batch; resolves once every message is stored, rejects if any might not be. */
  store(batch: readonly OutboundMessage[]): Promise<void>;
}

/** The stream store, over the broker: a batch is one request, answered after its commit. */
export class StoreApiTarget implements AdapterTarget {
  /** `store`. */
  readonly kind = "store";
  readonly #client: StoreClient;

  /** Stores through `client`. */
  constructor(client: StoreClient) {
    this.#client = client;
  }

  /** Adds or updates the stream on the store. */
  async ensureStream(config: StreamConfig): Promise<void> {
    await this.#client.addStream(config);
  }

  /** Publishes the batch in one transaction. */
  async store(batch: readonly OutboundMessage[]): Promise<void> {
    await this.#client.publish(batch);
  }

  /** Nothing to release: the connection belongs to the caller. */
  async [Symbol.asyncDispose](): Promise<void> {}
}

/** What {@linkcode LocalStoreTarget} needs: a `StreamStore`, or a `StoreService` (which also wakes its long-polling readers). */
export type LocalStore = Pick<StreamStore, "addStream" | "appendBatch">;

/** A stream store this process owns (a broker or store process running adapters itself). */
export class LocalStoreTarget implements AdapterTarget {
  /** `local`. */
  readonly kind = "local";
  readonly #store: LocalStore;

  /** Stores into `store`. */
  constructor(store: LocalStore) {
    this.#store = store;
  }

  /** Adds or updates the stream. */
  ensureStream(config: StreamConfig): Promise<void> {
    this.#store.addStream(config);
    return Promise.resolve();
  }

  /** Appends the batch in one transaction. */
  store(batch: readonly OutboundMessage[]): Promise<void> {
    this.#store.appendBatch(batch);
    return Promise.resolve();
  }

  /** The store belongs to the caller. */
  async [Symbol.asyncDispose](): Promise<void> {}
}

/** Options for {@linkcode JetStreamTarget}. */
export interface JetStreamTargetOptions {
  /** How long to wait for each publish acknowledgement, ms. @default 5000 */
  ackTimeoutMs?: number;
}

/**
 * NATS JetStream through npm:nats: streams are created with the configured retention, each
 * message is published with a `Nats-Msg-Id` so a retried batch is not stored twice, and a batch
 * succeeds only when JetStream acknowledged every message in it.
 */
export class JetStreamTarget implements AdapterTarget {
  /** `jetstream`. */
  readonly kind = "jetstream";
  readonly #nc: NatsConnection;
  readonly #ackTimeoutMs: number;
  #jsm: JetStreamManager | undefined;
  #js: JetStreamClient | undefined;
  #config: StreamConfig | undefined;
  #ensured = false;

  /** Publishes over `nc`, a connection to a JetStream-enabled server. */
  constructor(nc: NatsConnection, options: JetStreamTargetOptions = {}) {
    this.#nc = nc;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
  }

  /** Adds the stream, or updates it when it exists. */
  async ensureStream(config: StreamConfig): Promise<void> {
    this.#config = config;
    this.#jsm ??= await this.#nc.jetstreamManager({ timeout: this.#ackTimeoutMs });
    const settings = {
      name: config.name,
      subjects: config.subjects,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      // JetStream counts max_age in nanoseconds; 0 means forever, as here.
      max_age: (config.maxAgeMs ?? 0) * 1_000_000,
      max_msgs: config.maxMsgs ? config.maxMsgs : -1,
      max_bytes: config.maxBytes ? config.maxBytes : -1,
      max_msgs_per_subject: config.maxMsgsPerSubject ? config.maxMsgsPerSubject : -1,
      description: config.description ?? "",
    };
    try {
      await this.#jsm.streams.info(config.name);
      await this.#jsm.streams.update(config.name, settings);
    } catch (error) {
      if (!/not found/i.test(String((error as Error).message))) throw error;
      await this.#jsm.streams.add(settings);
    }
    this.#js = this.#nc.jetstream({ timeout: this.#ackTimeoutMs });
    this.#ensured = true;
  }

  /** Publishes the batch and waits for every acknowledgement. */
  async store(batch: readonly OutboundMessage[]): Promise<void> {
    if (!this.#ensured && this.#config !== undefined) await this.ensureStream(this.#config);
    const js = this.#js ?? this.#nc.jetstream({ timeout: this.#ackTimeoutMs });
    try {
      await Promise.all(batch.map((m) => js.publish(m.subject, m.data, { msgID: m.id })));
    } catch (error) {
      // A server that lost its stream (a new store directory) needs it made again.
      if (/no responders|not found/i.test(String((error as Error).message))) this.#ensured = false;
      throw error;
    }
  }

  /** The connection belongs to the caller. */
  async [Symbol.asyncDispose](): Promise<void> {}
}
