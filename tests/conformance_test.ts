/**
 * The broker conformance suite: the same tests, written once, run against every broker kind in
 * `brokerFactories` with the real `npm:nats` client and a raw protocol client over mutual TLS.
 * Expectations are what nats-server 2.9.10 does; comments mark behaviour checked against it.
 *
 * Run it with the rest through `deno task test`, or alone with the same permissions:
 * `deno test --allow-net --allow-read --allow-write --allow-run --allow-env tests/conformance_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import {
  connect,
  type ConnectionOptions,
  ErrorCode,
  Events,
  headers,
  type Msg,
  type NatsConnection,
  NatsError,
  type Status,
  type Subscription,
} from "nats";
import { brokerFactories } from "./harness/brokers.ts";
import { makeTestPki, type TestPki } from "./harness/pki.ts";
import {
  connectRaw,
  type RawClient,
  RawClientTimeoutError,
  readPlaintext,
} from "./harness/raw_client.ts";
import type { BrokerFactory, BrokerKind, BrokerOptions, RunningBroker } from "./harness/types.ts";
import { WaitTimeoutError, within } from "./harness/wait.ts";

const WAIT_MS = 5_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A broker with the PKI it trusts; disposal stops the broker, then removes the PKI. */
interface Fixture extends AsyncDisposable {
  pki: TestPki;
  broker: RunningBroker;
}

async function startFixture(
  factory: BrokerFactory,
  options: Omit<BrokerOptions, "pki"> = {},
  // Certificates to issue before the broker starts (nats-server only knows those).
  clients: string[] = [],
): Promise<Fixture> {
  const pki = await makeTestPki();
  try {
    for (const name of clients) await pki.issue("client", name);
    const broker = await factory({ pki, ...options });
    return {
      pki,
      broker,
      async [Symbol.asyncDispose]() {
        await broker.stop();
        await pki[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await pki[Symbol.asyncDispose]();
    throw error;
  }
}

type Client = NatsConnection & AsyncDisposable;

/** Connects `npm:nats` over mutual TLS as `name` (default: the PKI's client); disposal closes. */
async function client(
  fixture: Fixture,
  options: Partial<ConnectionOptions> & { name?: string } = {},
): Promise<Client> {
  const { name, ...rest } = options;
  const cert = name === undefined ? fixture.pki.client : await fixture.pki.issue("client", name);
  const nc = await within(
    connect({
      servers: `127.0.0.1:${fixture.broker.port}`,
      tls: { ca: fixture.pki.caPem, cert: cert.cert, key: cert.key },
      reconnect: false,
      timeout: WAIT_MS,
      ...rest,
    }),
    `npm:nats to connect to ${fixture.broker.kind} as ${cert.name}`,
    // Longer than npm:nats's own timeout, so a slow connect fails there and leaves no socket.
    WAIT_MS + 1_000,
  );
  return Object.assign(nc, {
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await within(nc.close(), `${cert.name}'s connection to close`);
    },
  });
}

/** Connects the raw protocol client as the PKI's client. */
function raw(fixture: Fixture): Promise<RawClient> {
  const { pki } = fixture;
  return connectRaw(fixture.broker.port, {
    ca: pki.caPem,
    cert: pki.client.cert,
    key: pki.client.key,
  });
}

/** Messages a subscription received, and a wait for a count of them. */
interface Collector {
  messages: Msg[];
  /** Waits until at least `count` messages arrived. */
  until(count: number, what: string): Promise<Msg[]>;
  /** Waits until a message on `subject` arrived: a barrier after earlier messages. */
  untilSubject(subject: string, what: string): Promise<Msg[]>;
}

function collect(nc: NatsConnection, subject: string, options: { queue?: string } = {}): Collector {
  const messages: Msg[] = [];
  const waiters = new Set<() => void>();
  nc.subscribe(subject, {
    ...options,
    callback: (error, msg) => {
      if (error) return;
      messages.push(msg);
      for (const waiter of waiters) waiter();
    },
  });
  const until = (done: () => boolean, what: string) => {
    let waiter: (() => void) | undefined;
    const found = new Promise<Msg[]>((resolve) => {
      waiter = () => {
        if (done()) resolve(messages);
      };
      waiters.add(waiter);
      waiter();
    });
    return within(found, `${what} (got ${messages.length})`).finally(() => {
      if (waiter) waiters.delete(waiter);
    });
  };
  return {
    messages,
    until: (count, what) => until(() => messages.length >= count, what),
    untilSubject: (barrier, what) => until(() => messages.some((m) => m.subject === barrier), what),
  };
}

const text = (msg: Msg) => decoder.decode(msg.data);

/** Collects `nc.status()` events until the connection closes. */
function statusEvents(nc: NatsConnection): Status[] {
  const events: Status[] = [];
  (async () => {
    for await (const event of nc.status()) events.push(event);
  })().catch(() => {});
  return events;
}

async function waitForEvent(
  events: Status[],
  match: (event: Status) => boolean,
  what: string,
): Promise<Status> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const found = events.find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new WaitTimeoutError(
    `Timed out after ${WAIT_MS} ms waiting for ${what}: got ${JSON.stringify(events)}`,
  );
}

function registerSuite(kind: BrokerKind, factory: BrokerFactory | null): void {
  const ignore = factory === null;
  const start = (options?: Omit<BrokerOptions, "pki">, clients?: string[]) => {
    if (factory === null) throw new Error(`Cannot start ${kind} as it is not available`);
    return startFixture(factory, options, clients);
  };

  Deno.test({
    name: `[${kind}] Broker routes messages`,
    ignore,
    async fn(t) {
      await using fixture = await start();

      await t.step("pub/sub delivers 1,000 payloads in order", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        const got = collect(sub, "order.test");
        await sub.flush();
        for (let i = 0; i < 1_000; i++) pub.publish("order.test", encoder.encode(`message ${i}`));
        await pub.flush();
        await got.until(1_000, "1,000 messages on order.test");
        assert.deepEqual(
          got.messages.map(text),
          Array.from({ length: 1_000 }, (_, i) => `message ${i}`),
        );
      });

      await t.step("wildcards match the right subjects only", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        const star = collect(sub, "wild.*");
        const tail = collect(sub, "wild.>");
        const middle = collect(sub, "wild.*.end");
        await sub.flush();
        for (
          const subject of ["wild", "wild.a", "wild.a.b", "wild.a.end", "wild.a.b.end", "other.a"]
        ) {
          pub.publish(subject, encoder.encode(subject));
        }
        pub.publish("wild.zz");
        pub.publish("wild.zz.end");
        // All three subscriptions share a connection, which gets messages in publish order, so
        // once the last publish arrives every earlier match has arrived too.
        await tail.untilSubject("wild.zz.end", "the last publish on wild.>");
        // The last publish matches two subscriptions, delivered in no fixed order: wait for both.
        await middle.untilSubject("wild.zz.end", "the last publish on wild.*.end");
        const subjects = (c: Collector) => c.messages.map((m) => m.subject);
        assert.deepEqual(subjects(star), ["wild.a", "wild.zz"]);
        assert.deepEqual(subjects(tail), [
          "wild.a",
          "wild.a.b",
          "wild.a.end",
          "wild.a.b.end",
          "wild.zz",
          "wild.zz.end",
        ]);
        assert.deepEqual(subjects(middle), ["wild.a.end", "wild.zz.end"]);
      });

      await t.step(
        "queue groups give each message to one member, plain subscribers all",
        async () => {
          await using first = await client(fixture);
          await using second = await client(fixture);
          await using plainConn = await client(fixture);
          await using pub = await client(fixture);
          const members = [first, second].map((nc) => ({
            jobs: collect(nc, "queue.jobs", { queue: "workers" }),
            done: collect(nc, "queue.done"),
          }));
          const plain = collect(plainConn, "queue.jobs");
          await Promise.all([first.flush(), second.flush(), plainConn.flush()]);
          for (let i = 0; i < 200; i++) pub.publish("queue.jobs", encoder.encode(`${i}`));
          pub.publish("queue.done");
          await plain.until(200, "200 messages on the plain subscriber");
          for (const member of members) await member.done.until(1, "the barrier on queue.done");
          const [a, b] = members.map((m) => m.jobs.messages.map(text));
          assert.ok(a && b);
          assert.ok(a.length > 0, `first member got none of 200: second got ${b.length}`);
          assert.ok(b.length > 0, `second member got none of 200: first got ${a.length}`);
          assert.equal(a.length + b.length, 200);
          const all = new Set([...a, ...b]);
          assert.equal(all.size, 200, "a message went to both members");
          assert.equal(plain.messages.length, 200);
        },
      );

      await t.step("headers arrive intact, also with an empty payload", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        const got = collect(sub, "headers.test");
        await sub.flush();
        const h = headers();
        h.append("X-Multi", "one");
        h.append("X-Multi", "two");
        h.set("X-Single", "value with spaces");
        pub.publish("headers.test", encoder.encode("body"), { headers: h });
        const empty = headers();
        empty.set("X-Empty-Body", "yes");
        pub.publish("headers.test", undefined, { headers: empty });
        await got.until(2, "two messages with headers");
        const [withBody, withoutBody] = got.messages;
        assert.ok(withBody?.headers && withoutBody?.headers);
        assert.deepEqual(withBody.headers.values("X-Multi"), ["one", "two"]);
        assert.equal(withBody.headers.get("X-Single"), "value with spaces");
        assert.equal(text(withBody), "body");
        assert.equal(withoutBody.headers.get("X-Empty-Body"), "yes");
        assert.equal(withoutBody.data.length, 0);
      });

      await t.step("request gets the reply, and rejects when nobody responds", async () => {
        await using responder = await client(fixture);
        await using requester = await client(fixture);
        responder.subscribe("svc.echo", {
          callback: (error, msg) => {
            if (!error) msg.respond(encoder.encode(text(msg).toUpperCase()));
          },
        });
        await responder.flush();
        const reply = await requester.request("svc.echo", encoder.encode("hello"), {
          timeout: WAIT_MS,
        });
        assert.equal(text(reply), "HELLO");
        await assert.rejects(
          requester.request("svc.nobody", encoder.encode("hello"), { timeout: WAIT_MS }),
          (error: unknown) => error instanceof NatsError && error.code === ErrorCode.NoResponders,
        );
      });

      await t.step("noEcho connection does not receive its own messages", async () => {
        await using quiet = await client(fixture, { noEcho: true });
        await using other = await client(fixture);
        const self = collect(quiet, "echo.test");
        const seen = collect(other, "echo.test");
        await Promise.all([quiet.flush(), other.flush()]);
        quiet.publish("echo.test", encoder.encode("from quiet"));
        await seen.until(1, "the other connection to get quiet's message");
        // Sent only after quiet's own message was routed, so any echo would arrive before it.
        other.publish("echo.test", encoder.encode("from other"));
        await self.until(1, "quiet to get the other connection's message");
        assert.deepEqual(self.messages.map(text), ["from other"]);
        assert.equal(text(seen.messages[0]!), "from quiet");
      });

      await t.step("subscription with max 3 delivers exactly 3", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        const got: Msg[] = [];
        const limited: Subscription = sub.subscribe("max.test", {
          max: 3,
          callback: (error, msg) => {
            if (!error) got.push(msg);
          },
        });
        const barrier = collect(sub, "max.barrier");
        await sub.flush();
        for (let i = 0; i < 10; i++) pub.publish("max.test", encoder.encode(`${i}`));
        pub.publish("max.barrier");
        await barrier.until(1, "the barrier on max.barrier");
        assert.deepEqual(got.map(text), ["0", "1", "2"]);
        assert.equal(limited.isClosed(), true);
      });

      await t.step("broker stops delivering after UNSUB with a max", async () => {
        // npm:nats also drops extra messages itself, so speak the protocol to test the broker.
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":false}\r\nSUB unsub.max 7\r\nUNSUB 7 3\r\n');
        for (let i = 0; i < 5; i++) await conn.write(`PUB unsub.max 1\r\n${i}\r\n`);
        await conn.write("PING\r\n");
        await conn.waitFor(/PONG\r\n/, "PONG after five publishes");
        const delivered = conn.received.match(/MSG unsub\.max 7 1\r\n\d\r\n/g) ?? [];
        assert.deepEqual(delivered, [0, 1, 2].map((i) => `MSG unsub.max 7 1\r\n${i}\r\n`));
      });

      await t.step("drain delivers messages published before it", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        const got = collect(sub, "drain.test");
        await sub.flush();
        for (let i = 0; i < 500; i++) pub.publish("drain.test", encoder.encode(`${i}`));
        // The PONG proves the broker routed every PUB to sub before sub drains.
        await pub.flush();
        await within(sub.drain(), "the subscriber to drain");
        assert.equal(sub.isClosed(), true);
        assert.equal(got.messages.length, 500);
        assert.equal(text(got.messages[499]!), "499");
      });
    },
  });

  Deno.test({
    name: `[${kind}] Broker enforces max payload`,
    ignore,
    async fn(t) {
      const maxPayload = 65_536;
      await using fixture = await start({ maxPayload });

      await t.step("client sees max_payload and cannot publish above it", async () => {
        await using sub = await client(fixture);
        await using pub = await client(fixture);
        assert.equal(pub.info?.max_payload, maxPayload);
        const got = collect(sub, "payload.test");
        await sub.flush();
        pub.publish("payload.test", new Uint8Array(maxPayload).fill(7));
        await got.until(1, "a payload of exactly max_payload");
        assert.equal(got.messages[0]?.data.length, maxPayload);
        assert.throws(
          () => pub.publish("payload.test", new Uint8Array(maxPayload + 1)),
          (error: unknown) =>
            error instanceof NatsError && error.code === ErrorCode.MaxPayloadExceeded,
        );
      });

      await t.step("raw PUB above max payload gets an error and is closed", async () => {
        await using conn = await raw(fixture);
        assert.equal(conn.info.max_payload, maxPayload);
        await conn.write('CONNECT {"verbose":false}\r\nPUB foo 2000000\r\n');
        await conn.waitFor(/-ERR 'Maximum Payload Violation'\r\n/, "the max payload error");
        await conn.waitClosed("the broker to close after the max payload error");
      });
    },
  });

  Deno.test({
    name: `[${kind}] Broker enforces connection limits`,
    ignore,
    async fn(t) {
      await using fixture = await start({
        maxControlLine: 256,
        pingIntervalSeconds: 1,
        maxPingsOut: 2,
      });

      await t.step("control line above the limit gets an error and is closed", async () => {
        await using conn = await raw(fixture);
        await conn.write(`CONNECT {"verbose":false}\r\nSUB ${"a".repeat(300)} 1\r\n`);
        // nats-server 2.9.10 spells this one in lower case.
        await conn.waitFor(/-ERR 'maximum control line exceeded'\r\n/, "the control line error");
        await conn.waitClosed("the broker to close after the control line error");
      });

      await t.step("client that never answers PING is closed as stale", async () => {
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":false}\r\n');
        await conn.waitClosed("the broker to close a client that ignores PINGs", 8_000);
        // maxPingsOut unanswered PINGs, then the error.
        assert.equal(conn.received, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
      });

      await t.step("connection above max connections is refused before TLS", async () => {
        await using limited = await start({ maxConnections: 1 });
        await using first = await raw(limited);
        await first.write('CONNECT {"verbose":false}\r\nPING\r\n');
        await first.waitFor(/PONG\r\n/, "PONG on the only allowed connection");
        // nats-server sends INFO, then the error in plaintext, then closes: no TLS handshake.
        const refused = await readPlaintext(limited.broker.port, "the second connection to close");
        assert.match(refused, /^INFO \{.*\}\s*\r\n-ERR 'maximum connections exceeded'\r\n$/);
        assert.equal(first.closed, false);
      });
    },
  });

  Deno.test({
    name: `[${kind}] Broker enforces permissions`,
    ignore,
    async fn(t) {
      const restricted = "bob.mcollective";
      await using fixture = await start(
        {
          permissions: {
            [restricted]: {
              publish: { deny: ["perm.denied.>"] },
              subscribe: { deny: ["perm.secret.>"] },
            },
          },
        },
        [restricted],
      );

      await t.step("denied publish errors and is not delivered, allowed works", async () => {
        await using bob = await client(fixture, { name: restricted });
        await using watcher = await client(fixture);
        const events = statusEvents(bob);
        const got = collect(watcher, "perm.>");
        await watcher.flush();
        bob.publish("perm.denied.x", encoder.encode("must not arrive"));
        bob.publish("perm.allowed", encoder.encode("fine"));
        await got.untilSubject("perm.allowed", "the allowed publish");
        assert.deepEqual(got.messages.map((m) => m.subject), ["perm.allowed"]);
        // npm:nats reports a publish violation only as a status event, parsed from
        // -ERR 'Permissions Violation for Publish to "perm.denied.x"'.
        const event = await waitForEvent(
          events,
          (e) => e.type === Events.Error && e.data === ErrorCode.PermissionsViolation,
          "a permissions violation status event",
        );
        assert.deepEqual(event.permissionContext, {
          operation: "publish",
          subject: "perm.denied.x",
          queue: undefined,
        });
        // nats-server keeps the connection open after a permissions violation.
        await bob.flush();
        assert.equal(bob.isClosed(), false);
      });

      await t.step("denied subscribe errors, allowed subscribe works", async () => {
        await using bob = await client(fixture, { name: restricted });
        await using pub = await client(fixture);
        const failed = Promise.withResolvers<NatsError>();
        bob.subscribe("perm.secret.plans", {
          callback: (error) => {
            if (error) failed.resolve(error);
          },
        });
        const allowed = collect(bob, "perm.open");
        const error = await within(failed.promise, "the denied subscription's error");
        assert.equal(error.code, ErrorCode.PermissionsViolation);
        assert.match(
          error.message,
          /Permissions Violation for Subscription to "perm\.secret\.plans"/,
        );
        await bob.flush();
        pub.publish("perm.secret.plans", encoder.encode("secret"));
        pub.publish("perm.open", encoder.encode("open"));
        await allowed.until(1, "the allowed subscription's message");
        assert.equal(text(allowed.messages[0]!), "open");
        assert.equal(bob.isClosed(), false);
      });

      await t.step("raw violations get the exact error texts and stay open", async () => {
        const bob = await fixture.pki.issue("client", restricted);
        await using conn = await connectRaw(fixture.broker.port, {
          ca: fixture.pki.caPem,
          cert: bob.cert,
          key: bob.key,
        });
        await conn.write(
          'CONNECT {"verbose":false}\r\nPUB perm.denied.x 2\r\nhi\r\nSUB perm.secret.a 1\r\nPING\r\n',
        );
        await conn.waitFor(/PONG\r\n/, "PONG after the violations");
        assert.equal(
          conn.received,
          `-ERR 'Permissions Violation for Publish to "perm.denied.x"'\r\n` +
            `-ERR 'Permissions Violation for Subscription to "perm.secret.a"'\r\n` +
            "PONG\r\n",
        );
        assert.equal(conn.closed, false);
      });
    },
  });

  Deno.test({
    name: `[${kind}] Broker refuses bad client certificates`,
    ignore,
    async fn(t) {
      await using fixture = await start();
      const { pki } = fixture;
      // The raw client, not npm:nats: with TLS 1.3 the client finishes its handshake before the
      // broker checks the client certificate, and npm:nats 2.29.3 drops its socket listeners in
      // that gap, so the broker's alert becomes an uncaught "received fatal alert" error.
      const refused = async (cert: { cert?: string; key?: string }) => {
        let conn: RawClient;
        try {
          conn = await connectRaw(fixture.broker.port, { ca: pki.caPem, ...cert });
        } catch (error) {
          // Refused during the handshake.
          assert.ok(!(error instanceof RawClientTimeoutError), String(error));
          return;
        }
        await using _conn = conn;
        // Refused after the handshake (nats-server 2.9.10 with TLS 1.3): never usable.
        await conn.write('CONNECT {"verbose":false}\r\nPING\r\n').catch(() => {});
        await conn.waitClosed("the broker to close a connection with a refused certificate");
        assert.doesNotMatch(conn.received, /PONG/);
      };

      await t.step("certificate from a foreign CA is refused", async () => {
        const foreign = await pki.foreign();
        await refused({ cert: foreign.cert, key: foreign.key });
      });

      await t.step("expired certificate is refused", async () => {
        const expired = await pki.expired();
        await refused({ cert: expired.cert, key: expired.key });
      });

      await t.step("connection without a client certificate is refused", async () => {
        await refused({});
      });

      await t.step(
        "protocol sent in plaintext instead of the TLS handshake is refused",
        async () => {
          const socket = net.connect({ port: fixture.broker.port, host: "127.0.0.1" });
          socket.on("error", () => {});
          let received = "";
          socket.on("data", (chunk: Uint8Array) => {
            received += new TextDecoder().decode(chunk);
            if (received.includes("\r\n")) {
              socket.write('CONNECT {"verbose":false}\r\nSUB > 1\r\nPING\r\n');
            }
          });
          await within(
            new Promise<void>((resolve) => socket.on("close", () => resolve())),
            "the broker to close a plaintext client",
          ).finally(() => socket.destroy());
          assert.match(received, /^INFO /);
          assert.doesNotMatch(received, /PONG|\+OK/);
        },
      );

      await t.step("good client is served after the refusals", async () => {
        await using nc = await client(fixture);
        const got = collect(nc, "after.refusals");
        await nc.flush();
        nc.publish("after.refusals", encoder.encode("ok"));
        await got.until(1, "a message after the refusals");
      });
    },
  });

  Deno.test({
    name: `[${kind}] Broker answers raw protocol`,
    ignore,
    async fn(t) {
      await using fixture = await start({ authTimeoutSeconds: 1 });

      await t.step("PING gets PONG", async () => {
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":false}\r\nPING\r\n');
        await conn.waitFor(/PONG\r\n/, "PONG");
        assert.equal(conn.received, "PONG\r\n");
      });

      await t.step("verbose CONNECT gets +OK", async () => {
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":true}\r\nPING\r\n');
        await conn.waitFor(/PONG\r\n/, "PONG");
        assert.equal(conn.received, "+OK\r\nPONG\r\n");
      });

      await t.step("CONNECT without a verbose field is verbose", async () => {
        // nats-server's client options default to verbose (and pedantic) when CONNECT omits them.
        await using conn = await raw(fixture);
        await conn.write("CONNECT {}\r\nPING\r\n");
        await conn.waitFor(/PONG\r\n/, "PONG");
        assert.equal(conn.received, "+OK\r\nPONG\r\n");
      });

      await t.step("unknown operation gets an error and is closed", async () => {
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":false}\r\nFOO bar\r\n');
        await conn.waitFor(/-ERR 'Unknown Protocol Operation'\r\n/, "the unknown operation error");
        await conn.waitClosed("the broker to close after an unknown operation");
      });

      await t.step("invalid SUB subject gets an error and stays open", async () => {
        await using conn = await raw(fixture);
        await conn.write('CONNECT {"verbose":false}\r\nSUB foo..bar 1\r\nPING\r\n');
        await conn.waitFor(/PONG\r\n/, "PONG after the invalid subject");
        assert.equal(conn.received, "-ERR 'Invalid Subject'\r\nPONG\r\n");
        assert.equal(conn.closed, false);
      });

      await t.step("invalid PUB subject gets an error and stays open", async () => {
        // nats-server (pedantic by default) refuses wildcards and empty tokens in PUB subjects.
        await using conn = await raw(fixture);
        await conn.write(
          'CONNECT {"verbose":false}\r\nPUB foo..bar 2\r\nhi\r\nPUB foo.* 2\r\nhi\r\nPING\r\n',
        );
        await conn.waitFor(/PONG\r\n/, "PONG after the invalid subjects");
        assert.equal(
          conn.received,
          "-ERR 'Invalid Publish Subject'\r\n-ERR 'Invalid Publish Subject'\r\nPONG\r\n",
        );
        assert.equal(conn.closed, false);
      });

      await t.step("PING before CONNECT gets an authorization error and is closed", async () => {
        await using conn = await raw(fixture);
        await conn.write("PING\r\n");
        await conn.waitFor(/-ERR 'Authorization Violation'\r\n/, "the authorization error");
        await conn.waitClosed("the broker to close after PING before CONNECT");
      });

      await t.step("client that never sends CONNECT is closed after the auth timeout", async () => {
        const started = Date.now();
        await using conn = await raw(fixture);
        await conn.waitFor(/-ERR 'Authentication Timeout'\r\n/, "the auth timeout error", 5_000);
        await conn.waitClosed("the broker to close after the auth timeout");
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before the 1 s auth timeout`);
        assert.equal(conn.received, "-ERR 'Authentication Timeout'\r\n");
      });
    },
  });
}

for (
  const [kind, factory] of Object.entries(brokerFactories) as [BrokerKind, BrokerFactory | null][]
) {
  if (factory === null) {
    console.log(
      kind === "nats-server"
        ? "Skipping the nats-server conformance tests as nats-server is absent: install it (apt-get install nats-server) to run them"
        : `Skipping the ${kind} conformance tests as its broker factory is not available`,
    );
  }
  registerSuite(kind, factory);
}
