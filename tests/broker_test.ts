/**
 * Chorale-only broker behaviour, each test against its own broker child process run with the
 * exact permissions of `deno task broker`: Choria's default permissions end to end, monitoring,
 * configuration errors and flags, `--insecure`, slow consumers, TLS handshake timeouts,
 * descriptor exhaustion, graceful shutdown and a bounded live fuzz. What nats-server shares with
 * Chorale lives in `conformance_test.ts`.
 *
 * Run with:
 *
 * ```sh
 * deno test --allow-net --allow-read --allow-write --allow-run --allow-env --allow-sys \
 *   tests/broker_test.ts
 * ```
 *
 * The fuzz test's seed can be set with `CHORALE_FUZZ_SEED`; a failure names the seed it used.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as net from "node:net";
import { join } from "node:path";
import { connect, type ConnectionOptions, type Msg, type NatsConnection } from "nats";
import {
  type BrokerProcess,
  spawnBroker,
  startBroker,
  type StartedBrokerProcess,
} from "./harness/broker_process.ts";
import { choraleBrokerConfig } from "./harness/chorale_broker.ts";
import { type CertFiles, makeTestPki, type TestPki } from "./harness/pki.ts";
import { connectRaw, type RawClient } from "./harness/raw_client.ts";
import { openRawSocket } from "./harness/raw_socket.ts";
import { startStalledClient } from "./harness/stalled_client.ts";
import type { BrokerOptions } from "./harness/types.ts";
import { WaitTimeoutError, within } from "./harness/wait.ts";

const WAIT_MS = 5_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Polls `check` every `everyMs` until it returns a value, or rejects naming `what`. */
async function poll<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = WAIT_MS,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = undefined;
  while (true) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(
        `Timed out after ${ms} ms waiting for ${what}${last ? `: last error ${last}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The md5 hex of `choria=<identity>`, a client's reply subject token. */
function replyHash(identity: string): string {
  return createHash("md5").update(`choria=${identity}`).digest("hex");
}

/** A temporary PKI, removed on disposal even when the test fails. */
async function pkiWith(...clients: string[]): Promise<TestPki> {
  const pki = await makeTestPki();
  for (const name of clients) await pki.issue("client", name);
  return pki;
}

/** The harness's broker configuration for `pki` with `options` (open permissions by default). */
function configFor(
  pki: TestPki,
  options: Omit<BrokerOptions, "pki"> = {},
): Record<string, unknown> {
  return choraleBrokerConfig({ pki, ...options });
}

type Client = NatsConnection & AsyncDisposable;

/** Connects `npm:nats` to the broker on `port`; disposal closes it. */
async function natsClient(
  port: number,
  pki: TestPki | null,
  cert: CertFiles | null,
  options: Partial<ConnectionOptions> = {},
): Promise<Client> {
  const nc = await within(
    connect({
      servers: `127.0.0.1:${port}`,
      ...(pki && cert ? { tls: { ca: pki.caPem, cert: cert.cert, key: cert.key } } : {}),
      reconnect: false,
      timeout: WAIT_MS,
      ...options,
    }),
    `npm:nats to connect to 127.0.0.1:${port} as ${cert?.name ?? "nobody"}`,
    WAIT_MS + 1_000,
  );
  return Object.assign(nc, {
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await within(nc.close(), `${cert?.name ?? "a"} connection to close`);
    },
  });
}

/** Waits for a PING/PONG round trip on `nc`: the broker has handled everything sent before. */
function flushed(nc: NatsConnection): Promise<void> {
  return within(nc.flush(), "a flush round trip to the broker");
}

/** Connects the raw protocol client as `cert`. */
function rawAs(port: number, pki: TestPki, cert: CertFiles): Promise<RawClient> {
  return connectRaw(port, { ca: pki.caPem, cert: cert.cert, key: cert.key });
}

/** Messages a subscription received, and a wait for a count of them. */
interface Collector {
  messages: Msg[];
  until(count: number, what: string, ms?: number): Promise<Msg[]>;
}

function collect(nc: NatsConnection, subject: string): Collector {
  const messages: Msg[] = [];
  const waiters = new Set<() => void>();
  nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) return;
      messages.push(msg);
      for (const waiter of waiters) waiter();
    },
  });
  return {
    messages,
    until(count, what, ms = WAIT_MS) {
      let waiter: (() => void) | undefined;
      const found = new Promise<Msg[]>((resolve) => {
        waiter = () => {
          if (messages.length >= count) resolve(messages);
        };
        waiters.add(waiter);
        waiter();
      });
      return within(found, `${what} (got ${messages.length})`, ms).finally(() => {
        if (waiter) waiters.delete(waiter);
      });
    },
  };
}

/** Answers every request on `subject` with `prefix` and the request's text. */
function respond(nc: NatsConnection, subject: string, prefix: string): void {
  nc.subscribe(subject, {
    callback: (error, msg) => {
      if (!error) msg.respond(encoder.encode(`${prefix}${decoder.decode(msg.data)}`));
    },
  });
}

/**
 * Has `client` (inbox under its Choria reply prefix) ask `node` on its node subject, Choria's
 * way, and checks the answer; returns the reply.
 */
async function choriaRoundTrip(
  port: number,
  pki: TestPki,
  node: CertFiles,
  client: CertFiles,
): Promise<Msg> {
  await using responder = await natsClient(port, pki, node);
  respond(responder, `mcollective.node.${node.name}`, `${node.name} says `);
  await flushed(responder);
  await using requester = await natsClient(port, pki, client, {
    inboxPrefix: `mcollective.reply.${replyHash(client.name)}`,
  });
  const reply = await requester.request(`mcollective.node.${node.name}`, encoder.encode("hi"), {
    timeout: WAIT_MS,
  });
  assert.equal(decoder.decode(reply.data), `${node.name} says hi`);
  return reply;
}

/** Does one request/reply round trip between two fresh connections. */
async function roundTrip(
  port: number,
  pki: TestPki | null,
  cert: CertFiles | null,
  subject: string,
): Promise<void> {
  await using responder = await natsClient(port, pki, cert);
  await using requester = await natsClient(port, pki, cert);
  respond(responder, subject, "echo: ");
  await flushed(responder);
  const reply = await requester.request(subject, encoder.encode("ping"), { timeout: WAIT_MS });
  assert.equal(decoder.decode(reply.data), "echo: ping");
}

/** GETs a monitoring path; JSON bodies are parsed. */
async function monitor(
  broker: StartedBrokerProcess,
  path: string,
): Promise<{ status: number; type: string; text: string; json: Record<string, unknown> }> {
  assert.ok(broker.monitorPort !== null, "the broker has no monitoring port");
  const response = await within(
    fetch(`http://127.0.0.1:${broker.monitorPort}${path}`),
    `the monitor to answer ${path}`,
  );
  const text = await within(response.text(), `the body of ${path}`);
  const type = response.headers.get("content-type") ?? "";
  return {
    status: response.status,
    type,
    text,
    json: type.startsWith("application/json") ? JSON.parse(text) : {},
  };
}

/** The value of an unlabelled Prometheus sample, or undefined if absent. */
function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** The parsed JSON log lines of a broker whose `message` is `message`. */
function logged(broker: BrokerProcess, message: string): Record<string, unknown>[] {
  return broker.proc.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((
    entry,
  ) => entry.message === message);
}

// ---------------------------------------------------------------------------------------------

Deno.test("Broker applies Choria's default permissions end to end", async (t) => {
  const server = "n1.example.net";
  const client = "alice.mcollective";
  const otherClient = "bob.mcollective";
  const observer = "observer.example.net";
  await using pki = await pkiWith(client, otherClient);
  const serverCert = await pki.issue("server", server);
  const observerCert = await pki.issue("server", observer);
  const aliceCert = await pki.issue("client", client);
  await using broker = await startBroker({
    config: configFor(pki, {
      choraleConfig: {
        permissions: {
          defaults: "choria",
          // Only to watch what the defaults let through; every other identity gets the defaults.
          identities: [{ match: observer, subscribe: { allow: [">"] } }],
        },
      },
    }),
  });
  const aliceReplies = `mcollective.reply.${replyHash(client)}`;

  await t.step("server identity subscribes to its own node and broadcasts only", async () => {
    await using conn = await rawAs(broker.port, pki, serverCert);
    await conn.write(
      'CONNECT {"verbose":false}\r\n' +
        `SUB mcollective.node.${server} 1\r\n` +
        "SUB mcollective.broadcast.agent.rpcutil 2\r\n" +
        "SUB mcollective.node.n2.example.net 3\r\n" +
        "SUB mcollective.reply.> 4\r\n" +
        `SUB ${aliceReplies}.> 5\r\n` +
        "SUB mcollective.broadcast.agent.registration 6\r\n" +
        "PING\r\n",
    );
    await conn.waitFor(/PONG\r\n/, "PONG after the server's subscriptions");
    assert.equal(
      conn.received,
      `-ERR 'Permissions Violation for Subscription to "mcollective.node.n2.example.net"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "mcollective.reply.>"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "${aliceReplies}.>"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "mcollective.broadcast.agent.registration"'\r\n` +
        "PONG\r\n",
    );
    assert.equal(conn.closed, false);
  });

  await t.step("server identity publishes replies and registration, not requests", async () => {
    await using watcher = await natsClient(broker.port, pki, observerCert);
    const seen = collect(watcher, ">");
    await flushed(watcher);
    await using conn = await rawAs(broker.port, pki, serverCert);
    await conn.write(
      'CONNECT {"verbose":false}\r\n' +
        "PUB mcollective.broadcast.agent.rpcutil 3\r\nreq\r\n" +
        "PUB mcollective.node.x 3\r\nreq\r\n" +
        "PUB choria.federation.f.federation 3\r\nreq\r\n" +
        "PUB mcollective.broadcast.agent.registration 3\r\nreg\r\n" +
        `PUB ${aliceReplies}.1 5\r\nreply\r\n` +
        "PUB choria.lifecycle.event.alive.server 5\r\nalive\r\n" +
        "PING\r\n",
    );
    await conn.waitFor(/PONG\r\n/, "PONG after the server's publishes");
    assert.equal(
      conn.received,
      `-ERR 'Permissions Violation for Publish to "mcollective.broadcast.agent.rpcutil"'\r\n` +
        `-ERR 'Permissions Violation for Publish to "mcollective.node.x"'\r\n` +
        `-ERR 'Permissions Violation for Publish to "choria.federation.f.federation"'\r\n` +
        "PONG\r\n",
    );
    await seen.until(3, "the three allowed publishes at the observer");
    assert.deepEqual(seen.messages.map((m) => m.subject), [
      "mcollective.broadcast.agent.registration",
      `${aliceReplies}.1`,
      "choria.lifecycle.event.alive.server",
    ]);
  });

  await t.step("server's wildcard broadcast subscription never sees registration", async () => {
    await using node = await natsClient(broker.port, pki, serverCert);
    await using alice = await natsClient(broker.port, pki, aliceCert);
    // Overlaps the deny entry for registration: accepted, with registration filtered out.
    const broadcasts = collect(node, "mcollective.broadcast.agent.>");
    await flushed(node);
    const registrar = await pki.issue("server", "n3.example.net");
    await using n3 = await natsClient(broker.port, pki, registrar);
    n3.publish("mcollective.broadcast.agent.registration", encoder.encode("inventory"));
    await flushed(n3);
    alice.publish("mcollective.broadcast.agent.rpcutil", encoder.encode("request"));
    await broadcasts.until(1, "the rpcutil broadcast at the node");
    assert.deepEqual(broadcasts.messages.map((m) => m.subject), [
      "mcollective.broadcast.agent.rpcutil",
    ]);
  });

  await t.step("client identity subscribes only to its own replies", async () => {
    await using conn = await rawAs(broker.port, pki, aliceCert);
    const bobReplies = `mcollective.reply.${replyHash(otherClient)}`;
    await conn.write(
      'CONNECT {"verbose":false}\r\n' +
        `SUB ${aliceReplies}.> 1\r\n` +
        `SUB ${aliceReplies}.abc 2\r\n` +
        `SUB ${bobReplies}.> 3\r\n` +
        "SUB mcollective.reply.> 4\r\n" +
        `SUB mcollective.node.${server} 5\r\n` +
        "SUB mcollective.broadcast.agent.rpcutil 6\r\n" +
        "PING\r\n",
    );
    await conn.waitFor(/PONG\r\n/, "PONG after the client's subscriptions");
    assert.equal(
      conn.received,
      `-ERR 'Permissions Violation for Subscription to "${bobReplies}.>"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "mcollective.reply.>"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "mcollective.node.${server}"'\r\n` +
        `-ERR 'Permissions Violation for Subscription to "mcollective.broadcast.agent.rpcutil"'\r\n` +
        "PONG\r\n",
    );
  });

  await t.step("client identity publishes requests, not registration", async () => {
    await using watcher = await natsClient(broker.port, pki, observerCert);
    const seen = collect(watcher, ">");
    await flushed(watcher);
    await using conn = await rawAs(broker.port, pki, aliceCert);
    await conn.write(
      'CONNECT {"verbose":false}\r\n' +
        `PUB mcollective.node.${server} 3\r\nreq\r\n` +
        "PUB mcollective.broadcast.agent.rpcutil 3\r\nreq\r\n" +
        "PUB choria.federation.f.federation 3\r\nreq\r\n" +
        "PUB mcollective.broadcast.agent.registration 3\r\nreg\r\n" +
        `PUB ${aliceReplies}.1 5\r\nreply\r\n` +
        "PING\r\n",
    );
    await conn.waitFor(/PONG\r\n/, "PONG after the client's publishes");
    assert.equal(
      conn.received,
      `-ERR 'Permissions Violation for Publish to "mcollective.broadcast.agent.registration"'\r\n` +
        `-ERR 'Permissions Violation for Publish to "${aliceReplies}.1"'\r\n` +
        "PONG\r\n",
    );
    await seen.until(3, "the three requests at the observer");
    assert.deepEqual(seen.messages.map((m) => m.subject), [
      `mcollective.node.${server}`,
      "mcollective.broadcast.agent.rpcutil",
      "choria.federation.f.federation",
    ]);
  });

  await t.step("client's request reaches the node and the reply comes back", async () => {
    const reply = await choriaRoundTrip(broker.port, pki, serverCert, aliceCert);
    assert.ok(
      reply.subject.startsWith(`${aliceReplies}.`),
      `reply came on ${reply.subject}, outside ${aliceReplies}`,
    );
  });
});

Deno.test("Broker monitor reports traffic, connections, subscriptions and metrics", async (t) => {
  const publisher = "bob.mcollective";
  await using pki = await pkiWith(publisher);
  await using broker = await startBroker({
    config: configFor(pki, {
      permissions: { [publisher]: { publish: { deny: ["secret.>"] } } },
      choraleConfig: { monitor: "127.0.0.1:0" },
    }),
  });
  await using sub = await natsClient(broker.port, pki, pki.client, { name: "the-subscriber" });
  await using pub = await natsClient(broker.port, pki, await pki.issue("client", publisher));
  const exact = collect(sub, "mon.a");
  const wide = collect(sub, "mon.>");
  await flushed(sub);
  for (let i = 0; i < 10; i++) pub.publish("mon.a", encoder.encode("0123456789"));
  await flushed(pub);
  await exact.until(10, "10 messages on mon.a");
  await wide.until(10, "10 messages on mon.>");

  await t.step("/varz counts messages, bytes and connections", async () => {
    const { status, json } = await monitor(broker, "/varz");
    assert.equal(status, 200);
    assert.equal(json.in_msgs, 10);
    assert.equal(json.in_bytes, 100);
    // Each message matched both of the subscriber's subscriptions.
    assert.equal(json.out_msgs, 20);
    assert.equal(json.out_bytes, 200);
    assert.equal(json.connections, 2);
    assert.equal(json.total_connections, 2);
    assert.equal(json.subscriptions, 2);
    assert.equal(json.slow_consumers, 0);
    assert.equal(json.port, broker.port);
    assert.equal(json.tls_required, true);
  });

  await t.step("/connz lists each connection with its identity and subscriptions", async () => {
    const { json } = await monitor(broker, "/connz?subs=1");
    assert.equal(json.total, 2);
    const connections = json.connections as Record<string, unknown>[];
    const byUser = new Map(connections.map((c) => [c.authorized_user, c]));
    assert.deepEqual([...byUser.keys()].sort(), [pki.client.name, publisher]);
    const s = byUser.get(pki.client.name)!;
    const p = byUser.get(publisher)!;
    assert.equal(s.subscriptions, 2);
    assert.deepEqual((s.subscriptions_list as string[]).sort(), ["mon.>", "mon.a"]);
    assert.equal(s.name, "the-subscriber");
    assert.equal(s.out_msgs, 20);
    assert.equal(s.identity_kind, "client");
    assert.equal(p.subscriptions, 0);
    assert.equal(p.in_msgs, 10);
    assert.equal(p.in_bytes, 100);
    const paged = await monitor(broker, "/connz?offset=1&limit=1");
    assert.equal(paged.json.num_connections, 1);
    assert.equal(paged.json.total, 2);
  });

  await t.step("/subsz counts subscriptions", async () => {
    const { json } = await monitor(broker, "/subsz");
    assert.equal(json.num_subscriptions, 2);
  });

  await t.step("/metrics reflects connections and a permission violation", async () => {
    pub.publish("secret.plans", encoder.encode("x"));
    await flushed(pub);
    const { status, type, text } = await monitor(broker, "/metrics");
    assert.equal(status, 200);
    assert.match(type, /^text\/plain/);
    assert.match(text, /^# TYPE chorale_broker_connections gauge$/m);
    assert.match(text, /^# TYPE chorale_broker_permission_violations_total counter$/m);
    assert.equal(sample(text, "chorale_broker_connections"), 2);
    assert.equal(sample(text, "chorale_broker_permission_violations_total"), 1);
    assert.equal(sample(text, "chorale_broker_in_msgs_total"), 10);
    assert.equal(sample(text, "chorale_broker_out_msgs_total"), 20);
    assert.ok((sample(text, "chorale_broker_resident_memory_bytes") ?? 0) > 0);
    // Every sample line is a name and a number, as Prometheus parses them.
    for (const line of text.trimEnd().split("\n")) {
      if (!line.startsWith("#")) assert.match(line, /^[a-z_]+ \d+(\.\d+)?$/);
    }
    const varz = await monitor(broker, "/varz");
    assert.equal(varz.json.permission_violations, 1);
  });

  await t.step("/healthz is ok and an unknown path is 404", async () => {
    const health = await monitor(broker, "/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: "ok" });
    const unknown = await monitor(broker, "/nope");
    assert.equal(unknown.status, 404);
  });

  await t.step("/varz and /metrics follow a closed connection", async () => {
    await within(pub.close(), "the publisher to close");
    await poll(async () => {
      const { json } = await monitor(broker, "/varz");
      return json.connections === 1 ? true : undefined;
    }, "/varz to show one connection after the publisher closed");
    const { text } = await monitor(broker, "/metrics");
    assert.equal(sample(text, "chorale_broker_connections"), 1);
    assert.equal(sample(text, "chorale_broker_connections_total"), 2);
  });
});

Deno.test("Broker configuration errors exit with code 2 listing every problem", async (t) => {
  await using pki = await pkiWith();
  const problems = (broker: BrokerProcess) =>
    broker.proc.lines.filter((l) => l.startsWith("broker: "));

  await t.step("two bad values and an unknown key are reported together", async () => {
    await using broker = await spawnBroker({
      config: {
        ...configFor(pki),
        listen: "nowhere",
        max_payload: "lots",
        colour: "blue",
      },
    });
    const status = await broker.exited("the broker to refuse a bad configuration");
    assert.equal(status.code, 2);
    const lines = problems(broker);
    assert.equal(lines.length, 3, `expected three problems, got:\n${lines.join("\n")}`);
    assert.ok(lines.some((l) => /listen: .*"nowhere"/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /'max_payload' .*"lots"/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => l.includes("unknown setting 'colour'")), lines.join("\n"));
    assert.equal(logged(broker, "listening").length, 0);
  });

  await t.step("unreadable TLS files are each named", async () => {
    const missing = join(pki.dir, "missing");
    await using broker = await spawnBroker({
      flags: [
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        `${missing}/cert.pem`,
        "--tls-key",
        pki.broker.keyFile,
        "--tls-ca",
        `${missing}/ca.pem`,
      ],
    });
    const status = await broker.exited("the broker to refuse missing TLS files");
    assert.equal(status.code, 2);
    const lines = problems(broker);
    assert.equal(lines.length, 2, `expected two problems, got:\n${lines.join("\n")}`);
    assert.match(lines[0]!, new RegExp(`^broker: tls\\.cert: cannot read ${missing}/cert\\.pem`));
    assert.match(lines[1]!, new RegExp(`^broker: tls\\.ca: cannot read ${missing}/ca\\.pem`));
  });

  await t.step("invalid YAML is refused", async () => {
    await using broker = await spawnBroker({ configText: "listen: [127.0.0.1:0\nmax_payload: {" });
    const status = await broker.exited("the broker to refuse invalid YAML");
    assert.equal(status.code, 2);
    const lines = problems(broker);
    assert.ok(lines.some((l) => l.includes("not valid YAML")), lines.join("\n"));
  });

  await t.step("a configuration file that does not exist is refused", async () => {
    await using broker = await spawnBroker({
      flags: ["--config", join(pki.dir, "absent.yaml"), "--insecure", "--listen", "127.0.0.1:0"],
    });
    const status = await broker.exited("the broker to refuse a missing configuration file");
    assert.equal(status.code, 2);
    assert.ok(
      problems(broker).some((l) => l.includes(`--config: cannot read ${pki.dir}/absent.yaml`)),
      problems(broker).join("\n"),
    );
  });

  await t.step("an unknown flag is refused", async () => {
    await using broker = await spawnBroker({ flags: ["--no-such-flag"] });
    const status = await broker.exited("the broker to refuse an unknown flag");
    assert.equal(status.code, 2);
  });
});

Deno.test("Broker starts from the README's flags and gives flags precedence", async (t) => {
  await using pki = await pkiWith();

  await t.step("--listen, --tls-cert, --tls-key and --tls-ca serve mutual TLS", async () => {
    await using broker = await startBroker({
      flags: [
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        pki.broker.certFile,
        "--tls-key",
        pki.broker.keyFile,
        "--tls-ca",
        pki.caFile,
      ],
    });
    const [listening] = logged(broker, "listening");
    assert.equal(listening?.tls, true);
    // Without a file the permissions are Choria's defaults, so the round trip goes their way.
    await choriaRoundTrip(
      broker.port,
      pki,
      await pki.issue("server", "n1.example.net"),
      pki.client,
    );
  });

  await t.step("environment beats the file and flags beat both", async () => {
    await using broker = await startBroker({
      config: { ...configFor(pki), listen: "nowhere", max_payload: "2KB" },
      env: { CHORALE_BROKER_MAX_PAYLOAD: "4KB", CHORALE_BROKER_LISTEN: "also nowhere" },
      flags: ["--listen", "127.0.0.1:0"],
    });
    await using nc = await natsClient(broker.port, pki, pki.client);
    assert.equal(nc.info?.max_payload, 4_096);
  });
});

Deno.test("Broker with --insecure serves plaintext and says so", async (t) => {
  await using broker = await startBroker({ flags: ["--insecure", "--listen", "127.0.0.1:0"] });

  await t.step("logs a warning that says INSECURE", () => {
    const warning = broker.proc.lines.find((l) => l.includes("INSECURE"));
    assert.ok(warning, `no INSECURE warning in:\n${broker.proc.lines.join("\n")}`);
    assert.equal(JSON.parse(warning).level, "warn");
    assert.equal(logged(broker, "listening")[0]?.tls, false);
  });

  await t.step("raw client is served in plaintext without CONNECT", async () => {
    await using conn = await openRawSocket(broker.port);
    assert.equal(conn.info.tls_required, undefined);
    assert.equal(conn.info.auth_required, undefined);
    // As nats-server without auth: operations before CONNECT are served, verbose by default.
    await conn.write("PING\r\n");
    await conn.waitFor(/PONG\r\n/, "PONG without CONNECT");
    assert.equal(conn.received, "PONG\r\n");
    await conn.write("SUB plain.test 1\r\nPUB plain.test 2\r\nhi\r\nPING\r\n");
    await conn.waitFor(/PONG\r\n[^]*PONG\r\n/, "the second PONG");
    assert.equal(conn.received, "PONG\r\n+OK\r\n+OK\r\nMSG plain.test 1 2\r\nhi\r\nPONG\r\n");
  });

  await t.step("npm:nats does request/reply without TLS", async () => {
    await roundTrip(broker.port, null, null, "plain.echo");
  });

  await t.step("TLS client is not served", async () => {
    await using pki = await pkiWith();
    await assert.rejects(
      openRawSocket(broker.port, {
        tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
        timeoutMs: 2_000,
      }),
    );
  });
});

Deno.test("Broker without TLS files or --insecure refuses to start", async () => {
  await using broker = await spawnBroker({ flags: ["--listen", "127.0.0.1:0"] });
  const status = await broker.exited("the broker to refuse to start without TLS");
  assert.equal(status.code, 2);
  const lines = broker.proc.lines.filter((l) => l.startsWith("broker: "));
  assert.deepEqual(lines, [
    "broker: tls.cert: required unless insecure is set",
    "broker: tls.key: required unless insecure is set",
    "broker: tls.ca: required unless insecure is set",
  ]);
});

Deno.test("Broker closes a slow consumer and keeps serving others", async () => {
  const maxPending = 65_536;
  const size = 4_096;
  const count = (20 * 1_048_576) / size;
  // Bursts well under max_pending, each flushed, so a consumer that reads keeps up.
  const burst = 8;
  await using pki = await pkiWith();
  await using broker = await startBroker({
    config: configFor(pki, {
      maxPayload: maxPending,
      choraleConfig: {
        max_pending: maxPending,
        // Long enough that only max_pending can catch the stalled client.
        write_deadline: "1m",
        monitor: "127.0.0.1:0",
      },
    }),
  });
  const slowCert = await pki.issue("client", "slow.mcollective");
  await using slow = await startStalledClient(broker.port, "flood", {
    caFile: pki.caFile,
    certFile: slowCert.certFile,
    keyFile: slowCert.keyFile,
    dir: pki.dir,
  });
  slow.stall();
  await using reader = await natsClient(broker.port, pki, pki.client);
  const read = collect(reader, "flood");
  await flushed(reader);

  await using publisher = await natsClient(broker.port, pki, pki.client);
  const payload = new Uint8Array(size).fill(0x61);
  await within(
    (async () => {
      for (let i = 0; i < count; i += burst) {
        for (let j = 0; j < burst; j++) publisher.publish("flood", payload);
        await flushed(publisher);
      }
    })(),
    `the publisher to send ${count} messages of ${size} bytes`,
    20_000,
  );
  await read.until(count, `the reading subscriber to get all ${count} messages`);

  const closed = await poll(
    () => logged(broker, "connection closed").find((l) => l.reason === "slow consumer"),
    "the broker to log a slow consumer",
  );
  assert.equal(closed.identity, slowCert.name);
  const { json } = await monitor(broker, "/varz");
  assert.equal(json.slow_consumers, 1);
  assert.equal(reader.isClosed(), false);

  // Running again, the stalled client drains what the kernel held, then finds the end.
  slow.resume();
  const line = await slow.proc.waitForLine(
    (l) => l.startsWith("closed after "),
    "the stalled client to see its connection closed",
  );
  const got = Number(line.split(" ")[2]);
  assert.ok(got < count * size, `the slow consumer got all ${got} bytes`);

  await using healthy = await natsClient(broker.port, pki, pki.client);
  respond(publisher, "after.flood", "still ");
  await flushed(publisher);
  const reply = await healthy.request("after.flood", encoder.encode("here"), { timeout: WAIT_MS });
  assert.equal(decoder.decode(reply.data), "still here");
});

Deno.test("Broker drops a connection whose TLS handshake does not finish in time", async (t) => {
  const timeoutMs = 500;
  // The sweep that enforces the timeout runs once a second.
  const slackMs = 1_000 + 1_000;
  await using pki = await pkiWith();
  await using broker = await startBroker({
    config: configFor(pki, {
      choraleConfig: {
        tls: {
          cert: pki.broker.certFile,
          key: pki.broker.keyFile,
          ca: pki.caFile,
          timeout: `${timeoutMs}ms`,
        },
      },
    }),
  });

  await t.step("client that sends nothing after INFO is closed", async () => {
    const started = Date.now();
    await using conn = await openRawSocket(broker.port);
    assert.equal(conn.info.tls_required, true);
    await conn.waitClosed("the broker to close a silent client", timeoutMs + slackMs);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= timeoutMs - 50, `closed after ${elapsed} ms, before the timeout`);
    assert.equal(conn.received, "");
  });

  await t.step("client that stops halfway through a ClientHello is closed", async () => {
    const started = Date.now();
    await using conn = await openRawSocket(broker.port);
    // A TLS record header announcing 512 bytes of handshake, then silence.
    await conn.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]));
    await conn.waitClosed("the broker to close a stalled handshake", timeoutMs + slackMs);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= timeoutMs - 50, `closed after ${elapsed} ms, before the timeout`);
  });

  await t.step("the timeouts are logged and a good client is still served", async () => {
    await poll(
      () => {
        const n = logged(broker, "connection closed").filter((l) =>
          l.reason === "tls handshake failed"
        ).length;
        return n >= 2 ? n : undefined;
      },
      "two 'tls handshake failed' log lines",
    );
    await roundTrip(broker.port, pki, pki.client, "after.timeouts");
  });
});

Deno.test("Broker closes a consumer whose socket stays blocked past write_deadline", async () => {
  const size = 4_096;
  const count = (16 * 1_048_576) / size;
  await using pki = await pkiWith();
  await using broker = await startBroker({
    // max_pending stays at 64 MB, far above what the kernel buffers: only the deadline can act.
    config: configFor(pki, { choraleConfig: { write_deadline: "1s", monitor: "127.0.0.1:0" } }),
  });
  const slowCert = await pki.issue("client", "slow.mcollective");
  await using slow = await startStalledClient(broker.port, "flood", {
    caFile: pki.caFile,
    certFile: slowCert.certFile,
    keyFile: slowCert.keyFile,
    dir: pki.dir,
  });
  slow.stall();
  await using publisher = await natsClient(broker.port, pki, pki.client);
  const payload = new Uint8Array(size).fill(0x62);
  for (let i = 0; i < count; i += 16) {
    for (let j = 0; j < 16; j++) publisher.publish("flood", payload);
    await within(publisher.flush(), `the publisher's flush after ${i + 16} messages`);
  }
  const blockedAt = Date.now();
  const closed = await poll(
    () => logged(broker, "connection closed").find((l) => l.reason === "slow consumer"),
    "the broker to close the blocked consumer",
  );
  assert.equal(closed.identity, slowCert.name);
  const { json } = await monitor(broker, "/varz");
  assert.equal(json.slow_consumers, 1);
  assert.ok(Date.now() - blockedAt < 1_000 + 1_000 + 1_000, "closed long after the deadline");
});

Deno.test("Broker ends a connection that trickles a CONNECT past auth_timeout", async () => {
  await using pki = await pkiWith();
  await using broker = await startBroker({ config: configFor(pki, { authTimeoutSeconds: 1 }) });
  await using conn = await rawAs(broker.port, pki, pki.client);
  const started = Date.now();
  await conn.write('CONNECT {"verbose":false,"name":"');
  // A byte every 300 ms keeps the connection busy, but the CONNECT line never ends. nats-server
  // times the CONNECT from the handshake and closes this client after 1 s.
  while (!conn.closed && Date.now() - started < 3_500) {
    await sleep(300);
    await conn.write("a").catch(() => {});
  }
  assert.equal(conn.closed, true, `still open ${Date.now() - started} ms without a CONNECT`);
  assert.equal(conn.received, "-ERR 'Authentication Timeout'\r\n");
});

Deno.test("Broker keeps subjects that differ only in non-UTF-8 bytes apart", async () => {
  await using pki = await pkiWith();
  await using broker = await startBroker({ config: configFor(pki) });
  await using conn = await openRawSocket(broker.port, {
    tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
  });
  const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  // Subjects are bytes to NATS: nats-server delivers only the second publish, subject unchanged.
  await conn.write(
    bytes(
      'CONNECT {"verbose":false}\r\nSUB bin.\xff 1\r\n' +
        "PUB bin.\xfe 1\r\na\r\nPUB bin.\xff 1\r\nb\r\nPING\r\n",
    ),
  );
  await conn.waitFor(/PONG\r\n/, "PONG after the publishes");
  // Compared as one character per byte, so a failure shows which bytes differ.
  assert.equal(String.fromCharCode(...conn.bytes), "MSG bin.\xff 1 1\r\nb\r\nPONG\r\n");
});

const PRLIMIT = ["/usr/bin/prlimit", "/bin/prlimit", "/usr/sbin/prlimit"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});
if (PRLIMIT === undefined) {
  console.log(
    "Skipping the descriptor exhaustion tests as prlimit is absent: install util-linux to run them",
  );
}

/** Opens `count` TCP connections at once and waits until each connected or failed. */
async function openMany(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const settled: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ port, host: "127.0.0.1" });
    sockets.push(socket);
    settled.push(
      new Promise<void>((resolve) => {
        socket.once("connect", () => resolve());
        socket.once("close", () => resolve());
        socket.on("error", () => {});
      }),
    );
  }
  try {
    await within(Promise.all(settled), `${count} connections to connect or fail`);
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  }
  return sockets;
}

/** Destroys every socket and waits until each has closed. */
async function closeAll(sockets: net.Socket[]): Promise<void> {
  const closed = sockets.map((socket) =>
    socket.destroyed && socket.closed
      ? Promise.resolve()
      : new Promise<void>((resolve) => socket.once("close", () => resolve()))
  );
  for (const socket of sockets) socket.destroy();
  await within(Promise.all(closed), `${sockets.length} sockets to close`);
}

/** Tries a plaintext PING every 250 ms until a PONG comes back; returns how long it took. */
async function servedWithin(port: number, ms: number): Promise<number> {
  const started = Date.now();
  await poll(
    async () => {
      await using conn = await openRawSocket(port, { timeoutMs: 250 });
      await conn.write("PING\r\n");
      await conn.waitFor(/PONG\r\n/, "PONG", 250);
      return true;
    },
    "a new client to be served",
    ms,
    250,
  );
  return Date.now() - started;
}

Deno.test({
  name: "Broker restarts its listener after running out of its socket budget",
  ignore: PRLIMIT === undefined,
  async fn() {
    await using broker = await startBroker({
      wrapper: [PRLIMIT!, "--nofile=100:100"],
      env: { CHORALE_BROKER_MAX_SOCKETS: "40" },
      flags: ["--insecure", "--listen", "127.0.0.1:0"],
    });
    const sockets = await openMany(broker.port, 150);
    await closeAll(sockets);
    await servedWithin(broker.port, 5_000);
    await broker.proc.waitForLine(
      (l) => l.includes("listener restarted"),
      "the broker to log that it restarted its listener",
      1_000,
    );
    assert.equal(broker.running, true);
  },
});

Deno.test({
  name: "Broker serves again after hitting the descriptor limit below max_sockets",
  ignore: PRLIMIT === undefined,
  async fn() {
    // The default max_sockets (19,900) lies above a 100-descriptor limit, as it lies above the
    // common soft limit of 1,024: the broker must not lose its listener when accept hits EMFILE.
    await using broker = await startBroker({
      wrapper: [PRLIMIT!, "--nofile=100:100"],
      flags: ["--insecure", "--listen", "127.0.0.1:0"],
    });
    const sockets = await openMany(broker.port, 150);
    await closeAll(sockets);
    await servedWithin(broker.port, 5_000);
    assert.equal(broker.running, true);
  },
});

Deno.test("Broker delivers every message and exits 0 on SIGTERM", async () => {
  const count = 1_000;
  await using pki = await pkiWith();
  await using broker = await startBroker({ config: configFor(pki) });
  await using sub = await natsClient(broker.port, pki, pki.client);
  const got = collect(sub, "shutdown.test");
  await flushed(sub);
  await using pub = await natsClient(broker.port, pki, pki.client);
  // 16 MB in all, so the broker still holds some of it when the signal comes.
  const padding = "x".repeat(16_384);
  for (let i = 0; i < count; i++) pub.publish("shutdown.test", encoder.encode(`${i} ${padding}`));
  await flushed(pub);
  const subClosed = sub.closed();
  const started = Date.now();
  broker.proc.child.kill("SIGTERM");
  const status = await broker.exited("the broker to exit after SIGTERM", 5_000);
  assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
  const elapsed = Date.now() - started;
  await got.until(count, `all ${count} messages at the subscriber`);
  assert.deepEqual(
    got.messages.map((m) => Number(decoder.decode(m.data).split(" ")[0])),
    Array.from({ length: count }, (_, i) => i),
  );
  await within(subClosed, "the subscriber to see the broker close");
  assert.equal(logged(broker, "stopped").length, 1, `no 'stopped' line after ${elapsed} ms`);
});

/** A small seeded PRNG (mulberry32), so a failing fuzz run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const FUZZ_CONNECT =
  'CONNECT {"verbose":true,"pedantic":true,"echo":true,"headers":true,"no_responders":true,"name":"fuzz"}\r\n';
const FUZZ_FRAMES = [
  FUZZ_CONNECT,
  'CONNECT {"verbose":false}\r\n',
  "PUB fuzz.a 5\r\nhello\r\n",
  "PUB fuzz.b fuzz.reply 3\r\nabc\r\n",
  "PUB fuzz.empty 0\r\n\r\n",
  "HPUB fuzz.h 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n",
  "HPUB fuzz.h fuzz.reply 12 12\r\nNATS/1.0\r\n\r\n\r\n",
  "SUB fuzz.* 1\r\n",
  "SUB fuzz.> workers 2\r\n",
  "SUB > 3\r\n",
  "UNSUB 1 3\r\n",
  "UNSUB 2\r\n",
  "PING\r\n",
  "PONG\r\n",
];

/**
 * Valid frames, with a share `rate` of them replaced by random bytes or mutated: bytes flipped,
 * inserted or cut off, sizes changed.
 */
function fuzzStream(random: () => number, pieces: number, rate: number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const parts: Uint8Array[] = [];
  if (random() < 0.9) parts.push(encoder.encode(FUZZ_CONNECT));
  for (let i = 0; i < pieces; i++) {
    const roll = random() < rate ? random() * 0.75 : 1;
    if (roll < 0.2) {
      parts.push(Uint8Array.from({ length: 1 + int(64) }, () => int(256)));
      continue;
    }
    let frame = encoder.encode(FUZZ_FRAMES[int(FUZZ_FRAMES.length)]!);
    if (roll < 0.45) {
      for (let flips = 1 + int(3); flips > 0; flips--) {
        frame[int(frame.length)] = random() < 0.5 ? int(256) : " \r\n.*>0123456789"
          .charCodeAt(int(16));
      }
    } else if (roll < 0.6) {
      frame = frame.subarray(0, int(frame.length));
    } else if (roll < 0.7) {
      const at = int(frame.length);
      const extra = Uint8Array.from({ length: 1 + int(8) }, () => int(256));
      frame = Uint8Array.from([...frame.subarray(0, at), ...extra, ...frame.subarray(at)]);
    } else if (roll < 0.75) {
      // A size that promises more (or much less) than follows.
      frame = encoder.encode(
        decoder.decode(frame).replace(/\d+/, String(int(2) ? int(100_000) : 2 ** (20 + int(40)))),
      );
    }
    parts.push(frame);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("Broker survives a live fuzz of random and mutated frames", async () => {
  const seed = Number(Deno.env.get("CHORALE_FUZZ_SEED") ?? 20_261_125);
  const random = prng(seed);
  const connections = 30;
  await using pki = await pkiWith();
  await using broker = await startBroker({
    config: configFor(pki, { choraleConfig: { monitor: "127.0.0.1:0" } }),
  });
  // From well-behaved to wild, so some connections get deep before a fatal error and some never.
  const streams = Array.from(
    { length: connections },
    (_, i) => fuzzStream(random, 40, (i / connections) * 0.5),
  );
  const splits = streams.map((stream) =>
    Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * stream.length))
      .sort((a, b) => a - b)
  );
  // Garbage in place of a TLS handshake, too.
  const garbage = Array.from(
    { length: 5 },
    () => Uint8Array.from({ length: 1 + Math.floor(random() * 300) }, () => random() * 256),
  );

  const fuzzOne = async (stream: Uint8Array, cuts: number[]) => {
    await using conn = await openRawSocket(broker.port, {
      tls: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
    });
    let from = 0;
    for (const cut of [...cuts, stream.length]) {
      if (conn.closed) break;
      // An empty write to a node:tls socket never completes under Deno 2.9 and stalls the rest.
      if (cut === from) continue;
      await conn.write(stream.subarray(from, cut)).catch(() => {});
      from = cut;
    }
    if (!conn.closed) await conn.write("\r\nPING\r\n").catch(() => {});
    // Either the broker closed the connection or it is still talking; both are fine.
    await conn.waitFor(/PONG\r\n/, "PONG", 1_000).catch(() => {});
    return { closed: conn.closed, errors: conn.received.match(/-ERR [^\r]*/g) ?? [] };
  };
  const plaintextOne = async (bytes: Uint8Array) => {
    await using conn = await openRawSocket(broker.port);
    await conn.write(bytes).catch(() => {});
    await conn.waitClosed("the broker to drop a garbage handshake").catch(() => {});
  };
  const [results] = await within(
    Promise.all([
      Promise.all(streams.map((stream, i) => fuzzOne(stream, splits[i]!))),
      Promise.all(garbage.map(plaintextOne)),
    ]),
    `${connections} fuzz connections (seed ${seed})`,
    20_000,
  );

  const context = `seed ${seed}; stderr:\n${broker.proc.lines.slice(-20).join("\n")}`;
  assert.equal(broker.running, true, `the broker exited: ${context}`);
  // Every connection and subscription is gone once the clients are.
  await poll(async () => {
    const { json } = await monitor(broker, "/varz");
    return json.connections === 0 && json.subscriptions === 0 ? true : undefined;
  }, `/varz to show no connections and no subscriptions after the fuzz (${context})`);
  await roundTrip(broker.port, pki, pki.client, "after.fuzz");
  await using sub = await natsClient(broker.port, pki, pki.client);
  await using pub = await natsClient(broker.port, pki, pki.client);
  const got = collect(sub, "after.fuzz.>");
  await flushed(sub);
  pub.publish("after.fuzz.x", encoder.encode("still here"));
  await got.until(1, "a message after the fuzz");
  const crashes = broker.proc.lines.filter((l) =>
    /Uncaught|^error:/i.test(l) || !l.startsWith("{")
  );
  assert.deepEqual(crashes, [], `crash lines on stderr (${context})`);
  const closed = results.filter((r) => r.closed).length;
  // The fuzz must have reached the parser, not stopped at the handshake.
  assert.ok(results.some((r) => r.errors.length > 0), `no -ERR at all (seed ${seed})`);
  assert.ok(
    closed > 0 && closed < connections,
    `${closed} of ${connections} closed (seed ${seed})`,
  );
});
