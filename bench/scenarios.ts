/**
 * The benchmark scenarios, each run against one broker with the same client load whatever the
 * broker: pub/sub throughput, fan-out, request/reply (serial through `npm:nats`, pipelined over
 * raw connections) and memory per idle mutual-TLS connection.
 *
 * Needs `--allow-net=127.0.0.1` and `--allow-run=cat` (see `proc.ts`).
 *
 * @module
 */
import { connect } from "nats";
import {
  connectNats,
  LoadConnectionError,
  type NatsSocket,
  Progress,
  pubFrame,
  publishFrames,
  type TlsIdentity,
  within,
} from "./load.ts";
import { CpuMeter, rssKib } from "./proc.ts";

/** The broker under test, as the scenarios see it. */
export interface Target {
  port: number;
  pid: number;
  /**
   * For a cluster: the port of another broker for publishers, so messages cross a route from the
   * publisher's broker to the subscribers' (`port`). @default port
   */
  publishPort?: number;
}

/** Time for a new subscription's interest to reach the other broker of a cluster on loopback. */
const ROUTE_SETTLE_MS = 300;

/** A rate measured by a throughput scenario. */
export interface RateResult {
  /** Messages (or round trips) per second. */
  rate: number;
  /** Messages (or round trips) counted. */
  count: number;
  /** Seconds the count took. */
  seconds: number;
  /** Cores the broker used meanwhile. */
  brokerCpu: number;
  /** Cores this (load-generating) process used meanwhile. */
  benchCpu: number;
}

/** Payload size of every message. */
export const PAYLOAD_BYTES = 128;
const PUBSUB_SUBJECT = "bench.pubsub";
const FANOUT_SUBJECT = "bench.fanout";
const REQUEST_SUBJECT = "bench.request";
const INBOX_PREFIX = "_INBOX.bench";
const WAIT_MS = 60_000;
const encoder = new TextEncoder();

/** Disposes every connection, ignoring failures. */
async function closeAll(conns: NatsSocket[]): Promise<void> {
  await Promise.all(conns.map((c) => c[Symbol.asyncDispose]()));
}

/** Options for {@linkcode pubSub}. */
export interface PubSubOptions {
  /** Messages to publish. */
  messages: number;
  /** Subscriber connections, each subscribed once to the subject. @default 1 */
  subscribers?: number;
  /**
   * Most messages the publisher may be ahead of the slowest subscriber, so neither broker has to
   * buffer (or drop as a slow consumer) more than window x frame bytes per subscriber.
   */
  window: number;
}

/**
 * One raw publisher to `subscribers` raw subscribers (1 for plain pub/sub, many for fan-out),
 * 128-byte messages. The rate is messages delivered (summed over subscribers) per second, from
 * the first chunk of messages received to the last message received.
 */
export async function pubSub(
  target: Target,
  identity: TlsIdentity,
  options: PubSubOptions,
): Promise<RateResult> {
  const subscribers = options.subscribers ?? 1;
  const subject = subscribers === 1 ? PUBSUB_SUBJECT : FANOUT_SUBJECT;
  const { messages, window } = options;
  const subs: NatsSocket[] = [];
  let pub: NatsSocket | null = null;
  try {
    for (let k = 0; k < subscribers; k++) {
      subs.push(
        await connectNats(target.port, identity, `subscriber ${k + 1}`, {
          after: `SUB ${subject} 1\r\n`,
        }),
      );
    }
    if (target.publishPort !== undefined) {
      // The subscriptions cross the route as RS+ before anything is published on the other side.
      await new Promise((resolve) => setTimeout(resolve, ROUTE_SETTLE_MS));
    }
    pub = await connectNats(target.publishPort ?? target.port, identity, "publisher");
    const progress = new Progress();
    let first = 0;
    let firstChunk = 0;
    let last = 0;
    let done = 0;
    for (const sub of subs) {
      sub.onClose((error) => progress.fail(error));
      let reached = false;
      sub.reader.onProgress = (msgs) => {
        if (first === 0 && msgs > 0) {
          first = performance.now();
          firstChunk = msgs;
        }
        if (!reached && msgs >= messages) {
          reached = true;
          if (++done === subscribers) last = performance.now();
        }
        progress.changed();
      };
    }
    pub.onClose((error) => progress.fail(error));
    const slowest = () => {
      let min = Infinity;
      for (const sub of subs) if (sub.reader.msgs < min) min = sub.reader.msgs;
      return min;
    };
    const meter = await CpuMeter.start(target.pid);
    await publishFrames(pub, pubFrame(subject, PAYLOAD_BYTES), messages, {
      gate: (sent) =>
        sent - slowest() <= window ? null : progress.until(
          () => sent - slowest() <= window,
          `the subscribers to receive message ${sent - window} of ${messages} (window ${window})`,
          WAIT_MS,
        ),
    });
    await pub.flush("after publishing");
    await progress.until(
      () => slowest() >= messages,
      `every subscriber to receive ${messages} messages`,
      WAIT_MS,
    );
    const cpu = await meter.read();
    for (const sub of subs) await sub.flush("after receiving");
    const counts = subs.map((s) => s.reader.msgs);
    if (counts.some((c) => c !== messages)) {
      throw new LoadConnectionError(
        `Cannot trust the run as subscribers received ${
          [...new Set(counts)].join(", ")
        } messages, not ${messages}`,
      );
    }
    const errors = [pub, ...subs].map((c) => c.reader.error).filter((e) => e !== null);
    if (errors.length > 0) {
      throw new LoadConnectionError(`Cannot trust the run as the broker sent ${errors[0]}`);
    }
    const delivered = messages * subscribers - firstChunk;
    const seconds = (last - first) / 1000;
    return {
      rate: delivered / seconds,
      count: messages * subscribers,
      seconds,
      brokerCpu: cpu.broker,
      benchCpu: cpu.bench,
    };
  } finally {
    await closeAll(pub ? [pub, ...subs] : subs);
  }
}

/**
 * A raw responder: answers every request on {@linkcode REQUEST_SUBJECT} with a 128-byte reply,
 * one write per chunk read, copying reply subjects byte for byte.
 */
async function rawResponder(target: Target, identity: TlsIdentity): Promise<NatsSocket> {
  const conn = await connectNats(target.port, identity, "responder", {
    after: `SUB ${REQUEST_SUBJECT} 1\r\n`,
  });
  const tail = encoder.encode(` ${PAYLOAD_BYTES}\r\n${"x".repeat(PAYLOAD_BYTES)}\r\n`);
  const PUB = encoder.encode("PUB ");
  let out = new Uint8Array(65_536);
  let length = 0;
  conn.reader.onMsgLine = (line) => {
    // MSG <subject> <sid> <reply> <size>: the reply is the 4th of 5 fields.
    let spaces = 0;
    let start = -1;
    let end = -1;
    for (let k = 0; k < line.length; k++) {
      if (line[k] !== 0x20) continue;
      spaces++;
      if (spaces === 3) start = k + 1;
      else if (spaces === 4) end = k;
    }
    if (spaces !== 4) return; // no reply subject: nothing to answer
    const needed = length + PUB.length + (end - start) + tail.length;
    if (needed > out.length) {
      const grown = new Uint8Array(needed * 2);
      grown.set(out.subarray(0, length));
      out = grown;
    }
    out.set(PUB, length);
    length += PUB.length;
    out.set(line.subarray(start, end), length);
    length += end - start;
    out.set(tail, length);
    length += tail.length;
  };
  conn.reader.onProgress = () => {
    if (length === 0 || conn.closed) return;
    // The socket may keep the bytes until written, so hand it a copy.
    conn.socket.write(out.slice(0, length));
    length = 0;
  };
  return conn;
}

/** Options for the request/reply scenarios. */
export interface RequestOptions {
  /** Round trips to time. */
  requests: number;
  /** Requests in flight at once (pipelined only). @default 100 */
  inFlight?: number;
}

/**
 * Serial request/reply: `npm:nats`'s `request()` awaited one at a time against a raw responder.
 */
export async function requestReplySerial(
  target: Target,
  identity: TlsIdentity,
  options: RequestOptions,
): Promise<RateResult> {
  await using responder = await rawResponder(target, identity);
  const nc = await within(
    connect({
      servers: `127.0.0.1:${target.port}`,
      tls: { ca: identity.ca, cert: identity.cert, key: identity.key },
      reconnect: false,
      timeout: 10_000,
    }),
    "npm:nats to connect",
    15_000,
  );
  try {
    const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x78);
    // Warm the client's inbox subscription before timing.
    await nc.request(REQUEST_SUBJECT, payload, { timeout: 10_000 });
    const meter = await CpuMeter.start(target.pid);
    const t0 = performance.now();
    for (let k = 0; k < options.requests; k++) {
      const reply = await nc.request(REQUEST_SUBJECT, payload, { timeout: 10_000 });
      if (reply.data.length !== PAYLOAD_BYTES) {
        throw new LoadConnectionError(
          `Cannot trust the run as a reply had ${reply.data.length} bytes, not ${PAYLOAD_BYTES}`,
        );
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = await meter.read();
    if (responder.reader.error) {
      throw new LoadConnectionError(
        `Cannot trust the run as the broker sent ${responder.reader.error}`,
      );
    }
    return {
      rate: options.requests / seconds,
      count: options.requests,
      seconds,
      brokerCpu: cpu.broker,
      benchCpu: cpu.bench,
    };
  } finally {
    await within(nc.close(), "npm:nats to close", 10_000).catch(() => {});
  }
}

/**
 * Pipelined request/reply: a raw requester keeps `inFlight` requests outstanding, each with its
 * own inbox subject under one wildcard subscription, sending a new request per reply received.
 */
export async function requestReplyPipelined(
  target: Target,
  identity: TlsIdentity,
  options: RequestOptions,
): Promise<RateResult> {
  const inFlight = Math.min(options.inFlight ?? 100, options.requests);
  const total = options.requests;
  await using responder = await rawResponder(target, identity);
  await using requester = await connectNats(target.port, identity, "requester", {
    after: `SUB ${INBOX_PREFIX}.* 1\r\n`,
  });
  // Every request frame has the same length, so any run of k requests is a prefix of this.
  const width = String(inFlight - 1).length;
  const frames = Array.from(
    { length: inFlight },
    (_, k) =>
      pubFrame(REQUEST_SUBJECT, PAYLOAD_BYTES, `${INBOX_PREFIX}.${String(k).padStart(width, "0")}`),
  );
  const frameLength = frames[0]!.length;
  const batch = new Uint8Array(frameLength * inFlight);
  frames.forEach((f, k) => batch.set(f, k * frameLength));
  const progress = new Progress();
  requester.onClose((error) => progress.fail(error));
  responder.onClose((error) => progress.fail(error));
  let sent = 0;
  let acknowledged = 0;
  let stalled: Error | null = null;
  requester.reader.onProgress = (replies) => {
    const fresh = replies - acknowledged;
    acknowledged = replies;
    const more = Math.min(fresh, total - sent);
    if (more > 0) {
      sent += more;
      // Ignoring write()'s backpressure is safe: at most `inFlight` requests are ever queued.
      if (!requester.closed) requester.socket.write(batch.subarray(0, more * frameLength));
    }
    if (replies > sent) stalled ??= new Error(`Got ${replies} replies to ${sent} requests`);
    progress.changed();
  };
  const meter = await CpuMeter.start(target.pid);
  const t0 = performance.now();
  sent = inFlight;
  await requester.write(batch);
  await progress.until(
    () => requester.reader.msgs >= total,
    `${total} replies (${inFlight} in flight)`,
    WAIT_MS,
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = await meter.read();
  await requester.flush("after the last reply");
  if (stalled) throw stalled;
  if (requester.reader.msgs !== total) {
    throw new LoadConnectionError(
      `Cannot trust the run as ${requester.reader.msgs} replies came for ${total} requests`,
    );
  }
  const error = requester.reader.error ?? responder.reader.error;
  if (error) throw new LoadConnectionError(`Cannot trust the run as the broker sent ${error}`);
  return {
    rate: total / seconds,
    count: total,
    seconds,
    brokerCpu: cpu.broker,
    benchCpu: cpu.bench,
  };
}

/** Options for {@linkcode idleConnections}. */
export interface IdleOptions {
  /** Connections to open. */
  connections: number;
  /** Handshakes in progress at once. @default 200 */
  concurrency?: number;
  /** Time to let the broker settle before reading its memory, in ms. @default 2000 */
  settleMs?: number;
}

/** Memory a broker holds for idle mutual-TLS connections. */
export interface IdleResult {
  /** (RSS with the connections - RSS before) / connections, in KiB. */
  kibPerConnection: number;
  /** RSS before any connection, in KiB. */
  baselineKib: number;
  /** RSS with every connection open and settled, in KiB. */
  loadedKib: number;
  /** Connections completed per second (TLS handshake, CONNECT, PING/PONG). */
  connectRate: number;
  /** Broker CPU time per connection while connecting, in ms. */
  brokerCpuMsPerConnection: number;
}

/**
 * Opens `connections` mutual-TLS connections (handshake, CONNECT, PING/PONG each) with bounded
 * concurrency, lets the broker settle, and reads its RSS before and after.
 */
export async function idleConnections(
  target: Target,
  identity: TlsIdentity,
  options: IdleOptions,
): Promise<IdleResult> {
  const settleMs = options.settleMs ?? 2_000;
  const concurrency = options.concurrency ?? 200;
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const baselineKib = await rssKib(target.pid);
  const conns: NatsSocket[] = [];
  let next = 0;
  let failure: unknown = null;
  const meter = await CpuMeter.start(target.pid);
  const t0 = performance.now();
  const lane = async () => {
    while (next < options.connections && failure === null) {
      const k = next++;
      try {
        conns.push(
          await connectNats(target.port, identity, `idle connection ${k + 1}`, {
            timeoutMs: 30_000,
          }),
        );
      } catch (error) {
        failure ??= error;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, lane));
    if (failure !== null) {
      throw new LoadConnectionError(
        `Cannot open ${options.connections} idle connections: ${conns.length} opened before ${
          (failure as Error).message
        }`,
        { cause: failure },
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = await meter.read();
    const connectRate = options.connections / seconds;
    const brokerCpuMsPerConnection = (cpu.broker * seconds * 1000) / options.connections;
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const closed = conns.filter((c) => c.closed).length;
    if (closed > 0) {
      throw new LoadConnectionError(
        `Cannot measure as the broker closed ${closed} idle connections`,
      );
    }
    const loadedKib = await rssKib(target.pid);
    return {
      kibPerConnection: (loadedKib - baselineKib) / options.connections,
      baselineKib,
      loadedKib,
      connectRate,
      brokerCpuMsPerConnection,
    };
  } finally {
    await closeAll(conns);
  }
}
