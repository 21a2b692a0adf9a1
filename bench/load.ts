/**
 * A raw NATS protocol load generator over mutual TLS, the same for every broker: it connects the
 * NATS way (plaintext INFO, then a `node:tls` handshake with the client certificate), writes
 * large batches of pre-encoded frames that respect the socket's backpressure, and counts what
 * comes back by scanning frame boundaries, with no allocation per message.
 *
 * Needs `--allow-net=127.0.0.1`.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";

/** PEM text a client presents and trusts. */
export interface TlsIdentity {
  /** CA certificate the broker's certificate must chain to. */
  ca: string;
  /** Client certificate. */
  cert: string;
  /** Client private key. */
  key: string;
}

/** Error raised when a load-generator wait runs out of time. */
export class LoadTimeoutError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadTimeoutError";
  }
}

/** Error raised when the broker closes a connection or sends `-ERR` during a run. */
export class LoadConnectionError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadConnectionError";
  }
}

/** Resolves with `promise`, or rejects naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LoadTimeoutError(`Timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const PONG_FRAME = encoder.encode("PONG\r\n");
const PING_FRAME = encoder.encode("PING\r\n");
/** Longest control line the reader keeps across chunks; longer ones are a broker fault here. */
const MAX_LINE = 4_096;
const CONNECT_TIMEOUT_MS = 10_000;

/** Called with each MSG/HMSG control line (without CRLF); the view is only valid during the call. */
export type MsgLineHandler = (line: Uint8Array) => void;

/**
 * Scans a broker's byte stream: counts MSG/HMSG frames by skipping their payloads, answers PING,
 * and resolves waits for PONG. Allocates only when a control line is split across chunks.
 */
export class FrameReader {
  /** MSG and HMSG frames seen. */
  msgs = 0;
  /** The first `-ERR` text the broker sent, if any. */
  error: string | null = null;
  /** Called after each chunk, with the running message count. */
  onProgress: ((msgs: number) => void) | null = null;
  /** Called for each MSG control line, when set. */
  onMsgLine: MsgLineHandler | null = null;
  /** Bytes of payload plus CRLF still to skip. */
  #skip = 0;
  #line = new Uint8Array(256);
  #lineLength = 0;
  #pongWaiters: (() => void)[] = [];
  #pongHead = 0;
  readonly #reply: (bytes: Uint8Array) => void;

  /** `reply` writes protocol bytes back (PONG for the broker's PING). */
  constructor(reply: (bytes: Uint8Array) => void) {
    this.#reply = reply;
  }

  /** Resolves on the next PONG not already claimed. */
  nextPong(): Promise<void> {
    return new Promise((resolve) => this.#pongWaiters.push(resolve));
  }

  /** Consumes one chunk. */
  feed(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        i += take;
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        this.#keep(chunk.subarray(i));
        break;
      }
      let line: Uint8Array;
      if (this.#lineLength > 0) {
        this.#keep(chunk.subarray(i, lf));
        line = this.#line.subarray(0, this.#lineLength);
        this.#lineLength = 0;
      } else {
        line = chunk.subarray(i, lf);
      }
      i = lf + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === CR) end--;
      this.#controlLine(line.subarray(0, end));
    }
    this.onProgress?.(this.msgs);
  }

  #keep(bytes: Uint8Array): void {
    const needed = this.#lineLength + bytes.length;
    if (needed > MAX_LINE) {
      throw new LoadConnectionError(
        `Cannot read the broker's control line as it exceeds ${MAX_LINE} bytes: starts ${
          JSON.stringify(decoder.decode(this.#line.subarray(0, 64)))
        }`,
      );
    }
    if (needed > this.#line.length) {
      const grown = new Uint8Array(needed * 2);
      grown.set(this.#line.subarray(0, this.#lineLength));
      this.#line = grown;
    }
    this.#line.set(bytes, this.#lineLength);
    this.#lineLength = needed;
  }

  #controlLine(line: Uint8Array): void {
    if (line.length === 0) return;
    const first = line[0]!;
    // MSG or HMSG: the last argument is the total size; skip it and the CRLF after it.
    if (first === 0x4d /* M */ || (first === 0x48 /* H */ && line[1] === 0x4d)) {
      let size = 0;
      let scale = 1;
      let k = line.length - 1;
      for (; k >= 0 && line[k] !== SPACE; k--) {
        size += (line[k]! - 48) * scale;
        scale *= 10;
      }
      this.#skip = size + 2;
      this.msgs++;
      this.onMsgLine?.(line);
      return;
    }
    if (first === 0x50 /* P */) {
      if (line[1] === 0x49 /* I */) {
        this.#reply(PONG_FRAME);
      } else if (this.#pongHead < this.#pongWaiters.length) {
        const waiter = this.#pongWaiters[this.#pongHead]!;
        this.#pongWaiters[this.#pongHead++] = noop;
        if (this.#pongHead === this.#pongWaiters.length) {
          this.#pongWaiters = [];
          this.#pongHead = 0;
        }
        waiter();
      }
      return;
    }
    if (first === 0x2d /* - */) {
      this.error ??= decoder.decode(line);
    }
    // +OK and INFO need nothing.
  }
}

function noop(): void {}

/** Options for {@linkcode connectNats}. */
export interface ConnectOptions {
  /** Address to connect to. @default "127.0.0.1" */
  host?: string;
  /** Time allowed for TCP, INFO, the TLS handshake, CONNECT and the first PONG, in ms. @default 10000 */
  timeoutMs?: number;
  /** Extra protocol text sent right after CONNECT, before the first PING (e.g. a SUB). @default "" */
  after?: string;
}

/** A connected NATS client socket with a frame reader attached. */
export class NatsSocket implements AsyncDisposable {
  readonly socket: tls.TLSSocket;
  readonly reader: FrameReader;
  #closed = false;
  readonly #closeListeners = new Set<(error: LoadConnectionError) => void>();
  readonly #what: string;

  constructor(socket: tls.TLSSocket, what: string) {
    this.socket = socket;
    this.#what = what;
    this.reader = new FrameReader((bytes) => {
      if (!this.#closed) socket.write(bytes);
    });
    socket.on("data", (chunk: Uint8Array) => {
      try {
        this.reader.feed(chunk);
      } catch (error) {
        // Unreadable input ends this connection; waits on it fail with the reason.
        this.reader.error ??= (error as Error).message;
        socket.destroy();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      const error = this.closedError();
      for (const listener of [...this.#closeListeners]) listener(error);
      this.#closeListeners.clear();
    });
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection is unusable, for error messages. */
  closedError(): LoadConnectionError {
    const said = this.reader.error ? `: the broker said ${this.reader.error}` : "";
    return new LoadConnectionError(`Cannot continue as the ${this.#what} connection closed${said}`);
  }

  /** Calls `listener` once if the socket closes; returns a function that removes it. */
  onClose(listener: (error: LoadConnectionError) => void): () => void {
    if (this.#closed) {
      listener(this.closedError());
      return noop;
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Settles like `promise`, but rejects as soon as the socket closes. */
  orClosed<T>(promise: Promise<T>): Promise<T> {
    let remove = noop;
    const closed = new Promise<never>((_, reject) => {
      remove = this.onClose(reject);
    });
    return Promise.race([promise, closed]).finally(remove);
  }

  /** Writes `bytes`; returns null when the socket took them, or a promise of its 'drain'. */
  write(bytes: Uint8Array, timeoutMs = 30_000): Promise<void> | null {
    if (this.#closed) return Promise.reject(this.closedError());
    if (this.socket.write(bytes)) return null;
    return within(
      this.orClosed(new Promise<void>((resolve) => this.socket.once("drain", resolve))),
      `the ${this.#what} socket to drain`,
      timeoutMs,
    );
  }

  /** Sends PING and waits for its PONG: everything sent before has been processed. */
  async flush(what: string, timeoutMs = 60_000): Promise<void> {
    const pong = this.reader.nextPong();
    await this.write(PING_FRAME);
    await within(this.orClosed(pong), `PONG on the ${this.#what} connection (${what})`, timeoutMs);
  }

  /** Destroys the socket and waits briefly for it to close. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.destroy();
    await within(closed, `the ${this.#what} socket to close`, 2_000).catch(() => {});
  }
}

/**
 * Lets one task wait until a condition over counters holds, re-checked whenever `changed()` is
 * called (by readers after each chunk), failing at once when `fail()` is called.
 */
export class Progress {
  #waiter: { test: () => boolean; resolve: () => void; reject: (error: Error) => void } | null =
    null;
  #failure: Error | null = null;

  /** Re-checks the waiting condition. */
  changed(): void {
    const waiter = this.#waiter;
    if (waiter && waiter.test()) {
      this.#waiter = null;
      waiter.resolve();
    }
  }

  /** Fails the current and every later wait with `error`. */
  fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(error);
  }

  /** Resolves when `test` holds; one wait at a time. */
  until(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (test()) return Promise.resolve();
    const reached = new Promise<void>((resolve, reject) => {
      this.#waiter = { test, resolve, reject };
    });
    return within(reached, what, timeoutMs).finally(() => {
      this.#waiter = null;
    });
  }
}

function readInfoLine(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Uint8Array) => {
      seen += decoder.decode(chunk);
      if (!seen.includes("\r\n")) return;
      cleanup();
      socket.pause();
      if (seen.startsWith("INFO ")) resolve();
      else {reject(
          new LoadConnectionError(
            `Cannot use the broker as its first line is not INFO: got ${seen}`,
          ),
        );}
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(
        new LoadConnectionError(
          `Cannot read INFO as the broker closed the connection: got ${seen}`,
        ),
      );
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

const CONNECT_FRAME = 'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\n';

/**
 * Connects to a broker the NATS way over mutual TLS, sends CONNECT (plus `options.after`) and
 * waits for the PONG of a PING, so the broker has processed everything sent.
 */
export async function connectNats(
  port: number,
  identity: TlsIdentity,
  what: string,
  options: ConnectOptions = {},
): Promise<NatsSocket> {
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const raw = net.connect({ port, host: options.host ?? "127.0.0.1" });
  raw.on("error", () => {});
  let conn: NatsSocket | null = null;
  const setup = async () => {
    await readInfoLine(raw);
    const secure = tls.connect({
      socket: raw,
      ca: identity.ca,
      cert: identity.cert,
      key: identity.key,
      servername: "localhost",
    });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    secure.setNoDelay(true);
    conn = new NatsSocket(secure, what);
    const pong = conn.reader.nextPong();
    secure.write(encoder.encode(`${CONNECT_FRAME}${options.after ?? ""}PING\r\n`));
    await pong;
    if (conn.reader.error) throw conn.closedError();
    return conn;
  };
  try {
    return await within(
      setup(),
      `the ${what} connection's TLS handshake and first PONG`,
      timeoutMs,
    );
  } catch (error) {
    const failed = conn as NatsSocket | null;
    if (failed) await failed[Symbol.asyncDispose]();
    raw.destroy();
    throw error;
  }
}

/** `count` copies of `frame` back to back, for writing many frames in one call. */
export function repeatFrame(frame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(frame.length * count);
  for (let k = 0; k < count; k++) out.set(frame, k * frame.length);
  return out;
}

/** A `PUB subject size\r\n<payload>\r\n` frame with a payload of `size` bytes of 'x'. */
export function pubFrame(subject: string, size: number, reply?: string): Uint8Array {
  const head = encoder.encode(`PUB ${subject}${reply ? ` ${reply}` : ""} ${size}\r\n`);
  const frame = new Uint8Array(head.length + size + 2);
  frame.set(head);
  frame.fill(0x78, head.length, head.length + size);
  frame[frame.length - 2] = CR;
  frame[frame.length - 1] = LF;
  return frame;
}

/** Options for {@linkcode publishFrames}. */
export interface PublishOptions {
  /** Bytes per write (rounded down to whole frames). @default 65536 */
  batchBytes?: number;
  /**
   * Called before each write with the messages sent so far: returns a promise that resolves when
   * more may be sent (flow control against the subscribers), or null when they may be sent now.
   * Absent: no flow control beyond the socket's backpressure.
   */
  gate?: (sent: number) => Promise<void> | null;
}

/** Publishes `count` copies of `frame` in large writes, respecting backpressure. */
export async function publishFrames(
  conn: NatsSocket,
  frame: Uint8Array,
  count: number,
  options: PublishOptions = {},
): Promise<void> {
  const perBatch = Math.max(1, Math.floor((options.batchBytes ?? 65_536) / frame.length));
  const batch = repeatFrame(frame, perBatch);
  let sent = 0;
  while (sent < count) {
    const n = Math.min(perBatch, count - sent);
    const gated = options.gate?.(sent);
    if (gated) await gated;
    const wrote = conn.write(n === perBatch ? batch : batch.subarray(0, n * frame.length));
    sent += n;
    if (wrote) await wrote;
  }
}
