/**
 * `deno task demo`: Chorale's main job on loopback, with nothing installed. It makes a throwaway
 * CA, starts a broker on mutual TLS, connects a node and a client with their own certificates,
 * sends a request and shows the reply, then shows the broker refusing what it must refuse.
 *
 * Permissions it needs: `--allow-net=127.0.0.1` for the broker and its two connections;
 * `--allow-env` and `--allow-sys=hostname` for the NATS client library.
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import { Broker, defaultBrokerSettings } from "../broker/mod.ts";
import { silentLogger } from "../core/log.ts";
import { callerId, directedSubject, replyPrefix } from "../core/protocol/subjects.ts";
import { CertificateAuthority, type IssuedCertificate } from "../core/security/ca.ts";

const COLLECTIVE = "mcollective";
const NODE = "node1.demo.chorale";
const CLIENT = "demo.mcollective";

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function client(
  port: number,
  ca: string,
  cert: IssuedCertificate,
  name: string,
  inboxPrefix?: string,
): Promise<NatsConnection> {
  return await connect({
    servers: `127.0.0.1:${port}`,
    name,
    tls: { ca, cert: cert.cert, key: cert.key },
    reconnect: false,
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
}

async function main(): Promise<number> {
  step("A throwaway CA issues Ed25519 certificates for the broker, a node and a client");
  const ca = await CertificateAuthority.create({ name: "Chorale Demo CA" });
  const [brokerCert, nodeCert, clientCert] = await Promise.all([
    ca.issue("server", "localhost", { ipAddresses: ["127.0.0.1"] }),
    ca.issue("server", NODE),
    ca.issue("client", CLIENT),
  ]);
  console.log(`   CA "Chorale Demo CA", broker "localhost", node "${NODE}", client "${CLIENT}"`);

  step("The broker listens on 127.0.0.1 with mutual TLS and Choria's default permissions");
  await using broker = new Broker(
    defaultBrokerSettings({
      host: "127.0.0.1",
      port: 0,
      tls: { cert: brokerCert.cert, key: brokerCert.key, ca: ca.certPem },
      serverName: "demo",
    }),
    silentLogger,
  );
  const { port } = await broker.start();
  console.log(`   listening on tls://127.0.0.1:${port}`);

  step(`The node connects out and answers on ${directedSubject(COLLECTIVE, NODE)}`);
  const node = await client(port, ca.certPem, nodeCert, NODE);
  node.subscribe(directedSubject(COLLECTIVE, NODE), {
    callback: (error, msg) => {
      if (error) return;
      const request = JSON.parse(new TextDecoder().decode(msg.data));
      msg.respond(JSON.stringify({ identity: NODE, pong: Date.now(), asked: request }));
    },
  });
  await node.flush();

  step("The client sends a request and reads the reply on its own reply subject");
  const caller = callerId(CLIENT);
  const inbox = replyPrefix(COLLECTIVE, caller);
  const me = await client(port, ca.certPem, clientCert, CLIENT, inbox);
  const started = performance.now();
  const reply = await me.request(
    directedSubject(COLLECTIVE, NODE),
    JSON.stringify({ agent: "rpcutil", action: "ping", caller }),
    { timeout: 2_000 },
  );
  const elapsed = performance.now() - started;
  console.log(`   reply on ${reply.subject}`);
  console.log(`   ${new TextDecoder().decode(reply.data)}`);
  console.log(`   round trip ${elapsed.toFixed(1)} ms`);

  step("The broker refuses what Choria's model forbids");
  const denied = new Promise<string>((resolve) => {
    node.subscribe(`${COLLECTIVE}.reply.>`, {
      callback: (error) => resolve(error?.message ?? "allowed"),
    });
  });
  console.log(`   node subscribing to everyone's replies: ${await denied}`);
  const foreign = await (await CertificateAuthority.create({ name: "Foreign CA" })).issue(
    "client",
    "mallory.mcollective",
  );
  try {
    const nc = await client(port, ca.certPem, foreign, "mallory");
    await nc.close();
    console.log("   a certificate from a foreign CA was ACCEPTED: this is a bug");
    return 1;
  } catch {
    console.log("   a client certificate from a foreign CA is refused in the TLS handshake");
  }

  await me.close();
  await node.close();
  step("Done: the broker served 1 request with mutual TLS and refused 2 violations");
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
