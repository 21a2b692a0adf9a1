/**
 * The federation broker at run time: one mutual-TLS connection to the federation network and one
 * to each member collective, and the pipeline's stages between them.
 *
 * On the federation network it takes `choria.federation.<member>.federation` in the queue group
 * `<member>_federation`; in each member collective it takes `choria.federation.<member>.collective`
 * in the queue group `<member>_collective`, the names Choria uses. So any number of instances
 * share the work, each message going to one of them; they keep no state, since everything a reply
 * needs to find its client travels in its headers, and a dead instance's subscriptions vanish
 * with its connections.
 *
 * An instance takes a member's requests only while it is connected to that member: when the link
 * drops it leaves the member's queue group, so the requests go to instances that can deliver them,
 * and it joins again when the link returns (retried in the background). A request for a member
 * that no instance can reach is refused by one that sees it (counted, reason `collective_down`),
 * so its nodes show as not answering while the others answer. A message that fails never stops
 * the broker: every handler catches, logs and counts.
 *
 * @module
 */
import { connect, type NatsConnection, type Subscription, type TlsOptions } from "nats";
import { type Logger, silentLogger } from "../core/log.ts";
import { federationCollectiveSubject, federationSubject } from "../core/protocol/subjects.ts";
import type { MemberSettings } from "./config.ts";
import { nowMs } from "./hops.ts";
import { type Direction, FederationMetrics } from "./metrics.ts";
import {
  FederationRefusal,
  memberOfSubject,
  transformReply,
  transformRequest,
} from "./pipeline.ts";

/** Options for {@linkcode FederationBroker.start}. */
export interface FederationBrokerOptions {
  /** The identity recorded in hops: the certificate's common name. */
  identity: string;
  /** PEM text of the certificate, its key and the CA bundle. */
  tls: { cert: string; key: string; ca: string };
  /** The federation network's brokers. */
  federationBrokers: string[];
  /** The member collectives. */
  members: MemberSettings[];
  /** One connection attempt's limit, ms. @default 5000 */
  connectTimeoutMs?: number;
  /** The pause between attempts to reach a broker that is down, ms. @default 1000 */
  retryMs?: number;
  /** @default silentLogger */
  logger?: Logger;
  /** @default a new FederationMetrics */
  metrics?: FederationMetrics;
  /** The clock, ms since the epoch. @default nowMs */
  now?: () => number;
}

interface Member {
  settings: MemberSettings;
  name: string;
  collectives: readonly string[];
  nc: NatsConnection | null;
  up: boolean;
  /** This instance's place in the member's queue group on the federation network, while up. */
  requests: Subscription | null;
}

/**
 * A running federation broker; `await using` stops it.
 *
 * @example Start one
 * ```ts
 * import { FederationBroker } from "./broker.ts";
 *
 * // Type-checked only: it needs brokers and certificates.
 * export async function run(tls: { cert: string; key: string; ca: string }): Promise<void> {
 *   await using broker = await FederationBroker.start({
 *     identity: "fed1.example.net",
 *     tls,
 *     federationBrokers: ["tls://fed.example.net:4222"],
 *     members: [{ name: "east", brokers: ["tls://east.example.net:4222"], collectives: ["mcollective"] }],
 *   });
 *   console.log(broker.metrics.render());
 * }
 * ```
 */
export class FederationBroker implements AsyncDisposable {
  /** The broker's figures. */
  readonly metrics: FederationMetrics;
  readonly identity: string;
  readonly #options: FederationBrokerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #members = new Map<string, Member>();
  readonly #stop = new AbortController();
  readonly #subscriptions: Subscription[] = [];
  readonly #tasks: Promise<void>[] = [];
  #federation: NatsConnection | null = null;

  private constructor(options: FederationBrokerOptions) {
    this.#options = options;
    this.identity = options.identity;
    this.metrics = options.metrics ?? new FederationMetrics();
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? nowMs;
    for (const settings of options.members) {
      this.#members.set(settings.name, {
        settings,
        name: settings.name,
        collectives: settings.collectives,
        nc: null,
        up: false,
        requests: null,
      });
      this.metrics.setConnected(settings.name, false);
    }
  }

  /**
   * Connects to the federation network (retrying until it answers) and subscribes; member
   * collectives connect in the background and retry until they answer.
   */
  static async start(options: FederationBrokerOptions): Promise<FederationBroker> {
    const broker = new FederationBroker(options);
    try {
      await broker.#startFederation();
    } catch (error) {
      await broker.stop();
      throw error;
    }
    return broker;
  }

  /** Whether a member's broker is connected now. */
  connected(member: string): boolean {
    return this.#members.get(member)?.up ?? false;
  }

  async #startFederation(): Promise<void> {
    const nc = await this.#connect("federation", this.#options.federationBrokers, () => {});
    if (nc === null) return;
    this.#federation = nc;
    // Requests for members nobody here serves, or that this instance cannot reach now: refused
    // and counted by one instance of the group. (A copy of every request comes here too.)
    this.#subscriptions.push(nc.subscribe(federationSubject("*"), {
      queue: "chorale_federation_unrouted",
      callback: (error, msg) => {
        if (error) return;
        const name = memberOfSubject(msg.subject) ?? msg.subject;
        const member = this.#members.get(name);
        if (member?.up) return;
        if (member !== undefined) {
          this.metrics.countIn("request", member.name);
          this.#refuse(
            "request",
            member.name,
            new FederationRefusal(
              `Cannot forward a request for member '${member.name}' as this federation broker cannot reach its brokers (${
                member.settings.brokers.join(", ")
              }): its nodes will not answer unless another instance can`,
              "collective_down",
            ),
            msg.subject,
          );
          return;
        }
        this.metrics.countIn("request", "(unknown)");
        this.#refuse(
          "request",
          "(unknown)",
          new FederationRefusal(
            `Cannot forward a request on ${msg.subject} as member collective '${name}' is unknown here: known members are ${
              [...this.#members.keys()].map((m) => `'${m}'`).join(", ")
            }`,
            "unknown_collective",
          ),
          msg.subject,
        );
      },
    }));
    await nc.flush();
    this.#log.info("ready", {
      identity: this.identity,
      federation: nc.getServer(),
      members: [...this.#members.keys()],
    });
    for (const member of this.#members.values()) this.#tasks.push(this.#startMember(member));
  }

  async #startMember(member: Member): Promise<void> {
    const nc = await this.#connect(
      `member ${member.name}`,
      member.settings.brokers,
      (up) => this.#setUp(member, up),
    );
    if (nc === null) return;
    member.nc = nc;
    this.#subscriptions.push(nc.subscribe(federationCollectiveSubject(member.name), {
      queue: `${member.name}_collective`,
      callback: (error, msg) => {
        if (error) return;
        this.#onReply(member, msg.subject, msg.data);
      },
    }));
    await nc.flush();
    this.#setUp(member, true);
  }

  // Joins the member's queue group on the federation network while the member is reachable.
  #setUp(member: Member, up: boolean): void {
    const reachable = up && member.nc !== null && !member.nc.isClosed() &&
      !this.#stop.signal.aborted;
    if (member.up === reachable) return;
    member.up = reachable;
    this.metrics.setConnected(member.name, reachable);
    const fields = { member: member.name, server: member.nc?.getServer() ?? "" };
    const federation = this.#federation;
    if (!reachable) {
      member.requests?.unsubscribe();
      member.requests = null;
      this.#log.warn(
        "member disconnected: this instance leaves its queue group until it returns",
        fields,
      );
      return;
    }
    if (federation === null || federation.isClosed()) return;
    member.requests = federation.subscribe(federationSubject(member.name), {
      queue: `${member.name}_federation`,
      callback: (error, msg) => {
        if (error) return;
        this.#onRequest(member, msg.subject, msg.data);
      },
    });
    // Say so once the broker has the subscription, so a request sent after the line is taken.
    federation.flush().then(
      () => this.#log.info("member connected", fields),
      (error) =>
        this.#log.warn("cannot confirm the subscription", { ...fields, error: String(error) }),
    );
  }

  // Connects, retrying until it works or the broker stops (then null). The connection itself
  // reconnects forever; `onUp` hears of each loss and return.
  async #connect(
    what: string,
    servers: string[],
    onUp: (up: boolean) => void,
  ): Promise<NatsConnection | null> {
    const { tls: pem } = this.#options;
    // TLS 1.2 so that a refused certificate fails the handshake itself (see client/client.ts).
    const tls: TlsOptions & { maxVersion: "TLSv1.2" } = {
      ca: pem.ca,
      cert: pem.cert,
      key: pem.key,
      maxVersion: "TLSv1.2",
    };
    let attempt = 0;
    while (!this.#stop.signal.aborted) {
      attempt++;
      try {
        const nc = await connect({
          servers,
          tls,
          name: `${this.identity} ${what}`,
          timeout: this.#options.connectTimeoutMs ?? 5_000,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.#options.retryMs ?? 1_000,
          pingInterval: 10_000,
        });
        this.#tasks.push(this.#watch(what, nc, onUp));
        this.#log.info("connected", { to: what, server: nc.getServer() });
        return nc;
      } catch (error) {
        if (attempt === 1 || attempt % 30 === 0) {
          this.#log.warn("cannot connect: retrying", {
            to: what,
            servers,
            attempt,
            error: (error as Error).message,
          });
        }
        await sleep(this.#options.retryMs ?? 1_000, this.#stop.signal);
      }
    }
    return null;
  }

  async #watch(what: string, nc: NatsConnection, onUp: (up: boolean) => void): Promise<void> {
    try {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") onUp(false);
        else if (status.type === "reconnect") onUp(true);
        else if (status.type === "error") {
          this.#log.warn("connection error", { to: what, error: String(status.data) });
        }
      }
    } catch (error) {
      this.#log.warn("status watch ended", { to: what, error: (error as Error).message });
    }
    onUp(false);
  }

  #onRequest(member: Member, subject: string, data: Uint8Array): void {
    const arrivedMs = this.#now();
    this.metrics.countIn("request", member.name);
    try {
      const nc = member.nc;
      const out = transformRequest(data, member, {
        identity: this.identity,
        from: this.#federation?.getServer() ?? "",
        to: nc?.getServer() ?? member.settings.brokers[0] ?? "",
        arrivedMs,
        now: this.#now,
      });
      if (nc === null || !member.up || nc.isClosed()) {
        throw new FederationRefusal(
          `Cannot forward request ${out.requestId} to member '${member.name}' as its brokers (${
            member.settings.brokers.join(", ")
          }) are not connected: its ${out.targets.length} target(s) will not answer`,
          "collective_down",
        );
      }
      for (const target of out.targets) nc.publish(target, out.payload);
      this.metrics.countOut("request", member.name, out.targets.length);
      this.metrics.observeProcess("request", this.#now() - arrivedMs);
      this.#log.debug("forwarded request", {
        member: member.name,
        request: out.requestId,
        targets: out.targets.length,
      });
    } catch (error) {
      this.#refuse("request", member.name, error, subject);
    }
  }

  #onReply(member: Member, subject: string, data: Uint8Array): void {
    const arrivedMs = this.#now();
    this.metrics.countIn("reply", member.name);
    try {
      const nc = this.#federation;
      const out = transformReply(data, member, {
        identity: this.identity,
        from: member.nc?.getServer() ?? "",
        to: nc?.getServer() ?? "",
        arrivedMs,
        now: this.#now,
      });
      if (nc === null || nc.isClosed()) {
        throw new FederationRefusal(
          `Cannot forward the reply to ${out.requestId} from member '${member.name}' as the federation network is not connected`,
          "collective_down",
        );
      }
      nc.publish(out.target, out.payload);
      this.metrics.countOut("reply", member.name);
      this.metrics.observeProcess("reply", this.#now() - arrivedMs);
      if (out.collectiveLatencyMs !== null) {
        this.metrics.observeLatency(member.name, out.collectiveLatencyMs);
      }
    } catch (error) {
      this.#refuse("reply", member.name, error, subject);
    }
  }

  #refuse(direction: Direction, member: string, error: unknown, subject: string): void {
    if (error instanceof FederationRefusal) {
      this.metrics.countError(direction, member, error.reason);
      this.#log.warn(error.message, { direction, member, reason: error.reason, subject });
      return;
    }
    this.metrics.countError(direction, member, "internal");
    this.#log.error("failed to forward a message", {
      direction,
      member,
      subject,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Unsubscribes, drains and closes every connection. */
  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    for (const sub of this.#subscriptions) sub.unsubscribe();
    for (const member of this.#members.values()) member.requests?.unsubscribe();
    const connections = [this.#federation, ...[...this.#members.values()].map((m) => m.nc)]
      .filter((nc): nc is NatsConnection => nc !== null && !nc.isClosed());
    // A connection whose broker is gone would wait for it to return before flushing: bound it.
    await Promise.allSettled(connections.map(async (nc) => {
      await Promise.race([nc.flush().catch(() => {}), delay(STOP_FLUSH_MS)]);
      await Promise.race([nc.close(), delay(STOP_FLUSH_MS)]);
    }));
    await Promise.race([Promise.allSettled(this.#tasks), delay(STOP_FLUSH_MS)]);
    this.#log.info("stopped", { identity: this.identity });
  }

  /** Stops the broker: see {@linkcode FederationBroker.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

// How long stopping waits for one connection to flush, and then to close, ms.
const STOP_FLUSH_MS = 500;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
