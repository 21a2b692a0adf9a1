/**
 * `deno task demo:machines`: autonomous agents and Scout on the demo fleet. A throwaway CA, a
 * broker on mutual TLS and three servers on loopback, as `deno task demo` makes them; each
 * server runs a machine that keeps its `motd` file present and three Scout checks: the motd, a
 * heartbeat, and an `app.conf` check whose remediation restores the file. The demo deletes one
 * node's motd and watches the machine put it back, deletes another's `app.conf` and watches
 * `chorale scout status` report the check failing and then remediated, and pauses and resumes a
 * check, printing every transition as it is published.
 *
 * With `--keep` the fleet stays up until Ctrl-C and `.chorale-demo-machines/chorale.yaml` lets
 * the `chorale` CLI (`scout status`, `machine watch`, `rpc choria_util machine_states`) use it.
 *
 * Permissions it needs: `--allow-net=127.0.0.1` for the broker and its connections;
 * `--allow-run=/usr/bin/cp,/usr/bin/stat` for the machine's restore command and the file check;
 * `--allow-read` and `--allow-write` of `.chorale-demo-machines` for the nodes' machine
 * directories and the client's files; `--allow-env=LOG_TOKENS,LOG_STREAM`, which npm:yaml reads
 * while it parses machine files.
 *
 * @module
 */
import { join } from "node:path";
import { connect } from "nats";
import { choriaUtilAgent } from "../agents/choria_util.ts";
import { discoveryAgent } from "../agents/discovery.ts";
import { rpcutilAgent } from "../agents/rpcutil.ts";
import { scoutAgent } from "../agents/scout.ts";
import { Broker, defaultBrokerSettings } from "../broker/mod.ts";
import { parsePermissions } from "../broker/config.ts";
import { silentLogger } from "../core/log.ts";
import {
  callerId,
  machineTransitionSubject,
  machineWatcherSubject,
  replyPrefix,
} from "../core/protocol/subjects.ts";
import { CertificateAuthority } from "../core/security/ca.ts";
import {
  decodeMachineEvent,
  defaultPlugins,
  hostedMachines,
  MachineHost,
} from "../machines/mod.ts";
import type { Daemon } from "../server/daemon.ts";
import { startDemoServer } from "./_demo_node.ts";
import type { CliContext } from "./cli.ts";
import { renderMachineEvent } from "./commands/machine.ts";
import { main as chorale } from "./main.ts";
import { palette } from "./output/colour.ts";

const NODES = [
  { identity: "web1.demo.chorale", facts: { role: "web" }, classes: [] },
  { identity: "web2.demo.chorale", facts: { role: "web" }, classes: [] },
  { identity: "db1.demo.chorale", facts: { role: "db" }, classes: [] },
];
const CLIENT = "demo.mcollective";
const DIR = ".chorale-demo-machines";

const MACHINE = `# Keeps ./motd present: when it goes missing, copy it back from ./motd.golden.
name: keep_motd
version: 1.0.0
initial_state: unknown
transitions:
  - { name: missing, from: [unknown, present], destination: missing }
  - { name: present, from: [unknown, missing], destination: present }
watchers:
  - name: check
    type: file
    state_match: [unknown, present]
    interval: 1s
    fail_transition: missing
    success_transition: present
    properties: { path: motd }
  - name: restore
    type: exec
    state_match: [missing]
    interval: 5s
    success_transition: present
    properties: { command: /usr/bin/cp motd.golden motd, timeout: 5s }
`;

function step(text: string): void {
  console.log(`\n== ${text}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, test: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function main(): Promise<number> {
  const root = join(Deno.cwd(), DIR);
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(root, "tmp"), { recursive: true });

  step(
    "A throwaway CA, a broker on mutual TLS and three servers, each with a machine and two Scout checks",
  );
  const ca = await CertificateAuthority.create({ name: "Chorale Demo CA" });
  const brokerCert = await ca.issue("server", "localhost", { ipAddresses: ["127.0.0.1"] });
  const clientCert = await ca.issue("client", CLIENT);
  // Choria's defaults, plus machine events for the demo client so it can watch them.
  const problems: string[] = [];
  const permissions = parsePermissions({
    defaults: "choria",
    identities: [{
      match: CLIENT,
      publish: { allow: ["*.broadcast.agent.>", "*.node.>"] },
      subscribe: {
        allow: [`${replyPrefix("mcollective", callerId(CLIENT))}.>`, "choria.machine.>"],
      },
    }],
  }, problems);
  if (problems.length > 0) throw new Error(problems.join("; "));
  await using broker = new Broker(
    defaultBrokerSettings({
      host: "127.0.0.1",
      port: 0,
      tls: { cert: brokerCert.cert, key: brokerCert.key, ca: ca.certPem },
      serverName: "demo",
      permissions,
    }),
    silentLogger,
  );
  const { port } = await broker.start();
  const url = `tls://127.0.0.1:${port}`;

  await Deno.writeTextFile(join(root, "ca.pem"), ca.certPem);
  await Deno.writeTextFile(join(root, `${CLIENT}.pem`), clientCert.cert);
  await Deno.writeTextFile(join(root, `${CLIENT}.key`), clientCert.key, { mode: 0o600 });
  const config = join(root, "chorale.yaml");
  await Deno.writeTextFile(
    config,
    `brokers: ["${url}"]\nsecurity:\n  provider: file\n  certificate: ${root}/${CLIENT}.pem\n  key: ${root}/${CLIENT}.key\n  ca: ${root}/ca.pem\n`,
  );

  // Print every transition and every change of a check's status, as `chorale machine watch`.
  const watcher = await connect({
    servers: `127.0.0.1:${port}`,
    tls: { ca: ca.certPem, cert: clientCert.cert, key: clientCert.key },
  });
  const colours = palette(Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined);
  const lastStatus = new Map<string, string>();
  for (const subject of [machineTransitionSubject(), machineWatcherSubject("nagios")]) {
    watcher.subscribe(subject, {
      callback: (_error, msg) => {
        const data = decodeMachineEvent(msg.data);
        if (!data) return;
        if (data.type === "nagios") {
          const key = `${data.identity} ${data.machine}`;
          if (lastStatus.get(key) === data.status) return;
          lastStatus.set(key, String(data.status));
        }
        console.log(`   event: ${renderMachineEvent({ subject: msg.subject, data }, colours)}`);
      },
    });
  }
  await watcher.flush();

  const daemons: Daemon[] = [];
  const hosts = new Map<string, MachineHost>();
  try {
    for (const node of NODES) {
      const nodeDir = join(root, node.identity);
      const machineDir = join(nodeDir, "machines", "keep_motd");
      const checks = join(nodeDir, "checks");
      await Deno.mkdir(machineDir, { recursive: true });
      await Deno.mkdir(checks, { recursive: true });
      await Deno.writeTextFile(join(machineDir, "machine.yaml"), MACHINE);
      await Deno.writeTextFile(join(machineDir, "motd.golden"), `Welcome to ${node.identity}\n`);
      await Deno.writeTextFile(
        join(checks, "motd.yaml"),
        // Scout checks run in their directory, so paths are relative to it.
        `plugin: '/usr/bin/stat --format "%n is %s bytes" ../machines/keep_motd/motd'\ninterval: 2s\n`,
      );
      await Deno.writeTextFile(
        join(checks, "heartbeat.yaml"),
        "builtin: heartbeat\ninterval: 10s\n",
      );
      await Deno.writeTextFile(join(nodeDir, "app.conf.golden"), "listen = 8080\n");
      await Deno.copyFile(join(nodeDir, "app.conf.golden"), join(nodeDir, "app.conf"));
      await Deno.writeTextFile(
        join(checks, "app_conf.yaml"),
        [
          `plugin: '/usr/bin/stat --format "%n is %s bytes" ../app.conf'`,
          "interval: 2s",
          "remediate:",
          "  command: /usr/bin/cp ../app.conf.golden ../app.conf",
          "  states: [warning, critical]",
          "  interval: 3s",
          "",
        ].join("\n"),
      );
      let daemon: Daemon | null = null;
      const host = new MachineHost({
        store: join(nodeDir, "machines"),
        checks,
        identity: node.identity,
        plugins: defaultPlugins(),
        pollMs: 5_000,
        splay: false,
        tempDir: join(root, "tmp"),
        facts: () => node.facts,
        publish: (subject, event) => {
          const nc = daemon?.server.connection;
          if (nc && !nc.isClosed()) nc.publish(subject, JSON.stringify(event));
        },
      });
      const machines = hostedMachines(host);
      const agents = [
        rpcutilAgent(),
        discoveryAgent(),
        choriaUtilAgent({ machines }),
        scoutAgent(machines),
      ];
      const started = await startDemoServer(node, { url, ca, agents });
      daemon = started;
      daemons.push(started);
      hosts.set(node.identity, host);
    }
    step("Each node's keep_motd machine finds its motd missing and restores it");
    for (const host of hosts.values()) {
      await host.start();
      for (const broken of host.broken()) {
        throw new Error(`${broken.path}: ${broken.problems.join("; ")}`);
      }
    }
    for (const node of NODES) {
      const host = hosts.get(node.identity)!;
      await until(
        `${node.identity} to restore its motd`,
        () => host.machines().some((m) => m.name === "keep_motd" && m.state === "present"),
      );
    }
    await until(
      "every check to pass",
      () => [...hosts.values()].every((h) => h.scoutChecks().every((c) => c.state === "ok")),
    );

    const drifted = join(root, "web1.demo.chorale", "machines", "keep_motd", "motd");
    step(`Drift: someone deletes ${DIR}/web1.demo.chorale/machines/keep_motd/motd`);
    await Deno.remove(drifted);
    const deleted = Date.now();
    await until("web1's motd to come back", () => exists(drifted));
    const took = Date.now() - deleted;
    await until(
      "web1's machine to settle",
      () => hosts.get("web1.demo.chorale")!.find({ name: "keep_motd" }).state === "present",
    );
    console.log(`   restored after ${took} ms: ${(await Deno.readTextFile(drifted)).trim()}`);

    const ctx: CliContext = {
      stdout: (text) =>
        Deno.stdout.writeSync(new TextEncoder().encode(text.replace(/^(?=.)/gm, "   "))),
      stderr: (text) =>
        Deno.stderr.writeSync(new TextEncoder().encode(text.replace(/^(?=.)/gm, "   "))),
      env: (name) => (name === "HOME" ? root : undefined),
      cwd: () => root,
      uid: () => 1000,
      now: () => new Date(),
      isTerminal: () => false,
      columns: () => 100,
    };
    const run = async (args: string[]) => {
      console.log(`\n   $ chorale ${args.join(" ")}`);
      const code = await chorale([...args, "--config", config, "--discovery-timeout", "1"], ctx);
      if (code !== 0) console.log(`   (exit ${code})`);
    };
    step("chorale scout status: every check on the fleet");
    await run(["scout", "status"]);

    step(`Drift only Scout watches: someone deletes ${DIR}/web2.demo.chorale/app.conf`);
    const web2 = hosts.get("web2.demo.chorale")!;
    await Deno.remove(join(root, "web2.demo.chorale", "app.conf"));
    await until(
      "web2's app_conf check to notice",
      () => web2.find({ name: "app_conf" }).state === "warning",
    );
    await run(["scout", "status", "--check", "app_conf"]);
    await until(
      "web2's app_conf check to be remediated",
      () => web2.find({ name: "app_conf" }).state === "ok",
    );
    await run(["scout", "status", "--check", "app_conf"]);
    step("Maintenance on web1's motd check pauses it; resume starts it again");
    await run(["scout", "maintenance", "motd", "-I", "web1.demo.chorale"]);
    await run(["scout", "status", "--check", "motd"]);
    await run(["scout", "resume", "motd", "-I", "web1.demo.chorale"]);
    await until(
      "web1's motd check to pass again",
      () => hosts.get("web1.demo.chorale")!.find({ name: "motd" }).state === "ok",
    );
    await run(["scout", "status", "-I", "web1.demo.chorale"]);

    if (!Deno.args.includes("--keep")) {
      step("Done: a machine repaired drift on its own and Scout reported the checks");
      return 0;
    }
    step("The fleet stays up until Ctrl-C; in another terminal try:");
    console.log(`   deno task chorale scout status --config ${DIR}/chorale.yaml`);
    console.log(`   deno task chorale machine watch --config ${DIR}/chorale.yaml`);
    console.log(`   rm ${DIR}/db1.demo.chorale/machines/keep_motd/motd`);
    await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
    return 0;
  } finally {
    for (const host of hosts.values()) await host.stop();
    for (const daemon of daemons) await daemon.stop();
    await watcher.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
