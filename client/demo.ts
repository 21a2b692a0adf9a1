/**
 * `deno task demo`: Chorale's main job on loopback, with nothing installed. It makes a throwaway
 * CA, starts a broker on mutual TLS and three servers with their own certificates and facts,
 * then a client discovers them, filters them and runs real actions on them (rpcutil, and the
 * package agent asking dpkg), and the broker and servers refuse what they must refuse.
 *
 * With `--keep` the fleet stays up until Ctrl-C, and the client's certificate and a configuration
 * file are written to `.chorale-demo/`, so the `chorale` CLI can be used on it:
 * `deno task chorale rpc rpcutil ping --config .chorale-demo/chorale.yaml`.
 *
 * Permissions it needs: `--allow-net=127.0.0.1` for the broker and its connections;
 * `--allow-run=/usr/bin/dpkg-query` for the package agent's status action;
 * `--allow-write=.chorale-demo` and `--allow-read=.chorale-demo` for `--keep`.
 *
 * @module
 */
import { connect } from "nats";
import { choriaRegistryAgent } from "../agents/choria_registry.ts";
import { choriaUtilAgent } from "../agents/choria_util.ts";
import { discoveryAgent } from "../agents/discovery.ts";
import { packageAgent } from "../agents/package.ts";
import { rpcutilAgent } from "../agents/rpcutil.ts";
import { Broker, defaultBrokerSettings } from "../broker/mod.ts";
import { silentLogger } from "../core/log.ts";
import { CertificateAuthority } from "../core/security/ca.ts";
import type { Daemon } from "../server/daemon.ts";
import { startDemoServer } from "./_demo_node.ts";
import { RpcClient, type RpcReplyResult } from "./rpc_client.ts";

const NODES = [
  {
    identity: "web1.demo.chorale",
    facts: { role: "web", os: { family: "debian" } },
    classes: ["nginx"],
  },
  {
    identity: "web2.demo.chorale",
    facts: { role: "web", os: { family: "debian" } },
    classes: ["nginx"],
  },
  {
    identity: "db1.demo.chorale",
    facts: { role: "db", os: { family: "debian" } },
    classes: ["postgres"],
  },
];
const CLIENT = "demo.mcollective";

function step(text: string): void {
  console.log(`\n== ${text}`);
}

function show(replies: RpcReplyResult[], pick: (r: RpcReplyResult) => string): void {
  for (const r of replies) {
    const status = r.statuscode === 0 ? "ok" : `status ${r.statuscode}: ${r.statusmsg}`;
    console.log(
      `   ${r.sender.padEnd(20)} ${r.signed ? "signed" : "unsigned"}  ${status}  ${pick(r)}`,
    );
  }
}

async function main(): Promise<number> {
  step("A throwaway CA issues Ed25519 certificates: a broker, three servers and a client");
  const ca = await CertificateAuthority.create({ name: "Chorale Demo CA" });
  const brokerCert = await ca.issue("server", "localhost", { ipAddresses: ["127.0.0.1"] });
  const clientCert = await ca.issue("client", CLIENT);
  console.log(
    `   CA "Chorale Demo CA", client "${CLIENT}", servers ${
      NODES.map((n) => n.identity).join(", ")
    }`,
  );

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
  const url = `tls://127.0.0.1:${port}`;
  console.log(`   listening on ${url}`);

  step("Three servers connect out with their own certificates and host their agents");
  const daemons: Daemon[] = [];
  try {
    for (const node of NODES) {
      const agents = [
        rpcutilAgent(),
        discoveryAgent(),
        choriaRegistryAgent(),
        choriaUtilAgent(),
        packageAgent(),
      ];
      const daemon = await startDemoServer(node, { url, ca, agents });
      daemons.push(daemon);
      console.log(
        `   ${node.identity}: role=${node.facts.role}, classes ${node.classes.join(",")}`,
      );
    }

    await using client = await RpcClient.connect([`127.0.0.1:${port}`], {
      certname: CLIENT,
      cert: clientCert.cert,
      key: clientCert.key,
      ca: ca.certPem,
    });

    step("discovery ping, broadcast: every server answers with a signed reply");
    show(
      await client.request({ agent: "discovery", action: "ping", expect: 3 }),
      (r) => String(r.data.message),
    );

    step("rpcutil ping to the nodes with fact role=web");
    show(
      await client.request({
        agent: "rpcutil",
        action: "ping",
        filter: { fact: [{ fact: "role", operator: "==", value: "web" }] },
        expect: 2,
        timeoutMs: 2_000,
      }),
      (r) => `pong ${r.data.pong}`,
    );

    step("package status bash, on the node with class postgres (dpkg-query, for real)");
    show(
      await client.request({
        agent: "package",
        action: "status",
        data: { package: "bash" },
        filter: { cf_class: ["postgres"] },
        expect: 1,
        timeoutMs: 5_000,
      }),
      (r) => `bash ${r.data.ensure}`,
    );

    step("Inputs are checked against the agent's DDL before anything runs");
    show(
      await client.request({
        agent: "package",
        action: "status",
        data: { package: "bash; reboot" },
        node: "db1.demo.chorale",
        expect: 1,
      }),
      () => "",
    );

    step("The broker refuses what Choria's model forbids");
    const serverCert = await ca.issue("server", "rogue.demo.chorale");
    const rogue = await connect({
      servers: `127.0.0.1:${port}`,
      tls: { ca: ca.certPem, cert: serverCert.cert, key: serverCert.key },
      reconnect: false,
    });
    const denied = await new Promise<string>((resolve) => {
      rogue.subscribe("mcollective.reply.>", {
        callback: (error) => resolve(error?.message ?? "allowed"),
      });
    });
    console.log(`   a server subscribing to everyone's replies: ${denied}`);
    await rogue.close();
    if (!Deno.args.includes("--keep")) {
      step("Done: three servers answered signed requests through a mutual-TLS broker");
      return 0;
    }
    const dir = `${Deno.cwd()}/.chorale-demo`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
    await Deno.writeTextFile(`${dir}/${CLIENT}.pem`, clientCert.cert);
    await Deno.writeTextFile(`${dir}/${CLIENT}.key`, clientCert.key, { mode: 0o600 });
    await Deno.writeTextFile(
      `${dir}/chorale.yaml`,
      [
        `brokers: ["${url}"]`,
        "security:",
        "  provider: file",
        `  certificate: ${dir}/${CLIENT}.pem`,
        `  key: ${dir}/${CLIENT}.key`,
        `  ca: ${dir}/ca.pem`,
        "",
      ].join("\n"),
    );
    step("The fleet stays up until Ctrl-C; in another terminal try:");
    console.log("   deno task chorale ping --config .chorale-demo/chorale.yaml");
    console.log(
      "   deno task chorale rpc rpcutil inventory -I db1.demo.chorale --config .chorale-demo/chorale.yaml",
    );
    console.log(
      "   deno task chorale rpc package status package=bash -C nginx --config .chorale-demo/chorale.yaml",
    );
    await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
    return 0;
  } finally {
    for (const daemon of daemons) await daemon.stop();
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
