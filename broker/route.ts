/**
 * One route: a connection to another broker of the cluster, speaking nats-server's cluster
 * protocol. It tells the peer which subjects local clients want (RS+, RS-), carries messages for
 * the peer's subscribers (RMSG, HMSG) and hands the peer's messages and interest to its
 * {@linkcode RouteHost}. What the route does with the peer's first INFO (register it, gossip it)
 * and with later ones (learn about other brokers) is the host's business.
 *
 * @module
 */
import type { Socket } from "node:net";
import type { Outgoing, Subscription } from "./connection.ts";
import { OutBuffer } from "./out_buffer.ts";
import { Parser, ProtocolError, type RouteProtocolHandler } from "./parser.ts";
import { wireBytes } from "./wire_text.ts";

/** The only account Chorale serves: nats-server's global account. */
export const GLOBAL_ACCOUNT = "$G";

/** What the peer said about itself in INFO (the fields Chorale reads). */
export interface RouteInfo {
  server_id: string;
  server_name?: string;
  host?: string;
  port?: number;
  /** The peer's route URL, `nats-route://host:port/`, when it advertises one (or gossips it). */
  ip?: string;
  cluster?: string;
  headers?: boolean;
  version?: string;
}

/** A subscription standing for a peer's interest in a subject (one per subject and queue). */
export interface RemoteSubscription extends Subscription {
  readonly connection: Route;
  /** For a queue group: how many members the peer has. */
  weight: number;
}

/** Takes a message that came in on `route` for local subscribers. */
export type RoutedMessageHandler = (
  route: Route,
  subject: string,
  reply: string | null,
  queues: string[] | null,
  headerSize: number,
  data: Uint8Array,
) => void;

/** What a route needs from the cluster that owns it. */
export interface RouteHost {
  readonly clusterName: string;
  readonly maxPending: number;
  readonly parserLimits: { maxControlLine: number; maxPayload: number };
  /** The peer sent INFO: its first one (`first`) or a later one about another broker. */
  routeInfo(route: Route, info: RouteInfo, first: boolean): void;
  addRemote(sub: RemoteSubscription): void;
  removeRemote(sub: RemoteSubscription): void;
  /** A message from the peer for local subscribers. */
  readonly routedMessage: RoutedMessageHandler;
  /** The route got a message to send: it joins the routes written at the end of the publish. */
  touched(route: Route): void;
  markDirty(route: Route): void;
  routeClosed(route: Route, reason: string): void;
}

const encoder = new TextEncoder();
const PING = encoder.encode("PING\r\n");
const PONG = encoder.encode("PONG\r\n");
const RMSG = encoder.encode(`RMSG ${GLOBAL_ACCOUNT} `);
const HMSG = encoder.encode(`HMSG ${GLOBAL_ACCOUNT} `);
const PLUS = encoder.encode(" +");
const BAR = encoder.encode(" |");
const NO_SID = new Uint8Array(0);
const NO_BYTES = NO_SID;

/** A route to another broker. */
export class Route implements RouteProtocolHandler {
  readonly id: number;
  /** Whether this broker dialled the peer (and will dial again if the route drops). */
  readonly solicited: boolean;
  /** The URL this broker dialled, for a solicited route. */
  readonly url: string | null;
  readonly createdAt = Date.now();
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The peer's certificate name, or null on an insecure cluster. */
  readonly identity: string | null;
  /** The peer's INFO once it arrived. */
  peer: RouteInfo | null = null;
  /** Subscriptions standing for the peer's interest, by `subject` or `subject queue`. */
  readonly remoteSubs = new Map<string, RemoteSubscription>();
  /** Deliveries are never filtered on a route: the peer applies its clients' permissions. */
  readonly permissions = null;
  lastActivity = Date.now();
  pingsOut = 0;
  inMsgs = 0;
  inBytes = 0;
  outMsgs = 0;
  outBytes = 0;
  #state: "connecting" | "open" | "closed" = "connecting";
  readonly #host: RouteHost;
  readonly #socket: Socket;
  readonly #parser: Parser;
  readonly #out = new OutBuffer();
  #dirty = false;
  /** For the message being routed now: whether the peer wants it for plain subscribers. */
  #pendingPlain = false;
  /** For the message being routed now: the peer's queue groups chosen to get it. */
  #pendingQueues: string[] = [];
  #touched = false;

  constructor(
    id: number,
    socket: Socket,
    host: RouteHost,
    options: { solicited: boolean; url: string | null; identity: string | null },
  ) {
    this.id = id;
    this.#socket = socket;
    this.#host = host;
    this.solicited = options.solicited;
    this.url = options.url;
    this.identity = options.identity;
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.#parser = new Parser(IGNORED_CLIENT_OPS, { ...host.parserLimits, route: this });
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("close", () => this.close("connection closed"));
    socket.on("error", () => this.close("connection closed"));
  }

  get state(): "connecting" | "open" | "closed" {
    return this.#state;
  }

  /** The peer's server id, once its INFO arrived. */
  get remoteId(): string | null {
    return this.peer?.server_id ?? null;
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.#out.length + (this.#socket.writableLength ?? 0);
  }

  #onData(chunk: Uint8Array): void {
    this.lastActivity = Date.now();
    try {
      this.#parser.feed(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.sendError(error.errText);
      this.close(`protocol error: ${error.message}`);
    }
  }

  // RouteProtocolHandler

  info(json: string): void {
    let info: RouteInfo;
    try {
      info = parseInfo(json);
    } catch (error) {
      this.#parser.stop();
      this.sendError("Invalid INFO");
      this.close(`protocol error: ${(error as Error).message}`);
      return;
    }
    const first = this.peer === null;
    if (first) this.peer = info;
    this.#host.routeInfo(this, info, first);
  }

  connect(json: string): void {
    let cluster: unknown;
    try {
      cluster = (JSON.parse(json) as { cluster?: unknown }).cluster;
    } catch {
      this.#parser.stop();
      this.sendError("Invalid CONNECT");
      this.close("protocol error: CONNECT is not JSON");
      return;
    }
    if (typeof cluster === "string" && cluster !== this.#host.clusterName) {
      const text =
        `Rejecting connection, cluster name "${cluster}" does not match "${this.#host.clusterName}"`;
      this.sendError(text);
      this.close("cluster name conflict");
    }
  }

  remoteSubscribe(account: string, subject: string, queue: string | null, weight: number): void {
    if (account !== GLOBAL_ACCOUNT || this.#state === "closed") return;
    const key = queue === null ? subject : `${subject} ${queue}`;
    const known = this.remoteSubs.get(key);
    if (known) {
      known.weight = weight;
      return;
    }
    const sub: RemoteSubscription = {
      connection: this,
      remote: true,
      subject,
      queue,
      sid: key,
      sidBytes: NO_SID,
      filtered: false,
      max: 0,
      delivered: 0,
      weight,
    };
    this.remoteSubs.set(key, sub);
    this.#host.addRemote(sub);
  }

  remoteUnsubscribe(account: string, subject: string, queue: string | null): void {
    if (account !== GLOBAL_ACCOUNT) return;
    const key = queue === null ? subject : `${subject} ${queue}`;
    const sub = this.remoteSubs.get(key);
    if (!sub) return;
    this.remoteSubs.delete(key);
    this.#host.removeRemote(sub);
  }

  routedMessage(
    account: string,
    subject: string,
    reply: string | null,
    queues: string[] | null,
    headerSize: number,
    data: Uint8Array,
  ): void {
    this.inMsgs++;
    this.inBytes += data.length;
    if (account !== GLOBAL_ACCOUNT || this.#state !== "open") return;
    this.#host.routedMessage(this, subject, reply, queues, headerSize, data);
  }

  ping(): void {
    this.#write(PONG);
  }

  pong(): void {
    this.pingsOut = 0;
  }

  error(text: string): void {
    this.close(`peer error: ${text}`);
  }

  // Sending

  /** Marks the route open: its INFO arrived and the host registered it. */
  open(): void {
    if (this.#state === "connecting") this.#state = "open";
  }

  /** Writes raw protocol text (INFO, CONNECT, -ERR). */
  sendText(text: string): void {
    this.#write(wireBytes(text));
  }

  sendError(text: string): void {
    this.sendText(`-ERR '${text}'\r\n`);
  }

  sendPing(): void {
    this.pingsOut++;
    this.#write(PING);
  }

  /** Tells the peer about local interest: `RS+`, with the member count for a queue group. */
  sendSubscribe(subject: string, queue: string | null, weight: number): void {
    const q = queue === null ? "" : ` ${queue} ${weight}`;
    this.sendText(`RS+ ${GLOBAL_ACCOUNT} ${subject}${q}\r\n`);
  }

  /** Tells the peer local interest is gone: `RS-`. */
  sendUnsubscribe(subject: string, queue: string | null): void {
    this.sendText(`RS- ${GLOBAL_ACCOUNT} ${subject}${queue === null ? "" : ` ${queue}`}\r\n`);
  }

  /**
   * Notes that the message being routed goes to the peer, for its plain subscribers or for the
   * queue group of `sub`; the host writes it once per route when the publish is routed.
   */
  deliver(sub: Subscription, _message: Outgoing): boolean {
    if (this.#state !== "open") return false;
    if (sub.queue === null) this.#pendingPlain = true;
    else this.#pendingQueues.push(sub.queue);
    if (!this.#touched) {
      this.#touched = true;
      this.#host.touched(this);
    }
    return true;
  }

  /** Writes the message noted by {@linkcode deliver} as one RMSG (or HMSG) and resets the note. */
  sendRouted(message: Outgoing, replyText: string | null): void {
    const queues = this.#pendingQueues;
    this.#touched = false;
    this.#pendingPlain = false;
    if (queues.length > 0) this.#pendingQueues = [];
    if (this.#state !== "open") return;
    const { subject, sizes, data } = message;
    const head = message.headers ? HMSG : RMSG;
    let middle: Uint8Array;
    if (queues.length === 0) {
      middle = message.reply;
    } else {
      const names = wireBytes(` ${queues.join(" ")}`);
      const marker = replyText === null ? BAR : PLUS;
      middle = new Uint8Array(marker.length + message.reply.length + names.length);
      middle.set(marker, 0);
      middle.set(message.reply, marker.length);
      middle.set(names, marker.length + message.reply.length);
    }
    this.#out.appendMessage(head, subject, middle, NO_BYTES, sizes, data);
    this.outMsgs++;
    this.outBytes += data.length;
    this.#queued();
  }

  #write(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    this.#out.append(bytes);
    this.#queued();
  }

  #queued(): void {
    if (this.pendingBytes > this.#host.maxPending) {
      this.close("slow route");
      return;
    }
    if (!this.#dirty) {
      this.#dirty = true;
      this.#host.markDirty(this);
    }
  }

  /** Hands buffered bytes to the socket in one write. */
  flush(): void {
    this.#dirty = false;
    if (this.#state === "closed") return;
    const data = this.#out.take();
    if (data) this.#socket.write(data);
  }

  /** Flushes, closes the socket and drops the peer's interest. */
  close(reason: string): void {
    if (this.#state === "closed") return;
    this.flush();
    this.#state = "closed";
    this.#parser.stop();
    for (const sub of this.remoteSubs.values()) this.#host.removeRemote(sub);
    this.remoteSubs.clear();
    this.#out.clear();
    const socket = this.#socket;
    socket.end();
    setTimeout(() => socket.destroy(), 1_000).unref?.();
    this.#host.routeClosed(this, reason);
  }
}

/** Client operations never reach a route's handler; the parser needs one all the same. */
const IGNORED_CLIENT_OPS = {
  connect() {},
  publish() {},
  subscribe() {},
  unsubscribe() {},
  ping() {},
  pong() {},
};

function parseInfo(json: string): RouteInfo {
  const value: unknown = JSON.parse(json);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("INFO is not a JSON object");
  }
  const info = value as Record<string, unknown>;
  if (typeof info.server_id !== "string" || info.server_id === "") {
    throw new TypeError("INFO has no server_id");
  }
  return info as unknown as RouteInfo;
}
