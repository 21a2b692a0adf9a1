import assert from "node:assert/strict";
import { loadConfig } from "../core/config.ts";
import { ServerConfigKeys, serverSettings } from "./config.ts";

function settingsFrom(text: string) {
  const loaded = loadConfig(ServerConfigKeys, { file: { path: "server.yaml", text } });
  const problems = [...loaded.problems];
  const settings = serverSettings(loaded.values, problems);
  return { settings, problems };
}

Deno.test("serverSettings reads a complete file-provider configuration", () => {
  const { settings, problems } = settingsFrom(`
brokers: [tls://b1.example.net:4222]
collectives: [mcollective, eu]
security: {provider: file, certificate: /c.pem, key: /k.pem, ca: /ca.pem}
registration: {interval: 1m, splay: 10s}
metrics_port: 9100
`);
  assert.deepEqual(problems, []);
  assert.equal(settings.mainCollective, "mcollective");
  assert.deepEqual(settings.collectives, ["mcollective", "eu"]);
  assert.deepEqual(settings.registration, { intervalMs: 60_000, splayMs: 10_000 });
  assert.equal(settings.metricsPort, 9100);
  assert.equal(settings.security.provider, "file");
});

Deno.test("serverSettings reports every problem at once", () => {
  const { problems } = settingsFrom(`
brokers: [http://nope]
collectives: ["bad name"]
main_collective: other
security: {provider: vault}
max_concurrent: 0
metrics_port: 70000
`);
  for (
    const fragment of [
      "brokers:",
      "collectives:",
      "main_collective:",
      "security.provider:",
      "max_concurrent:",
      "metrics_port:",
    ]
  ) {
    assert.ok(
      problems.some((p) => p.startsWith(fragment)),
      `missing ${fragment} in ${problems.join("\n")}`,
    );
  }
});

Deno.test("serverSettings needs brokers or an SRV domain, and the file provider's paths", () => {
  const { problems } = settingsFrom("security: {provider: file}\n");
  assert.ok(problems.some((p) => p.includes("srv_domain")));
  assert.ok(problems.some((p) => p.startsWith("security.certificate:")));
  const srv = settingsFrom("srv_domain: example.net\nsecurity: {provider: puppet, certname: n1}\n");
  assert.deepEqual(srv.problems, []);
  assert.equal(srv.settings.security.provider, "puppet");
});
