/**
 * The broker: accepts connections on a `node:net` listener, upgrades them to mutual TLS the NATS
 * way (plaintext INFO, then the handshake), and routes messages between them through the subject
 * index. Deliveries are buffered per connection and flushed once per inbound read.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { callerHash, callerId } from "../core/protocol/subjects.ts";
import { compilePatterns, identityKind, type IdentityPatterns } from "../core/security/identity.ts";
import type { Logger } from "../core/log.ts";
import {
  type CloseReason,
  Connection,
  type ConnectionHost,
  type Outgoing,
  type Subscription,
} from "./connection.ts";
import {
  DefaultPermissions,
  expandPermissions,
  type IdentityKind,
  PermissionChecker,
  type Permissions,
} from "./permissions.ts";
import { Cluster, type ClusterBroker, type ClusterSettings } from "./cluster.ts";
import { probeListener } from "./listener_probe.ts";
import type { RemoteSubscription, Route } from "./route.ts";
import { Sublist } from "./sublist.ts";
import { wireBytes } from "./wire_text.ts";

/** PEM text of the broker's certificate, key and the CA that client certificates must chain to. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/** A permission rule for identities matching `match`: an exact name or a `/regex/`. */
export interface IdentityRule extends Permissions {
  match: string;
}

/** How identities get their permissions. */
export interface PermissionsConfig {
  /**
   * `choria`: unlisted identities get Choria's server or client set; `open`: they may do anything.
   * @default "choria"
   */
  defaults: "choria" | "open";
  /** Regular expressions that make an identity a client. @default ["\\.mcollective$", "\\.choria$"] */
  clientPatterns: string[];
  /** Rules checked in order before the defaults; the first match wins. @default [] */
  identities: IdentityRule[];
}

/** Everything the broker is configured with. */
export interface BrokerSettings {
  host: string;
  port: number;
  /** Mutual TLS material; absent only when `insecure` is set. */
  tls: TlsMaterial | null;
  /** Serve plaintext without identities. Only for development. */
  insecure: boolean;
  serverName: string;
  maxPayload: number;
  maxControlLine: number;
  maxConnections: number;
  /** Bytes buffered for one connection before it is a slow consumer. */
  maxPending: number;
  /** Milliseconds a write may wait for the socket before the connection is a slow consumer. */
  writeDeadlineMs: number;
  pingIntervalMs: number;
  maxPingsOut: number;
  /** Milliseconds to send CONNECT after the handshake. */
  authTimeoutMs: number;
  /** Milliseconds to finish the TLS handshake. */
  tlsTimeoutMs: number;
  /**
   * Most sockets open at once, below the process's descriptor limit. Past it new sockets are
   * dropped at once, because a listener that hits EMFILE stops accepting for good under Deno.
   */
  maxSockets: number;
  permissions: PermissionsConfig;
  /** Routes to other brokers; null for a broker on its own. */
  cluster: ClusterSettings | null;
  /**
   * This process's index among the workers of `--workers`, which share the client port
   * (`SO_REUSEPORT`); null for a broker on its own. @default null
   */
  worker: number | null;
}

/** Counters the monitor publishes. */
export interface BrokerStats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
  totalConnections: number;
  slowConsumers: number;
  staleConnections: number;
  permissionViolations: number;
  protocolErrors: number;
  tlsHandshakeFailures: number;
  authTimeouts: number;
  rejectedMaxConnections: number;
  acceptErrors: number;
  listenerRestarts: number;
}

const encoder = new TextEncoder();
const SWEEP_MS = 1_000;
/** Connection closes logged one by one per second; the rest are summed up. */
const CLOSE_LOGS_PER_SECOND = 20;
/** How often the listener is probed, and how long a probe waits for INFO. */
const PROBE_INTERVAL_MS = 5_000;
const PROBE_TIMEOUT_MS = 2_000;
const NO_REPLY = new Uint8Array(0);
const CONNECTION = Symbol("chorale.connection");

type TaggedSocket = net.Socket & { [CONNECTION]?: Connection };

/**
 * A NATS-protocol broker.
 *
 * @example Start and stop an insecure broker
 * ```ts ignore
 * import { Broker, defaultSettings } from "./broker.ts";
 * import { silentLogger } from "../core/log.ts";
 * await using broker = new Broker({ ...defaultSettings(), port: 0, insecure: true }, silentLogger);
 * const { port } = await broker.start();
 * ```
 */
export class Broker implements ConnectionHost, AsyncDisposable {
  readonly settings: BrokerSettings;
  readonly stats: BrokerStats = {
    inMsgs: 0,
    inBytes: 0,
    outMsgs: 0,
    outBytes: 0,
    totalConnections: 0,
    slowConsumers: 0,
    staleConnections: 0,
    permissionViolations: 0,
    protocolErrors: 0,
    tlsHandshakeFailures: 0,
    authTimeouts: 0,
    rejectedMaxConnections: 0,
    acceptErrors: 0,
    listenerRestarts: 0,
  };
  readonly startedAt = new Date();
  readonly serverId: string;
  readonly connections = new Map<number, Connection>();
  readonly sublist = new Sublist<Subscription>();
  /** Routes to the other brokers of the cluster, when clustered. */
  readonly cluster: Cluster | null;
  readonly #log: Logger;
  /** Closes logged one by one this second, and the rest counted by reason. */
  #closeLogs: { logged: number; suppressed: Record<string, number> } = {
    logged: 0,
    suppressed: {},
  };
  /** Routes that take the message being routed now. */
  readonly #touchedRoutes: Route[] = [];
  #listener: net.Server | null = null;
  /** Set when sockets were dropped for lack of descriptors: probe the listener at once. */
  #descriptorPressure = false;
  #probing = false;
  #lastProbe = 0;
  /** Whether the last probe found the listener accepting. */
  listenerAlive = true;
  readonly #tlsServer: tls.Server | null;
  readonly #patterns: IdentityPatterns;
  readonly #rules: { test: (identity: string) => boolean; permissions: Permissions }[];
  #dirty: { flush(): void }[] = [];
  #lastSubject = "";
  #lastSubjectBytes = new Uint8Array(0);
  #lastHeaderSize = -2;
  #lastSize = -1;
  #lastSizes = new Uint8Array(0);
  /** Accepted sockets not yet closed, including ones being refused or closing. */
  #openSockets = 0;
  #nextId = 1;
  #sweep: ReturnType<typeof setInterval> | null = null;
  #closing = false;
  #info = "";
  #port = 0;

  constructor(settings: BrokerSettings, logger: Logger) {
    if (!settings.tls && !settings.insecure) {
      throw new TypeError("Cannot start the broker without TLS material unless 'insecure' is set");
    }
    this.settings = settings;
    this.#log = logger;
    this.serverId = `CHORALE${crypto.randomUUID().replaceAll("-", "").slice(0, 20).toUpperCase()}`;
    this.#patterns = compilePatterns(settings.permissions.clientPatterns);
    this.#rules = settings.permissions.identities.map((rule) => {
      const { match, ...permissions } = rule;
      const regex = match.length > 1 && match.startsWith("/") && match.endsWith("/")
        ? new RegExp(match.slice(1, -1))
        : null;
      return {
        test: regex ? (id: string) => regex.test(id) : (id: string) => id === match,
        permissions,
      };
    });
    this.#tlsServer = settings.tls
      ? tls.createServer({
        cert: settings.tls.cert,
        key: settings.tls.key,
        ca: [settings.tls.ca],
        requestCert: true,
        rejectUnauthorized: true,
      })
      : null;
    this.#tlsServer?.on("secureConnection", (socket) => this.#secured(socket));
    this.cluster = settings.cluster
      ? new Cluster(settings.cluster, this.#clusterBroker(), logger)
      : null;
    this.#tlsServer?.on("tlsClientError", (error, socket) => {
      this.stats.tlsHandshakeFailures++;
      const connection = (socket as unknown as { _parent?: TaggedSocket })._parent?.[CONNECTION];
      this.#log.debug("tls handshake failed", { cid: connection?.id, error: error.message });
      connection?.close("tls handshake failed");
      socket.destroy();
    });
  }

  /** The bound port, once started. */
  get port(): number {
    return this.#port;
  }

  /** Whether clients must send CONNECT first: always, except on an insecure listener. */
  get authRequired(): boolean {
    return !this.settings.insecure;
  }

  get maxPending(): number {
    return this.settings.maxPending;
  }

  get parserLimits(): { maxControlLine: number; maxPayload: number } {
    return { maxControlLine: this.settings.maxControlLine, maxPayload: this.settings.maxPayload };
  }

  /** Binds the listener and starts the housekeeping timer. */
  async start(): Promise<{ host: string; port: number }> {
    this.#port = await this.#listen(this.settings.port);
    this.#info = this.#buildInfo();
    this.#sweep = setInterval(() => this.#housekeeping(), SWEEP_MS);
    await this.cluster?.start();
    if (this.settings.insecure) {
      this.#log.warn(
        "INSECURE: serving plaintext without client certificates; any client can publish and subscribe to anything",
        { host: this.settings.host, port: this.#port },
      );
    }
    // A worker's supervisor says "listening" once every worker is up and routed.
    this.#log.info(this.settings.worker === null ? "listening" : "worker listening", {
      host: this.settings.host,
      port: this.#port,
      tls: !this.settings.insecure,
      ...(this.settings.worker === null ? {} : { worker: this.settings.worker }),
    });
    return { host: this.settings.host, port: this.#port };
  }

  async #listen(port: number): Promise<number> {
    const listener = net.createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      const options = { host: this.settings.host, port, reusePort: this.settings.worker !== null };
      listener.listen(options as net.ListenOptions, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    listener.on("error", (error) => this.#acceptError(error));
    this.#listener = listener;
    return (listener.address() as net.AddressInfo).port;
  }

  /**
   * Under Deno a listener whose accept fails with EMFILE stops accepting for good, silently. Probe
   * it now and then (at once after a shortage) and put a fresh listener on the same port if it no
   * longer answers. The probe's own connection is not counted.
   */
  async #checkListener(): Promise<void> {
    this.#probing = true;
    this.#lastProbe = Date.now();
    this.#descriptorPressure = false;
    try {
      const result = await probeListener(this.settings.host, this.#port, PROBE_TIMEOUT_MS);
      if (this.#closing) return;
      if (result.state === "alive" && result.serverId !== this.serverId) {
        // Another process on the same port (--workers) answered: this listener is not tested.
        this.#log.debug("listener probe answered by another worker", { port: this.#port });
      } else if (result.state === "alive") {
        this.listenerAlive = true;
        const probe = this.connections.get(result.clientId);
        if (probe) {
          this.stats.totalConnections--;
          probe.close("listener probe");
        }
      } else if (result.state === "dead") {
        this.listenerAlive = false;
        await this.#relisten();
      } else {
        this.#log.debug("cannot probe the listener", { reason: result.reason });
      }
    } finally {
      this.#probing = false;
    }
  }

  async #relisten(): Promise<void> {
    this.#listener?.close();
    this.#listener = null;
    try {
      await this.#listen(this.#port);
      this.listenerAlive = true;
      this.stats.listenerRestarts++;
      this.#log.warn("listener restarted: it had stopped accepting", { port: this.#port });
    } catch (error) {
      this.#log.error("cannot restart the listener", {
        port: this.#port,
        error: (error as Error).message,
      });
    }
  }

  #buildInfo(): string {
    const secure = !this.settings.insecure;
    const info = {
      server_id: this.serverId,
      server_name: this.settings.serverName,
      version: "2.9.10",
      proto: 1,
      go: "chorale",
      host: this.settings.host,
      port: this.#port,
      headers: true,
      max_payload: this.settings.maxPayload,
      ...(secure ? { auth_required: true, tls_required: true, tls_verify: true } : {}),
    };
    // Without the closing brace, so each connection can add its client_id and client_ip.
    return JSON.stringify(info).slice(0, -1);
  }

  #infoFor(id: number, ip: string): Uint8Array {
    return encoder.encode(
      `INFO ${this.#info},"client_id":${id},"client_ip":${JSON.stringify(ip)}} \r\n`,
    );
  }

  #accept(socket: TaggedSocket): void {
    socket.on("error", () => {});
    this.#openSockets++;
    socket.once("close", () => this.#openSockets--);
    if (this.#closing || this.#openSockets > this.settings.maxSockets) {
      // Out of descriptor budget: drop without a word, as a full accept queue would.
      if (!this.#closing) {
        this.stats.rejectedMaxConnections++;
        this.#descriptorPressure = true;
      }
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (this.connections.size >= this.settings.maxConnections) {
      this.stats.rejectedMaxConnections++;
      socket.write(this.#infoFor(0, socket.remoteAddress ?? ""));
      socket.end(encoder.encode("-ERR 'maximum connections exceeded'\r\n"), () => socket.destroy());
      setTimeout(() => socket.destroy(), 1_000).unref?.();
      return;
    }
    const connection = new Connection(this.#nextId++, socket, this);
    this.connections.set(connection.id, connection);
    this.stats.totalConnections++;
    socket.write(this.#infoFor(connection.id, connection.remoteAddress));
    if (this.#tlsServer) {
      socket[CONNECTION] = connection;
      socket.on("close", () => connection.close("client closed"));
      this.#tlsServer.emit("connection", socket);
    } else {
      connection.attach(socket, null);
    }
  }

  #secured(socket: tls.TLSSocket): void {
    const raw = (socket as unknown as { _parent?: TaggedSocket })._parent;
    const connection = raw?.[CONNECTION];
    if (!connection || connection.state !== "handshake") {
      socket.destroy();
      return;
    }
    const identity = String(socket.getPeerCertificate()?.subject?.CN ?? "");
    if (!socket.authorized || identity === "") {
      this.stats.tlsHandshakeFailures++;
      connection.close("tls handshake failed");
      return;
    }
    const kind: IdentityKind = identityKind(identity, this.#patterns);
    connection.kind = kind;
    const permissions = this.#permissionsFor(identity, kind);
    connection.permissions = permissions ? new PermissionChecker(permissions) : null;
    connection.attach(socket as unknown as net.Socket, identity);
  }

  #permissionsFor(identity: string, kind: IdentityKind): Permissions | null {
    const rule = this.#rules.find((r) => r.test(identity));
    const chosen = rule?.permissions ??
      (this.settings.permissions.defaults === "choria" ? DefaultPermissions[kind] : null);
    return chosen
      ? expandPermissions(chosen, { identity, replyhash: callerHash(callerId(identity)) })
      : null;
  }

  #acceptError(error: Error): void {
    // Running out of descriptors must not end the listener: count it and carry on.
    this.stats.acceptErrors++;
    this.#log.warn("accept failed", { error: error.message });
  }

  // ConnectionHost

  addSubscription(sub: Subscription): void {
    this.sublist.insert(sub);
    this.cluster?.localSubscribed(sub);
  }

  removeSubscription(sub: Subscription): void {
    this.sublist.remove(sub);
    this.cluster?.localUnsubscribed(sub);
  }

  /** What the cluster may reach of the broker. */
  #clusterBroker(): ClusterBroker {
    const s = this.settings;
    return {
      serverId: this.serverId,
      serverName: s.serverName,
      maxPayload: s.maxPayload,
      parserLimits: this.parserLimits,
      tlsMaterial: s.tls,
      pingIntervalMs: s.pingIntervalMs,
      maxPingsOut: s.maxPingsOut,
      authTimeoutMs: s.authTimeoutMs,
      addRemote: (sub: RemoteSubscription) => this.sublist.insert(sub),
      removeRemote: (sub: RemoteSubscription) => this.sublist.remove(sub),
      deliverRouted: (_route, subject, reply, queues, headerSize, data) =>
        this.#deliverRouted(subject, reply, queues, headerSize, data),
      touched: (route: Route) => this.#touchedRoutes.push(route),
      markDirty: (route: Route) => this.markDirty(route),
    };
  }

  markDirty(connection: { flush(): void }): void {
    this.#dirty.push(connection);
    if (this.#dirty.length === 1) queueMicrotask(() => this.flushDirty());
  }

  /** Writes out every connection that got data since the last flush. */
  flushDirty(): void {
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const connection of dirty) connection.flush();
  }

  countPermissionViolation(): void {
    this.stats.permissionViolations++;
  }

  closed(connection: Connection, reason: CloseReason): void {
    this.connections.delete(connection.id);
    if (reason === "slow consumer") this.stats.slowConsumers++;
    else if (reason === "stale connection") this.stats.staleConnections++;
    else if (reason === "protocol error") this.stats.protocolErrors++;
    else if (reason === "authentication timeout") this.stats.authTimeouts++;
    if (reason !== "client closed" && reason !== "server shutdown" && reason !== "listener probe") {
      // In a storm (a fleet reconnecting at once) tens of thousands close at once: past a few a
      // second the lines become one summary a second, so logging never holds up the broker.
      if (this.#closeLogs.logged < CLOSE_LOGS_PER_SECOND) {
        this.#closeLogs.logged++;
        this.#log.info("connection closed", {
          cid: connection.id,
          identity: connection.identity,
          reason,
        });
      } else {
        this.#closeLogs.suppressed[reason] = (this.#closeLogs.suppressed[reason] ?? 0) + 1;
      }
    }
  }

  /** Logs how many closes were not logged one by one in the last second, by reason. */
  #summarizeCloses(): void {
    const { suppressed } = this.#closeLogs;
    if (Object.keys(suppressed).length > 0) {
      this.#log.info("connections closed", { unlogged: suppressed });
    }
    this.#closeLogs = { logged: 0, suppressed: {} };
  }

  route(
    from: Connection,
    subject: string,
    reply: string | null,
    headerSize: number,
    data: Uint8Array,
  ): number {
    this.stats.inMsgs++;
    this.stats.inBytes += data.length;
    const { plain, groups } = this.sublist.match(subject);
    if (plain.length === 0 && groups.length === 0) return 0;
    const message = this.#outgoing(subject, reply, headerSize, data);
    const echo = from.options?.echo ?? true;
    let delivered = 0;
    for (let i = 0; i < plain.length; i++) {
      const sub = plain[i]!;
      if (!echo && sub.connection === from) continue;
      if (sub.filtered && sub.connection.permissions?.deliveryDenied(subject)) continue;
      if (sub.connection.deliver(sub, message)) delivered++;
    }
    for (const members of groups) {
      // Pick a random member, local or another broker's; walk on past members that cannot take it.
      const start = Math.floor(Math.random() * members.length);
      for (let k = 0; k < members.length; k++) {
        const sub = members[(start + k) % members.length]!;
        if (!echo && sub.connection === from) continue;
        if (sub.filtered && sub.connection.permissions?.deliveryDenied(subject)) continue;
        if (sub.connection.deliver(sub, message)) {
          delivered++;
          break;
        }
      }
    }
    // Routes noted what they take while the subscriptions were walked: one RMSG each.
    const touched = this.#touchedRoutes;
    if (touched.length > 0) {
      for (let i = 0; i < touched.length; i++) touched[i]!.sendRouted(message, reply);
      touched.length = 0;
    }
    this.stats.outMsgs += delivered;
    this.stats.outBytes += delivered * data.length;
    return delivered;
  }

  /**
   * A message from another broker: local clients' plain subscriptions get it, and so do the queue
   * groups the sender chose this broker for. Nothing goes back out on a route: the cluster is a
   * full mesh, so the publisher's broker sent it to every broker that wants it.
   */
  #deliverRouted(
    subject: string,
    reply: string | null,
    queues: string[] | null,
    headerSize: number,
    data: Uint8Array,
  ): void {
    this.stats.inMsgs++;
    this.stats.inBytes += data.length;
    const { plain, groups } = this.sublist.match(subject);
    if (plain.length === 0 && groups.length === 0) return;
    const message = this.#outgoing(subject, reply, headerSize, data);
    let delivered = 0;
    for (let i = 0; i < plain.length; i++) {
      const sub = plain[i]!;
      if (sub.remote) continue;
      if (sub.filtered && sub.connection.permissions?.deliveryDenied(subject)) continue;
      if (sub.connection.deliver(sub, message)) delivered++;
    }
    if (queues !== null) {
      for (const members of groups) {
        if (!queues.includes(members[0]!.queue!)) continue;
        const start = Math.floor(Math.random() * members.length);
        for (let k = 0; k < members.length; k++) {
          const sub = members[(start + k) % members.length]!;
          if (sub.remote) continue;
          if (sub.filtered && sub.connection.permissions?.deliveryDenied(subject)) continue;
          if (sub.connection.deliver(sub, message)) {
            delivered++;
            break;
          }
        }
      }
    }
    this.stats.outMsgs += delivered;
    this.stats.outBytes += delivered * data.length;
  }

  /** Encodes a message's subject, reply and sizes once for every subscriber. */
  #outgoing(subject: string, reply: string | null, headerSize: number, data: Uint8Array): Outgoing {
    // Streams of messages repeat their subject and size: encode each only when it changes.
    if (subject !== this.#lastSubject) {
      this.#lastSubject = subject;
      this.#lastSubjectBytes = wireBytes(subject);
    }
    if (headerSize !== this.#lastHeaderSize || data.length !== this.#lastSize) {
      this.#lastHeaderSize = headerSize;
      this.#lastSize = data.length;
      this.#lastSizes = encoder.encode(
        headerSize >= 0 ? ` ${headerSize} ${data.length}\r\n` : ` ${data.length}\r\n`,
      );
    }
    return {
      subject: this.#lastSubjectBytes,
      reply: reply === null ? NO_REPLY : wireBytes(` ${reply}`),
      sizes: this.#lastSizes,
      headers: headerSize >= 0,
      data,
    };
  }

  #housekeeping(): void {
    const now = Date.now();
    this.#summarizeCloses();
    const probeDue = this.#descriptorPressure
      ? this.#openSockets < this.settings.maxSockets * 0.9
      : now - this.#lastProbe >= PROBE_INTERVAL_MS;
    if (probeDue && !this.#probing && !this.#closing) void this.#checkListener();
    const s = this.settings;
    for (const connection of this.connections.values()) {
      const state = connection.state;
      if (state === "handshake") {
        if (now - connection.createdAt > s.tlsTimeoutMs) {
          this.stats.tlsHandshakeFailures++;
          connection.close("tls handshake failed");
        }
      } else if (state === "connecting") {
        if (this.authRequired && now - connection.attachedAt > s.authTimeoutMs) {
          connection.sendError("Authentication Timeout");
          connection.close("authentication timeout");
        }
      } else if (state === "open") {
        if (connection.blockedSince > 0 && now - connection.blockedSince > s.writeDeadlineMs) {
          connection.close("slow consumer");
        } else if (now - connection.lastActivity >= s.pingIntervalMs) {
          if (connection.pingsOut >= s.maxPingsOut) {
            connection.sendError("Stale Connection");
            connection.close("stale connection");
          } else {
            connection.sendPing();
            // Count the ping interval from now, so the next one waits a whole interval.
            connection.lastActivity = now;
          }
        }
      }
    }
    this.cluster?.housekeeping(now);
    this.flushDirty();
  }

  /**
   * Stops accepting, flushes every connection and closes it, and waits for the sockets to go,
   * up to `timeoutMs`.
   */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    const listener = this.#listener;
    const listenerClosed = new Promise<void>((resolve) =>
      listener ? listener.close(() => resolve()) : resolve()
    );
    this.flushDirty();
    for (const connection of [...this.connections.values()]) connection.close("server shutdown");
    this.#tlsServer?.close();
    await this.cluster?.shutdown();
    await Promise.race([
      listenerClosed,
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs)),
    ]);
    this.#log.info("stopped", { connections: this.stats.totalConnections });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
