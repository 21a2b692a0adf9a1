/**
 * One in-memory demo server for the demos (`client/demo.ts`, `client/demo_machines.ts`): a real
 * `Daemon` with its own certificate from the demo CA, its facts and classes, and the agents given,
 * connected to the demo broker.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import type { Agent } from "../agents/agent.ts";
import { loadConfig } from "../core/config.ts";
import { matchesFilter } from "../core/filter/mod.ts";
import { silentLogger } from "../core/log.ts";
import type { CertificateAuthority } from "../core/security/ca.ts";
import { ServerConfigKeys, serverSettings } from "../server/config.ts";
import { Daemon } from "../server/daemon.ts";
import { runForServer, VERSION } from "../server/main.ts";

/** A demo node: its identity, facts and classes. */
export interface DemoNode {
  identity: string;
  facts: Record<string, unknown>;
  classes: string[];
}

/** Starts `node` as a server on the broker at `url`, hosting `agents`; stop it when done. */
export async function startDemoServer(
  node: DemoNode,
  options: { url: string; ca: CertificateAuthority; agents: Agent[] },
): Promise<Daemon> {
  const { url, ca, agents } = options;
  const problems: string[] = [];
  const settings = serverSettings({
    ...loadConfig(ServerConfigKeys, {}).values,
    identity: node.identity,
    brokers: [url],
    "security.certificate": "(memory)",
    "security.key": "(memory)",
    "security.ca": "(memory)",
    "policies.enabled": false,
    "audit.enabled": false,
    "registration.interval": 0,
  }, problems);
  if (problems.length > 0) throw new Error(problems.join("; "));
  const issued = await ca.issue("server", node.identity);
  const names = agents.map((a) => a.ddl.metadata.name);
  const daemon = new Daemon({
    settings,
    material: {
      certname: node.identity,
      certPem: issued.cert,
      keyPem: issued.key,
      caPem: ca.certPem,
      notAfter: new Date(new X509Certificate(issued.cert).validTo),
      paths: { certificate: "(memory)", key: "(memory)", ca: "(memory)" },
      warnings: [],
    },
    agents,
    facts: () => node.facts,
    classes: () => node.classes,
    runAction: runForServer,
    selects: (v) =>
      matchesFilter(v.request.envelope.filter, {
        identity: node.identity,
        facts: node.facts,
        classes: node.classes,
        agents: names,
      }),
    audit: null,
    brokers: [url],
    logger: silentLogger,
    version: VERSION,
  });
  await daemon.start();
  return daemon;
}
