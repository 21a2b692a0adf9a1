/**
 * The stream store's API over the broker: request/reply on `chorale.streams.api.<access>.<op>`,
 * JSON both ways, and {@linkcode StoreClient}, which speaks it over an npm:nats connection.
 *
 * | subject                                 | request                                                  | reply                              |
 * | --------------------------------------- | -------------------------------------------------------- | ---------------------------------- |
 * | `chorale.streams.api.read.streams`      | `{}`                                                     | `{streams: [StreamInfo]}`          |
 * | `chorale.streams.api.read.fetch`        | `{stream, from?, subject?, limit?, wait_ms?}`            | `{messages: [...], last_seq}`      |
 * | `chorale.streams.api.read.discover`     | `{collective?, filter?}`                                 | `{nodes: [identity], indexed}`     |
 * | `chorale.streams.api.read.node`         | `{identity}`                                             | `{node: RegistryNode \| null}`     |
 * | `chorale.streams.api.read.fleet`        | `{facts?, stale_after_ms?, events_since_ms?}`            | `FleetSummary`                     |
 * | `chorale.streams.api.read.stats`        | `{}`                                                     | the service's counters             |
 * | `chorale.streams.api.read.kv`           | `{bucket, key}` (reads only `KV_` streams)               | `{entry: WireMessage \| null}`     |
 * | `chorale.streams.api.write.publish`     | `{messages: [{subject, data \| data_b64}]}`              | `{acks: [{stream, seq}]}`          |
 * | `chorale.streams.api.manage.add`        | `{config: StreamConfig}`                                 | `{stream: StreamInfo}`             |
 * | `chorale.streams.api.manage.delete`     | `{name}`                                                 | `{deleted: boolean}`               |
 * | `chorale.streams.api.manage.purge`      | `{name}`                                                 | `{purged: number}`                 |
 *
 * `from` is `{seq}`, `{time_ms}` or `{last_per_subject: true, after_seq?}`. A failure is
 * `{error: {name, message}}`, which the client throws as {@linkcode StoreApiError}. A publish is
 * answered only after its transaction committed: the acknowledgement means stored.
 *
 * @module
 */
import type { NatsConnection } from "nats";
import type { RegistryNode } from "../client/discovery_sources.ts";
import {
  kvNameProblem,
  kvStreamName,
  kvSubject,
  kvWildcard,
  streamsApiSubject,
} from "../core/protocol/subjects.ts";
import type { RequestFilter } from "../core/protocol/request.ts";
import type { FleetSummary } from "./inventory.ts";
import type { StoreServiceStats } from "./service.ts";
import type { AppendResult, ReplayFrom, StoredMessage, StreamConfig, StreamInfo } from "./store.ts";

/** A message on the wire: text data as `data`, anything else base64 in `data_b64`. */
export interface WireMessage {
  /** The stream it is in (absent in publishes). */
  stream?: string;
  /** Its sequence (absent in publishes). */
  seq?: number;
  /** Its subject. */
  subject: string;
  /** When it was stored, ms (absent in publishes). */
  time_ms?: number;
  /** The data as UTF-8 text. */
  data?: string;
  /** The data as base64, when it is not UTF-8 text. */
  data_b64?: string;
}

/** Where a fetch starts, on the wire. */
export type WireFrom = { seq: number } | { time_ms: number } | {
  last_per_subject: true;
  after_seq?: number;
};

/** The store answered with an error, or not at all. */
export class StoreApiError extends Error {
  /** The error's name on the store side, say `StreamNotFoundError`. */
  readonly remoteName: string;
  /** Makes the error. */
  constructor(message: string, remoteName = "StoreApiError", options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreApiError";
    this.remoteName = remoteName;
  }
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** A message's data for the wire. */
export function wireData(data: Uint8Array): { data: string } | { data_b64: string } {
  try {
    return { data: strictDecoder.decode(data) };
  } catch {
    return { data_b64: data.toBase64() };
  }
}

/** A wire message's data as bytes; throws a TypeError when it has neither form. */
export function bytesOf(message: { data?: unknown; data_b64?: unknown }): Uint8Array {
  if (typeof message.data === "string") return encoder.encode(message.data);
  if (typeof message.data_b64 === "string") return Uint8Array.fromBase64(message.data_b64);
  throw new TypeError("a message needs 'data' (text) or 'data_b64' (base64)");
}

/** A stored message for the wire. */
export function toWire(message: StoredMessage): WireMessage {
  return {
    stream: message.stream,
    seq: message.seq,
    subject: message.subject,
    time_ms: message.timeMs,
    ...wireData(message.data),
  };
}

/** Converts a replay start to its wire form. */
export function fromToWire(from: ReplayFrom): WireFrom {
  if ("seq" in from) return { seq: from.seq };
  if ("timeMs" in from) return { time_ms: from.timeMs };
  return { last_per_subject: true, ...(from.afterSeq ? { after_seq: from.afterSeq } : {}) };
}

/** Converts a wire replay start; throws a TypeError for anything else. */
export function fromFromWire(from: unknown): ReplayFrom {
  const f = (from ?? { seq: 1 }) as Record<string, unknown>;
  if (Number.isSafeInteger(f.seq)) return { seq: f.seq as number };
  if (Number.isSafeInteger(f.time_ms)) return { timeMs: f.time_ms as number };
  if (f.last_per_subject === true) {
    return {
      lastPerSubject: true,
      ...(Number.isSafeInteger(f.after_seq) ? { afterSeq: f.after_seq as number } : {}),
    };
  }
  throw new TypeError(
    `'from' must be {seq}, {time_ms} or {last_per_subject: true}: current value is ${
      JSON.stringify(from)
    }`,
  );
}

/** Options for {@linkcode StoreClient}. */
export interface StoreClientOptions {
  /** How long to wait for an answer, ms. @default 5000 */
  timeoutMs?: number;
}

/** Options for {@linkcode StoreClient.fetch}. */
export interface ClientFetchOptions {
  /** Where to start. @default { seq: 1 } */
  from?: ReplayFrom;
  /** Only subjects matching this pattern. */
  subject?: string;
  /** At most this many. @default 1000 */
  limit?: number;
  /** When nothing is there yet, wait up to this long for new messages, ms. @default 0 */
  waitMs?: number;
}

/** Options for {@linkcode StoreClient.fleet}. */
export interface ClientFleetOptions {
  /** Facts to count values of. @default every top-level scalar fact */
  facts?: string[];
  /** Nodes silent this long are stale, ms. @default 0 (not reported) */
  staleAfterMs?: number;
  /** Look for stopped nodes in events since this time, ms. @default the last 24 hours */
  eventsSinceMs?: number;
}

/**
 * Talks to a stream store service over a broker connection. The connection's identity must be
 * allowed to publish to the API subjects it uses (see the README's permission rules).
 *
 * @example Fetch the last hour of lifecycle events
 * ```ts
 * import type { NatsConnection } from "nats";
 * import { StoreClient } from "./api.ts";
 *
 * // Type-checked only: it needs a broker and a store service.
 * export async function lastHour(nc: NatsConnection): Promise<number> {
 *   const store = new StoreClient(nc);
 *   const { messages } = await store.fetch("CHORIA_EVENTS", {
 *     from: { timeMs: Date.now() - 3_600_000 },
 *   });
 *   return messages.length;
 * }
 * ```
 */
export class StoreClient {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;

  /** Uses `nc` for requests. */
  constructor(nc: NatsConnection, options: StoreClientOptions = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Every stream's configuration and state. */
  async streams(): Promise<StreamInfo[]> {
    return (await this.#call<{ streams: StreamInfo[] }>("read", "streams", {})).streams;
  }

  /** Messages of a stream; with `waitMs`, waits for new ones when there are none yet. */
  async fetch(
    stream: string,
    options: ClientFetchOptions = {},
  ): Promise<{ messages: StoredMessage[]; lastSeq: number }> {
    const answer = await this.#call<{ messages: WireMessage[]; last_seq: number }>(
      "read",
      "fetch",
      {
        stream,
        ...(options.from ? { from: fromToWire(options.from) } : {}),
        ...(options.subject ? { subject: options.subject } : {}),
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.waitMs ? { wait_ms: options.waitMs } : {}),
      },
      (options.waitMs ?? 0) + this.#timeoutMs,
    );
    return {
      messages: answer.messages.map((m) => ({
        stream: m.stream ?? stream,
        seq: m.seq ?? 0,
        subject: m.subject,
        timeMs: m.time_ms ?? 0,
        data: bytesOf(m),
      })),
      lastSeq: answer.last_seq,
    };
  }

  /**
   * Stores messages and resolves once they are committed. They go in requests that fit the
   * broker's payload limit, each stored all or none; if one fails, those before it are stored.
   */
  async publish(
    messages: readonly { subject: string; data: Uint8Array }[],
  ): Promise<AppendResult[]> {
    const limit = (this.#nc.info?.max_payload ?? 1_048_576) - 4_096;
    const acks: AppendResult[] = [];
    let chunk: WireMessage[] = [];
    let size = 0;
    const send = async () => {
      if (chunk.length === 0) return;
      const answer = await this.#call<{ acks: AppendResult[] }>("write", "publish", {
        messages: chunk,
      });
      acks.push(...answer.acks);
      chunk = [];
      size = 0;
    };
    for (const m of messages) {
      const wire = { subject: m.subject, ...wireData(m.data) };
      const bytes = encoder.encode(JSON.stringify(wire)).byteLength + 1;
      if (bytes > limit) {
        throw new StoreApiError(
          `Cannot publish a message on ${m.subject} as it is ${bytes} bytes encoded: the broker takes at most ${limit}`,
        );
      }
      if (size + bytes > limit) await send();
      chunk.push(wire);
      size += bytes;
    }
    await send();
    return acks;
  }

  /** The registered nodes a filter selects. */
  async discover(
    options: { collective?: string; filter?: Partial<RequestFilter> } = {},
  ): Promise<string[]> {
    return (await this.#call<{ nodes: string[] }>("read", "discover", options)).nodes;
  }

  /** A node's latest registration, or null when it never registered. */
  async node(identity: string): Promise<RegistryNode | null> {
    return (await this.#call<{ node: RegistryNode | null }>("read", "node", { identity })).node;
  }

  /** The fleet summary. */
  async fleet(options: ClientFleetOptions = {}): Promise<FleetSummary> {
    return await this.#call<FleetSummary>("read", "fleet", {
      ...(options.facts ? { facts: options.facts } : {}),
      ...(options.staleAfterMs ? { stale_after_ms: options.staleAfterMs } : {}),
      ...(options.eventsSinceMs !== undefined ? { events_since_ms: options.eventsSinceMs } : {}),
    });
  }

  /** The service's counters. */
  async stats(): Promise<StoreServiceStats> {
    return await this.#call<StoreServiceStats>("read", "stats", {});
  }

  /** Adds or updates a stream. */
  async addStream(config: StreamConfig): Promise<StreamInfo> {
    return (await this.#call<{ stream: StreamInfo }>("manage", "add", { config })).stream;
  }

  /**
   * Creates (or updates) a key-value bucket: the stream `KV_<bucket>` on `$KV.<bucket>.>`,
   * keeping `history` values of each key (1 by default).
   */
  async addBucket(bucket: string, options: { history?: number } = {}): Promise<StreamInfo> {
    checkKvName(bucket);
    return await this.addStream({
      name: kvStreamName(bucket),
      subjects: [kvWildcard(bucket)],
      maxMsgsPerSubject: options.history ?? 1,
    });
  }

  /** Stores `value` under `key` of `bucket`; resolves once it is committed. */
  async kvPut(bucket: string, key: string, value: Uint8Array): Promise<AppendResult> {
    checkKvName(bucket, key);
    const [ack] = await this.publish([{ subject: kvSubject(bucket, key), data: value }]);
    return ack!;
  }

  /** The latest value of `key` in `bucket` with its revision and time, or null when unset. */
  async kvGet(
    bucket: string,
    key: string,
  ): Promise<{ value: Uint8Array; revision: number; timeMs: number } | null> {
    checkKvName(bucket, key);
    const { entry } = await this.#call<{ entry: WireMessage | null }>("read", "kv", {
      bucket,
      key,
    });
    return entry === null
      ? null
      : { value: bytesOf(entry), revision: entry.seq ?? 0, timeMs: entry.time_ms ?? 0 };
  }

  /** Deletes a stream. */
  async deleteStream(name: string): Promise<boolean> {
    return (await this.#call<{ deleted: boolean }>("manage", "delete", { name })).deleted;
  }

  /** Drops a stream's messages. */
  async purge(name: string): Promise<number> {
    return (await this.#call<{ purged: number }>("manage", "purge", { name })).purged;
  }

  async #call<T>(
    access: "read" | "write" | "manage",
    op: string,
    body: unknown,
    timeoutMs = this.#timeoutMs,
  ): Promise<T> {
    const subject = streamsApiSubject(access, op);
    let reply;
    try {
      reply = await this.#nc.request(subject, encoder.encode(JSON.stringify(body)), {
        timeout: timeoutMs,
      });
    } catch (cause) {
      const text = (cause as Error).message ?? String(cause);
      const why = /503|no responders/i.test(text)
        ? "no stream store is serving it (or this identity may not publish there)"
        : /timeout/i.test(text)
        ? `no answer within ${timeoutMs} ms`
        : text;
      throw new StoreApiError(`Cannot ask the stream store on ${subject} as ${why}`, undefined, {
        cause,
      });
    }
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(strictDecoder.decode(reply.data));
    } catch (cause) {
      throw new StoreApiError(
        `Cannot read the stream store's answer on ${subject}: not JSON`,
        undefined,
        {
          cause,
        },
      );
    }
    const error = answer.error as { name?: string; message?: string } | undefined;
    if (error !== undefined) {
      throw new StoreApiError(error.message ?? "unknown error", error.name ?? "StoreApiError");
    }
    return answer as T;
  }
}

function checkKvName(bucket: string, key?: string): void {
  const problem = kvNameProblem(bucket, key);
  if (problem !== null) throw new StoreApiError(problem);
}
