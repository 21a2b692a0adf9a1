/**
 * A raw NATS protocol client for tests that send bytes no well-behaved client would: it reads the
 * plaintext INFO line, upgrades the socket to TLS with `node:tls`, then writes whatever the test
 * gives it and records everything the broker sends back, and whether the broker closed.
 *
 * Needs `--allow-net=127.0.0.1`.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";

/** Error raised when a raw-client wait runs out of time. */
export class RawClientTimeoutError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RawClientTimeoutError";
  }
}

/** Options for {@linkcode connectRaw}. */
export interface RawClientOptions {
  /** CA certificate PEM the broker's certificate must chain to. */
  ca: string;
  /** Client certificate PEM; omit to connect without one. */
  cert?: string;
  /** Client private key PEM. */
  key?: string;
  /** Name checked against the broker's certificate. @default "localhost" */
  servername?: string;
  /** Time allowed for the TCP connect, INFO line and TLS handshake, in ms. @default 5000 */
  timeoutMs?: number;
}

/** A connected raw client; `await using` destroys the socket. */
export interface RawClient extends AsyncDisposable {
  /** The INFO the broker sent before TLS, parsed. */
  info: Record<string, unknown>;
  /** Everything received over TLS so far, as text. */
  readonly received: string;
  /** Whether the broker (or the network) closed the connection. */
  readonly closed: boolean;
  /** Writes raw protocol text or bytes. */
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
  what: string | (() => string),
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      const described = typeof what === "string" ? what : what();
      reject(new RawClientTimeoutError(`Timed out after ${timeoutMs} ms waiting for ${described}`));
    }, timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function readInfoLine(socket: net.Socket): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk);
      const end = buffered.indexOf("\r\n");
      if (end < 0) return;
      cleanup();
      socket.pause();
      resolve(buffered.slice(0, end));
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

/** Connects to a broker on 127.0.0.1, reads INFO and completes the TLS handshake. */
export async function connectRaw(port: number, options: RawClientOptions): Promise<RawClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = net.connect({ port, host: "127.0.0.1" });
  let secure: tls.TLSSocket | undefined;
  const destroy = () => {
    secure?.destroy();
    socket.destroy();
  };
  const setup = async () => {
    const infoLine = await readInfoLine(socket);
    if (!infoLine.startsWith("INFO ")) {
      throw new Error(`Cannot use the broker as its first line is not INFO: got ${infoLine}`);
    }
    const info = JSON.parse(infoLine.slice(5)) as Record<string, unknown>;
    secure = tls.connect({
      socket,
      ca: options.ca,
      servername: options.servername ?? "localhost",
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    });
    const upgraded = secure;
    await new Promise<void>((resolve, reject) => {
      upgraded.once("secureConnect", () => resolve());
      upgraded.once("error", reject);
    });
    return { info, upgraded };
  };
  const { info, upgraded } = await withTimeout(
    setup(),
    timeoutMs,
    `INFO and the TLS handshake from 127.0.0.1:${port}`,
    destroy,
  ).catch((error) => {
    destroy();
    throw error;
  });

  let received = "";
  let closed = false;
  const decoder = new TextDecoder();
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  upgraded.on("data", (chunk: Uint8Array) => {
    received += decoder.decode(chunk, { stream: true });
    notify();
  });
  // A reset after the broker's -ERR is normal; "close" follows it.
  upgraded.on("error", () => {});
  upgraded.on("close", () => {
    closed = true;
    notify();
  });

  const until = <T>(check: () => T | undefined, what: string, ms: number): Promise<T> => {
    let listener: (() => void) | undefined;
    const found = new Promise<T>((resolve, reject) => {
      listener = () => {
        const value = check();
        if (value !== undefined) resolve(value);
        else if (closed) {
          reject(
            new Error(
              `Cannot wait for ${what} as the connection closed: received ${
                JSON.stringify(received)
              }`,
            ),
          );
        }
      };
      listeners.add(listener);
      listener();
    });
    return withTimeout(found, ms, () => `${what}: received ${JSON.stringify(received)}`).finally(
      () => {
        if (listener) listeners.delete(listener);
      },
    );
  };

  return {
    info,
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    write(data) {
      if (closed) {
        return Promise.reject(new Error("Cannot write as the connection is closed"));
      }
      const written = new Promise<void>((resolve, reject) => {
        upgraded.write(data, (error?: Error | null) => error ? reject(error) : resolve());
      });
      return withTimeout(written, DEFAULT_TIMEOUT_MS, "a raw write to be flushed");
    },
    waitFor(pattern, what, ms = DEFAULT_TIMEOUT_MS) {
      return until(() => pattern.exec(received) ?? undefined, what, ms);
    },
    waitClosed(what, ms = DEFAULT_TIMEOUT_MS) {
      let listener: (() => void) | undefined;
      const done = new Promise<void>((resolve) => {
        listener = () => {
          if (closed) resolve();
        };
        listeners.add(listener);
        listener();
      });
      return withTimeout(done, ms, () => `${what}: received ${JSON.stringify(received)}`).finally(
        () => {
          if (listener) listeners.delete(listener);
        },
      );
    },
    [Symbol.asyncDispose]() {
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => upgraded.once("close", () => resolve()));
      destroy();
      return withTimeout(done, 2_000, "the raw client's socket to close").catch(() => {});
    },
  };
}

/**
 * Reads everything a broker sends in plaintext until it closes, without starting TLS: for
 * refusals that happen before the handshake, like nats-server's maximum connections error.
 */
export async function readPlaintext(
  port: number,
  what: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<string> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let received = "";
  const decoder = new TextDecoder();
  const closed = new Promise<string>((resolve) => {
    socket.on("data", (chunk: Uint8Array) => {
      received += decoder.decode(chunk, { stream: true });
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
  return await withTimeout(
    closed,
    timeoutMs,
    () => `${what}: received ${JSON.stringify(received)}`,
  ).finally(() => socket.destroy());
}
