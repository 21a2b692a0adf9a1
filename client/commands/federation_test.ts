import assert from "node:assert/strict";
import { ConfigError, loadClientConfig, loadClientOptions } from "../config.ts";
import { ConnectError } from "../errors.ts";
import { makeTestPki } from "../../tests/harness/pki.ts";
import { renderTrace } from "./federation.ts";

const identityEnv = {
  CHORALE_CERTIFICATE: "/etc/chorale/alice.pem",
  CHORALE_KEY: "/etc/chorale/alice.key",
  CHORALE_CA: "/etc/chorale/ca.pem",
};

Deno.test("client configuration reads federation.collectives from a file, the environment and flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-federation-config-" });
  try {
    const file = `${dir}/client.yaml`;
    await Deno.writeTextFile(
      file,
      "brokers: [tls://fed:4222]\nfederation: { collectives: [east] }\n",
    );
    const env = (extra: Record<string, string> = {}) => (name: string) =>
      ({ ...identityEnv, ...extra } as Record<string, string>)[name];
    assert.deepEqual((await loadClientConfig({ file, env: env(), cwd: dir })).federations, [
      "east",
    ]);
    const fromEnv = await loadClientConfig({
      file,
      env: env({ CHORALE_FEDERATION_COLLECTIVES: "east, west" }),
      cwd: dir,
    });
    assert.deepEqual(fromEnv.federations, ["east", "west"]);
    const fromFlag = await loadClientConfig({
      file,
      env: env({ CHORALE_FEDERATION_COLLECTIVES: "east" }),
      cwd: dir,
      overrides: { "federation.collectives": "west" },
    });
    assert.deepEqual(fromFlag.federations, ["west"]);
    const none = await loadClientConfig({ env: env({ CHORALE_BROKERS: "b:1" }), cwd: dir });
    assert.deepEqual(none.federations, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client configuration refuses bad federation names and brokerless configurations", async () => {
  const env = (extra: Record<string, string>) => (name: string) =>
    ({ ...identityEnv, ...extra } as Record<string, string>)[name];
  await assert.rejects(
    loadClientConfig({
      env: env({ CHORALE_BROKERS: "b:1", CHORALE_FEDERATION_COLLECTIVES: "east,we.st" }),
      cwd: "/",
    }),
    (error) =>
      error instanceof ConfigError &&
      error.problems.includes(
        "'federation.collectives' must hold names of letters, digits, '_' and '-': current value is 'we.st'",
      ),
  );
  // No brokers: fine only when federated with an SRV domain to look them up in.
  await assert.rejects(
    loadClientConfig({ env: env({ CHORALE_FEDERATION_SRV_DOMAIN: "example.net" }), cwd: "/" }),
    /'brokers' is empty/,
  );
  const config = await loadClientConfig({
    env: env({
      CHORALE_FEDERATION_COLLECTIVES: "east",
      CHORALE_FEDERATION_SRV_DOMAIN: "example.net",
    }),
    cwd: "/",
  });
  assert.deepEqual(config.brokers, []);
  assert.equal(config.federationSrvDomain, "example.net");
});

Deno.test("a federated client finds the federation network by _mcollective-federation_server._tcp", async () => {
  await using pki = await makeTestPki();
  const values: Record<string, string> = {
    CHORALE_CERTIFICATE: pki.client.certFile,
    CHORALE_KEY: pki.client.keyFile,
    CHORALE_CA: pki.caFile,
    CHORALE_FEDERATION_COLLECTIVES: "east,west",
    CHORALE_FEDERATION_SRV_DOMAIN: "example.net",
  };
  const asked: string[] = [];
  const loaded = await loadClientOptions({
    env: (name) => values[name],
    cwd: pki.dir,
    resolver: (name) => {
      asked.push(name);
      return Promise.resolve([{ priority: 1, weight: 1, port: 4333, target: "fed.example.net." }]);
    },
  });
  assert.deepEqual(asked, ["_mcollective-federation_server._tcp.example.net"]);
  assert.deepEqual(loaded.client.brokers, ["tls://fed.example.net:4333"]);
  assert.deepEqual(loaded.client.federations, ["east", "west"]);
  await assert.rejects(
    loadClientOptions({
      env: (name) => values[name],
      cwd: pki.dir,
      resolver: () => Promise.resolve([]),
    }),
    (error) =>
      error instanceof ConnectError &&
      /Cannot find the federation network's brokers: Cannot find a federation broker: no SRV records for _mcollective-federation_server\._tcp\.example\.net/
        .test(error.message),
  );
});

Deno.test("renderTrace lays out each hop with its times", () => {
  const text = renderTrace({
    node: "n1",
    requestId: "bbb95c73eadb41c39f82a7eedffecee1",
    federated: true,
    roundTripMs: 2.5,
    steps: [
      {
        index: 1,
        leg: "request",
        from: "",
        via: "alice.mcollective",
        to: "f:1",
        arrivedMs: 100,
        leftMs: 100,
        transitMs: null,
        spentMs: 0,
      },
      {
        index: 2,
        leg: "request",
        from: "f:1",
        via: "fed1 (request)",
        to: "e:1",
        arrivedMs: 100.5,
        leftMs: 100.625,
        transitMs: 0.5,
        spentMs: 0.125,
      },
      {
        index: 3,
        leg: "node",
        from: "",
        via: "n1",
        to: "",
        arrivedMs: null,
        leftMs: null,
        transitMs: null,
        spentMs: null,
      },
    ],
  });
  assert.match(
    text,
    /^Trace of n1 \(request bbb95c73eadb41c39f82a7eedffecee1\), through federation:/,
  );
  assert.match(text, /^2\s+request\s+fed1 \(request\)\s+f:1 -> e:1\s+0\.500\s+0\.500\s+0\.125$/m);
  assert.match(text, /^3\s+node\s+n1\s+- -> -\s+-\s+-\s+-$/m);
  assert.match(text, /Round trip: 2\.500 ms/);
});
