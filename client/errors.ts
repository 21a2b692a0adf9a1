/**
 * The client library's errors: one class per failure a caller may want to tell apart, all
 * subclasses of {@linkcode ClientError}, each with `name` set and the underlying error kept as
 * `cause`.
 *
 * @module
 */
/** One fault in a call's inputs, with the status code a server would have answered. */
export interface CallProblem {
  /** The input at fault; `""` for the request as a whole (say an action the DDL lacks). */
  input: string;
  /** 2 (UnknownAction), 3 (MissingData) or 4 (InvalidData). */
  statuscode: number;
  /** Why. */
  message: string;
}

/**
 * Any failure of the client library.
 *
 * @example Tell client failures from others
 * ```ts
 * import { ClientError, ConnectError } from "./errors.ts";
 * const error: unknown = new ConnectError("Cannot connect to tls://127.0.0.1:1: refused");
 * console.log(error instanceof ClientError, (error as Error).name); // true ConnectError
 * ```
 */
export class ClientError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
  }
}

/**
 * No broker could be reached: refused, unresolvable, or no answer within the connect timeout.
 *
 * @example Catch an unreachable broker
 * ```ts
 * import { ConnectError } from "./errors.ts";
 * const error = new ConnectError("Cannot connect to tls://127.0.0.1:1: connection refused");
 * console.log(error.name); // ConnectError
 * ```
 */
export class ConnectError extends ClientError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/**
 * The TLS handshake failed over a certificate: the broker refused the client's (another CA,
 * expired, missing, not a client certificate) or the client could not trust the broker's.
 *
 * @example Tell which side refused
 * ```ts
 * import { CertificateRejectedError } from "./errors.ts";
 * const error = new CertificateRejectedError("Cannot connect as the broker refused it", {
 *   side: "broker",
 * });
 * console.log(error.side); // broker
 * ```
 */
export class CertificateRejectedError extends ClientError {
  /** `broker` when the broker refused the client's certificate, `client` for the reverse. */
  readonly side: "broker" | "client";

  /** Makes the error. */
  constructor(message: string, options: ErrorOptions & { side: "broker" | "client" }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CertificateRejectedError";
    this.side = options.side;
  }
}

/**
 * Request inputs that break the agent's DDL; nothing was sent. `problems` lists every fault with
 * the status code a server would have answered.
 *
 * @example List the faults
 * ```ts
 * import { InputError } from "./errors.ts";
 * const error = new InputError("Cannot call package#install as its inputs are invalid", {
 *   agent: "package",
 *   action: "install",
 *   problems: [{ input: "package", statuscode: 3, message: "input 'package' is required" }],
 * });
 * console.log(error.problems.length); // 1
 * ```
 */
export class InputError extends ClientError {
  /** The agent called. */
  readonly agent: string;
  /** The action called. */
  readonly action: string;
  /** Every fault, in DDL order. */
  readonly problems: CallProblem[];

  /** Makes the error. */
  constructor(
    message: string,
    options: ErrorOptions & { agent: string; action: string; problems: CallProblem[] },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InputError";
    this.agent = options.agent;
    this.action = options.action;
    this.problems = options.problems;
  }
}

/**
 * Discovery could not run: a flatfile or inventory that cannot be read or parsed, a filter the
 * method cannot apply, an unknown inventory group.
 *
 * @example Report a bad source
 * ```ts
 * import { DiscoveryError } from "./errors.ts";
 * const error = new DiscoveryError("Cannot discover from 'nodes.txt': line 3: empty identity");
 * console.log(error.name); // DiscoveryError
 * ```
 */
export class DiscoveryError extends ClientError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DiscoveryError";
  }
}

/**
 * A call used after the client closed, or options that contradict each other.
 *
 * @example Refuse a closed client
 * ```ts
 * import { ClientStateError } from "./errors.ts";
 * console.log(new ClientStateError("Cannot call as the client is closed").name);
 * ```
 */
export class ClientStateError extends ClientError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientStateError";
  }
}
