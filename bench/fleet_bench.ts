/**
 * `deno task bench:fleet`: the fleet benchmark. For each size (1,000, 10,000 and 50,000 emulated
 * servers by default) it starts `chorale emulate`'s fleet against Chorale's broker, then against
 * Debian's nats-server on the same port (the emulated servers reconnect to it), both on mutual
 * TLS, and measures for each broker:
 *
 * - broker RSS with the fleet connected and idle, and RSS per connection (growth over the empty
 *   broker divided by connections; every worker process counted);
 * - `chorale ping` (broadcast discovery, then the discovery agent's ping to every node found) and
 *   `chorale rpc rpcutil ping --nodes FILE` (directed requests to a node list), run as the CLI
 *   itself: the time until every reply is in, and replies per second at the client;
 * - the time for every emulated server to reconnect and resubscribe after the broker restarts.
 *
 * ```sh
 * deno task bench:fleet                         # 1,000, 10,000 and 50,000
 * deno task bench:fleet --sizes 1000,10000
 * deno task bench:fleet --sizes 50000 --chorale-only
 * ```
 *
 * Permissions: `--allow-net` (loopback brokers), `--allow-read` (deno.json, certificates),
 * `--allow-write` (temporary PKI and configuration), `--allow-run` (deno for the brokers, the
 * emulator and the CLI; nats-server; `cat` and `sh` for /proc, which Deno reads only with
 * `--allow-all`), `--allow-env` (PATH for nats-server), `--allow-sys` (the load average).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { stringify } from "yaml";
import { makeEmulatorPki } from "../emulator/_testing.ts";
import { emulatedIdentity } from "../emulator/fleet.ts";
import { Emulator, INSTANCES_PER_ADDRESS, MAX_INSTANCES_PER_PROCESS } from "../emulator/mod.ts";
import { taskPermissions } from "../tests/harness/permissions.ts";
import { natsServerPath } from "../tests/harness/nats_server.ts";
import {
  brokerHasWorkers,
  clientConfigText,
  CONNECTIONS_PER_WORKER,
  type FleetBroker,
  freePort,
  startChoraleFleetBroker,
  startNatsFleetBroker,
  totalRssKib,
} from "./fleet_brokers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The descriptor limit of one process here: nats-server is one process. */
const FD_LIMIT = 20_000;

/** One broker's figures at one size; null where it could not be measured. */
interface Figures {
  rssMiB: number | null;
  kibPerConn: number | null;
  pingMs: number | null;
  pingReplies: number | null;
  pingRate: number | null;
  rpcMs: number | null;
  rpcReplies: number | null;
  rpcRate: number | null;
  reconnectMs: number | null;
  notes: string[];
}

function emptyFigures(note?: string): Figures {
  return {
    rssMiB: null,
    kibPerConn: null,
    pingMs: null,
    pingReplies: null,
    pingRate: null,
    rpcMs: null,
    rpcReplies: null,
    rpcRate: null,
    reconnectMs: null,
    notes: note ? [note] : [],
  };
}

interface CliStats {
  responded: string[];
  noResponses: string[];
  discoveryMs: number;
  repliesMs: number;
  totalMs: number;
}

/** Runs the CLI as `deno task chorale` does and returns its stats and wall time. */
async function runCli(
  args: string[],
  config: string,
): Promise<{ stats: CliStats; wallMs: number }> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...await taskPermissions("chorale"),
      join(ROOT, "client/main.ts"),
      ...args,
      "--config",
      config,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const wallMs = performance.now() - started;
  const text = new TextDecoder().decode(out.stdout);
  let stats: CliStats | undefined;
  if (args.includes("--jsonl")) {
    const last = text.trim().split("\n").at(-1) ?? "";
    try {
      stats = JSON.parse(last) as CliStats;
    } catch { /* reported below */ }
  } else {
    try {
      stats = (JSON.parse(text) as { stats: CliStats }).stats;
    } catch { /* reported below */ }
  }
  if (stats === undefined) {
    throw new Error(
      `chorale ${args.join(" ")} exited ${out.code} without stats:\n${
        new TextDecoder().decode(out.stderr).slice(-2000)
      }`,
    );
  }
  return { stats, wallMs };
}

async function waitFor(what: string, test: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!test()) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Measures one broker with the fleet connected to it. */
async function measure(
  broker: FleetBroker,
  emulator: Emulator,
  size: number,
  files: { client: string; nodes: string },
  baselineKib: number,
  restart: () => Promise<FleetBroker>,
): Promise<{ figures: Figures; broker: FleetBroker }> {
  const f = emptyFigures();
  await sleep(3_000);
  const rss = await totalRssKib(await broker.pids());
  f.rssMiB = rss / 1024;
  f.kibPerConn = (rss - baselineKib) / size;
  const timeout = String(Math.max(10, Math.ceil(size / 1_000)));
  try {
    // Choria's semantics: discovery waits out --discovery-timeout, so a fleet whose replies come
    // in bursts is found whole (without it, discovery ends at the first 300 ms pause).
    const ping = await runCli(
      ["ping", "--json", "--timeout", timeout, "--discovery-timeout", discoveryTimeout(size)],
      files.client,
    );
    f.pingReplies = ping.stats.responded.length;
    f.pingMs = ping.stats.totalMs;
    f.pingRate = ping.stats.repliesMs > 0
      ? ping.stats.responded.length / (ping.stats.repliesMs / 1000)
      : null;
    f.notes.push(
      `ping: discovery ${ping.stats.discoveryMs} ms (--discovery-timeout ${
        discoveryTimeout(size)
      } s, waited out), replies ${ping.stats.repliesMs} ms, CLI wall ${Math.round(ping.wallMs)} ms`,
    );
  } catch (error) {
    f.notes.push(`ping failed: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    const rpc = await runCli(
      ["rpc", "rpcutil", "ping", "--nodes", files.nodes, "--jsonl", "--timeout", timeout],
      files.client,
    );
    f.rpcReplies = rpc.stats.responded.length;
    f.rpcMs = rpc.stats.repliesMs;
    f.rpcRate = rpc.stats.repliesMs > 0
      ? rpc.stats.responded.length / (rpc.stats.repliesMs / 1000)
      : null;
    f.notes.push(`rpc: total ${rpc.stats.totalMs} ms, CLI wall ${Math.round(rpc.wallMs)} ms`);
  } catch (error) {
    f.notes.push(`rpc failed: ${(error as Error).message.split("\n")[0]}`);
  }
  // Restart: stop, start on the same port, time until every server is back and subscribed.
  await broker.stop();
  await waitFor(
    "every server to notice the broker is gone",
    () => emulator.counts.connected === 0,
    60_000,
  )
    .catch(() => {});
  const restarted = await restart();
  try {
    f.reconnectMs = await waitFor(
      "every server to reconnect",
      () => emulator.counts.connected === size,
      120_000,
    );
  } catch (error) {
    f.notes.push(
      `reconnect: ${
        (error as Error).message
      }: ${emulator.counts.connected} of ${size} back; the broker ${
        restarted.ready() ? "said it was ready" : "never said it was ready"
      }, its last lines: ${restarted.logTail().join(" ")}`,
    );
  }
  return { figures: f, broker: restarted };
}

async function runSize(
  size: number,
  workersFlag: boolean,
  choraleOnly: boolean,
): Promise<Record<string, Figures>> {
  // nats-server is one process per node: a cluster of one node per 18,000 connections, node k on
  // 127.0.0.<k+1>, so the fleet spreads over at least as many addresses.
  const natsNodes = Math.ceil((size + 100) / CONNECTIONS_PER_WORKER);
  const addresses = Math.max(Math.ceil(size / INSTANCES_PER_ADDRESS), natsNodes);
  await using pki = await makeEmulatorPki(addresses);
  const port = freePort();
  const clientFile = join(pki.dir, "chorale.yaml");
  await Deno.writeTextFile(clientFile, clientConfigText(pki, port));
  const nodesFile = join(pki.dir, "nodes.txt");
  await Deno.writeTextFile(
    nodesFile,
    Array.from({ length: size }, (_, i) => emulatedIdentity(i)).join("\n") + "\n",
  );
  const policies = join(pki.dir, "policies");
  await Deno.mkdir(policies);
  for (const agent of ["rpcutil", "discovery", "emulated"]) {
    await Deno.writeTextFile(join(policies, `${agent}.policy`), "policy default allow\n");
  }
  const serverFile = join(pki.dir, "server.yaml");
  await Deno.writeTextFile(
    serverFile,
    stringify({
      brokers: [`tls://127.0.0.1:${port}`],
      policies: { enabled: true, dir: policies },
      audit: { enabled: true, file: join(pki.dir, "rpcaudit.log") },
    }),
  );
  const workers = Math.ceil((size + 100) / CONNECTIONS_PER_WORKER);
  const results: Record<string, Figures> = {};
  if (workers > 1 && !workersFlag) {
    results.chorale = emptyFigures(
      `needs ${workers} broker workers and deno task broker has no --workers`,
    );
    return results;
  }
  const startChorale = () => startChoraleFleetBroker(pki, port, workers);
  // The empty broker's memory, for RSS per connection.
  let broker: FleetBroker = await startChorale();
  await sleep(1_000);
  const choraleBaseline = await totalRssKib(await broker.pids());
  // Two processes at least from 2,000 servers on: the emulated servers' work then uses both cores.
  const processes = Math.max(size >= 2_000 ? 2 : 1, Math.ceil(size / MAX_INSTANCES_PER_PROCESS));
  const started = performance.now();
  log(`${size}: starting ${size} emulated servers in ${processes} process(es)`);
  await using emulator = await Emulator.start({
    instances: size,
    processes,
    brokers: [`tls://127.0.0.1:${port}`],
    addresses,
    caDir: pki.caDir,
    config: serverFile,
    connectTimeoutMs: 600_000,
  });
  const connectSeconds = (performance.now() - started) / 1000;
  log(`${size}: connected in ${connectSeconds.toFixed(1)} s`);
  const emulatorKib = await totalRssKib(emulator.pids);
  const emulatorNote = `emulator: ${processes} process(es), connected (certificates issued) in ${
    connectSeconds.toFixed(1)
  } s, RSS ${(emulatorKib / 1024).toFixed(0)} MiB, ${
    (emulatorKib / size).toFixed(1)
  } KiB per server`;
  try {
    const chorale = await measure(
      broker,
      emulator,
      size,
      {
        client: clientFile,
        nodes: nodesFile,
      },
      choraleBaseline,
      startChorale,
    );
    results.chorale = chorale.figures;
    chorale.figures.notes.push(emulatorNote);
    broker = chorale.broker;
    log(`${size}: Chorale ${JSON.stringify(chorale.figures)}`);
  } finally {
    await broker.stop();
  }
  if (natsServerPath() === null || choraleOnly) {
    results["nats-server"] = emptyFigures(
      choraleOnly ? "skipped (--chorale-only)" : "nats-server is not installed",
    );
    return results;
  }
  // nats-server on the same port: the fleet reconnects to it.
  const empty = await startNatsFleetBroker(pki, freePort(), natsNodes);
  const natsBaseline = await totalRssKib(await empty.pids());
  await empty.stop();
  let nats = await startNatsFleetBroker(pki, port, natsNodes);
  try {
    try {
      await waitFor(
        "every server to connect to nats-server",
        () => emulator.counts.connected === size,
        180_000,
      );
    } catch (error) {
      results["nats-server"] = emptyFigures(
        `${(error as Error).message}: ${emulator.counts.connected} of ${size} connected`,
      );
      return results;
    }
    const measured = await measure(
      nats,
      emulator,
      size,
      {
        client: clientFile,
        nodes: nodesFile,
      },
      natsBaseline,
      () => startNatsFleetBroker(pki, port, natsNodes),
    );
    results["nats-server"] = measured.figures;
    if (natsNodes > 1) {
      measured.figures.notes.push(
        `a cluster of ${natsNodes} nats-server processes (one cannot hold ${size} connections: the descriptor limit is ${FD_LIMIT})`,
      );
    }
    nats = measured.broker;
    log(`${size}: nats-server ${JSON.stringify(measured.figures)}`);
  } finally {
    await nats.stop();
  }
  return results;
}

function log(line: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

const fmt = (n: number | null, digits = 0) =>
  n === null
    ? "n/a"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function ratio(ours: number | null, theirs: number | null): string {
  return ours === null || theirs === null || theirs === 0
    ? "n/a"
    : `${(ours / theirs).toFixed(2)}x`;
}

function table(size: number, r: Record<string, Figures>): string {
  const c = r.chorale ?? emptyFigures();
  const n = r["nats-server"] ?? emptyFigures();
  const rows: [string, number | null, number | null, number][] = [
    ["broker RSS, MiB", c.rssMiB, n.rssMiB, 0],
    ["RSS per connection, KiB", c.kibPerConn, n.kibPerConn, 1],
    ["chorale ping: every reply, ms", c.pingMs, n.pingMs, 0],
    ["chorale ping: replies", c.pingReplies, n.pingReplies, 0],
    ["chorale ping: replies/s at the client", c.pingRate, n.pingRate, 0],
    ["rpc rpcutil ping --nodes: every reply, ms", c.rpcMs, n.rpcMs, 0],
    ["rpc rpcutil ping --nodes: replies", c.rpcReplies, n.rpcReplies, 0],
    ["rpc --nodes: replies/s at the client", c.rpcRate, n.rpcRate, 0],
    ["reconnect after a broker restart, ms", c.reconnectMs, n.reconnectMs, 0],
  ];
  const lines = [
    `\n${size.toLocaleString("en-US")} emulated servers`,
    `| figure | Chorale | nats-server | ratio |`,
    `| --- | --- | --- | --- |`,
    ...rows.map(([name, a, b, d]) => `| ${name} | ${fmt(a, d)} | ${fmt(b, d)} | ${ratio(a, b)} |`),
  ];
  for (const [kind, f] of Object.entries(r)) {
    for (const note of f.notes) lines.push(`- ${kind}: ${note}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const opts = new Command("bench:fleet")
    .option("--sizes <list>", "comma-separated fleet sizes", "1000,10000,50000")
    .option("--chorale-only", "measure Chorale's broker alone, not nats-server")
    .parse(Deno.args, { from: "user" })
    .opts();
  const sizes = opts.sizes.split(",").map((s) => Number(s.trim()));
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1) {
      console.error(
        `Cannot run the fleet benchmark as '--sizes' must list positive integers: current value is '${opts.sizes}'`,
      );
      Deno.exit(2);
    }
  }
  const workersFlag = await brokerHasWorkers();
  log(
    `deno task broker --workers: ${workersFlag ? "available" : "not available"}; load ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
  );
  const out: string[] = [];
  for (const size of sizes) {
    const result = await runSize(size, workersFlag, opts.choraleOnly === true);
    const text = table(size, result);
    out.push(text);
    console.log(text);
  }
}

/** Seconds `chorale ping` waits for discovery: 2 s up to 1,000 servers, 1 s per 2,000 above. */
function discoveryTimeout(size: number): string {
  return String(Math.max(2, Math.ceil(size / 2_000)));
}
