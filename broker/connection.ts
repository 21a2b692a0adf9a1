/**
 * One client connection: it parses what the client sends, applies the protocol's rules and the
 * identity's permissions, and buffers what the broker delivers to it until the next flush.
 *
 * @module
 */
import type { Socket } from "node:net";
import { OutBuffer } from "./out_buffer.ts";
import { Parser, ProtocolError, type ProtocolHandler } from "./parser.ts";
import { type PermissionChecker, SubscribeVerdict } from "./permissions.ts";
import {
  isValidLiteralSubject,
  isValidQueueName,
  isValidSubject,
  subjectMatches,
} from "./subject.ts";
import type { IdentityKind } from "./permissions.ts";
import { wireBytes } from "./wire_text.ts";

/** Whatever holds subscriptions: a client connection, or a route standing for another broker. */
export interface Subscriber {
  /** The identity's permissions, checked on delivery when a subscription is `filtered`. */
  readonly permissions: PermissionChecker | null;
  /** Takes one message for `sub`; returns false when it could not. */
  deliver(sub: Subscription, message: Outgoing): boolean;
}

/** A subscription held by a connection (or a route). */
export interface Subscription {
  readonly connection: Subscriber;
  /** Whether it stands for another broker's interest (held by a route), not a local client's. */
  readonly remote: boolean;
  readonly subject: string;
  readonly queue: string | null;
  readonly sid: string;
  /** ` <sid> ` as bytes, written into every MSG line. */
  readonly sidBytes: Uint8Array;
  /** Whether deliveries must be checked against the identity's subscribe deny list. */
  readonly filtered: boolean;
  /** Deliveries after which the subscription ends; 0 for none. */
  max: number;
  delivered: number;
}

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost {
  readonly maxPending: number;
  readonly parserLimits: { maxControlLine: number; maxPayload: number };
  /** Whether a CONNECT must come before any other operation. */
  readonly authRequired: boolean;
  addSubscription(sub: Subscription): void;
  removeSubscription(sub: Subscription): void;
  /** Routes a client's publish to matching subscribers; returns how many got it. */
  route(
    from: Connection,
    subject: string,
    reply: string | null,
    headerSize: number,
    data: Uint8Array,
  ): number;
  /** Queues the connection for the next flush. */
  markDirty(connection: Connection): void;
  /** Called once when the connection closes, with the reason. */
  closed(connection: Connection, reason: CloseReason): void;
  countPermissionViolation(): void;
}

/** Why a connection ended. */
export type CloseReason =
  | "client closed"
  | "protocol error"
  | "slow consumer"
  | "stale connection"
  | "authentication timeout"
  | "authorization violation"
  | "tls handshake failed"
  | "server shutdown"
  | "listener probe"
  | "max connections";

/** Options the client sent in CONNECT. */
export interface ConnectOptions {
  verbose: boolean;
  pedantic: boolean;
  echo: boolean;
  headers: boolean;
  noResponders: boolean;
  name: string;
  lang: string;
  version: string;
}

const encoder = new TextEncoder();
const MSG = encoder.encode("MSG ");
const HMSG = encoder.encode("HMSG ");
const PONG = encoder.encode("PONG\r\n");
const PING = encoder.encode("PING\r\n");
const OK = encoder.encode("+OK\r\n");
const NO_RESPONDERS = encoder.encode("NATS/1.0 503\r\n\r\n");

/** Bytes of a publish being delivered, encoded once and shared by every subscriber. */
export interface Outgoing {
  subject: Uint8Array;
  /** ` <reply>` with its leading space, or empty. */
  reply: Uint8Array;
  /** ` <size>\r\n` or ` <headerSize> <size>\r\n` with a leading space. */
  sizes: Uint8Array;
  headers: boolean;
  data: Uint8Array;
}

/** A client connection. */
export class Connection implements ProtocolHandler {
  readonly id: number;
  readonly createdAt = Date.now();
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The certificate's common name, or null on an insecure listener. */
  identity: string | null = null;
  kind: IdentityKind | null = null;
  permissions: PermissionChecker | null = null;
  options: ConnectOptions | null = null;
  readonly subscriptions = new Map<string, Subscription>();
  lastActivity = Date.now();
  /** When the TLS handshake finished (or the plain socket was attached): CONNECT is timed from it. */
  attachedAt = 0;
  pingsOut = 0;
  /** When a write started waiting for the socket to drain; 0 when it is not. */
  blockedSince = 0;
  inMsgs = 0;
  inBytes = 0;
  outMsgs = 0;
  outBytes = 0;
  #state: "handshake" | "connecting" | "open" | "closed" = "handshake";
  readonly #host: ConnectionHost;
  #socket: Socket;
  readonly #parser: Parser;
  readonly #out = new OutBuffer();
  #dirty = false;
  #lastPublishSubject = "";

  constructor(id: number, socket: Socket, host: ConnectionHost) {
    this.id = id;
    this.#socket = socket;
    this.#host = host;
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.#parser = new Parser(this, { ...host.parserLimits, requireConnect: host.authRequired });
  }

  /** Where the connection is in its life. */
  get state(): "handshake" | "connecting" | "open" | "closed" {
    return this.#state;
  }

  /** Bytes waiting to be written: buffered here and in the socket. */
  get pendingBytes(): number {
    return this.#out.length + (this.#socket.writableLength ?? 0);
  }

  /** Whether the connection is queued for the next flush. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * Starts reading from `socket` (the TLS socket once the handshake is done, or the plain one),
   * with the identity taken from the client certificate.
   */
  attach(socket: Socket, identity: string | null): void {
    if (this.#state === "closed") {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    this.identity = identity;
    this.#state = "connecting";
    this.lastActivity = Date.now();
    this.attachedAt = this.lastActivity;
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("drain", () => {
      this.blockedSince = 0;
    });
    socket.on("close", () => this.close("client closed"));
    socket.on("error", () => this.close("client closed"));
  }

  #onData(chunk: Uint8Array): void {
    this.lastActivity = Date.now();
    try {
      this.#parser.feed(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.sendError(error.errText);
      this.close("protocol error");
    }
  }

  // ProtocolHandler

  connect(json: string): void {
    let parsed: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(json);
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new TypeError("CONNECT arguments are not a JSON object");
      }
      parsed = value as Record<string, unknown>;
    } catch (cause) {
      this.#parser.stop();
      throw new ProtocolError(
        "Invalid CONNECT: not a JSON object",
        "Cannot parse CONNECT as JSON",
        { cause },
      );
    }
    // As in nats-server, CONNECT overlays defaults of verbose, pedantic and echo on.
    const bool = (key: string, fallback: boolean) =>
      typeof parsed[key] === "boolean" ? parsed[key] as boolean : fallback;
    const str = (key: string) => typeof parsed[key] === "string" ? parsed[key] as string : "";
    this.options = {
      verbose: bool("verbose", true),
      pedantic: bool("pedantic", true),
      echo: bool("echo", true),
      headers: bool("headers", false),
      noResponders: bool("no_responders", false),
      name: str("name"),
      lang: str("lang"),
      version: str("version"),
    };
    if (this.options.noResponders && !this.options.headers) {
      this.#parser.stop();
      throw new ProtocolError(
        "no responders requires headers support",
        "Cannot accept CONNECT as no_responders needs headers",
      );
    }
    this.#state = "open";
    this.#ok();
  }

  publish(subject: string, reply: string | null, headerSize: number, data: Uint8Array): void {
    if (!this.#connected()) return;
    const options = this.options!;
    if (headerSize >= 0 && !options.headers) {
      this.#parser.stop();
      throw new ProtocolError(
        "message headers not supported",
        "Cannot accept HPUB as the client did not ask for headers in CONNECT",
      );
    }
    this.inMsgs++;
    this.inBytes += data.length;
    // Streams repeat their subject: validate it once (the parser hands out the same string).
    if (subject !== this.#lastPublishSubject) {
      if (!isValidLiteralSubject(subject)) {
        this.sendError("Invalid Publish Subject");
        return;
      }
      this.#lastPublishSubject = subject;
    }
    if (reply !== null && !isValidLiteralSubject(reply)) {
      this.sendError("Invalid Publish Subject");
      return;
    }
    if (this.permissions && !this.permissions.canPublish(subject)) {
      this.#host.countPermissionViolation();
      this.sendError(`Permissions Violation for Publish to "${subject}"`);
      return;
    }
    this.#ok();
    const delivered = this.#host.route(this, subject, reply, headerSize, data);
    if (delivered === 0 && reply !== null && options.headers && options.noResponders) {
      this.#noResponders(reply);
    }
  }

  subscribe(subject: string, queue: string | null, sid: string): void {
    if (!this.#connected()) return;
    if (!isValidSubject(subject)) {
      this.sendError("Invalid Subject");
      return;
    }
    if (queue !== null && !isValidQueueName(queue)) {
      this.sendError("Invalid Queue Name");
      return;
    }
    const verdict = this.permissions?.canSubscribe(subject) ?? SubscribeVerdict.allowed;
    if (verdict === SubscribeVerdict.denied) {
      this.#host.countPermissionViolation();
      const q = queue === null ? "" : ` using queue "${queue}"`;
      this.sendError(`Permissions Violation for Subscription to "${subject}"${q}`);
      return;
    }
    if (!this.subscriptions.has(sid)) {
      const sub: Subscription = {
        connection: this,
        remote: false,
        subject,
        queue,
        sid,
        sidBytes: wireBytes(` ${sid}`),
        filtered: verdict === SubscribeVerdict.filtered,
        max: 0,
        delivered: 0,
      };
      this.subscriptions.set(sid, sub);
      this.#host.addSubscription(sub);
    }
    this.#ok();
  }

  unsubscribe(sid: string, max: number): void {
    if (!this.#connected()) return;
    const sub = this.subscriptions.get(sid);
    if (sub) {
      if (max > 0 && sub.delivered < max) sub.max = max;
      else this.removeSubscription(sub);
    }
    this.#ok();
  }

  ping(): void {
    if (!this.#connected()) return;
    this.#write(PONG);
  }

  pong(): void {
    if (!this.#connected()) return;
    this.pingsOut = 0;
  }

  // Delivery

  /** Drops a subscription from this connection and the index. */
  removeSubscription(sub: Subscription): void {
    if (this.subscriptions.get(sub.sid) === sub) {
      this.subscriptions.delete(sub.sid);
      this.#host.removeSubscription(sub);
    }
  }

  /** Buffers one message for `sub`; returns false when the connection could not take it. */
  deliver(sub: Subscription, message: Outgoing): boolean {
    if (this.#state !== "open") return false;
    const { subject, reply, sizes, data } = message;
    this.#out.appendMessage(
      message.headers ? HMSG : MSG,
      subject,
      sub.sidBytes,
      reply,
      sizes,
      data,
    );
    this.outMsgs++;
    this.outBytes += data.length;
    sub.delivered++;
    if (sub.max > 0 && sub.delivered >= sub.max) this.removeSubscription(sub);
    this.#queued();
    return true;
  }

  #noResponders(reply: string): void {
    // nats-server answers on the requester's first plain subscription matching the reply subject.
    for (const sub of this.subscriptions.values()) {
      if (sub.queue !== null || !subjectMatches(sub.subject, reply)) continue;
      const sizes = encoder.encode(` ${NO_RESPONDERS.length} ${NO_RESPONDERS.length}\r\n`);
      this.deliver(sub, {
        subject: wireBytes(reply),
        reply: new Uint8Array(0),
        sizes,
        headers: true,
        data: NO_RESPONDERS,
      });
      return;
    }
  }

  /** Sends `-ERR '<text>'`. */
  sendError(text: string): void {
    // Texts may quote a client's subject, which is a wire string: send its bytes back unchanged.
    this.#write(wireBytes(`-ERR '${text}'\r\n`));
  }

  /** Sends a PING and counts it as outstanding. */
  sendPing(): void {
    this.pingsOut++;
    this.#write(PING);
  }

  /** Writes raw protocol bytes (INFO, errors) ahead of the next flush. */
  writeRaw(bytes: Uint8Array): void {
    this.#write(bytes);
  }

  #ok(): void {
    if (this.options?.verbose) this.#write(OK);
  }

  #connected(): boolean {
    if (this.#state === "open") return true;
    if (!this.#host.authRequired && this.#state === "connecting") {
      // An insecure listener, like nats-server without auth, serves clients that skip CONNECT.
      this.options ??= {
        verbose: true,
        pedantic: true,
        echo: true,
        headers: false,
        noResponders: false,
        name: "",
        lang: "",
        version: "",
      };
      this.#state = "open";
      return true;
    }
    this.#parser.stop();
    this.sendError("Authorization Violation");
    this.close("authorization violation");
    return false;
  }

  #write(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    this.#out.append(bytes);
    this.#queued();
  }

  #queued(): void {
    if (this.pendingBytes > this.#host.maxPending) {
      this.close("slow consumer");
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
    if (!data) return;
    if (!this.#socket.write(data) && this.blockedSince === 0) this.blockedSince = Date.now();
  }

  /**
   * Flushes what is buffered (except for a slow consumer, whose backlog is dropped), then closes
   * the socket and drops every subscription.
   */
  close(reason: CloseReason): void {
    if (this.#state === "closed") return;
    if (reason !== "slow consumer") this.flush();
    this.#state = "closed";
    this.#parser.stop();
    for (const sub of this.subscriptions.values()) this.#host.removeSubscription(sub);
    this.subscriptions.clear();
    this.#out.clear();
    const socket = this.#socket;
    socket.end();
    // A peer that never reads would keep an ended socket open: destroy it soon after.
    if (reason !== "client closed") setTimeout(() => socket.destroy(), 1_000).unref?.();
    else socket.destroy();
    this.#host.closed(this, reason);
  }
}
