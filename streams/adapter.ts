/**
 * Data adapters, in Choria's model: read messages from an ingest topic (say registration on
 * `mcollective.broadcast.agent.registration`), decode them as protocol v1 requests or replies,
 * turn each into `choria:adapters:choria_streams:output:1` JSON and store it on an output subject
 * whose `%s` is the sender, through a {@linkcode AdapterTarget}.
 *
 * Between the two sits a bounded queue: when the target is down, messages wait there; past its
 * size new messages are dropped, counted and logged, and delivery resumes by itself when the
 * target comes back. A message leaves the queue only when the target confirmed it stored.
 *
 * @module
 */
import type { NatsConnection, Subscription } from "nats";
import { type Logger, silentLogger } from "../core/log.ts";
import { requestBody } from "../core/protocol/request.ts";
import { replyBody } from "../core/protocol/reply.ts";
import { decodeSecureReply, openSecureReply } from "../core/protocol/secure_reply.ts";
import { decodeSecureRequest, openSecureRequest } from "../core/protocol/secure_request.ts";
import { decodeTransport, transportData } from "../core/protocol/transport.ts";
import type { CertificateVerifier } from "../core/security/verify.ts";
import { decodeRegistration, REGISTRATION_AGENT } from "../server/registration.ts";
import { ADAPTER_OUTPUT_PROTOCOL, type AdapterOutput } from "./inventory.ts";
import type { StreamConfig } from "./store.ts";
import type { AdapterTarget, OutboundMessage } from "./targets.ts";

/** How messages are read: as requests (registration) or replies. */
export type IngestProtocol = "request" | "reply";

/** Options for {@linkcode DataAdapter}. */
export interface DataAdapterOptions {
  /** The adapter's name, for logs, metrics and its queue group. */
  name: string;
  /** The broker connection messages come from. */
  connection: NatsConnection;
  /** What to read. */
  ingest: {
    /** The subject, say `mcollective.broadcast.agent.registration`. */
    topic: string;
    /** Decode messages as requests or replies. */
    protocol: IngestProtocol;
    /** The queue's size: messages waiting for the target. @default 10000 */
    queueSize?: number;
    /** The largest message accepted, bytes. @default 1 MiB */
    maxBytes?: number;
    /**
     * Checks the signature and certificate of registration requests; null accepts any decoded
     * message (a broker that admits only the fleet's certificates has already checked them).
     * @default null
     */
    verifier?: CertificateVerifier | null;
  };
  /** Where to write. */
  output: {
    /** The output subject; `%s` becomes the sender, say `choria.registration.%s`. */
    topic: string;
    /** The stream to create on the target with its retention; none leaves the target as it is. */
    stream?: StreamConfig;
    /** How many batches may be in flight to the target at once. @default 2 */
    workers?: number;
    /** Messages per batch. @default 500 */
    batchSize?: number;
  };
  /** Where output goes. */
  target: AdapterTarget;
  /** @default silentLogger */
  logger?: Logger;
  /** The clock for output `time`. @default () => new Date() */
  now?: () => Date;
}

/** An adapter's counters. */
export interface AdapterStats {
  /** Messages received from the ingest topic. */
  received: number;
  /** Messages the target confirmed stored. */
  stored: number;
  /** Messages that did not decode, were too big, or failed verification. */
  invalid: number;
  /** Messages dropped because the queue was full. */
  dropped: number;
  /** Failed attempts to store a batch (each is retried). */
  target_errors: number;
  /** Messages waiting, including batches in flight. */
  queued: number;
}

/** A message the adapter refuses. */
export class AdapterInputError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AdapterInputError";
  }
}

const encoder = new TextEncoder();
// Sender names become subject tokens.
const SENDER = /^[^\s*>]+$/;

/**
 * Decodes one received message into adapter output, as go-choria's stream adapters do: for
 * requests the request body with the request's sender and id, for replies the reply body.
 * Registration requests are checked further: their payload must decode (gzip within the limit)
 * and, with a verifier, be signed by the node's certificate.
 *
 * @throws {AdapterInputError} Wrapping the decoder's error.
 *
 * @example Convert a reply
 * ```ts ignore
 * const output = toAdapterOutput(payload, { protocol: "reply", now: new Date() });
 * ```
 */
export function toAdapterOutput(
  payload: Uint8Array,
  options: {
    protocol: IngestProtocol;
    now: Date;
    maxBytes?: number;
    verifier?: CertificateVerifier | null;
  },
): AdapterOutput {
  const maxBytes = options.maxBytes ?? 1_048_576;
  if (payload.byteLength > maxBytes) {
    throw new AdapterInputError(
      `Cannot convert a message of ${payload.byteLength} bytes as the limit is ${maxBytes}`,
    );
  }
  try {
    const limits = { maxBytes };
    const transport = decodeTransport(payload, limits);
    let sender: string, requestid: string, data: string;
    if (options.protocol === "request") {
      const request = openSecureRequest(
        decodeSecureRequest(transportData(transport), limits),
        limits,
      );
      if (request.envelope.agent === REGISTRATION_AGENT) {
        // Registration is checked whole: signature (when verifying) and payload.
        decodeRegistration(payload, {
          verifier: options.verifier ?? null,
          checkTime: false,
          maxBytes,
        });
      }
      sender = request.envelope.senderid;
      requestid = request.envelope.requestid;
      data = requestBody(request);
    } else {
      const reply = openSecureReply(decodeSecureReply(transportData(transport), limits), limits);
      sender = reply.envelope.senderid;
      requestid = reply.envelope.requestid;
      data = replyBody(reply);
    }
    if (!SENDER.test(sender)) {
      throw new AdapterInputError(
        `Cannot use sender ${
          JSON.stringify(sender)
        } in a subject: it is empty or has spaces or wildcards`,
      );
    }
    return {
      protocol: ADAPTER_OUTPUT_PROTOCOL,
      data,
      sender,
      time: options.now.toISOString(),
      requestid,
    };
  } catch (cause) {
    if (cause instanceof AdapterInputError) throw cause;
    throw new AdapterInputError(
      `Cannot convert a ${options.protocol}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * One data adapter: subscribe, convert, queue, store.
 *
 * @example Run the registration adapter into the stream store
 * ```ts
 * import type { NatsConnection } from "nats";
 * import { DataAdapter } from "./adapter.ts";
 * import { StoreClient } from "./api.ts";
 * import { StoreApiTarget } from "./targets.ts";
 *
 * // Type-checked only: it needs a broker and a store service.
 * export async function run(nc: NatsConnection): Promise<DataAdapter> {
 *   const adapter = new DataAdapter({
 *     name: "registration",
 *     connection: nc,
 *     ingest: { topic: "mcollective.broadcast.agent.registration", protocol: "request" },
 *     output: { topic: "choria.registration.%s" },
 *     target: new StoreApiTarget(new StoreClient(nc)),
 *   });
 *   await adapter.start();
 *   return adapter;
 * }
 * ```
 */
export class DataAdapter implements AsyncDisposable {
  /** The adapter's name. */
  readonly name: string;
  readonly #options: DataAdapterOptions;
  readonly #logger: Logger;
  readonly #queueSize: number;
  readonly #batchSize: number;
  // A queue without Array.shift: `#head` is the first live entry.
  #queue: OutboundMessage[] = [];
  #head = 0;
  #inFlight = 0;
  #sub: Subscription | undefined;
  #wake: (() => void) | undefined;
  #workers: Promise<void>[] = [];
  #stopping = false;
  #ensured = false;
  readonly #stats = { received: 0, stored: 0, invalid: 0, dropped: 0, target_errors: 0 };
  readonly #lastWarn = new Map<string, number>();

  /** Makes the adapter; {@linkcode start} begins reading. */
  constructor(options: DataAdapterOptions) {
    this.name = options.name;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#queueSize = options.ingest.queueSize ?? 10_000;
    this.#batchSize = options.output.batchSize ?? 500;
    if (!options.output.topic.includes("%s")) {
      this.#logger.warn("the output topic has no %s: every sender shares one subject", {
        adapter: this.name,
        topic: options.output.topic,
      });
    }
  }

  /** The counters. */
  stats(): AdapterStats {
    return { ...this.#stats, queued: this.#queue.length - this.#head + this.#inFlight };
  }

  /** Subscribes to the ingest topic (queue group `chorale.adapter.<name>`) and starts workers. */
  async start(): Promise<void> {
    this.#sub = this.#options.connection.subscribe(this.#options.ingest.topic, {
      queue: `chorale.adapter.${this.name}`,
      callback: (error, msg) => {
        if (!error) this.receive(msg.data);
      },
    });
    await this.#options.connection.flush();
    const workers = Math.max(1, this.#options.output.workers ?? 2);
    for (let i = 0; i < workers; i++) this.#workers.push(this.#work());
    this.#logger.info("adapter started", {
      adapter: this.name,
      ingest: this.#options.ingest.topic,
      target: this.#options.target.kind,
    });
  }

  /** Converts and queues one received message (the subscription calls this). */
  receive(payload: Uint8Array): void {
    this.#stats.received++;
    let output: AdapterOutput;
    try {
      output = toAdapterOutput(payload, {
        protocol: this.#options.ingest.protocol,
        now: (this.#options.now ?? (() => new Date()))(),
        ...(this.#options.ingest.maxBytes ? { maxBytes: this.#options.ingest.maxBytes } : {}),
        verifier: this.#options.ingest.verifier ?? null,
      });
    } catch (error) {
      this.#stats.invalid++;
      this.#warn("invalid", "dropped a message that cannot be converted", {
        error: (error as Error).message,
      });
      return;
    }
    if (this.#queue.length - this.#head + this.#inFlight >= this.#queueSize) {
      this.#stats.dropped++;
      this.#warn(
        "dropped",
        "dropped a message as the queue is full: the target is behind or down",
        {
          queue_size: this.#queueSize,
        },
      );
      return;
    }
    this.#queue.push({
      subject: this.#options.output.topic.replace("%s", output.sender),
      data: encoder.encode(JSON.stringify(output)),
      id: `${output.sender}:${output.requestid}`,
    });
    this.#wake?.();
  }

  /**
   * Stops reading, gives the workers until `graceMs` to store what is queued, then stops them.
   * Returns the counters at the end.
   */
  async close(graceMs = 2_000): Promise<AdapterStats> {
    this.#sub?.unsubscribe();
    const deadline = Date.now() + graceMs;
    while (this.#queue.length - this.#head + this.#inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#stopping = true;
    this.#wake?.();
    await Promise.all(this.#workers);
    const stats = this.stats();
    this.#logger.info("adapter stopped", { adapter: this.name, ...stats });
    return stats;
  }

  /** Stops the adapter. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #warn(kind: string, message: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - (this.#lastWarn.get(kind) ?? 0) < 10_000) return;
    this.#lastWarn.set(kind, now);
    this.#logger.warn(message, { adapter: this.name, ...fields, ...this.stats() });
  }

  #take(): OutboundMessage[] {
    const end = Math.min(this.#queue.length, this.#head + this.#batchSize);
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head > 4_096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #work(): Promise<void> {
    let backoff = 100;
    let batch: OutboundMessage[] = [];
    while (!this.#stopping) {
      if (batch.length === 0) {
        batch = this.#take();
        if (batch.length === 0) {
          await new Promise<void>((resolve) => {
            const previous = this.#wake;
            this.#wake = () => {
              this.#wake = previous;
              previous?.();
              resolve();
            };
          });
          continue;
        }
      }
      const size = batch.length;
      this.#inFlight += size;
      try {
        if (!this.#ensured && this.#options.output.stream !== undefined) {
          await this.#options.target.ensureStream(this.#options.output.stream);
          this.#ensured = true;
        }
        await this.#options.target.store(batch);
        this.#stats.stored += batch.length;
        if (backoff > 100) {
          this.#logger.info("target is storing again", {
            adapter: this.name,
            target: this.#options.target.kind,
          });
        }
        batch = [];
        backoff = 100;
      } catch (error) {
        this.#stats.target_errors++;
        this.#warn("target", "cannot store a batch; it waits in the queue and is retried", {
          target: this.#options.target.kind,
          error: (error as Error).message,
          retry_ms: backoff,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5_000);
      } finally {
        this.#inFlight -= size;
      }
    }
  }
}
