/**
 * The NATS client protocol parser: a pure state machine over bytes. It does no I/O; it calls a
 * {@linkcode ProtocolHandler} for each complete operation and throws a {@linkcode ProtocolError}
 * on input that ends the connection. Frames may be split anywhere across calls to `feed`.
 *
 * @module
 */
import { wireBytes, wireString } from "./wire_text.ts";

/** Receives the operations a client sends. Payloads are only valid during the call. */
export interface ProtocolHandler {
  /** `CONNECT <json>`: the raw JSON text. */
  connect(json: string): void;
  /**
   * `PUB` or `HPUB`. `headerSize` is -1 for PUB; for HPUB the first `headerSize` bytes of
   * `data` are the header block.
   */
  publish(subject: string, reply: string | null, headerSize: number, data: Uint8Array): void;
  /** `SUB <subject> [queue] <sid>` */
  subscribe(subject: string, queue: string | null, sid: string): void;
  /** `UNSUB <sid> [max]`; `max` is 0 when absent. */
  unsubscribe(sid: string, max: number): void;
  ping(): void;
  pong(): void;
}

/**
 * Receives the operations another broker sends on a route (nats-server's cluster protocol).
 * Accounts are passed through: Chorale serves only nats-server's global account, `$G`.
 */
export interface RouteProtocolHandler {
  /** `INFO <json>`: the first one introduces the peer; later ones gossip about other brokers. */
  info(json: string): void;
  /** `CONNECT <json>` from a broker that connected to us. */
  connect(json: string): void;
  /** `RS+ <account> <subject> [<queue> <weight>]` (or `LS+` with an origin first). */
  remoteSubscribe(account: string, subject: string, queue: string | null, weight: number): void;
  /** `RS- <account> <subject> [<queue>]` (or `LS-` with an origin first). */
  remoteUnsubscribe(account: string, subject: string, queue: string | null): void;
  /**
   * `RMSG`, `HMSG` or `LMSG`: a message for local subscribers. `queues` names the queue groups the
   * sender chose this broker for; -1 `headerSize` means no headers.
   */
  routedMessage(
    account: string,
    subject: string,
    reply: string | null,
    queues: string[] | null,
    headerSize: number,
    data: Uint8Array,
  ): void;
  ping(): void;
  pong(): void;
  /** `-ERR '<text>'` from the peer. */
  error(text: string): void;
}

/** Why the parser gave up; each maps to the `-ERR` text nats-server sends. */
export const ProtocolErrorCodes = {
  unknownOperation: "Unknown Protocol Operation",
  maxControlLine: "maximum control line exceeded",
  maxPayload: "Maximum Payload Violation",
  /**
   * Arguments that do not parse. nats-server closes these connections without a word; Chorale
   * says why first.
   */
  badArguments: "Invalid Arguments",
} as const;

/** A protocol violation that ends the connection. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  /** The `-ERR` text to send before closing. */
  readonly errText: string;

  constructor(errText: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.errText = errText;
  }
}

/** Limits the parser enforces. */
export interface ParserOptions {
  /** Longest control line in bytes, not counting CRLF. @default 4096 */
  maxControlLine?: number;
  /** Largest PUB/HPUB payload (headers included) in bytes. @default 1048576 */
  maxPayload?: number;
  /**
   * Refuse every operation before CONNECT, as nats-server does when authentication is required,
   * so no payload is buffered for a client that has not connected. @default false
   */
  requireConnect?: boolean;
  /**
   * Read nats-server's cluster protocol, as spoken on a route between brokers, and hand its
   * operations to this handler instead of the client handler.
   */
  route?: RouteProtocolHandler;
}

const LF = 0x0a;
/** Room for the longest op name, separators and CR beyond the argument limit. */
const OP_SLACK = 12;
const CR = 0x0d;
const decoder = new TextDecoder();

/**
 * Parses a client's byte stream.
 *
 * @example Feed a PING
 * ```ts
 * import { Parser, type ProtocolHandler } from "./parser.ts";
 * let pings = 0;
 * const handler: ProtocolHandler = {
 *   connect() {}, publish() {}, subscribe() {}, unsubscribe() {}, pong() {},
 *   ping() { pings++; },
 * };
 * new Parser(handler).feed(new TextEncoder().encode("PING\r\n"));
 * console.log(pings); // 1
 * ```
 */
export class Parser {
  readonly #handler: ProtocolHandler;
  /** Set on a route: the parser then reads the cluster protocol instead of the client one. */
  readonly #route: RouteProtocolHandler | null;
  readonly #maxControlLine: number;
  readonly #maxPayload: number;
  /** Bytes of a control line split across reads. */
  #line: Uint8Array | null = null;
  #lineLength = 0;
  /** Payload size of the publish waiting for its payload; -1 while reading control lines. */
  #pendingSize = -1;
  #pendingSubject = "";
  #pendingReply: string | null = null;
  #pendingHeaderSize = -1;
  #pendingAccount = "";
  #pendingQueues: string[] | null = null;
  /** Payload bytes (plus CRLF) gathered so far when a payload is split across reads. */
  #payload: Uint8Array | null = null;
  #payloadLength = 0;
  #stopped = false;
  #requireConnect: boolean;
  /** Token boundaries of the PUB being parsed: start, end pairs. */
  readonly #tokens = new Int32Array(16);
  #lastSubjectBytes: Uint8Array = new Uint8Array(0);
  #lastSubject = "";

  constructor(handler: ProtocolHandler, options: ParserOptions = {}) {
    this.#handler = handler;
    this.#route = options.route ?? null;
    this.#maxControlLine = options.maxControlLine ?? 4096;
    this.#maxPayload = options.maxPayload ?? 1_048_576;
    this.#requireConnect = options.requireConnect ?? false;
  }

  #notConnected(): never {
    this.#stopped = true;
    throw new ProtocolError("Authorization Violation", "Cannot accept an operation before CONNECT");
  }

  /** Stops parsing: later bytes, including the rest of the current chunk, are ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** Parses `chunk`, calling the handler for each complete operation. */
  feed(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && !this.#stopped) {
      if (this.#pendingSize >= 0) {
        i = this.#feedPayload(chunk, i);
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        this.#appendLine(chunk.subarray(i));
        return;
      }
      if (this.#line) {
        this.#appendLine(chunk.subarray(i, lf));
        const line = this.#line;
        const length = this.#lineLength;
        this.#line = null;
        this.#lineLength = 0;
        this.#controlLine(line, 0, length > 0 && line[length - 1] === CR ? length - 1 : length);
      } else {
        this.#controlLine(chunk, i, lf > i && chunk[lf - 1] === CR ? lf - 1 : lf);
      }
      i = lf + 1;
    }
  }

  #tooLong(length: number): never {
    this.#stopped = true;
    throw new ProtocolError(
      ProtocolErrorCodes.maxControlLine,
      `Cannot parse control line as it exceeds the limit of ${this.#maxControlLine} bytes: length is at least ${length}`,
    );
  }

  #appendLine(bytes: Uint8Array): void {
    const needed = this.#lineLength + bytes.length;
    // An unfinished line is cut off early; the op and its separator get some slack.
    if (needed > this.#maxControlLine + OP_SLACK) this.#tooLong(needed);
    if (!this.#line || this.#line.length < needed) {
      const grown = new Uint8Array(
        Math.min(Math.max(64, needed * 2), this.#maxControlLine + OP_SLACK),
      );
      if (this.#line) grown.set(this.#line.subarray(0, this.#lineLength));
      this.#line = grown;
    }
    this.#line.set(bytes, this.#lineLength);
    this.#lineLength = needed;
  }

  #feedPayload(chunk: Uint8Array, i: number): number {
    const size = this.#pendingSize;
    const total = size + 2;
    if (!this.#payload && chunk.length - i >= total) {
      // The whole payload is in this chunk: hand out a view, no copy.
      const end = i + size;
      this.#endPayload(chunk.subarray(i, end), chunk[end]!, chunk[end + 1]!);
      return end + 2;
    }
    this.#payload ??= new Uint8Array(total);
    const take = Math.min(total - this.#payloadLength, chunk.length - i);
    this.#payload.set(chunk.subarray(i, i + take), this.#payloadLength);
    this.#payloadLength += take;
    if (this.#payloadLength === total) {
      const payload = this.#payload;
      this.#payload = null;
      this.#payloadLength = 0;
      this.#endPayload(payload.subarray(0, size), payload[total - 2]!, payload[total - 1]!);
    }
    return i + take;
  }

  #endPayload(data: Uint8Array, cr: number, lf: number): void {
    this.#pendingSize = -1;
    if (cr !== CR || lf !== LF) {
      this.#stopped = true;
      throw new ProtocolError(
        ProtocolErrorCodes.unknownOperation,
        `Cannot parse payload of ${data.length} bytes for '${this.#pendingSubject}' as it is not followed by CRLF`,
      );
    }
    if (this.#route) {
      this.#route.routedMessage(
        this.#pendingAccount,
        this.#pendingSubject,
        this.#pendingReply,
        this.#pendingQueues,
        this.#pendingHeaderSize,
        data,
      );
      return;
    }
    this.#handler.publish(this.#pendingSubject, this.#pendingReply, this.#pendingHeaderSize, data);
  }

  #expectPayload(subject: string, reply: string | null, headerSize: number, size: number): void {
    this.#pendingSubject = subject;
    this.#pendingReply = reply;
    this.#pendingHeaderSize = headerSize;
    this.#pendingSize = size;
  }

  /** Handles the control line `buf[start, end)`, its line ending already cut off. */
  #controlLine(buf: Uint8Array, start: number, end: number): void {
    if (end === start) return; // nats-server tolerates empty lines between operations
    if (this.#route) {
      // The hot path of a route: RMSG without queue groups, tokenized on bytes like PUB.
      if (
        end - start > 5 && (buf[start]! | 0x20) === 0x72 && (buf[start + 1]! | 0x20) === 0x6d &&
        (buf[start + 2]! | 0x20) === 0x73 && (buf[start + 3]! | 0x20) === 0x67 &&
        buf[start + 4] === 0x20 && end - start - 5 <= this.#maxControlLine &&
        this.#fastRmsg(buf, start + 5, end)
      ) {
        return;
      }
      return this.#routeLine(wireString(buf, start, end));
    }
    // The hot path: PUB, tokenized on bytes with no string work beyond the subject.
    if (
      end - start > 4 && (buf[start]! | 0x20) === 0x70 && (buf[start + 1]! | 0x20) === 0x75 &&
      (buf[start + 2]! | 0x20) === 0x62 && (buf[start + 3] === 0x20 || buf[start + 3] === 0x09)
    ) {
      if (end - start - 4 > this.#maxControlLine) this.#tooLong(end - start - 4);
      if (this.#requireConnect) this.#notConnected();
      return this.#fastPub(buf, start + 4, end);
    }
    // Arguments are wire strings (bytes as characters); CONNECT's JSON is UTF-8 text.
    const text = wireString(buf, start, end);
    const space = text.search(/[ \t]/);
    let op = (space < 0 ? text : text.slice(0, space)).toUpperCase();
    let rest = space < 0 ? "" : text.slice(space + 1);
    if (op.startsWith("CONNECT{")) {
      // nats-server needs no space between CONNECT and its JSON.
      op = "CONNECT";
      rest = text.slice(7);
    }
    // The limit applies to the arguments, as nats-server measures it.
    if (rest.length > this.#maxControlLine) this.#tooLong(rest.length);
    if (this.#requireConnect && op !== "CONNECT") this.#notConnected();
    switch (op) {
      case "PUB":
        return this.#pub(rest, false);
      case "HPUB":
        return this.#pub(rest, true);
      case "SUB":
        return this.#sub(rest);
      case "UNSUB":
        return this.#unsub(rest);
      case "PING":
        return this.#handler.ping();
      case "PONG":
        return this.#handler.pong();
      case "CONNECT":
        this.#handler.connect(decoder.decode(wireBytes(rest)).trim());
        this.#requireConnect = false;
        return;
      case "INFO":
      case "+OK":
        return; // nats-server ignores these from clients
      default:
        this.#stopped = true;
        throw new ProtocolError(
          ProtocolErrorCodes.unknownOperation,
          `Cannot parse operation '${op.slice(0, 32)}' as it is not a client operation`,
        );
    }
  }

  /** A control line of the cluster protocol. */
  #routeLine(text: string): void {
    const space = text.search(/[ \t]/);
    const op = (space < 0 ? text : text.slice(0, space)).toUpperCase();
    const rest = space < 0 ? "" : text.slice(space + 1);
    if (rest.length > this.#maxControlLine) this.#tooLong(rest.length);
    const route = this.#route!;
    switch (op) {
      case "RS+":
      case "LS+":
        return this.#remoteSub(op, rest, op === "LS+");
      case "RS-":
      case "LS-":
        return this.#remoteUnsub(op, rest, op === "LS-");
      case "RMSG":
        return this.#routedMsg(op, rest, 0, false);
      case "HMSG":
        return this.#routedMsg(op, rest, 0, true);
      case "LMSG":
        return this.#routedMsg(op, rest, 1, true);
      case "PING":
        return route.ping();
      case "PONG":
        return route.pong();
      case "INFO":
        return route.info(decoder.decode(wireBytes(rest)).trim());
      case "CONNECT":
        return route.connect(decoder.decode(wireBytes(rest)).trim());
      case "-ERR":
        return route.error(rest.trim().replace(/^'(.*)'$/, "$1"));
      case "+OK":
        return;
      default:
        this.#stopped = true;
        throw new ProtocolError(
          ProtocolErrorCodes.unknownOperation,
          `Cannot parse operation '${op.slice(0, 32)}' as it is not a route operation`,
        );
    }
  }

  /** `RS+ <account> <subject> [<queue> <weight>]`, after an origin cluster for `LS+`. */
  #remoteSub(op: string, rest: string, origin: boolean): void {
    const args = splitArgs(rest).slice(origin ? 1 : 0);
    if (args.length === 2) return this.#route!.remoteSubscribe(args[0]!, args[1]!, null, 0);
    if (args.length === 4) {
      const weight = parseSize(args[3]!);
      if (weight < 0) this.#badArgs(op, rest, "the queue weight is not a valid number");
      return this.#route!.remoteSubscribe(args[0]!, args[1]!, args[2]!, weight);
    }
    this.#badArgs(op, rest, "they need an account, a subject and an optional queue and weight");
  }

  /** `RS- <account> <subject> [<queue>]`, after an origin cluster for `LS-`. */
  #remoteUnsub(op: string, rest: string, origin: boolean): void {
    const args = splitArgs(rest).slice(origin ? 1 : 0);
    if (args.length === 2 || args.length === 3) {
      return this.#route!.remoteUnsubscribe(args[0]!, args[1]!, args[2] ?? null);
    }
    this.#badArgs(op, rest, "they need an account, a subject and an optional queue");
  }

  /**
   * `RMSG <account> <subject> [+ <reply> <queue>... | \| <queue>... | <reply>] <size>`; `HMSG` and
   * `LMSG` carry a header size before the size, and `LMSG` an origin cluster first.
   */
  #routedMsg(op: string, rest: string, skip: number, headers: boolean): void {
    const args = splitArgs(rest).slice(skip);
    const sizes = headers ? 2 : 1;
    if (args.length < 2 + sizes) {
      this.#badArgs(op, rest, `they need an account, a subject and ${sizes} size(s)`);
    }
    const size = parseSize(args[args.length - 1]!);
    let headerSize = headers ? parseSize(args[args.length - 2]!) : -1;
    if (size < 0 || (headers && (headerSize < 0 || headerSize > size))) {
      this.#badArgs(op, rest, "a size is not a valid number");
    }
    // A header block of zero bytes (LMSG always has the field) means no headers.
    if (headerSize === 0) headerSize = -1;
    this.#checkPayload(size);
    const middle = args.slice(2, args.length - sizes);
    let reply: string | null = null;
    let queues: string[] | null = null;
    if (middle.length === 1) {
      reply = middle[0]!;
    } else if (middle.length > 1) {
      if (middle[0] === "+" && middle.length >= 3) {
        reply = middle[1]!;
        queues = middle.slice(2);
      } else if (middle[0] === "|") {
        queues = middle.slice(1);
      } else {
        this.#badArgs(op, rest, "the reply indicator is neither '+' nor '|'");
      }
    }
    this.#pendingAccount = args[0]!;
    this.#pendingQueues = queues;
    this.#expectPayload(args[1]!, reply, headerSize, size);
  }

  /**
   * Splits `line[from, n)` at spaces and tabs into `#tokens` (start, end pairs), up to 8 tokens;
   * returns how many it found (8 means there may be more).
   */
  #tokenize(line: Uint8Array, from: number, n: number): number {
    const t = this.#tokens;
    let count = 0;
    let i = from;
    while (i < n && count < 8) {
      while (i < n && (line[i] === 0x20 || line[i] === 0x09)) i++;
      if (i >= n) break;
      const start = i;
      while (i < n && line[i] !== 0x20 && line[i] !== 0x09) i++;
      t[count * 2] = start;
      t[count * 2 + 1] = i;
      count++;
    }
    return count;
  }

  /** PUB from the bytes of its arguments, `line[from, n)`: `<subject> [reply] <size>`. */
  #fastPub(line: Uint8Array, from: number, n: number): void {
    const t = this.#tokens;
    const count = this.#tokenize(line, from, n);
    // Anything unusual takes the general path, which reports the fault.
    if (count !== 2 && count !== 3) return this.#pub(wireString(line, from, n), false);
    const size = parseSizeBytes(line, t[(count - 1) * 2]!, t[(count - 1) * 2 + 1]!);
    if (size < 0) return this.#pub(wireString(line, from, n), false);
    this.#checkPayload(size);
    this.#expectPayload(
      this.#subjectFrom(line, t[0]!, t[1]!),
      count === 3 ? wireString(line, t[2]!, t[3]!) : null,
      -1,
      size,
    );
  }

  /**
   * `RMSG <account> <subject> [reply] <size>` from the bytes of its arguments; false (nothing
   * consumed) for anything else, such as queue groups, which the general path reads.
   */
  #fastRmsg(line: Uint8Array, from: number, n: number): boolean {
    const t = this.#tokens;
    const count = this.#tokenize(line, from, n);
    if (count !== 3 && count !== 4) return false;
    const size = parseSizeBytes(line, t[(count - 1) * 2]!, t[(count - 1) * 2 + 1]!);
    if (size < 0) return false;
    this.#checkPayload(size);
    const accountStart = t[0]!;
    const global = t[1]! - accountStart === 2 && line[accountStart] === 0x24 &&
      line[accountStart + 1] === 0x47;
    this.#pendingAccount = global ? "$G" : wireString(line, accountStart, t[1]!);
    this.#pendingQueues = null;
    this.#expectPayload(
      this.#subjectFrom(line, t[2]!, t[3]!),
      count === 4 ? wireString(line, t[4]!, t[5]!) : null,
      -1,
      size,
    );
    return true;
  }

  /** The subject text of `line[start, end)`, reusing the last one when the bytes repeat. */
  #subjectFrom(line: Uint8Array, start: number, end: number): string {
    const last = this.#lastSubjectBytes;
    const length = end - start;
    if (last.length === length) {
      let same = true;
      for (let k = 0; k < length; k++) {
        if (last[k] !== line[start + k]) {
          same = false;
          break;
        }
      }
      if (same) return this.#lastSubject;
    }
    const bytes = line.slice(start, end);
    this.#lastSubjectBytes = bytes;
    this.#lastSubject = wireString(bytes);
    return this.#lastSubject;
  }

  #checkPayload(size: number): void {
    if (size > this.#maxPayload) {
      this.#stopped = true;
      throw new ProtocolError(
        ProtocolErrorCodes.maxPayload,
        `Cannot accept payload of ${size} bytes as it exceeds the limit of ${this.#maxPayload}`,
      );
    }
  }

  #badArgs(op: string, args: string, why: string): never {
    this.#stopped = true;
    throw new ProtocolError(
      ProtocolErrorCodes.badArguments,
      `Cannot parse ${op} arguments '${args.slice(0, 64)}' as ${why}`,
    );
  }

  #pub(rest: string, headers: boolean): void {
    const op = headers ? "HPUB" : "PUB";
    const args = splitArgs(rest);
    const sizes = headers ? 2 : 1;
    if (args.length < 1 + sizes || args.length > 2 + sizes) {
      this.#badArgs(op, rest, `they need a subject, an optional reply and ${sizes} size(s)`);
    }
    const size = parseSize(args[args.length - 1]!);
    const headerSize = headers ? parseSize(args[args.length - 2]!) : -1;
    if (size < 0 || (headers && (headerSize < 0 || headerSize > size))) {
      this.#badArgs(op, rest, "a size is not a valid number");
    }
    this.#checkPayload(size);
    const reply = args.length === 2 + sizes ? args[1]! : null;
    // Even an empty payload is followed by CRLF, so every publish waits for its payload.
    this.#expectPayload(args[0]!, reply, headerSize, size);
  }

  #sub(rest: string): void {
    const args = splitArgs(rest);
    if (args.length === 2) return this.#handler.subscribe(args[0]!, null, args[1]!);
    if (args.length === 3) return this.#handler.subscribe(args[0]!, args[1]!, args[2]!);
    this.#badArgs("SUB", rest, "they need a subject, an optional queue group and a sid");
  }

  #unsub(rest: string): void {
    const args = splitArgs(rest);
    if (args.length === 1) return this.#handler.unsubscribe(args[0]!, 0);
    if (args.length === 2) {
      const max = parseSize(args[1]!);
      if (max < 0) this.#badArgs("UNSUB", rest, "the maximum is not a valid number");
      return this.#handler.unsubscribe(args[0]!, max);
    }
    this.#badArgs("UNSUB", rest, "they need a sid and an optional maximum");
  }
}

function splitArgs(rest: string): string[] {
  return rest.split(/[ \t]+/).filter((a) => a.length > 0);
}

/** Parses a non-negative decimal size from `bytes[start, end)`; -1 if it is not one. */
function parseSizeBytes(bytes: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Parses a non-negative decimal size; -1 if it is not one. */
function parseSize(text: string): number {
  if (text.length === 0 || text.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
