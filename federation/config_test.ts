import assert from "node:assert/strict";
import { ConfigError } from "../core/config.ts";
import { loadFederationSettings } from "./config.ts";
import { FederationMetrics } from "./metrics.ts";
import { BrokerLookupError, resolveFederationBrokers } from "./srv.ts";
import { makeTestPki } from "../tests/harness/pki.ts";

const file = (text: string) => ({ path: "/etc/chorale/federation.yaml", text });

Deno.test("loadFederationSettings reads members, paths and metrics", () => {
  const settings = loadFederationSettings(file(`
security: { certificate: fed1.pem, key: /keys/fed1.key, ca: ca.pem }
federation: { brokers: ["tls://127.0.0.1:4333"] }
members:
  east: { brokers: ["tls://127.0.0.1:4222"] }
  west: { brokers: ["127.0.0.1:4223"], collectives: [mcollective, ops] }
metrics: 127.0.0.1:0
`));
  assert.equal(settings.security.certificate, "/etc/chorale/fed1.pem");
  assert.equal(settings.security.key, "/keys/fed1.key");
  assert.deepEqual(settings.members, [
    { name: "east", brokers: ["tls://127.0.0.1:4222"], collectives: ["mcollective"] },
    { name: "west", brokers: ["127.0.0.1:4223"], collectives: ["mcollective", "ops"] },
  ]);
  assert.deepEqual(settings.metrics, { hostname: "127.0.0.1", port: 0 });
  assert.equal(settings.logLevel, "info");
});

Deno.test("loadFederationSettings reports every problem at once", () => {
  assert.throws(
    () =>
      loadFederationSettings(file(`
federation: { brokers: ["nowhere"] }
members:
  "bad name": { brokers: ["tls://h:1"] }
  east: { brokers: [], color: red }
  west: { brokers: ["tls://h:1"], collectives: ["a.b"] }
metrics: everywhere
log_level: loud
`)),
    (error) => {
      assert.ok(error instanceof ConfigError);
      const text = error.problems.join("\n");
      for (
        const expected of [
          "'security.certificate' is required",
          "'federation.brokers' must hold host:port or tls://host:port: current value is 'nowhere'",
          "'members.bad name' must be named by letters",
          "'members.east' has an unknown setting 'color'",
          "'members.east.brokers' is empty",
          `'members.west.collectives' must be a list of collective names`,
          "'metrics' must be host:port: current value is 'everywhere'",
          "'log_level' must be debug, info, warn or error: current value is 'loud'",
        ]
      ) assert.ok(text.includes(expected), `missing: ${expected}\nin:\n${text}`);
      return true;
    },
  );
  assert.throws(
    () => loadFederationSettings(file("security: { certificate: a, key: b, ca: c }")),
    /'federation\.brokers' is empty and 'federation\.srv_domain' is not set.*'members' is empty/,
  );
});

Deno.test("resolveFederationBrokers looks up _mcollective-federation_server._tcp", async () => {
  const asked: string[] = [];
  const brokers = await resolveFederationBrokers([], "example.net", (name) => {
    asked.push(name);
    return Promise.resolve([
      { priority: 20, weight: 0, port: 4333, target: "f2.example.net." },
      { priority: 10, weight: 0, port: 4333, target: "f1.example.net." },
    ]);
  });
  assert.deepEqual(asked, ["_mcollective-federation_server._tcp.example.net"]);
  assert.deepEqual(brokers, ["tls://f1.example.net:4333", "tls://f2.example.net:4333"]);
  assert.deepEqual(await resolveFederationBrokers(["tls://x:1"], "", () => Promise.reject()), [
    "tls://x:1",
  ]);
  await assert.rejects(
    resolveFederationBrokers([], "example.net", () => Promise.reject(new Deno.errors.NotFound())),
    (error) =>
      error instanceof BrokerLookupError &&
      /no SRV records for _mcollective-federation_server\._tcp\.example\.net/.test(error.message),
  );
});

Deno.test("FederationMetrics renders counters, gauges and histograms", () => {
  const m = new FederationMetrics();
  m.countIn("request", "east");
  m.countOut("request", "east", 3);
  m.countError("reply", "east", "bad_reply_to");
  m.setConnected("east", true);
  m.observeLatency("east", 0.3);
  m.observeProcess("request", 0.05);
  const text = m.render();
  assert.match(
    text,
    /^chorale_federation_messages_out_total\{direction="request",member="east"\} 3$/m,
  );
  assert.match(text, /^chorale_federation_member_connected\{member="east"\} 1$/m);
  assert.match(
    text,
    /^chorale_federation_collective_latency_seconds_bucket\{member="east",le="0.0005"\} 1$/m,
  );
  assert.match(
    text,
    /^chorale_federation_collective_latency_seconds_bucket\{member="east",le="0.00025"\} 0$/m,
  );
  assert.equal(
    m.value("chorale_federation_errors_total", {
      direction: "reply",
      member: "east",
      reason: "bad_reply_to",
    }),
    1,
  );
});

Deno.test("the federation broker exits 2 naming every configuration problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-federation-main-" });
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    const { main } = await import("./main.ts");
    assert.equal(await main(["--config", `${dir}/missing.yaml`]), 2);
    assert.match(errors.join("\n"), /--config: cannot read .*missing\.yaml/);
    errors.length = 0;
    await Deno.writeTextFile(
      `${dir}/f.yaml`,
      "members: { east: { brokers: [nowhere] } }\nfoo: 1\n",
    );
    assert.equal(await main(["--config", `${dir}/f.yaml`]), 2);
    const text = errors.join("\n");
    assert.match(text, /unknown setting 'foo'/);
    assert.match(text, /'members\.east\.brokers' must hold host:port/);
    assert.match(text, /'security\.certificate' is required/);
  } finally {
    console.error = original;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the federation broker exits 1 when its metrics port is taken", async () => {
  await using pki = await makeTestPki();
  const cert = await pki.issue("server", "fed1.federation");
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const file = `${pki.dir}/federation.yaml`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      security: { certificate: cert.certFile, key: cert.keyFile, ca: pki.caFile },
      federation: { brokers: ["tls://127.0.0.1:1"] },
      members: { east: { brokers: ["tls://127.0.0.1:2"] } },
      metrics: `127.0.0.1:${(busy.addr as Deno.NetAddr).port}`,
    }),
  );
  const { main } = await import("./main.ts");
  assert.equal(await main(["--config", file]), 1);
});
