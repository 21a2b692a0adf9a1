import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { MissingFileError } from "../core/security/pem_files.ts";
import { makeTestPki } from "../tests/harness/pki.ts";
import {
  ConfigError,
  findProjectConfig,
  loadClientConfig,
  loadClientIdentity,
  loadClientOptions,
  userConfigFile,
} from "./config.ts";

interface Workspace extends AsyncDisposable {
  root: string;
  xdg: string;
  home: string;
  project: string;
  cwd: string;
  env: (extra?: Record<string, string>) => (name: string) => string | undefined;
}

// A home, an XDG config directory and a project with a nested working directory.
async function workspace(): Promise<Workspace> {
  const root = await Deno.makeTempDir({ prefix: "chorale-client-config-" });
  const home = join(root, "home");
  const xdg = join(root, "xdg");
  const project = join(root, "project");
  const cwd = join(project, "deploy", "web");
  for (const dir of [home, join(xdg, "chorale"), cwd]) await Deno.mkdir(dir, { recursive: true });
  return {
    root,
    xdg,
    home,
    project,
    cwd,
    env: (extra = {}) => (name) => ({ HOME: home, XDG_CONFIG_HOME: xdg, ...extra })[name],
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("userConfigFile prefers XDG_CONFIG_HOME over HOME", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    userConfigFile(env({ XDG_CONFIG_HOME: "/x", HOME: "/h" })),
    "/x/chorale/client.yaml",
  );
  assert.equal(userConfigFile(env({ HOME: "/h" })), "/h/.config/chorale/client.yaml");
  assert.equal(userConfigFile(env({})), null);
});

Deno.test("findProjectConfig walks up from the working directory", async () => {
  await using ws = await workspace();
  assert.equal(await findProjectConfig(ws.cwd), null);
  await Deno.writeTextFile(join(ws.project, "chorale.yaml"), "collective: p\n");
  assert.equal(await findProjectConfig(ws.cwd), join(ws.project, "chorale.yaml"));
});

Deno.test("loadClientConfig layers user file, project file, environment and overrides", async () => {
  await using ws = await workspace();
  await Deno.writeTextFile(
    join(ws.xdg, "chorale", "client.yaml"),
    stringify({
      brokers: ["tls://user.example.net:4222"],
      collective: "user",
      security: { certificate: "certs/alice.pem", key: "~/alice.key", ca: "/etc/ca.pem" },
      discovery_timeout: "3s",
    }),
  );
  await Deno.writeTextFile(
    join(ws.project, "chorale.yaml"),
    stringify({ collective: "project", security: { ca: "ca.pem" } }),
  );

  const fromFiles = await loadClientConfig({ env: ws.env(), cwd: ws.cwd });
  assert.deepEqual(fromFiles.files, [
    join(ws.xdg, "chorale", "client.yaml"),
    join(ws.project, "chorale.yaml"),
  ]);
  assert.deepEqual(fromFiles.brokers, ["tls://user.example.net:4222"]);
  assert.equal(fromFiles.collective, "project");
  assert.equal(fromFiles.discoveryTimeoutMs, 3_000);
  // Relative to the file that set it; ~ is the home directory.
  assert.equal(fromFiles.security.certificate, join(ws.xdg, "chorale", "certs", "alice.pem"));
  assert.equal(fromFiles.security.key, join(ws.home, "alice.key"));
  assert.equal(fromFiles.security.ca, join(ws.project, "ca.pem"));
  assert.equal(fromFiles.security.provider, "file");

  const fromEnv = await loadClientConfig({
    env: ws.env({
      CHORALE_COLLECTIVE: "env",
      CHORALE_BROKERS: "a.example.net:4222, tls://b.example.net:4223",
      CHORALE_CA: "env-ca.pem",
      CHORALE_DISCOVERY_TIMEOUT: "750ms",
    }),
    cwd: ws.cwd,
  });
  assert.equal(fromEnv.collective, "env");
  assert.deepEqual(fromEnv.brokers, ["a.example.net:4222", "tls://b.example.net:4223"]);
  assert.equal(fromEnv.security.ca, join(ws.cwd, "env-ca.pem"));
  assert.equal(fromEnv.discoveryTimeoutMs, 750);

  const fromOverrides = await loadClientConfig({
    env: ws.env({ CHORALE_COLLECTIVE: "env" }),
    cwd: ws.cwd,
    overrides: { collective: "flag", brokers: ["c.example.net:4222"], discovery_timeout: 1 },
  });
  assert.equal(fromOverrides.collective, "flag");
  assert.deepEqual(fromOverrides.brokers, ["c.example.net:4222"]);
  assert.equal(fromOverrides.discoveryTimeoutMs, 1_000);
});

Deno.test("loadClientConfig reads only the named file when given one", async () => {
  await using ws = await workspace();
  await Deno.writeTextFile(join(ws.project, "chorale.yaml"), "collective: project\n");
  const file = join(ws.root, "other.yaml");
  await Deno.writeTextFile(
    file,
    stringify({ brokers: ["b:4222"], security: { provider: "puppet", ssl_dir: "ssl" } }),
  );
  const config = await loadClientConfig({ env: ws.env(), cwd: ws.cwd, file });
  assert.deepEqual(config.files, [file]);
  assert.equal(config.collective, "mcollective");
  assert.equal(config.security.provider, "puppet");
  assert.equal(config.security.sslDir, join(ws.root, "ssl"));
  await assert.rejects(
    loadClientConfig({ env: ws.env(), cwd: ws.cwd, file: join(ws.root, "missing.yaml") }),
    (e: unknown) => e instanceof ConfigError && /missing\.yaml: no such file/.test(e.message),
  );
});

Deno.test("loadClientConfig reports every problem at once", async () => {
  await using ws = await workspace();
  await Deno.writeTextFile(
    join(ws.xdg, "chorale", "client.yaml"),
    stringify({
      brokers: ["tls://ok.example.net:4222", "no-port.example.net", "x:99999"],
      colective: "typo",
      security: { provider: "file", certificate: "c.pem" },
    }),
  );
  const error = await loadClientConfig({
    env: ws.env({ CHORALE_DISCOVERY_TIMEOUT: "soon", CHORALE_COLLECTIVE: "a.b" }),
    cwd: ws.cwd,
  }).catch((e) => e);
  assert.ok(error instanceof ConfigError, String(error));
  assert.equal(error.name, "ConfigError");
  const problems = error.problems.join("\n");
  assert.match(problems, /unknown setting 'colective'/);
  assert.match(problems, /environment CHORALE_DISCOVERY_TIMEOUT: 'discovery_timeout' expected/);
  assert.match(
    problems,
    /'brokers' must hold host:port or tls:\/\/host:port: current value is 'no-port/,
  );
  assert.match(problems, /current value is 'x:99999'/);
  assert.match(problems, /'collective' must be a name .*: current value is 'a\.b'/);
  assert.match(problems, /'security\.key' is required by the file provider: set it or CHORALE_KEY/);
  assert.match(problems, /'security\.ca' is required by the file provider/);
  assert.equal(error.problems.length, 7);
});

Deno.test("loadClientConfig defaults to the puppet provider and asks for brokers", async () => {
  await using ws = await workspace();
  const error = await loadClientConfig({ env: ws.env(), cwd: ws.cwd }).catch((e) => e);
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.problems, [
    "'brokers' is empty: set it in the configuration file or CHORALE_BROKERS (tls://host:port)",
  ]);
  const config = await loadClientConfig({
    env: ws.env({ CHORALE_BROKERS: "b:4222" }),
    cwd: ws.cwd,
  });
  assert.equal(config.security.provider, "puppet");
});

Deno.test("loadClientIdentity loads file and puppet identities through the providers", async () => {
  await using pki = await makeTestPki();
  await using ws = await workspace();
  const file = await loadClientIdentity({
    security: {
      provider: "file",
      certificate: pki.client.certFile,
      key: pki.client.keyFile,
      ca: pki.caFile,
      sslDir: "",
      certname: "",
    },
  });
  assert.equal(file.identity.certname, "alice.mcollective");
  assert.equal(file.identity.cert, pki.client.cert);
  assert.equal(file.identity.ca, pki.caPem);

  const ssl = join(ws.root, "ssl");
  await Deno.mkdir(join(ssl, "certs"), { recursive: true });
  await Deno.mkdir(join(ssl, "private_keys"), { recursive: true });
  await Deno.writeTextFile(join(ssl, "certs", "alice.mcollective.pem"), pki.client.cert);
  await Deno.writeTextFile(join(ssl, "private_keys", "alice.mcollective.pem"), pki.client.key, {
    mode: 0o600,
  });
  await Deno.writeTextFile(join(ssl, "certs", "ca.pem"), pki.caPem);
  const loaded = await loadClientOptions({
    env: ws.env({ CHORALE_BROKERS: "tls://b:4222", CHORALE_SSL_DIR: ssl, USER: "alice" }),
    cwd: ws.cwd,
    uid: 1000,
  });
  assert.equal(loaded.config.security.provider, "puppet");
  assert.equal(loaded.client.identity.certname, "alice.mcollective");
  assert.deepEqual(loaded.client.brokers, ["tls://b:4222"]);
  assert.equal(loaded.client.collective, "mcollective");

  await assert.rejects(
    loadClientOptions({
      env: ws.env({ CHORALE_BROKERS: "tls://b:4222", CHORALE_SSL_DIR: ssl, USER: "bob" }),
      cwd: ws.cwd,
      uid: 1000,
    }),
    MissingFileError,
  );
});
