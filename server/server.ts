/**
 * The server: connects out to the broker with its own certificate, subscribes each agent on every
 * collective and the node's directed subject, and processes requests: gate (authenticate, filter,
 * authorize, audit), run the action through the host, reply. A bounded number run at once; one
 * bad request never affects another.
 *
 * @module
 */
import { connect, type Msg, type NatsConnection, type Subscription } from "nats";
import type { Agent, AgentDdl, NodeInfo, StatusCode } from "../agents/agent.ts";
import type { Logger } from "../core/log.ts";
import { ReplayGuard } from "../core/protocol/replay_guard.ts";
import { broadcastSubject, directedSubject, serverInboxPrefix } from "../core/protocol/subjects.ts";
import type { AuditLog } from "../core/security/audit.ts";
import type { SecurityMaterial } from "../core/security/providers.ts";
import { createSigner, type Signer } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import type { ServerSettings } from "./config.ts";
import {
  admitRequest,
  encodeRpcReply,
  notAuthorizedReply,
  type RequestGateOptions,
  type RpcReply,
} from "./request_gate.ts";
import type { VerifiedRequest } from "../core/protocol/receive.ts";

/** Runs one action for the server: validation, timeout and status codes are its job. */
export type ActionRunner = (
  agent: Agent,
  action: string,
  data: Record<string, unknown>,
  context: { request: VerifiedRequest; node: NodeInfo; logger: Logger; signal: AbortSignal },
) => Promise<RpcReply>;

/** Decides whether a request's filter selects this node. */
export type FilterCheck = (request: VerifiedRequest) => boolean;

/** What the server is built from. */
export interface ServerDependencies {
  settings: ServerSettings;
  /** The node's checked certificate, key and CA. */
  material: SecurityMaterial;
  agents: Agent[];
  facts: () => Record<string, unknown>;
  classes: () => string[];
  /** Runs actions; see {@linkcode ActionRunner}. */
  runAction: ActionRunner;
  /** Filter matching; every request selects the node without it. */
  selects?: FilterCheck;
  /** The audit log, when enabled. */
  audit: AuditLog | null;
  /** Broker URLs, already resolved. */
  brokers: string[];
  logger: Logger;
  version: string;
}

/** Request counters, as rpcutil's daemon_stats and the status file show them. */
export interface ServerStats {
  total: number;
  valid: number;
  invalid: number;
  filtered: number;
  passed: number;
  replies: number;
  dropped: number;
  unauthorized: number;
}

/** A Chorale server. */
export class ChoraleServer implements AsyncDisposable {
  readonly identity: string;
  readonly startedAt = new Date();
  readonly stats: ServerStats = {
    total: 0,
    valid: 0,
    invalid: 0,
    filtered: 0,
    passed: 0,
    replies: 0,
    dropped: 0,
    unauthorized: 0,
  };
  /** When the last request arrived, or null. */
  lastMessage: Date | null = null;
  readonly #deps: ServerDependencies;
  readonly #agents: Map<string, Agent>;
  readonly #signer: Signer;
  readonly #gate: RequestGateOptions;
  readonly #node: NodeInfo;
  readonly #stop = new AbortController();
  #nc: NatsConnection | null = null;
  /** Reconnect attempts since the connection was last up, for the back-off. */
  #reconnectAttempts = 0;
  /** The wait chosen for the current attempt count: npm:nats asks again while it waits. */
  #wait = { attempts: -1, ms: 0 };
  /** Subscriptions by agent name; the directed subjects under the empty name. */
  readonly #subscriptions = new Map<string, Subscription[]>();
  #running = 0;
  readonly #queue: Msg[] = [];
  #queueHead = 0;
  readonly #inflight = new Set<Promise<void>>();

  constructor(deps: ServerDependencies) {
    this.#deps = deps;
    this.identity = deps.settings.identity || deps.material.certname;
    this.#agents = new Map(deps.agents.map((a) => [a.ddl.metadata.name, a]));
    this.#signer = createSigner(deps.material.certPem, deps.material.keyPem);
    this.#gate = {
      verifier: new CertificateVerifier({
        ca: deps.material.caPem,
        clientPatterns: deps.settings.clientPatterns,
        privilegedPatterns: deps.settings.privilegedPatterns,
      }),
      replayGuard: new ReplayGuard(),
      policyDir: deps.settings.policies.enabled ? deps.settings.policies.dir : null,
      allowUnconfigured: deps.settings.policies.allowUnconfigured,
      audit: deps.audit,
      facts: deps.facts,
      classes: deps.classes,
      logger: deps.logger.child("aaa"),
      ...(deps.selects ? { selects: deps.selects } : {}),
    };
    const agents = () => [...this.#agents.values()].map((a): AgentDdl => a.ddl);
    this.#node = {
      identity: this.identity,
      collectives: deps.settings.collectives,
      facts: deps.facts,
      classes: deps.classes,
      agents,
      // Keyed by rpcutil daemon_stats' output names.
      stats: () => ({
        total: this.stats.total,
        validated: this.stats.valid,
        unvalidated: this.stats.invalid,
        passed: this.stats.passed,
        filtered: this.stats.filtered,
        replies: this.stats.replies,
        ttlexpired: 0,
        events: 0,
        starttime: Math.floor(this.startedAt.getTime() / 1000),
        version: deps.version,
      }),
      startedAt: this.startedAt,
      version: deps.version,
    };
  }

  /** The node as agents see it. */
  get node(): NodeInfo {
    return this.#node;
  }

  /** The broker connection, once started. */
  get connection(): NatsConnection | null {
    return this.#nc;
  }

  #reconnectWait(): number {
    if (this.#wait.attempts !== this.#reconnectAttempts) {
      this.#wait = {
        attempts: this.#reconnectAttempts,
        ms: reconnectDelay(this.#reconnectAttempts),
      };
    }
    return this.#wait.ms;
  }

  /** Connects to the broker and subscribes. Reconnects by itself with jittered back-off. */
  async start(): Promise<void> {
    const m = this.#deps.material;
    this.#nc = await connect({
      servers: this.#deps.brokers.map((b) => b.replace(/^tls:\/\//, "")),
      // As Choria: the brokers in the order given (SRV priority order), unless asked otherwise.
      noRandomize: !this.#deps.settings.randomizeBrokers,
      name: this.identity,
      // The server's own requests get replies on its own inbox, which its permissions allow.
      inboxPrefix: serverInboxPrefix(this.identity),
      tls: { ca: m.caPem, cert: m.certPem, key: m.keyPem },
      reconnect: true,
      maxReconnectAttempts: -1,
      // Exponential back-off with full jitter: when a broker restarts under a whole fleet, the
      // handshakes spread out instead of timing out together and retrying together.
      reconnectDelayHandler: () => this.#reconnectWait(),
      waitOnFirstConnect: true,
      pingInterval: 30_000,
    });
    this.#watchStatus(this.#nc);
    for (const agent of this.#agents.values()) this.#subscribeAgent(agent);
    for (const collective of this.#deps.settings.collectives) {
      this.#subscribe("", directedSubject(collective, this.identity));
    }
    await this.#nc.flush();
    this.#deps.logger.info("connected", {
      identity: this.identity,
      server: this.#nc.getServer(),
      agents: [...this.#agents.keys()],
      collectives: this.#deps.settings.collectives,
    });
  }

  #subscribeAgent(agent: Agent): void {
    const name = agent.ddl.metadata.name;
    for (const collective of this.#deps.settings.collectives) {
      // Service agents answer once per collective: one member of the queue group gets each request.
      const queue = agent.ddl.metadata.service ? `${collective}.${name}` : undefined;
      this.#subscribe(name, broadcastSubject(collective, name), queue);
    }
  }

  /**
   * Replaces the agents named in `agents` and drops `removed`, subscribing and unsubscribing as
   * needed: external agents come and go while the server runs. Built-in agents keep their names.
   */
  updateAgents(agents: Agent[], removed: string[]): void {
    for (const name of removed) {
      this.#agents.delete(name);
      for (const sub of this.#subscriptions.get(name) ?? []) sub.unsubscribe();
      this.#subscriptions.delete(name);
    }
    for (const agent of agents) {
      const name = agent.ddl.metadata.name;
      const known = this.#agents.has(name);
      this.#agents.set(name, agent);
      if (!known && this.#nc) this.#subscribeAgent(agent);
    }
  }

  #subscribe(owner: string, subject: string, queue?: string): void {
    const sub = this.#nc!.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (error, msg) => {
        if (error) {
          this.#deps.logger.error("subscription failed", { subject, error: error.message });
          return;
        }
        this.#enqueue(msg);
      },
    });
    const list = this.#subscriptions.get(owner) ?? [];
    list.push(sub);
    this.#subscriptions.set(owner, list);
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        if (status.type === "reconnect") this.#reconnectAttempts = 0;
        else if (status.type === "reconnecting") this.#reconnectAttempts++;
        this.#deps.logger.info("broker connection", {
          event: status.type,
          data: String(status.data),
        });
      }
    } catch (error) {
      this.#deps.logger.warn("status watch ended", { error: (error as Error).message });
    }
  }

  #enqueue(msg: Msg): void {
    this.stats.total++;
    this.lastMessage = new Date();
    if (this.#running < this.#deps.settings.maxConcurrent) {
      this.#start(msg);
      return;
    }
    if (this.#queue.length - this.#queueHead >= this.#deps.settings.maxQueued) {
      this.stats.dropped++;
      this.#deps.logger.warn("request dropped: the queue is full", { subject: msg.subject });
      return;
    }
    this.#queue.push(msg);
  }

  #start(msg: Msg): void {
    this.#running++;
    const done = this.#process(msg)
      .catch((error) => {
        this.#deps.logger.error("request processing failed", { error: (error as Error).message });
      })
      .finally(() => {
        this.#running--;
        this.#inflight.delete(done);
        const next = this.#queue[this.#queueHead];
        if (next && !this.#stop.signal.aborted) {
          this.#queue[this.#queueHead++] = undefined as unknown as Msg;
          if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
            this.#queue.splice(0, this.#queueHead);
            this.#queueHead = 0;
          }
          this.#start(next);
        }
      });
    this.#inflight.add(done);
  }

  async #process(msg: Msg): Promise<void> {
    const result = await admitRequest(msg.data, this.#gate);
    if (result.outcome === "filtered") {
      this.stats.filtered++;
      return;
    }
    if (result.outcome === "refused") {
      if (!result.verified) {
        this.stats.invalid++;
        return;
      }
      this.stats.valid++;
      this.stats.unauthorized++;
      const reply: RpcReply = result.error.stage === "authorization"
        ? notAuthorizedReply(result.error)
        : { statuscode: 4 as StatusCode, statusmsg: result.error.message, data: {} };
      await this.#reply(result.verified, reply);
      return;
    }
    this.stats.valid++;
    this.stats.passed++;
    const { verified, rpc } = result.request;
    const agent = this.#agents.get(rpc.agent);
    const reply: RpcReply = agent
      ? await this.#deps.runAction(agent, rpc.action, rpc.data, {
        request: verified,
        node: this.#node,
        logger: this.#deps.logger.child(rpc.agent),
        signal: this.#stop.signal,
      })
      : { statuscode: 2, statusmsg: `Unknown agent '${rpc.agent}'`, data: {} };
    await this.#reply(verified, reply);
  }

  async #reply(verified: VerifiedRequest, body: RpcReply): Promise<void> {
    const replyTo = verified.transport.headers["reply-to"];
    if (!replyTo || !this.#nc || this.#nc.isClosed()) return;
    const wire = await encodeRpcReply(verified, body, {
      identity: this.identity,
      signer: this.#signer,
    });
    this.#nc.publish(replyTo, wire);
    this.stats.replies++;
  }

  /** Stops taking requests, lets running ones finish (they see the abort), and disconnects. */
  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    for (const subs of this.#subscriptions.values()) for (const sub of subs) sub.unsubscribe();
    this.#stop.abort();
    await Promise.allSettled([...this.#inflight]);
    if (this.#nc && !this.#nc.isClosed()) {
      // Flushing waits for the broker: with the broker gone it would wait for a reconnect.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#nc.flush().catch(() => {}),
        new Promise<void>((resolve) => timer = setTimeout(resolve, STOP_FLUSH_MS)),
      ]);
      clearTimeout(timer);
      await this.#nc.close();
    }
    this.#deps.logger.info("stopped", { identity: this.identity, ...this.stats });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** How long stopping waits for replies already sent to reach the broker. */
const STOP_FLUSH_MS = 2_000;

/** First reconnect delay ceiling, and the cap the ceiling doubles up to. */
const RECONNECT_BASE_MS = 2_000;
const RECONNECT_CAP_MS = 60_000;

/**
 * How long to wait before reconnect attempt `attempt` (0 first): a random time up to a ceiling
 * that doubles with each attempt from 2 s to 60 s, at least half the ceiling.
 *
 * @example
 * ```ts
 * import { reconnectDelay } from "./server.ts";
 * const first = reconnectDelay(0);
 * console.log(first >= 1_000 && first <= 2_000); // true
 * ```
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}
