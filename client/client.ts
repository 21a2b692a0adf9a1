/**
 * The Chorale client: connects to a broker over mutual TLS as a client identity, discovers nodes
 * (broadcast discovery ping, a flatfile, or an inventory file) and calls agent actions on them
 * with signed protocol v1 requests, checking every reply's hash and, when the server signed it,
 * its signature.
 *
 * A call (`rpc`) validates the inputs against the DDL before anything is sent, discovers unless
 * told the nodes, applies a limit, sends one directed request per node (or one broadcast), in
 * batches with a pause between them, and gathers replies until every targeted node answered or
 * the timeout passed. Replies arrive through an async iterator as they come; `done()` gives them
 * all with the call's figures: who answered, who did not, who answered without being asked.
 *
 * The connection pins TLS 1.2. With TLS 1.3 a client finishes its handshake before the broker
 * checks the client certificate, so a refused certificate shows up later as a broken pipe, and
 * npm:nats 2.29 lets the broker's alert escape as an uncaught error; with TLS 1.2 the refusal is
 * part of the handshake and becomes a {@linkcode CertificateRejectedError}. While connecting, a
 * listener also stops any such stray TLS alert from reaching the global error handler.
 *
 * Federation: a client given `federations` (member collective names) is connected to the
 * federation network. Each request is published to `choria.federation.<member>.federation` for
 * every member, with the request subjects it is for in the transport's `federation.target`
 * header (up to 200 per message, as Choria batches them) and the client's hop in `seen-by`;
 * federation brokers deliver it inside each member collective and send the replies back to the
 * usual reply subject. Discovery, calls and {@linkcode Client.trace} all work this way.
 *
 * @module
 */
import { connect, type NatsConnection, type Subscription, type TlsOptions } from "nats";
import { type ActionDdl, StatusCodes } from "../agents/agent.ts";
import { validateInputs } from "../agents/ddl.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { receiveReply } from "../core/protocol/receive.ts";
import { createRequest, newRequestId, type RequestFilter } from "../core/protocol/request.ts";
import { createSecureRequest, type SecureRequestV1 } from "../core/protocol/secure_request.ts";
import {
  broadcastSubject,
  callerId,
  directedSubject,
  federationSubject,
  replyPrefix,
  replySubject,
} from "../core/protocol/subjects.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { nowMs, readHops, type TraceStep, traceSteps, wireHop } from "../federation/hops.ts";
import { MAX_TARGETS } from "../federation/pipeline.ts";
import { createSigner, type Signer } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import {
  parseFlatfile,
  parseInventory,
  selectFlatfileNodes,
  selectInventoryNodes,
} from "./discovery_sources.ts";
import {
  CertificateRejectedError,
  ClientStateError,
  ConnectError,
  DiscoveryError,
  InputError,
} from "./errors.ts";
import { batches, checkLimit, limitNodes } from "./limit.ts";
import type {
  ClientOptions,
  DiscoverOptions,
  DiscoveryResult,
  RpcCall,
  RpcOptions,
  RpcResult,
  RpcResultSet,
  RpcStats,
} from "./types.ts";

/** Broadcast discovery's hard limit unless told otherwise, milliseconds. */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 2_000;
/** Verified node certificates a client keeps: a fleet of up to this many pays each check once. */
const VERIFIED_NODES = 65_536;
/** Broadcast discovery ends this long after the last reply unless told otherwise, milliseconds. */
export const DEFAULT_DISCOVERY_WINDOW_MS = 300;
/** How long a call waits for replies without a DDL or a timeout, milliseconds. */
export const DEFAULT_RPC_TIMEOUT_MS = 20_000;
/** The pause between batches unless told otherwise, milliseconds. */
export const DEFAULT_BATCH_SLEEP_MS = 1_000;

// How long a failed connect waits for a late TLS alert that says why, milliseconds.
const ALERT_GRACE_MS = 100;

function isTlsAlert(error: unknown): boolean {
  const e = error as { message?: unknown; code?: unknown } | null;
  return typeof e?.message === "string" &&
    (/fatal alert|alert: /i.test(e.message) || String(e.code ?? "").startsWith("ERR_SSL_"));
}

// Failures before any TLS: nothing listens, no such host, nobody answers.
function isNetworkFailure(error: unknown): boolean {
  const e = error as { code?: unknown; chainedError?: { code?: unknown } } | null;
  const codes = [String(e?.code ?? ""), String(e?.chainedError?.code ?? "")];
  return codes.some((code) =>
    ["CONNECTION_REFUSED", "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "TIMEOUT"].includes(code)
  );
}

function describeError(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown } | null;
  const message = typeof e?.message === "string" && e.message !== "" ? e.message : String(error);
  return message.split("\n")[0]!;
}

// Turns what npm:nats throws from connect into one of the client's errors.
function connectFailure(
  error: unknown,
  alert: unknown,
  options: { servers: string; certname: string; timeoutMs: number },
): Error {
  const e = error as { message?: unknown; code?: unknown; chainedError?: unknown } | null;
  const code = String(e?.code ?? "");
  const chained = e?.chainedError as { code?: unknown; message?: unknown } | undefined;
  const text = `${describeError(error)} ${chained ? describeError(chained) : ""}`;
  const where = `Cannot connect to ${options.servers}`;
  if (
    /UnknownIssuer|unable to (get|verify)|self[- ]signed|NotValidForName|Hostname\/IP|invalid peer certificate|CERT_/i
      .test(text)
  ) {
    return new CertificateRejectedError(
      `${where} as the broker's certificate is not trusted: ${text.trim()}`,
      { side: "client", cause: error },
    );
  }
  if (
    alert !== undefined || isTlsAlert(error) ||
    /before secure TLS connection|EPIPE|EPERM/i.test(`${text} ${code}`)
  ) {
    return new CertificateRejectedError(
      `${where} as the broker refused the certificate of '${options.certname}' (another CA, expired, or not a client certificate): ${
        describeError(alert ?? error)
      }`,
      { side: "broker", cause: error },
    );
  }
  if (code === "CONNECTION_REFUSED" || /ECONNREFUSED/.test(text)) {
    return new ConnectError(
      `${where} as nothing accepts connections there: ${
        describeError(chained ?? error).replace(/^CONNECTION_REFUSED\s*/, "")
      }`,
      { cause: error },
    );
  }
  if (code === "TIMEOUT" || /timeout/i.test(text)) {
    return new ConnectError(
      `${where} as no broker answered within ${options.timeoutMs}ms: ${text.trim()}`,
      { cause: error },
    );
  }
  return new ConnectError(`${where}: ${text.trim()}`, { cause: error });
}

function fullFilter(filter: Partial<RequestFilter> = {}): RequestFilter {
  return {
    fact: [...(filter.fact ?? [])],
    cf_class: [...(filter.cf_class ?? [])],
    agent: [...(filter.agent ?? [])],
    identity: [...(filter.identity ?? [])],
    compound: [...(filter.compound ?? [])],
  };
}

function withAgent(filter: Partial<RequestFilter> | undefined, agent: string): RequestFilter {
  const full = fullFilter(filter);
  if (!full.agent!.includes(agent)) full.agent!.push(agent);
  return full;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The RPC body of a reply, as servers send it. */
interface ReplyBody {
  statuscode?: unknown;
  statusmsg?: unknown;
  data?: unknown;
}

/** A call's replies as they come; ended once with the result set or an error. */
class ResultStream implements RpcCall {
  readonly #results: RpcResult[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  #error: unknown = undefined;
  #failed = false;
  readonly #done: Promise<RpcResultSet>;

  constructor(run: (push: (result: RpcResult) => void) => Promise<RpcResultSet>) {
    this.#done = (async () => {
      try {
        return await run((result) => {
          this.#results.push(result);
          this.#wake();
        });
      } catch (error) {
        this.#error = error;
        this.#failed = true;
        throw error;
      } finally {
        this.#ended = true;
        this.#wake();
      }
    })();
    // A caller that only iterates still sees the error; this keeps it from being unhandled.
    this.#done.catch(() => {});
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  done(): Promise<RpcResultSet> {
    return this.#done;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RpcResult> {
    let next = 0;
    while (true) {
      if (next < this.#results.length) {
        yield this.#results[next++]!;
        continue;
      }
      if (this.#ended) {
        if (this.#failed) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** How to reach nodes through federation brokers. */
export interface FederationOptions {
  /**
   * Member collectives to reach through federation brokers: every request goes to
   * `choria.federation.<name>.federation` for each, and `brokers` are the federation network's.
   * @default none: requests go straight to the collective
   */
  federations?: string[];
}

/** Options for {@linkcode Client.trace}. */
export interface TraceOptions {
  /** @default the client's collective */
  collective?: string;
  /** How long to wait for the node's reply, milliseconds. @default 5000 */
  timeoutMs?: number;
}

/** The path a request to one node and its reply took. */
export interface TraceResult {
  /** The node asked. */
  node: string;
  /** The request's id. */
  requestId: string;
  /** Whether it went through federation brokers. */
  federated: boolean;
  /** Every hop in order, the client's first and last, with the time between and inside them. */
  steps: TraceStep[];
  /** From publishing to receiving the reply, milliseconds. */
  roundTripMs: number;
}

/** A call that failed before it could start (say on a closed client). */
function failedCall(error: Error): RpcCall {
  return new ResultStream(() => Promise.reject(error));
}

/**
 * A connected client; `await using` closes it.
 *
 * @example Discover nodes and ping them
 * ```ts
 * import { Client } from "./client.ts";
 * import type { ClientIdentity } from "./types.ts";
 *
 * // Type-checked only: it needs a broker and servers to run.
 * export async function pingFleet(identity: ClientIdentity): Promise<void> {
 *   await using client = await Client.connect({ brokers: ["tls://broker:4222"], identity });
 *   const found = await client.discover({ filter: { cf_class: ["apache"] } });
 *   const call = client.rpc({ agent: "rpcutil", action: "ping", nodes: found.nodes });
 *   for await (const reply of call) console.log(reply.sender, reply.data.pong);
 *   const { stats } = await call.done();
 *   console.log(`${stats.ok} ok, no reply from ${stats.noResponses.join(", ") || "none"}`);
 * }
 * ```
 */
export class Client implements AsyncDisposable {
  /** The client's certificate name. */
  readonly certname: string;
  /** The collective calls go to unless they name another. */
  readonly collective: string;
  /** Member collectives requests go through federation brokers to; empty when not federated. */
  readonly federations: readonly string[];
  readonly #nc: NatsConnection;
  readonly #signer: Signer;
  readonly #verifier: CertificateVerifier;
  readonly #caller: string;
  readonly #logger: Logger;
  readonly #closing = new AbortController();

  private constructor(
    nc: NatsConnection,
    options: ClientOptions & FederationOptions,
    signer: Signer,
    verifier: CertificateVerifier,
  ) {
    this.#nc = nc;
    this.#signer = signer;
    this.#verifier = verifier;
    this.certname = signer.certname;
    this.collective = options.collective ?? "mcollective";
    this.federations = [...options.federations ?? []];
    this.#caller = callerId(signer.certname);
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * Connects to the first broker that answers, over mutual TLS as `options.identity`. The inbox
   * prefix is the caller's reply prefix (`<collective>.reply.<md5(callerid)>`), the only
   * subjects Choria's broker permissions let a client read.
   *
   * @throws {ConnectError} When no broker can be reached within `connectTimeoutMs`.
   * @throws {CertificateRejectedError} When the TLS handshake fails over a certificate.
   * @throws {TypeError} When `brokers` is empty.
   * @throws {SigningKeyError} When the identity's key does not fit its certificate.
   *
   * @example Connect with a file identity
   * ```ts
   * import { Client } from "./client.ts";
   * import { ConnectError } from "./errors.ts";
   * import type { ClientIdentity } from "./types.ts";
   *
   * // Type-checked only: it needs a broker to run.
   * export async function tryConnect(identity: ClientIdentity): Promise<Client | null> {
   *   try {
   *     return await Client.connect({ brokers: ["tls://127.0.0.1:4222"], identity });
   *   } catch (error) {
   *     if (error instanceof ConnectError) return null;
   *     throw error;
   *   }
   * }
   * ```
   */
  static async connect(options: ClientOptions & FederationOptions): Promise<Client> {
    if (options.brokers.length === 0) {
      throw new TypeError("Cannot connect as 'brokers' is empty: give at least one host:port");
    }
    const { identity } = options;
    const signer = createSigner(identity.cert, identity.key);
    // Every node signs with its own certificate: keep one verified chain per node of a large
    // fleet, or each reply pays for a chain check again (130 µs against 56 µs cached).
    const verifier = new CertificateVerifier({ ca: identity.ca, cacheSize: VERIFIED_NODES });
    const collective = options.collective ?? "mcollective";
    const timeoutMs = options.connectTimeoutMs ?? 5_000;
    const logger = options.logger ?? silentLogger;
    let alert: unknown = undefined;
    const guard = (event: ErrorEvent) => {
      if (!isTlsAlert(event.error)) return;
      event.preventDefault();
      alert ??= event.error;
      logger.warn("TLS alert while connecting", { error: describeError(event.error) });
    };
    globalThis.addEventListener("error", guard);
    // npm:nats hands unknown TLS options to node:tls. See the module doc: a refused
    // certificate must fail the handshake, so TLS 1.2.
    const tls: TlsOptions & { maxVersion: "TLSv1.2" } = {
      ca: identity.ca,
      cert: identity.cert,
      key: identity.key,
      maxVersion: "TLSv1.2",
    };
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: options.brokers,
        tls,
        name: identity.certname,
        inboxPrefix: replyPrefix(collective, callerId(identity.certname)),
        timeout: timeoutMs,
        reconnect: true,
        maxReconnectAttempts: 10,
      });
    } catch (error) {
      if (!isNetworkFailure(error)) {
        await new Promise((resolve) => setTimeout(resolve, ALERT_GRACE_MS));
      }
      throw connectFailure(error, alert, {
        servers: options.brokers.join(", "),
        certname: identity.certname,
        timeoutMs,
      });
    } finally {
      globalThis.removeEventListener("error", guard);
    }
    logger.debug("connected", { server: nc.getServer(), certname: identity.certname });
    return new Client(nc, options, signer, verifier);
  }

  /** Whether the client is closed. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * Finds nodes: a discovery ping broadcast with the filter, gathered until `windowMs` after the
   * last reply or `timeoutMs` in all; or the names in a flatfile (`source`, `-` for stdin); or
   * the nodes of an inventory file that match the filter.
   *
   * @throws {DiscoveryError} When a flatfile or inventory cannot be read or the filter cannot be
   * applied to it.
   *
   * @example Find the web servers
   * ```ts
   * import type { Client } from "./client.ts";
   *
   * // Type-checked only: it needs a broker and servers to run.
   * export async function webServers(client: Client): Promise<string[]> {
   *   const fact = [{ fact: "role", operator: "==" as const, value: "web" }];
   *   return (await client.discover({ filter: { fact }, windowMs: 200 })).nodes;
   * }
   * ```
   */
  async discover(options: DiscoverOptions = {}): Promise<DiscoveryResult> {
    const started = performance.now();
    const method = options.method ?? "broadcast";
    const collective = options.collective ?? this.collective;
    let nodes: string[];
    if (method === "flatfile" || method === "inventory") {
      const source = options.source;
      if (source === undefined || source === "") {
        throw new DiscoveryError(
          `Cannot discover with the ${method} method as 'source' is missing: give a file${
            method === "flatfile" ? " or '-' for stdin" : ""
          }`,
        );
      }
      const text = await readSource(source, method === "flatfile");
      nodes = method === "flatfile"
        ? selectFlatfileNodes(parseFlatfile(text, source), options.filter)
        : selectInventoryNodes(parseInventory(text, source), {
          collective,
          ...(options.filter === undefined ? {} : { filter: options.filter }),
        });
    } else if (method === "broadcast") {
      this.#checkOpen("discover");
      nodes = await this.#broadcastDiscovery(
        collective,
        options.filter,
        options.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS,
        options.windowMs ?? DEFAULT_DISCOVERY_WINDOW_MS,
      );
    } else {
      throw new DiscoveryError(
        `Cannot discover as 'method' must be broadcast, flatfile or inventory: current value is '${method}'`,
      );
    }
    return { nodes, elapsedMs: Math.round(performance.now() - started) };
  }

  async #broadcastDiscovery(
    collective: string,
    filter: Partial<RequestFilter> | undefined,
    timeoutMs: number,
    windowMs: number,
  ): Promise<string[]> {
    const request = createRequest({
      agent: "discovery",
      collective,
      callerid: this.#caller,
      senderid: this.certname,
      message: JSON.stringify({ agent: "discovery", action: "ping", data: {} }),
      filter: fullFilter(filter),
    });
    const id = request.envelope.requestid;
    const replyTo = replySubject(collective, this.#caller, id);
    const found = new Set<string>();
    let onReply = () => {};
    const sub = this.#nc.subscribe(replyTo, {
      callback: (error, msg) => {
        if (error) return;
        try {
          const reply = receiveReply(msg.data, { verifier: this.#verifier });
          if (reply.reply.envelope.requestid !== id) return;
          found.add(reply.reply.envelope.senderid);
          onReply();
        } catch (cause) {
          this.#logger.warn("dropped a discovery reply that failed verification", {
            error: describeError(cause),
          });
        }
      },
    });
    try {
      await this.#nc.flush();
      const secure = await createSecureRequest(request, this.#signer);
      this.#publishRequest(secure, id, replyTo, [broadcastSubject(collective, "discovery")]);
      await new Promise<void>((resolve) => {
        let window: ReturnType<typeof setTimeout> | undefined;
        const finish = () => {
          clearTimeout(hard);
          clearTimeout(window);
          this.#closing.signal.removeEventListener("abort", finish);
          resolve();
        };
        const hard = setTimeout(finish, timeoutMs);
        this.#closing.signal.addEventListener("abort", finish, { once: true });
        onReply = () => {
          clearTimeout(window);
          window = setTimeout(finish, windowMs);
        };
      });
    } finally {
      sub.unsubscribe();
    }
    return [...found].sort();
  }

  /**
   * Calls an agent action. Inputs are checked against `options.ddl` first, and an
   * {@linkcode InputError} listing every fault is thrown before anything is sent. Then the call
   * discovers (unless `nodes` is given), applies `limit`, publishes in batches and gathers
   * replies; iterate the call for replies as they come, or await `done()` for all of them
   * (sorted by sender) with the call's {@linkcode RpcStats}.
   *
   * Batches and limits need directed requests: combining them with `mode: "broadcast"` is a
   * TypeError. Each batch is a fresh signed request; the next batch goes `batchSleepMs` after the
   * previous one was answered or timed out. Replies whose hash or signature does not verify, and
   * unsigned replies when `requireSignedReplies` is set, are dropped with a warning.
   *
   * @throws {InputError} When the inputs break the DDL, or the DDL lacks the action.
   * @throws {TypeError} When the options contradict each other or a limit is malformed.
   *
   * @example Install a package on half the web servers, two at a time
   * ```ts
   * import type { Client } from "./client.ts";
   *
   * // Type-checked only: it needs a broker and servers to run.
   * export async function install(client: Client): Promise<void> {
   *   const call = client.rpc({
   *     agent: "package",
   *     action: "install",
   *     data: { package: "nginx" },
   *     filter: { cf_class: ["web"] },
   *     limit: "50%",
   *     batchSize: 2,
   *     batchSleepMs: 5_000,
   *   });
   *   const { results, stats } = await call.done();
   *   console.log(results.length, stats.failed, stats.noResponses);
   * }
   * ```
   */
  rpc(options: RpcOptions): RpcCall {
    let data = options.data ?? {};
    if (options.ddl !== undefined) data = this.#validate(options, data);
    if (options.limit !== undefined) checkLimit(options.limit);
    const batchSize = options.batchSize ?? 0;
    if (!Number.isInteger(batchSize) || batchSize < 0) {
      throw new TypeError(
        `Cannot call ${options.agent}#${options.action} as 'batchSize' must be a non-negative integer: current value is ${batchSize}`,
      );
    }
    if (options.mode === "broadcast" && (batchSize > 0 || options.limit !== undefined)) {
      throw new TypeError(
        `Cannot call ${options.agent}#${options.action} as batches and limits need directed requests: 'mode' is broadcast`,
      );
    }
    if (this.closed) {
      return failedCall(
        new ClientStateError(
          `Cannot call ${options.agent}#${options.action} as the client is closed`,
        ),
      );
    }
    return new ResultStream((push) => this.#call(options, data, batchSize, push));
  }

  #validate(options: RpcOptions, data: Record<string, unknown>): Record<string, unknown> {
    const ddl = options.ddl!;
    const name = `${options.agent}#${options.action}`;
    const action: ActionDdl | undefined = ddl.actions.find((a) => a.action === options.action);
    if (action === undefined) {
      const problems = [{
        input: "",
        statuscode: StatusCodes.unknownAction,
        message:
          `Cannot call ${name} as the DDL of '${ddl.metadata.name}' has no action '${options.action}': actions are ${
            ddl.actions.map((a) => a.action).join(", ")
          }`,
      }];
      throw new InputError(problems[0]!.message, {
        agent: options.agent,
        action: options.action,
        problems,
      });
    }
    const validation = validateInputs(action, data);
    if (validation.problems.length > 0) {
      throw new InputError(
        `Cannot call ${name} as its inputs are invalid: ${
          validation.problems.map((p) => p.message).join("; ")
        }`,
        { agent: options.agent, action: options.action, problems: validation.problems },
      );
    }
    for (const warning of validation.warnings) this.#logger.warn(warning, { call: name });
    return validation.data;
  }

  async #call(
    options: RpcOptions,
    data: Record<string, unknown>,
    batchSize: number,
    push: (result: RpcResult) => void,
  ): Promise<RpcResultSet> {
    const started = performance.now();
    const collective = options.collective ?? this.collective;
    const filter = withAgent(options.filter, options.agent);

    let targets: string[];
    if (options.nodes !== undefined) {
      targets = [...new Set(options.nodes)].sort();
    } else {
      const method = options.discovery?.method ?? "broadcast";
      const found = await this.discover({
        ...options.discovery,
        collective,
        // A flatfile has no agents to match: only identity filters apply to it.
        filter: method === "flatfile" ? fullFilter(options.filter) : filter,
      });
      targets = found.nodes;
    }
    const discoveryMs = performance.now() - started;
    if (options.limit !== undefined) {
      targets = limitNodes(
        targets,
        options.limit,
        options.limitSeed === undefined ? {} : { seed: options.limitSeed },
      );
    }

    const timeoutMs = options.timeoutMs ?? (options.ddl
      ? options.ddl.metadata.timeout * 1_000 +
        (options.discovery?.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS)
      : DEFAULT_RPC_TIMEOUT_MS);
    const mode = options.mode ?? "direct";
    const targetSet = new Set(targets);
    const responded = new Set<string>();
    const unexpected = new Set<string>();
    const seen = new Set<string>();
    // Request id of each batch, and when it was published.
    const publishedAt = new Map<string, number>();
    const results: RpcResult[] = [];
    let ok = 0;
    let failed = 0;
    let publishMs = 0;
    let firstPublish: number | undefined;
    let lastReply: number | undefined;
    let onProgress = () => {};

    const stats = (): RpcStats => {
      const end = performance.now();
      return {
        discovered: targets,
        responded: [...responded].sort(),
        ok,
        failed,
        noResponses: targets.filter((t) => !responded.has(t)),
        unexpected: [...unexpected].sort(),
        discoveryMs: Math.round(discoveryMs),
        publishMs: Math.round(publishMs),
        repliesMs: firstPublish === undefined ? 0 : Math.round((lastReply ?? end) - firstPublish),
        totalMs: Math.round(end - started),
      };
    };
    if (targets.length === 0) {
      this.#logger.info("no nodes to call", { agent: options.agent, action: options.action });
      return { results, stats: stats() };
    }
    this.#checkOpen(`call ${options.agent}#${options.action}`);

    const replyTo = replySubject(collective, this.#caller, newRequestId());
    const sub: Subscription = this.#nc.subscribe(replyTo, {
      callback: (error, msg) => {
        if (error) return;
        const now = performance.now();
        let reply;
        try {
          reply = receiveReply(msg.data, {
            verifier: this.#verifier,
            requireSignature: options.requireSignedReplies ?? false,
          });
        } catch (cause) {
          this.#logger.warn("dropped a reply that failed verification", {
            agent: options.agent,
            error: describeError(cause),
          });
          return;
        }
        const { requestid, senderid } = reply.reply.envelope;
        const sentAt = publishedAt.get(requestid);
        if (sentAt === undefined) return;
        if (seen.has(senderid)) {
          this.#logger.debug("dropped a duplicate reply", { sender: senderid });
          return;
        }
        let body: ReplyBody;
        try {
          body = JSON.parse(reply.body) as ReplyBody;
        } catch (cause) {
          this.#logger.warn("dropped a reply whose body is not JSON", {
            sender: senderid,
            error: describeError(cause),
          });
          return;
        }
        seen.add(senderid);
        const statuscode = typeof body.statuscode === "number" ? body.statuscode : 5;
        const result: RpcResult = {
          sender: senderid,
          statuscode,
          statusmsg: typeof body.statusmsg === "string" ? body.statusmsg : "",
          data: typeof body.data === "object" && body.data !== null && !Array.isArray(body.data)
            ? body.data as Record<string, unknown>
            : {},
          signed: reply.signer !== undefined,
          elapsedMs: Math.round(now - sentAt),
        };
        if (targetSet.has(senderid)) responded.add(senderid);
        else unexpected.add(senderid);
        if (statuscode === 0) ok++;
        else failed++;
        lastReply = now;
        results.push(result);
        push(result);
        onProgress();
      },
    });

    try {
      await this.#nc.flush();
      const groups = mode === "broadcast" ? [targets] : batches(targets, batchSize);
      for (const [i, batch] of groups.entries()) {
        if (this.closed) break;
        if (i > 0) {
          await sleep(options.batchSleepMs ?? DEFAULT_BATCH_SLEEP_MS, this.#closing.signal);
        }
        const publishStart = performance.now();
        const request = createRequest({
          agent: options.agent,
          collective,
          callerid: this.#caller,
          senderid: this.certname,
          message: JSON.stringify({ agent: options.agent, action: options.action, data }),
          filter,
        });
        const secure = await createSecureRequest(request, this.#signer);
        const sentAt = performance.now();
        publishedAt.set(request.envelope.requestid, sentAt);
        firstPublish ??= sentAt;
        this.#publishRequest(
          secure,
          request.envelope.requestid,
          replyTo,
          mode === "broadcast"
            ? [broadcastSubject(collective, options.agent)]
            : batch.map((node) => directedSubject(collective, node)),
        );
        await this.#nc.flush();
        publishMs += performance.now() - publishStart;
        await this.#awaitReplies(batch, responded, timeoutMs, (f) => onProgress = f);
      }
    } finally {
      onProgress = () => {};
      sub.unsubscribe();
    }
    const sorted = [...results].sort((a, b) =>
      a.sender < b.sender ? -1 : a.sender > b.sender ? 1 : 0
    );
    return { results: sorted, stats: stats() };
  }

  // Waits until every node of `batch` replied, `timeoutMs` passed, or the client closed.
  #awaitReplies(
    batch: string[],
    responded: Set<string>,
    timeoutMs: number,
    setProgress: (f: () => void) => void,
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      const signal = this.#closing.signal;
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        setProgress(() => {});
        resolve();
      };
      const check = () => {
        if (batch.every((node) => responded.has(node))) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      signal.addEventListener("abort", finish, { once: true });
      setProgress(check);
      check();
    });
  }

  // Publishes a signed request to `subjects`: straight to each, or, when federated, to every
  // member's federation subject with the subjects as targets, at most MAX_TARGETS a message.
  #publishRequest(
    secure: SecureRequestV1,
    requestId: string,
    replyTo: string,
    subjects: string[],
  ): void {
    if (this.federations.length === 0) {
      const wire = encodeTransport(createTransport(secure, { replyTo, sender: this.certname }));
      for (const subject of subjects) this.#nc.publish(subject, wire);
      return;
    }
    const at = nowMs();
    const seenBy = [
      wireHop({
        from: "",
        via: this.certname,
        to: this.#nc.getServer(),
        arrivedMs: at,
        leftMs: at,
      }),
    ];
    for (let i = 0; i < subjects.length; i += MAX_TARGETS) {
      const wire = encodeTransport(createTransport(secure, {
        replyTo,
        sender: this.certname,
        seenBy,
        federation: { req: requestId, target: subjects.slice(i, i + MAX_TARGETS) },
      }));
      for (const member of this.federations) this.#nc.publish(federationSubject(member), wire);
    }
  }

  /**
   * Traces the path to one node and back: sends it a discovery ping that records every hop
   * (`seen-by`) and returns the hops its reply carried back, with the time spent between and in
   * each. Through federation brokers when the client is federated, else straight.
   *
   * @throws {DiscoveryError} When the node does not answer within `timeoutMs`.
   *
   * @example Print the hops to a node
   * ```ts
   * import type { Client } from "./client.ts";
   *
   * // Type-checked only: it needs a federation to run.
   * export async function hops(client: Client): Promise<void> {
   *   const trace = await client.trace("n1.example.net");
   *   for (const step of trace.steps) console.log(step.index, step.leg, step.via, step.spentMs);
   * }
   * ```
   */
  async trace(node: string, options: TraceOptions = {}): Promise<TraceResult> {
    this.#checkOpen(`trace ${node}`);
    const collective = options.collective ?? this.collective;
    const timeoutMs = options.timeoutMs ?? 5_000;
    const request = createRequest({
      agent: "discovery",
      collective,
      callerid: this.#caller,
      senderid: this.certname,
      message: JSON.stringify({ agent: "discovery", action: "ping", data: {} }),
      filter: fullFilter({ agent: ["discovery"] }),
    });
    const id = request.envelope.requestid;
    const replyTo = replySubject(collective, this.#caller, id);
    let answered: (hops: ReturnType<typeof readHops>) => void = () => {};
    const answer = new Promise<ReturnType<typeof readHops>>((resolve) => answered = resolve);
    const sub = this.#nc.subscribe(replyTo, {
      callback: (error, msg) => {
        if (error) return;
        const arrivedMs = nowMs();
        try {
          const reply = receiveReply(msg.data, { verifier: this.#verifier });
          if (reply.reply.envelope.requestid !== id || reply.reply.envelope.senderid !== node) {
            return;
          }
          answered([
            ...readHops(reply.transport.headers["seen-by"]),
            {
              from: this.#nc.getServer(),
              via: this.certname,
              to: "",
              arrivedMs,
              leftMs: arrivedMs,
            },
          ]);
        } catch (cause) {
          this.#logger.warn("dropped a trace reply that failed verification", {
            error: describeError(cause),
          });
        }
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await this.#nc.flush();
      const secure = await createSecureRequest(request, this.#signer);
      const started = nowMs();
      if (this.federations.length === 0) {
        // Straight to the node, still recording the client's hop so the node carries it back.
        this.#nc.publish(
          directedSubject(collective, node),
          encodeTransport(createTransport(secure, {
            replyTo,
            sender: this.certname,
            seenBy: [wireHop({
              from: "",
              via: this.certname,
              to: this.#nc.getServer(),
              arrivedMs: started,
              leftMs: started,
            })],
          })),
        );
      } else {
        this.#publishRequest(secure, id, replyTo, [directedSubject(collective, node)]);
      }
      const hops = await Promise.race([
        answer,
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), timeoutMs);
          this.#closing.signal.addEventListener("abort", () => resolve(null), { once: true });
        }),
      ]);
      if (hops === null) {
        throw new DiscoveryError(
          `Cannot trace ${node} as it did not answer within ${timeoutMs}ms${
            this.federations.length > 0
              ? ` through federation ${this.federations.map((f) => `'${f}'`).join(", ")}`
              : ""
          }`,
        );
      }
      return {
        node,
        requestId: id,
        federated: this.federations.length > 0,
        steps: traceSteps(hops, node),
        roundTripMs: hops[hops.length - 1]!.arrivedMs! - started,
      };
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  #checkOpen(what: string): void {
    if (this.closed) throw new ClientStateError(`Cannot ${what} as the client is closed`);
  }

  /**
   * Ends calls in progress (they finish with what they have), drains and closes the connection.
   *
   * @example Close explicitly
   * ```ts
   * import type { Client } from "./client.ts";
   *
   * // Type-checked only: it needs a broker to run.
   * export async function finish(client: Client): Promise<void> {
   *   await client.close();
   *   console.log(client.closed); // true
   * }
   * ```
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#closing.abort();
    if (!this.#nc.isClosed()) await this.#nc.close();
  }

  /** Closes the client: see {@linkcode Client.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

async function readSource(source: string, allowStdin: boolean): Promise<string> {
  try {
    if (source === "-" && allowStdin) return await new Response(Deno.stdin.readable).text();
    return await Deno.readTextFile(source);
  } catch (cause) {
    throw new DiscoveryError(
      `Cannot discover from '${source}' as it cannot be read: ${describeError(cause)}`,
      { cause },
    );
  }
}
