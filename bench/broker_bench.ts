/**
 * `deno task bench`: Chorale's broker against nats-server in the same run, under the same client
 * load, all over mutual TLS on loopback. Each benchmark alternates the brokers round by round
 * (Chorale, nats-server, Chorale, nats-server, ...) so the shared, noisy machine's drift hits both
 * alike, and reports each broker's median and the ratio Chorale / nats-server against the targets:
 * throughput at least 0.8 of nats-server's, memory per idle connection below nats-server's.
 *
 * ```sh
 * deno task bench                  # full run, about 5 minutes
 * deno task bench --quick          # short run
 * deno task bench --only=pubsub,memory-1000
 * ```
 *
 * Permissions: `--allow-net` (loopback brokers), `--allow-read` (deno.json, certificates, the
 * broker's source), `--allow-write` (temporary PKI and configs), `--allow-run` (the brokers, and
 * `cat` for /proc, which Deno reads only with `--allow-all`), `--allow-env` (PATH for nats-server),
 * `--allow-sys` (the load average).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { makeTestPki } from "../tests/harness/pki.ts";
import type { BrokerKind, BrokerOptions } from "../tests/harness/types.ts";
import { type BenchBroker, BrokerNames, LiveBrokers, natsServerAvailable } from "./brokers.ts";
import type { TlsIdentity } from "./load.ts";
import { isAlive } from "./proc.ts";
import { connectNats, pubFrame } from "./load.ts";
import { freePort } from "../broker/ports.ts";
import {
  idleConnections,
  PAYLOAD_BYTES,
  pubSub,
  type RateResult,
  requestReplyPipelined,
  requestReplySerial,
  type Target,
} from "./scenarios.ts";

/** How big a run is. */
interface Scale {
  rounds: number;
  memoryRounds: number;
  pubsubMessages: number;
  fanoutMessages: number;
  serialRequests: number;
  pipelinedRequests: number;
  settleMs: number;
}

const FULL: Scale = {
  rounds: 5,
  memoryRounds: 3,
  pubsubMessages: 2_000_000,
  fanoutMessages: 50_000,
  serialRequests: 5_000,
  pipelinedRequests: 200_000,
  settleMs: 2_000,
};

const QUICK: Scale = {
  rounds: 3,
  memoryRounds: 1,
  pubsubMessages: 200_000,
  fanoutMessages: 10_000,
  serialRequests: 1_000,
  pipelinedRequests: 20_000,
  settleMs: 1_000,
};

const FANOUT_SUBSCRIBERS = 100;
const IN_FLIGHT = 100;
/** Publisher lead over the slowest subscriber: about 7.5 MB of frames for 1:1. */
const PUBSUB_WINDOW = 50_000;
/**
 * For fan-out: 5,000 messages x 100 subscribers, about 0.75 MB per subscriber. A window of 1,000
 * cost both brokers about 10%; larger ones gained nothing more.
 */
const FANOUT_WINDOW = 5_000;
/**
 * Handshakes in progress at once. The load generator is the bottleneck when connecting (about
 * 1,500 handshakes/s at one core), so more in flight only adds latency: at 200, 1% of handshakes
 * took over 0.9 s and some went past nats-server's 2 s TLS timeout; at 50 they stay under 0.15 s
 * at the same rate.
 */
const CONNECT_CONCURRENCY = 50;

/** One benchmark: what it measures and how to run one round of it against one broker. */
interface Benchmark {
  name: string;
  title: string;
  unit: string;
  /** "rate": higher is better, target ratio >= 0.8; "memory": lower is better, below nats-server. */
  kind: "rate" | "memory";
  /** Whether both brokers are fresh for every round (memory) or per benchmark (throughput). */
  freshEachRound: boolean;
  /**
   * Starts what one round runs against, when that is not one broker (a cluster of two).
   * @default one broker of the kind
   */
  start?(kind: BrokerKind, context: RunContext): Promise<BenchBroker>;
  /** Runs one round; `warmUp` asks for a short, unreported run first. */
  run(target: Target, identity: TlsIdentity, scale: Scale, warmUp: boolean): Promise<Sample>;
}

/** One round's figure, plus context for the details table. */
interface Sample {
  value: number;
  /** Cores the broker used, or null when not measured. */
  brokerCpu: number | null;
  /** Cores the load generator used, or null. */
  benchCpu: number | null;
  /** Free-form context ("baseline 41 MB, 2,150 conn/s"). */
  note: string;
}

function rateSample(result: RateResult): Sample {
  return {
    value: result.rate,
    brokerCpu: result.brokerCpu,
    benchCpu: result.benchCpu,
    note: `${fmtInt(result.count)} in ${result.seconds.toFixed(2)} s`,
  };
}

function memoryBenchmark(connections: number): Benchmark {
  return {
    name: `memory-${connections}`,
    title: `idle mTLS connection memory, ${fmtInt(connections)} conns`,
    unit: "KiB/conn",
    kind: "memory",
    freshEachRound: true,
    async run(target, identity, scale) {
      const result = await idleConnections(target, identity, {
        connections,
        concurrency: CONNECT_CONCURRENCY,
        settleMs: scale.settleMs,
      });
      return {
        value: result.kibPerConnection,
        brokerCpu: null,
        benchCpu: null,
        note: `RSS ${fmtMiB(result.baselineKib)} -> ${fmtMiB(result.loadedKib)}; ${
          fmtInt(result.connectRate)
        } conn/s (load-bound), broker CPU ${result.brokerCpuMsPerConnection.toFixed(2)} ms/conn`,
      };
    },
  };
}

const BENCHMARKS: Benchmark[] = [
  {
    name: "pubsub",
    title: `pub/sub 1 -> 1, ${PAYLOAD_BYTES} B`,
    unit: "msgs/s",
    kind: "rate",
    freshEachRound: false,
    async run(target, identity, scale, warmUp) {
      const messages = warmUp ? Math.ceil(scale.pubsubMessages / 10) : scale.pubsubMessages;
      return rateSample(await pubSub(target, identity, { messages, window: PUBSUB_WINDOW }));
    },
  },
  {
    name: "fanout",
    title: `fan-out 1 -> ${FANOUT_SUBSCRIBERS}, ${PAYLOAD_BYTES} B`,
    unit: "msgs/s",
    kind: "rate",
    freshEachRound: false,
    async run(target, identity, scale, warmUp) {
      const messages = warmUp ? Math.ceil(scale.fanoutMessages / 10) : scale.fanoutMessages;
      return rateSample(
        await pubSub(target, identity, {
          messages,
          subscribers: FANOUT_SUBSCRIBERS,
          window: FANOUT_WINDOW,
        }),
      );
    },
  },
  {
    name: "reqrep-serial",
    title: "request/reply, serial (npm:nats)",
    unit: "req/s",
    kind: "rate",
    freshEachRound: false,
    async run(target, identity, scale, warmUp) {
      const requests = warmUp ? Math.ceil(scale.serialRequests / 10) : scale.serialRequests;
      return rateSample(await requestReplySerial(target, identity, { requests }));
    },
  },
  {
    name: "reqrep-pipelined",
    title: `request/reply, ${IN_FLIGHT} in flight (raw)`,
    unit: "req/s",
    kind: "rate",
    freshEachRound: false,
    async run(target, identity, scale, warmUp) {
      const requests = warmUp ? Math.ceil(scale.pipelinedRequests / 10) : scale.pipelinedRequests;
      return rateSample(
        await requestReplyPipelined(target, identity, { requests, inFlight: IN_FLIGHT }),
      );
    },
  },
  {
    name: "cluster-pubsub",
    title: `cluster pub/sub 1 -> 1 across a route, ${PAYLOAD_BYTES} B`,
    unit: "msgs/s",
    kind: "rate",
    freshEachRound: false,
    start: startClusterPair,
    async run(target, identity, scale, warmUp) {
      const messages = warmUp ? Math.ceil(scale.pubsubMessages / 10) : scale.pubsubMessages;
      return rateSample(await pubSub(target, identity, { messages, window: PUBSUB_WINDOW }));
    },
  },
  memoryBenchmark(1_000),
  memoryBenchmark(10_000),
];

/**
 * Two brokers of `kind` in a cluster: subscribers on B, the publisher on A, so every message
 * crosses the route. Ready once a probe published on A reaches a subscriber on B.
 */
async function startClusterPair(kind: BrokerKind, context: RunContext): Promise<BenchBroker> {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await context.brokers.start(kind, {
    ...context.options,
    cluster: { port: portA, routes: [] },
  });
  try {
    const b = await context.brokers.start(kind, {
      ...context.options,
      cluster: { port: portB, routes: [`nats-route://127.0.0.1:${portA}`] },
    });
    const stop = async () => {
      await Promise.all([a.stop(), b.stop()]);
    };
    await routeCarries(a.port, b.port, context.identity);
    return { ...b, publishPort: a.port, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await a.stop();
    throw error;
  }
}

/** Resolves once a message published on `from` reaches a subscriber on `to`. */
async function routeCarries(from: number, to: number, identity: TlsIdentity): Promise<void> {
  await using sub = await connectNats(to, identity, "route probe subscriber", {
    after: "SUB bench.route.probe 1\r\n",
  });
  await using pub = await connectNats(from, identity, "route probe publisher");
  const frame = pubFrame("bench.route.probe", 1);
  const deadline = Date.now() + 10_000;
  while (sub.reader.msgs === 0) {
    if (Date.now() > deadline) {
      throw new Error("Cannot benchmark the cluster as its route never carried a message in 10 s");
    }
    void pub.write(frame);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What one benchmark produced for one broker. */
interface Outcome {
  samples: Sample[];
  failure: string | null;
}

// Formatting

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function fmtMiB(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

function fmtValue(benchmark: Benchmark, n: number): string {
  return benchmark.kind === "memory" ? n.toFixed(1) : fmtInt(n);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Renders rows as a plain text table; numeric-looking cells are right-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const numeric = /^[-+]?[\d,.]+( ?[%x])?$|^n\/a$/;
  const line = (cells: string[]) =>
    cells.map((c, k) => numeric.test(c) ? c.padStart(widths[k]!) : c.padEnd(widths[k]!))
      .join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function loadAverage(): string {
  return Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

// Running

async function runOne(
  benchmark: Benchmark,
  broker: BenchBroker,
  identity: TlsIdentity,
  scale: Scale,
  warmUp: boolean,
): Promise<Sample> {
  try {
    return await benchmark.run(broker, identity, scale, warmUp);
  } catch (error) {
    const alive = await isAlive(broker.pid);
    const state = alive ? "still running" : "its process has EXITED";
    const tail = broker.logTail();
    throw new Error(
      `${BrokerNames[broker.kind]} failed ${benchmark.name}${
        warmUp ? " (warm-up)" : ""
      } (${state}): ${(error as Error).message}${
        tail ? `\n  broker log tail:\n    ${tail.split("\n").join("\n    ")}` : ""
      }`,
      { cause: error },
    );
  }
}

/** What every benchmark runs with. */
interface RunContext {
  kinds: BrokerKind[];
  options: BrokerOptions;
  identity: TlsIdentity;
  scale: Scale;
  brokers: LiveBrokers;
}

async function runBenchmark(
  benchmark: Benchmark,
  context: RunContext,
): Promise<Map<BrokerKind, Outcome>> {
  const { kinds, options, identity, scale } = context;
  const outcomes = new Map<BrokerKind, Outcome>(
    kinds.map((k) => [k, { samples: [], failure: null }]),
  );
  const rounds = benchmark.freshEachRound ? scale.memoryRounds : scale.rounds;
  const record = (kind: BrokerKind, round: number, sample: Sample) => {
    outcomes.get(kind)!.samples.push(sample);
    const cpu = sample.brokerCpu === null ? "" : `, broker ${sample.brokerCpu.toFixed(2)} cores`;
    log(
      `${benchmark.name} round ${round} ${BrokerNames[kind]}: ${
        fmtValue(benchmark, sample.value)
      } ${benchmark.unit} (${sample.note}${cpu})`,
    );
  };
  const fail = (kind: BrokerKind, error: unknown) => {
    const outcome = outcomes.get(kind)!;
    outcome.failure ??= (error as Error).message;
    log(`FAILED: ${(error as Error).message}`);
  };

  if (benchmark.freshEachRound) {
    for (let round = 1; round <= rounds; round++) {
      for (const kind of kinds) {
        if (outcomes.get(kind)!.failure) continue;
        try {
          await using broker = await (benchmark.start?.(kind, context) ??
            context.brokers.start(kind, options));
          record(kind, round, await runOne(benchmark, broker, identity, scale, false));
        } catch (error) {
          fail(kind, error);
        }
      }
    }
    return outcomes;
  }

  // Throughput: one broker of each kind for the whole benchmark, warmed up once.
  const brokers = new Map<BrokerKind, BenchBroker>();
  try {
    for (const kind of kinds) {
      try {
        const broker = await (benchmark.start?.(kind, context) ??
          context.brokers.start(kind, options));
        brokers.set(kind, broker);
        await runOne(benchmark, broker, identity, scale, true);
      } catch (error) {
        fail(kind, error);
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const kind of kinds) {
        const broker = brokers.get(kind);
        if (!broker || outcomes.get(kind)!.failure) continue;
        try {
          record(kind, round, await runOne(benchmark, broker, identity, scale, false));
        } catch (error) {
          fail(kind, error);
        }
      }
    }
  } finally {
    for (const broker of brokers.values()) await broker.stop();
  }
  return outcomes;
}

function report(
  benchmarks: Benchmark[],
  results: Map<string, Map<BrokerKind, Outcome>>,
  haveNats: boolean,
): { summary: string; details: string } {
  const summaryRows: string[][] = [];
  const detailRows: string[][] = [];
  for (const benchmark of benchmarks) {
    const outcome = results.get(benchmark.name)!;
    const chorale = outcome.get("chorale")!;
    const nats = outcome.get("nats-server");
    const med = (o: Outcome | undefined) =>
      o && !o.failure && o.samples.length > 0 ? median(o.samples.map((s) => s.value)) : null;
    const c = med(chorale);
    const n = med(nats);
    const ratio = c !== null && n !== null ? c / n : null;
    const target = benchmark.kind === "rate" ? "ratio >= 0.80" : "ratio < 1.00";
    let met: string;
    if (chorale.failure) met = "FAILED (Chorale)";
    else if (nats?.failure) met = "FAILED (nats-server)";
    else if (ratio === null) met = "cannot judge";
    else if (benchmark.kind === "rate") met = ratio >= 0.8 ? "met" : "NOT MET";
    else met = ratio < 1 ? "met" : "NOT MET";
    summaryRows.push([
      benchmark.title,
      benchmark.unit,
      c === null ? "-" : fmtValue(benchmark, c),
      haveNats ? (n === null ? "-" : fmtValue(benchmark, n)) : "absent",
      ratio === null ? "n/a" : `${ratio.toFixed(2)}x`,
      target,
      met,
    ]);
    for (const [kind, o] of outcome) {
      const cpu = o.samples.map((s) => s.brokerCpu).filter((v) => v !== null);
      const gen = o.samples.map((s) => s.benchCpu).filter((v) => v !== null);
      detailRows.push([
        benchmark.name,
        BrokerNames[kind],
        o.samples.map((s) => fmtValue(benchmark, s.value)).join(" / ") || "-",
        cpu.length > 0 ? median(cpu).toFixed(2) : "",
        gen.length > 0 ? median(gen).toFixed(2) : "",
        o.failure ? "FAILED, see above" : (o.samples.at(-1)?.note ?? ""),
      ]);
    }
  }
  return {
    summary: table(
      ["benchmark", "unit", "Chorale", "nats-server", "ratio", "target", "result"],
      summaryRows,
    ),
    details: table(
      ["benchmark", "broker", "rounds (in order)", "broker cores", "load cores", "last round"],
      detailRows,
    ),
  };
}

/** A short fingerprint of broker/*.ts and the time of its newest change, to tell runs apart. */
async function brokerSource(): Promise<string> {
  const dir = new URL("../broker/", import.meta.url);
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ts")) names.push(entry.name);
  }
  names.sort();
  let newest = 0;
  const parts: Uint8Array[] = [];
  for (const name of names) {
    const url = new URL(name, dir);
    parts.push(new TextEncoder().encode(name), await Deno.readFile(url));
    newest = Math.max(newest, (await Deno.stat(url)).mtime?.getTime() ?? 0);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  const hex = [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `sha256 ${hex}… over broker/*.ts, newest change ${new Date(newest).toISOString()}`;
}

async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    return new TextDecoder().decode(out.stdout).trim().split("\n")[0] ?? "";
  } catch {
    return "unavailable";
  }
}

async function main(args: string[]): Promise<number> {
  const program = new Command("broker_bench")
    .description("Benchmarks Chorale's broker against nats-server over mutual TLS")
    .option("--quick", "a short run (fewer messages and rounds)")
    .option(
      "--only <names>",
      `comma-separated benchmarks (prefixes work): ${BENCHMARKS.map((b) => b.name).join(", ")}`,
    )
    .option("--rounds <n>", "rounds per benchmark (memory benchmarks included)")
    .option("--chorale-only", "measure Chorale's broker alone, as when nats-server is absent")
    .exitOverride();
  let opts;
  try {
    opts = program.parse(args, { from: "user" }).opts();
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const scale: Scale = { ...(opts.quick ? QUICK : FULL) };
  if (opts.rounds !== undefined) {
    const rounds = Number(opts.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) {
      console.error(
        `Cannot run as '--rounds' must be a positive integer: current value is ${opts.rounds}`,
      );
      return 2;
    }
    scale.rounds = rounds;
    scale.memoryRounds = rounds;
  }
  let selected = BENCHMARKS;
  if (opts.only !== undefined) {
    const wanted = opts.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const unknown = wanted.filter((w) => !BENCHMARKS.some((b) => b.name.startsWith(w)));
    if (wanted.length === 0 || unknown.length > 0) {
      console.error(
        `Cannot run as '--only' names no benchmark: current value is '${opts.only}'; choose from ${
          BENCHMARKS.map((b) => b.name).join(", ")
        }`,
      );
      return 2;
    }
    selected = BENCHMARKS.filter((b) => wanted.some((w) => b.name.startsWith(w)));
  }

  const installed = natsServerAvailable();
  const haveNats = installed && !opts.choraleOnly;
  const kinds: BrokerKind[] = haveNats ? ["chorale", "nats-server"] : ["chorale"];
  const command = ["deno", "task", "bench", ...args].join(" ");
  const loadBefore = loadAverage();
  const started = performance.now();
  console.log(`Chorale broker benchmark${opts.quick ? " (quick run)" : ""}`);
  console.log(`command:     ${command}`);
  console.log(`deno:        ${Deno.version.deno}`);
  console.log(
    `nats-server: ${
      haveNats
        ? await commandOutput("nats-server", ["--version"])
        : installed
        ? "skipped (--chorale-only): measuring Chorale alone, no ratios"
        : "NOT INSTALLED: measuring Chorale alone, no ratios (apt-get install nats-server)"
    }`,
  );
  const sourceBefore = await brokerSource();
  console.log(`broker:      ${sourceBefore}`);
  console.log(`cpus:        ${navigator.hardwareConcurrency}, load average before ${loadBefore}`);
  console.log(
    `setup:       mutual TLS on 127.0.0.1, ${PAYLOAD_BYTES}-byte payloads, brokers alternate round by round; ` +
      `${scale.rounds} rounds (memory: ${scale.memoryRounds}, fresh brokers each), median reported`,
  );
  console.log("");

  await using pki = await makeTestPki();
  const brokers = new LiveBrokers();
  // Ctrl-C must not leave brokers running or the PKI on disk.
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log("interrupted: stopping brokers");
    brokers.stopAll().finally(async () => {
      await pki[Symbol.asyncDispose]();
      Deno.exit(130);
    });
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const context: RunContext = {
    kinds,
    options: { pki },
    identity: { ca: pki.caPem, cert: pki.client.cert, key: pki.client.key },
    scale,
    brokers,
  };
  const results = new Map<string, Map<BrokerKind, Outcome>>();
  try {
    for (const benchmark of selected) {
      log(`${benchmark.name}: starting`);
      results.set(benchmark.name, await runBenchmark(benchmark, context));
    }
  } finally {
    await brokers.stopAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }

  const { summary, details } = report(selected, results, haveNats);
  const loadAfter = loadAverage();
  console.log(summary);
  console.log("");
  console.log(details);
  console.log("");
  console.log(
    `ratio = Chorale / nats-server medians. Broker cores = CPU time of the broker process ` +
      `(all threads) / wall time; load cores = the same for this load-generating process.`,
  );
  console.log(
    `took ${((performance.now() - started) / 1000).toFixed(1)} s; load average after ${loadAfter}`,
  );
  const sourceAfter = await brokerSource();
  if (sourceAfter !== sourceBefore) {
    console.log(
      `WARNING: broker/ changed during the run (now ${sourceAfter}): rounds may mix versions`,
    );
  }
  const failures = [...results.values()].flatMap((m) => [...m.values()]).filter((o) => o.failure);
  if (failures.length > 0) {
    console.log("");
    console.log("FAILURES:");
    for (const o of failures) console.log(`- ${o.failure}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
