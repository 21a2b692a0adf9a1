/**
 * The cluster: routes to the other brokers, as a full mesh, over mutual TLS on a port of their
 * own, speaking nats-server's route protocol so Chorale brokers and nats-server mix in one
 * cluster. It tells every peer what local clients subscribe to, learns the peers' interest (kept
 * in the broker's subject index as {@linkcode RemoteSubscription}s), dials the configured routes
 * and any broker a peer gossips about, and dials again with back-off when a route drops.
 *
 * The same mechanism joins the worker processes of `deno task broker --workers N`.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import type { Logger } from "../core/log.ts";
import { certificateName } from "../core/security/signing.ts";
import type { Subscription } from "./connection.ts";
import {
  type RemoteSubscription,
  Route,
  type RoutedMessageHandler,
  type RouteHost,
  type RouteInfo,
} from "./route.ts";

/** How the broker joins a cluster. */
export interface ClusterSettings {
  /** Address the route listener binds. */
  host: string;
  /** Port of the route listener; 0 picks a free one. */
  port: number;
  /** The cluster's name; peers with another name are refused, as nats-server does. */
  name: string;
  /** Route URLs to dial (`nats-route://host:port`); others are learned by gossip. */
  routes: string[];
  /** The route URL peers should dial to reach this broker; by default they use the address seen. */
  advertise: string | null;
  /**
   * Certificate names allowed to join as a peer: exact names or `/regex/`. Empty means only this
   * broker's own certificate name, which suits brokers (and workers) sharing one certificate.
   */
  peers: string[];
}

/** What the cluster needs from its broker. */
export interface ClusterBroker {
  readonly serverId: string;
  readonly serverName: string;
  readonly maxPayload: number;
  readonly parserLimits: { maxControlLine: number; maxPayload: number };
  readonly tlsMaterial: { cert: string; key: string; ca: string } | null;
  readonly pingIntervalMs: number;
  readonly maxPingsOut: number;
  readonly authTimeoutMs: number;
  addRemote(sub: RemoteSubscription): void;
  removeRemote(sub: RemoteSubscription): void;
  readonly deliverRouted: RoutedMessageHandler;
  touched(route: Route): void;
  markDirty(route: Route): void;
}

/** Counters for `/routez` and `/metrics`. */
export interface ClusterStats {
  routesAccepted: number;
  routesSolicited: number;
  routesClosed: number;
  duplicateRoutes: number;
  refusedPeers: number;
  dialFailures: number;
}

/** Bytes a route may buffer before it is dropped (and dialled again). */
const ROUTE_MAX_PENDING = 64 * 1024 * 1024;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** Dials after which a route learned by gossip is given up (configured ones never are). */
const IMPLICIT_ATTEMPTS = 10;
const DIAL_TIMEOUT_MS = 5_000;

/** Routes to the other brokers of the cluster. */
export class Cluster implements RouteHost {
  readonly settings: ClusterSettings;
  /** Messages from peers go straight to the broker's delivery. */
  readonly routedMessage: RoutedMessageHandler;
  readonly stats: ClusterStats = {
    routesAccepted: 0,
    routesSolicited: 0,
    routesClosed: 0,
    duplicateRoutes: 0,
    refusedPeers: 0,
    dialFailures: 0,
  };
  /** Every route open or being set up. */
  readonly routes = new Set<Route>();
  /** The registered route to each peer, by its server id. */
  readonly #byId = new Map<string, Route>();
  /** Local interest counted by `subject` or `subject queue`: RS+ on the first, RS- after the last. */
  readonly #local = new Map<string, { subject: string; queue: string | null; count: number }>();
  /** Server ids being dialled because a peer gossiped them. */
  readonly #dialling = new Set<string>();
  /** For each URL dialled, the server found there. */
  readonly #urlIds = new Map<string, string>();
  readonly #closeWaiters = new Map<Route, () => void>();
  /** Told of each route registered with a peer (the workers' supervisor counts them). */
  onRouteRegistered: ((remoteId: string) => void) | null = null;
  /** Pending back-off sleeps, ended at once on shutdown. */
  readonly #wakers = new Set<() => void>();
  readonly #broker: ClusterBroker;
  readonly #log: Logger;
  readonly #allowed: ((identity: string) => boolean) | null;
  #listener: net.Server | null = null;
  #port = 0;
  #nextId = 1;
  #closing = false;

  constructor(settings: ClusterSettings, broker: ClusterBroker, logger: Logger) {
    this.settings = settings;
    this.#broker = broker;
    this.routedMessage = broker.deliverRouted;
    this.#log = logger;
    this.#allowed = broker.tlsMaterial
      ? peerMatcher(settings.peers, broker.tlsMaterial.cert)
      : null;
  }

  get clusterName(): string {
    return this.settings.name;
  }

  get maxPending(): number {
    return ROUTE_MAX_PENDING;
  }

  get parserLimits(): { maxControlLine: number; maxPayload: number } {
    return this.#broker.parserLimits;
  }

  /** The bound route port, once started. */
  get port(): number {
    return this.#port;
  }

  /** Routes registered with a peer. */
  get openRoutes(): Route[] {
    return [...this.#byId.values()];
  }

  /** Binds the route listener and dials the configured routes. */
  async start(): Promise<number> {
    const material = this.#broker.tlsMaterial;
    const listener = material
      ? tls.createServer({
        cert: material.cert,
        key: material.key,
        ca: [material.ca],
        requestCert: true,
        rejectUnauthorized: true,
      }, (socket) => this.#accepted(socket, peerName(socket)))
      : net.createServer((socket) => this.#accepted(socket, null));
    listener.on("tlsClientError", (error: Error) => {
      this.stats.refusedPeers++;
      this.#log.warn("route tls handshake failed", { error: error.message });
    });
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen({ host: this.settings.host, port: this.settings.port }, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    listener.on(
      "error",
      (error) => this.#log.warn("route accept failed", { error: error.message }),
    );
    this.#listener = listener;
    this.#port = (listener.address() as net.AddressInfo).port;
    this.#log.info("cluster listening", {
      host: this.settings.host,
      port: this.#port,
      cluster: this.settings.name,
      routes: this.settings.routes,
    });
    for (const url of this.settings.routes) void this.#solicit(url, true);
    return this.#port;
  }

  #accepted(socket: net.Socket, identity: string | null): void {
    socket.on("error", () => {});
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (!this.#peerAllowed(identity, socket)) return;
    socket.setNoDelay(true);
    const route = new Route(this.#nextId++, socket, this, {
      solicited: false,
      url: null,
      identity,
    });
    this.routes.add(route);
    this.stats.routesAccepted++;
    route.sendText(`INFO ${this.#infoJson()}\r\n`);
  }

  #peerAllowed(identity: string | null, socket: net.Socket): boolean {
    if (!this.#allowed) return true;
    if (identity && this.#allowed(identity)) return true;
    this.stats.refusedPeers++;
    this.#log.warn("route refused: certificate not allowed to join the cluster", {
      identity,
      remote: socket.remoteAddress,
    });
    socket.destroy();
    return false;
  }

  /** Dials `url` until a route stands, and again whenever it drops, with back-off. */
  async #solicit(url: string, explicit: boolean): Promise<void> {
    let failures = 0;
    while (!this.#closing) {
      const known = this.#urlIds.get(url);
      if (known === this.#broker.serverId) return; // a route to ourselves
      if (known !== undefined && this.#byId.has(known)) {
        // The peer is reached by a route it dialled: wait for that one to go.
        await this.#sleep(BACKOFF_MAX_MS);
        continue;
      }
      const route = await this.#dial(url);
      if (route) {
        await new Promise<void>((resolve) => this.#closeWaiters.set(route, resolve));
        if (route.remoteId !== null) failures = 0;
      } else {
        failures++;
      }
      if (!explicit && failures >= IMPLICIT_ATTEMPTS) {
        this.#log.info("giving up on a route learned by gossip", { url, attempts: failures });
        return;
      }
      if (this.#closing) return;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failures, 6));
      await this.#sleep(backoff * (0.5 + Math.random() / 2));
    }
  }

  async #dial(url: string): Promise<Route | null> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseRouteUrl(url));
    } catch (error) {
      this.#log.error("cannot dial route", { url, error: (error as Error).message });
      return null;
    }
    const material = this.#broker.tlsMaterial;
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no answer in ${DIAL_TIMEOUT_MS} ms`));
        }, DIAL_TIMEOUT_MS);
        const done = (error?: Error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve(socket);
        };
        const socket: net.Socket = material
          ? tls.connect({
            host,
            port,
            cert: material.cert,
            key: material.key,
            ca: [material.ca],
            rejectUnauthorized: true,
            ...(net.isIP(host) ? {} : { servername: host }),
          }, () => done())
          : net.connect({ host, port }, () => done());
        socket.once("error", done);
      });
      const identity = material ? peerName(socket as tls.TLSSocket) : null;
      if (this.#closing || !this.#peerAllowed(identity, socket)) return null;
      socket.setNoDelay(true);
      const route = new Route(this.#nextId++, socket, this, { solicited: true, url, identity });
      this.routes.add(route);
      this.stats.routesSolicited++;
      const connect = {
        echo: true,
        verbose: false,
        pedantic: false,
        tls_required: material !== null,
        name: this.#broker.serverId,
        headers: true,
        cluster: this.settings.name,
        dynamic: false,
        lnoc: true,
      };
      route.sendText(`CONNECT ${JSON.stringify(connect)}\r\nINFO ${this.#infoJson()}\r\n`);
      return route;
    } catch (error) {
      this.stats.dialFailures++;
      this.#log.debug("route dial failed", { url, error: (error as Error).message });
      return null;
    }
  }

  #infoJson(): string {
    const secure = this.#broker.tlsMaterial !== null;
    return JSON.stringify({
      server_id: this.#broker.serverId,
      server_name: this.#broker.serverName,
      version: "2.9.10",
      go: "chorale",
      host: this.settings.host,
      port: this.#port,
      headers: true,
      auth_required: false,
      tls_required: secure,
      tls_verify: secure,
      max_payload: this.#broker.maxPayload,
      proto: 2,
      cluster: this.settings.name,
      cluster_dynamic: false,
      lnoc: true,
      ...(this.settings.advertise ? { ip: this.settings.advertise } : {}),
    });
  }

  // RouteHost

  routeInfo(route: Route, info: RouteInfo, first: boolean): void {
    const id = info.server_id;
    if (!first) {
      // A peer telling about another broker: dial it unless it is known.
      if (id !== route.remoteId) this.#learn(info);
      return;
    }
    if (route.url) this.#urlIds.set(route.url, id);
    if (id === this.#broker.serverId) {
      route.close("route to self");
      return;
    }
    if (info.cluster && info.cluster !== this.settings.name) {
      route.sendError(
        `Rejecting connection, cluster name "${info.cluster}" does not match "${this.settings.name}"`,
      );
      route.close("cluster name conflict");
      return;
    }
    const existing = this.#byId.get(id);
    if (existing && existing !== route) {
      // Both brokers dialled each other. Both keep the route dialled by the lower server id.
      this.stats.duplicateRoutes++;
      if (this.#preferred(route, id) && !this.#preferred(existing, id)) {
        this.#byId.delete(id);
        existing.close("duplicate route");
      } else {
        route.close("duplicate route");
        return;
      }
    }
    this.#byId.set(id, route);
    route.open();
    for (const { subject, queue, count } of this.#local.values()) {
      route.sendSubscribe(subject, queue, count);
    }
    this.onRouteRegistered?.(id);
    this.#log.info("route registered", {
      rid: route.id,
      remote_id: id,
      remote_name: info.server_name,
      solicited: route.solicited,
    });
    // Gossip: tell the other peers where to find this one.
    const url = info.ip ?? `nats-route://${hostPort(route.remoteAddress, info.port ?? 0)}/`;
    const gossip = `INFO ${JSON.stringify({ ...info, ip: url })}\r\n`;
    for (const other of this.#byId.values()) if (other !== route) other.sendText(gossip);
  }

  #preferred(route: Route, remoteId: string): boolean {
    const dialler = route.solicited ? this.#broker.serverId : remoteId;
    const lower = this.#broker.serverId < remoteId ? this.#broker.serverId : remoteId;
    return dialler === lower;
  }

  #learn(info: RouteInfo): void {
    const id = info.server_id;
    if (id === this.#broker.serverId || this.#byId.has(id) || this.#dialling.has(id)) return;
    if (!info.ip) return;
    // A configured route is dialled (and dialled again) by its own loop already.
    if (this.settings.routes.some((url) => sameRoute(url, info.ip!))) return;
    if (info.cluster && info.cluster !== this.settings.name) return;
    this.#dialling.add(id);
    this.#log.info("learned of a broker by gossip", { remote_id: id, url: info.ip });
    void this.#solicit(info.ip, false).finally(() => this.#dialling.delete(id));
  }

  addRemote(sub: RemoteSubscription): void {
    this.#broker.addRemote(sub);
  }

  removeRemote(sub: RemoteSubscription): void {
    this.#broker.removeRemote(sub);
  }

  touched(route: Route): void {
    this.#broker.touched(route);
  }

  markDirty(route: Route): void {
    this.#broker.markDirty(route);
  }

  routeClosed(route: Route, reason: string): void {
    this.routes.delete(route);
    this.stats.routesClosed++;
    const id = route.remoteId;
    if (id !== null && this.#byId.get(id) === route) {
      this.#byId.delete(id);
      // A route closing because this broker stops is expected; any other loss is worth a warning.
      const log = this.#closing ? this.#log.debug : this.#log.warn;
      log.call(this.#log, "route closed", { rid: route.id, remote_id: id, reason });
    } else {
      this.#log.debug("route closed", { rid: route.id, remote_id: id, reason });
    }
    this.#closeWaiters.get(route)?.();
    this.#closeWaiters.delete(route);
  }

  // Local interest

  /** A local client subscribed: tell every peer on the first subscription to the subject. */
  localSubscribed(sub: Subscription): void {
    const key = sub.queue === null ? sub.subject : `${sub.subject} ${sub.queue}`;
    let entry = this.#local.get(key);
    if (!entry) {
      entry = { subject: sub.subject, queue: sub.queue, count: 0 };
      this.#local.set(key, entry);
    }
    entry.count++;
    // Plain interest is announced once; a queue group's weight on every change.
    if (entry.count === 1 || entry.queue !== null) {
      for (const route of this.#byId.values()) {
        route.sendSubscribe(entry.subject, entry.queue, entry.count);
      }
    }
  }

  /** A local subscription went: tell every peer when it was the last one. */
  localUnsubscribed(sub: Subscription): void {
    const key = sub.queue === null ? sub.subject : `${sub.subject} ${sub.queue}`;
    const entry = this.#local.get(key);
    if (!entry) return;
    entry.count--;
    if (entry.count <= 0) {
      this.#local.delete(key);
      for (const route of this.#byId.values()) route.sendUnsubscribe(entry.subject, entry.queue);
    } else if (entry.queue !== null) {
      for (const route of this.#byId.values()) {
        route.sendSubscribe(entry.subject, entry.queue, entry.count);
      }
    }
  }

  /** Pings idle routes, drops stale ones and ones that never introduced themselves. */
  housekeeping(now: number): void {
    for (const route of this.routes) {
      if (route.state === "connecting") {
        if (now - route.createdAt > this.#broker.authTimeoutMs) route.close("no INFO in time");
      } else if (
        route.state === "open" && now - route.lastActivity >= this.#broker.pingIntervalMs
      ) {
        if (route.pingsOut >= this.#broker.maxPingsOut) {
          route.close("stale route");
        } else {
          route.sendPing();
          route.lastActivity = now;
        }
      }
    }
  }

  /** Closes the listener and every route; dialling stops. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    const listener = this.#listener;
    const closed = new Promise<void>((resolve) =>
      listener ? listener.close(() => resolve()) : resolve()
    );
    for (const route of [...this.routes]) route.close("server shutdown");
    for (const wake of [...this.#wakers]) wake();
    await Promise.race([closed, this.#sleep(1_000)]);
    for (const wake of [...this.#wakers]) wake();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }
}

/** The host and port of a route URL such as `nats-route://10.0.0.2:6222`. */
export function parseRouteUrl(url: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url.includes("://") ? url : `nats-route://${url}`);
  } catch {
    throw new TypeError(`Cannot parse route URL '${url}': expected nats-route://host:port`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(parsed.port);
  if (host === "" || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new TypeError(`Cannot parse route URL '${url}': expected nats-route://host:port`);
  }
  return { host, port };
}

function sameRoute(a: string, b: string): boolean {
  try {
    const [x, y] = [parseRouteUrl(a), parseRouteUrl(b)];
    return x.host === y.host && x.port === y.port;
  } catch {
    return false;
  }
}

function hostPort(host: string, port: number): string {
  const bare = host.replace(/^::ffff:/, "");
  return net.isIPv6(bare) ? `[${bare}]:${port}` : `${bare}:${port}`;
}

function peerName(socket: tls.TLSSocket): string | null {
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === "string" && cn !== "" ? cn : null;
}

function peerMatcher(peers: string[], ownCert: string): (identity: string) => boolean {
  const patterns = peers.length > 0 ? peers : [certificateName(new X509Certificate(ownCert))];
  const tests = patterns.map((pattern) => {
    if (pattern.length > 1 && pattern.startsWith("/") && pattern.endsWith("/")) {
      const regex = new RegExp(pattern.slice(1, -1));
      return (identity: string) => regex.test(identity);
    }
    return (identity: string) => identity === pattern;
  });
  return (identity) => tests.some((test) => test(identity));
}
