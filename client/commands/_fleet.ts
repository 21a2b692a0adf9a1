/**
 * What the fleet commands (`rpc`, `discover`, `ping`, `facts`, `inventory`) share: the client
 * they talk through (injected, so tests run without sockets), discovery before a call, running a
 * call with a progress bar, and colours for the terminal.
 *
 * @module
 */
import type { ActionDdl } from "../../agents/agent.ts";
import type { CliContext } from "../cli.ts";
import { CliError, ExitStatus, warn } from "../cli.ts";
import { Client } from "../client.ts";
import { loadClientOptions } from "../config.ts";
import { ExitCodes, rpcExitCode, toCliError } from "../exit_codes.ts";
import { limitCount } from "../limit.ts";
import { colourEnabled, type Palette, palette } from "../output/colour.ts";
import { ProgressBar } from "../output/progress.ts";
import type { Targeting } from "../targeting.ts";
import type {
  DiscoverOptions,
  DiscoveryResult,
  RpcCall,
  RpcOptions,
  RpcResult,
  RpcResultSet,
} from "../types.ts";

/** The part of the client library the commands use; `Client` is one. */
export interface FleetClient extends AsyncDisposable {
  discover(options?: DiscoverOptions): Promise<DiscoveryResult>;
  rpc(options: RpcOptions): RpcCall;
}

/** How to reach the fleet, from the command's options. */
export interface ConnectFlags {
  /** `--config`. */
  config?: string;
  /** `-T`. */
  collective?: string;
}

/** Connects a client for a command. */
export type FleetConnector = (ctx: CliContext, flags: ConnectFlags) => Promise<FleetClient>;

/** What fleet commands need besides the CLI context. */
export interface FleetDeps {
  connect: FleetConnector;
}

/**
 * The real connector: loads the client configuration (`--config`, else the user's file and the
 * project's `chorale.yaml`; then CHORALE_* variables), checks the identity's certificate and
 * connects. Broadcast discovery waits the configuration's `discovery_timeout` unless told
 * otherwise.
 */
export const connectFleet: FleetConnector = async (ctx, flags) => {
  const { client: options, config, warnings } = await loadClientOptions({
    env: (name) => ctx.env(name),
    cwd: ctx.cwd(),
    uid: ctx.uid(),
    now: ctx.now(),
    ...(flags.config !== undefined ? { file: flags.config } : {}),
  });
  for (const warning of warnings) warn(ctx, warning);
  const client = await Client.connect(options);
  return {
    discover: (discover = {}) =>
      client.discover({ timeoutMs: config.discoveryTimeoutMs, ...discover }),
    rpc: (request) => client.rpc(request),
    [Symbol.asyncDispose]: () => client.close(),
  };
};

/** The dependencies of the real `chorale`. */
export const defaultFleetDeps: FleetDeps = { connect: connectFleet };

/** Colours for standard output. */
export function coloursFor(ctx: CliContext): Palette {
  return palette(
    colourEnabled({ env: (n) => ctx.env(n), isTerminal: ctx.isTerminal?.("stdout") ?? false }),
  );
}

/** Whether to draw a progress bar: both streams are terminals and no machine output is asked. */
export function progressWanted(ctx: CliContext, machine: boolean, flag = true): boolean {
  return flag && !machine && (ctx.isTerminal?.("stdout") ?? false) &&
    (ctx.isTerminal?.("stderr") ?? false);
}

/**
 * Connects, runs `fn` with the client and closes it; library errors become one sentence and
 * their exit code.
 */
export async function withFleet<T>(
  ctx: CliContext,
  deps: FleetDeps,
  flags: ConnectFlags,
  fn: (client: FleetClient) => Promise<T>,
): Promise<T> {
  try {
    await using client = await deps.connect(ctx, flags);
    return await fn(client);
  } catch (error) {
    throw toCliError(error);
  }
}

/**
 * Discovers the nodes a command is for, as the library would before a call, so the command knows
 * how many to expect; `agent` restricts broadcast discovery to nodes running it.
 */
export async function discoverTargets(
  client: FleetClient,
  targeting: Targeting,
  agent?: string,
): Promise<DiscoveryResult> {
  const flatfile = targeting.discovery.method === "flatfile";
  const filter = { ...targeting.filter };
  if (agent !== undefined && !flatfile && !(filter.agent ?? []).includes(agent)) {
    filter.agent = [...filter.agent ?? [], agent];
  }
  return await client.discover({
    ...targeting.discovery,
    filter,
    ...(targeting.collective !== undefined ? { collective: targeting.collective } : {}),
  });
}

/** Refuses to go on when discovery found nobody: exit 1, as Choria. */
export function requireNodes(found: DiscoveryResult, what: string): void {
  if (found.nodes.length > 0) return;
  throw new CliError(`Cannot ${what} as no nodes were discovered`, ExitCodes.error, {
    hint: "check the filters (-F, -C, -A, -I, -W, -S), the collective (-T) or --nodes",
  });
}

/** Options for {@linkcode runCall}. */
export interface RunCallOptions {
  /** Draw a progress bar on standard error. */
  progress: boolean;
  /** Told each reply as it arrives (for `--jsonl`). */
  onReply?: (result: RpcResult) => void;
}

/**
 * Runs a call on nodes already discovered, counting replies on a progress bar; the stats get
 * the discovery time added, since the call itself did not discover.
 */
export async function runCall(
  ctx: CliContext,
  client: FleetClient,
  request: RpcOptions & { nodes: string[] },
  discovery: DiscoveryResult,
  options: RunCallOptions,
): Promise<RpcResultSet> {
  const expected = request.limit === undefined
    ? request.nodes.length
    : limitCount(request.nodes.length, request.limit);
  const bar = new ProgressBar(
    { write: (text) => ctx.stderr(text), columns: ctx.columns?.() ?? 80 },
    expected,
    options.progress,
  );
  bar.start();
  try {
    const call = client.rpc(request);
    for await (const result of call) {
      bar.tick();
      options.onReply?.(result);
    }
    const set = await call.done();
    return {
      results: set.results,
      stats: {
        ...set.stats,
        discoveryMs: set.stats.discoveryMs + discovery.elapsedMs,
        totalMs: set.stats.totalMs + discovery.elapsedMs,
      },
    };
  } finally {
    bar.clear();
  }
}

/** Ends the command with Choria's exit code for the call, after its output was written. */
export function finishCall(set: RpcResultSet): void {
  const code = rpcExitCode(set.stats);
  if (code !== 0) throw new ExitStatus(code);
}

/** The action's DDL from an agent DDL, for rendering; undefined when it has none. */
export function actionOf(
  ddl: { actions: ActionDdl[] } | undefined,
  name: string,
): ActionDdl | undefined {
  return ddl?.actions.find((a) => a.action === name);
}
