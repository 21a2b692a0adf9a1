/**
 * `deno task broker --workers N`: N broker processes on one client port (`SO_REUSEPORT`, so the
 * kernel spreads new connections over them), joined by internal routes on loopback into a full
 * mesh, so a message published on any worker reaches subscribers on every worker exactly once. One
 * process cannot hold more than about 20,000 descriptors here; N workers hold N times as many.
 *
 * The supervisor starts the workers with the broker's own permissions, forwards their log lines,
 * says `listening` once every worker listens and is routed to every other, restarts a worker that
 * dies (its clients reconnect to the others, then spread again), and stops them all on SIGINT or
 * SIGTERM.
 *
 * @module
 */
import { freePort } from "./ports.ts";
import { KeptChild } from "./kept_child.ts";
import type { Logger } from "../core/log.ts";
import { type ClusterSettings, parseRouteUrl } from "./cluster.ts";

/**
 * The permissions of `deno task broker` without `--allow-run`: what each worker gets. A test
 * checks they match deno.json.
 */
export const WORKER_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env=CHORALE_*,LOG_TOKENS,LOG_STREAM,NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE",
  "--allow-sys=hostname",
];

/** Sockets one worker is planned for, below the per-process descriptor limit of 20,000. */
export const SOCKETS_PER_WORKER = 18_000;

/**
 * The worker count when `workers` is 0 (automatic): enough processes for `maxConnections` at
 * {@linkcode SOCKETS_PER_WORKER} each, at least one, at most two per core.
 *
 * @example
 * ```ts
 * import { automaticWorkers } from "./workers.ts";
 * console.log(automaticWorkers(65_536, 2)); // 4
 * ```
 */
export function automaticWorkers(maxConnections: number, cores: number): number {
  const needed = Math.ceil(maxConnections / SOCKETS_PER_WORKER);
  return Math.max(1, Math.min(needed, 2 * Math.max(1, cores)));
}

/** How the supervisor runs its workers. */
export interface WorkerPlan {
  count: number;
  /** The broker's own flags, without `--workers`; worker flags are appended. */
  args: string[];
  /** Client listener every worker shares (a free port is chosen first when it is 0). */
  host: string;
  port: number;
  /** Monitoring listener; worker `i` serves on `port + i`. Null when off. */
  monitor: { host: string; port: number } | null;
  /**
   * The cluster the broker joins, if any: worker `i` is a member of its own, with its route
   * listener on the cluster port + `i` (free ports when it is 0), dialling the configured routes
   * and the workers before it. Without one, the workers form a cluster of their own on loopback.
   */
  cluster: ClusterSettings | null;
  /** Whether clients must use mutual TLS (for the log line). */
  tls: boolean;
  /** The `broker/main.ts` to run. */
  main: string;
}

const READY_TIMEOUT_MS = 30_000;

interface Worker {
  index: number;
  routePort: number;
  child: KeptChild | null;
  listening: boolean;
  routes: number;
}

/** Runs the workers until `signal` aborts; resolves with the exit code. */
export async function superviseWorkers(
  plan: WorkerPlan,
  logger: Logger,
  signal: AbortSignal,
): Promise<number> {
  const port = plan.port === 0 ? await freePort(plan.host) : plan.port;
  const cluster = plan.cluster;
  const routeHost = cluster?.host ?? "127.0.0.1";
  const workers: Worker[] = [];
  for (let index = 0; index < plan.count; index++) {
    workers.push({
      index,
      routePort: cluster && cluster.port !== 0 ? cluster.port + index : await freePort(routeHost),
      child: null,
      listening: false,
      routes: 0,
    });
  }
  const dialHost = routeHost === "0.0.0.0" ? "127.0.0.1" : routeHost === "::" ? "::1" : routeHost;
  const routeUrls = workers.map((w) => `nats-route://${hostPort(dialHost, w.routePort)}`);
  // Every worker counts the other workers' routes; external peers come on top.
  const expectedRoutes = plan.count - 1;
  let announced = false;
  const announce = () => {
    if (announced) return;
    if (!workers.every((w) => w.listening && w.routes >= expectedRoutes)) return;
    announced = true;
    logger.info("listening", { host: plan.host, port, workers: plan.count, tls: plan.tls });
  };

  const args = (worker: Worker) => [
    "run",
    ...WORKER_PERMISSIONS,
    plan.main,
    ...plan.args,
    "--worker",
    String(worker.index),
    "--listen",
    `${plan.host}:${port}`,
    "--cluster",
    hostPort(routeHost, worker.routePort),
    "--cluster-name",
    cluster?.name ?? "workers",
    // Each pair of workers has one route, dialled by the later worker: no duplicates to settle.
    ...routesFlag([...(cluster?.routes ?? []), ...routeUrls.slice(0, worker.index)]),
    ...(plan.monitor
      ? [
        "--monitor",
        `${plan.monitor.host}:${plan.monitor.port === 0 ? 0 : plan.monitor.port + worker.index}`,
      ]
      : []),
  ];
  for (const worker of workers) {
    worker.child = new KeptChild({
      name: "worker",
      fields: { worker: worker.index },
      args: () => args(worker),
      env: cluster?.advertise
        ? { CHORALE_BROKER_CLUSTER_ADVERTISE: shiftPort(cluster.advertise, worker.index) }
        : {},
      onStart: () => {
        worker.listening = false;
        worker.routes = 0;
      },
      // Readiness comes on standard output, so it does not depend on the log level.
      onStdoutLine: (line) => {
        const event = workerEvent(line);
        if (event === "listening") worker.listening = true;
        else if (event === "route") worker.routes++;
        else return;
        announce();
      },
    }, logger);
  }

  for (const worker of workers) worker.child!.start();
  const readyTimer = setTimeout(() => {
    if (!announced) {
      logger.error("workers not all routed in time", {
        listening: workers.filter((w) => w.listening).length,
        routes: workers.map((w) => w.routes),
      });
    }
  }, READY_TIMEOUT_MS);

  await new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
  clearTimeout(readyTimer);
  await Promise.all(workers.map((w) => w.child!.stop()));
  return 0;
}

/** What a worker tells its supervisor on standard output, one JSON object a line. */
export type WorkerEvent = "listening" | "route";

/** The line a worker writes to tell its supervisor of `event`. */
export function workerEventLine(event: WorkerEvent): string {
  return `${JSON.stringify({ chorale_worker: event })}\n`;
}

function workerEvent(line: string): WorkerEvent | null {
  try {
    const event = (JSON.parse(line) as { chorale_worker?: unknown }).chorale_worker;
    return event === "listening" || event === "route" ? event : null;
  } catch {
    return null;
  }
}

function routesFlag(urls: string[]): string[] {
  return urls.length === 0 ? [] : ["--routes", urls.join(",")];
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `nats-route://h:p` with the port moved on by `by`: worker i advertises its own route port. */
function shiftPort(url: string, by: number): string {
  const { host, port } = parseRouteUrl(url);
  return `nats-route://${hostPort(host, port + by)}`;
}
