/**
 * A raw broker connection that a test controls at the socket level, which `connectRaw` does not
 * expose: it stays plaintext after INFO (for `--insecure` brokers and for handshakes that never
 * start) or upgrades to TLS, it hands out its socket, and it counts the bytes it got.
 *
 * It cannot play a slow consumer: under Deno 2.9 a paused `node:tls` socket is still read into
 * memory, so the broker never sees it stop. `stalled_client.ts` stops a whole process instead.
 *
 * Needs `--allow-net=127.0.0.1`.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";

/** Error raised when a raw socket wait runs out of time. */
export class RawSocketTimeoutError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RawSocketTimeoutError";
  }
}

/** Options for {@linkcode openRawSocket}. */
export interface RawSocketOptions {
  /** Upgrade to TLS after INFO with this material; omit to stay plaintext. @default none */
  tls?: {
    /** CA certificate PEM the broker's certificate must chain to. */
    ca: string;
    /** Client certificate PEM; omit to connect without one. */
    cert?: string;
    /** Client private key PEM. */
    key?: string;
    /** Name checked against the broker's certificate. @default "localhost" */
    servername?: string;
  };
  /** Time allowed for the TCP connect, the INFO line and the handshake, in ms. @default 5000 */
  timeoutMs?: number;
}

/** An open raw socket; `await using` destroys it and waits for it to close. */
export interface RawSocket extends AsyncDisposable {
  /** The INFO the broker sent first, parsed. */
  info: Record<string, unknown>;
  /** The socket protocol bytes travel on: the TLS socket once upgraded. */
  socket: net.Socket;
  /** Everything received after INFO, as text. */
  readonly received: string;
  /** How many bytes were received after INFO. */
  readonly receivedBytes: number;
  /** Everything received after INFO, as bytes. */
  readonly bytes: Uint8Array;
  /** Whether the connection closed. */
  readonly closed: boolean;
  /** Writes bytes and resolves once they are handed to the kernel; rejects on a socket error. */
  write(data: string | Uint8Array): Promise<void>;
  /** Waits until the received text matches `pattern`; `what` names the wait in timeout errors. */
  waitFor(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Waits until the connection is closed. */
  waitClosed(what: string, timeoutMs?: number): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5_000;

function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new RawSocketTimeoutError(`Timed out after ${timeoutMs} ms waiting for ${what()}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function readInfo(socket: net.Socket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk);
      const end = buffered.indexOf("\r\n");
      if (end < 0) return;
      cleanup();
      // Nothing follows INFO until the client speaks, so the rest of the chunk is empty.
      socket.pause();
      const line = buffered.slice(0, end);
      if (!line.startsWith("INFO ")) {
        reject(new Error(`Cannot use the broker as its first line is not INFO: got ${line}`));
        return;
      }
      try {
        resolve(JSON.parse(line.slice(5)));
      } catch (error) {
        reject(error);
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`Cannot read INFO as the broker closed the connection: got ${buffered}`));
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

/** Connects to a broker on 127.0.0.1, reads INFO and, when `options.tls` is set, upgrades. */
export async function openRawSocket(
  port: number,
  options: RawSocketOptions = {},
): Promise<RawSocket> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const plain = net.connect({ port, host: "127.0.0.1" });
  let secure: tls.TLSSocket | null = null;
  const destroy = () => {
    secure?.destroy();
    plain.destroy();
  };
  const setup = async () => {
    const info = await readInfo(plain);
    if (!options.tls) {
      plain.resume();
      return info;
    }
    const material = options.tls;
    secure = tls.connect({
      socket: plain,
      ca: material.ca,
      servername: material.servername ?? "localhost",
      ...(material.cert === undefined ? {} : { cert: material.cert }),
      ...(material.key === undefined ? {} : { key: material.key }),
    });
    const upgrading = secure;
    await new Promise<void>((resolve, reject) => {
      upgrading.once("secureConnect", () => resolve());
      upgrading.once("error", reject);
    });
    return info;
  };
  let info: Record<string, unknown>;
  try {
    info = await withTimeout(
      setup(),
      timeoutMs,
      () => `INFO${options.tls ? " and the TLS handshake" : ""} from 127.0.0.1:${port}`,
    );
  } catch (error) {
    destroy();
    throw error;
  }
  const socket: net.Socket = secure ?? plain;
  let received = "";
  let receivedBytes = 0;
  const chunks: Uint8Array[] = [];
  let closed = false;
  const decoder = new TextDecoder();
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  socket.on("data", (chunk: Uint8Array) => {
    received += decoder.decode(chunk, { stream: true });
    receivedBytes += chunk.length;
    chunks.push(chunk.slice());
    notify();
  });
  // Resets are normal once the broker closes; "close" follows.
  socket.on("error", () => {});
  plain.on("error", () => {});
  socket.on("close", () => {
    closed = true;
    notify();
  });
  const wait = <T>(check: () => T | undefined, what: string, ms: number): Promise<T> => {
    let listener: (() => void) | undefined;
    const found = new Promise<T>((resolve) => {
      listener = () => {
        const value = check();
        if (value !== undefined) resolve(value);
      };
      listeners.add(listener);
      listener();
    });
    return withTimeout(
      found,
      ms,
      () => `${what}: received ${JSON.stringify(received.slice(-300))}, closed ${closed}`,
    ).finally(() => {
      if (listener) listeners.delete(listener);
    });
  };
  return {
    info,
    socket,
    get received() {
      return received;
    },
    get receivedBytes() {
      return receivedBytes;
    },
    get bytes() {
      const all = new Uint8Array(receivedBytes);
      let at = 0;
      for (const chunk of chunks) {
        all.set(chunk, at);
        at += chunk.length;
      }
      return all;
    },
    get closed() {
      return closed;
    },
    write(data) {
      if (closed) return Promise.reject(new Error("Cannot write as the connection is closed"));
      const written = new Promise<void>((resolve, reject) => {
        socket.write(data, (error?: Error | null) => error ? reject(error) : resolve());
      });
      return withTimeout(written, DEFAULT_TIMEOUT_MS, () => "a raw write to be flushed");
    },
    waitFor(pattern, what, ms = DEFAULT_TIMEOUT_MS) {
      return wait(() => pattern.exec(received) ?? undefined, what, ms);
    },
    waitClosed(what, ms = DEFAULT_TIMEOUT_MS) {
      return wait(() => closed ? true : undefined, what, ms).then(() => {});
    },
    async [Symbol.asyncDispose]() {
      if (closed) return;
      const done = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      destroy();
      await withTimeout(done, 2_000, () => "the raw socket to close").catch(() => {});
    },
  };
}
