/**
 * `chorale scout`: Scout checks across the fleet, through the `scout` agent on each node.
 *
 * - `status`: every check on the nodes the filters select, with its state and since when;
 * - `trigger|maintenance|resume [CHECK...]`: check now, pause or resume checks (all when none
 *   are named), reporting per node which were transitioned, skipped or unknown;
 * - `watch`: check results and state changes live, coloured, with each check's recent history.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, formatTable, say } from "../cli.ts";
import type { RpcResultSet } from "../types.ts";
import {
  addTargetingOptions,
  parseCount,
  parseSeconds,
  repeat,
  type TargetingFlags,
  targetingOf,
} from "../targeting.ts";
import {
  coloursFor,
  discoverTargets,
  finishCall,
  type FleetDeps,
  progressWanted,
  requireNodes,
  runCall,
  withFleet,
} from "./_fleet.ts";
import {
  connectMachineEvents,
  type MachineEventConnector,
  type MachineEventMessage,
  storedMachineEvents,
  watchLimits,
} from "./_machine_events.ts";
import { eventFeed, renderMachineEvent, SINCE_HELP, statusColour } from "./machine.ts";
import { connectFlags } from "./rpc.ts";

/** How long Scout calls wait for replies, milliseconds. */
const TIMEOUT_MS = 5_000;
const SCOUT_TRANSITIONS = new Set([
  "OK",
  "WARNING",
  "CRITICAL",
  "UNKNOWN",
  "MAINTENANCE",
  "RESUME",
]);

type Flags = TargetingFlags & { json?: boolean; progress?: boolean };

/** One check as `status` reports it. */
export interface CheckStatus {
  node: string;
  name: string;
  state: string;
  /** Unix seconds. */
  started: number;
  version: string;
  /** The last result's output, when the node sends it. */
  output: string;
}

/** The checks in a `scout#checks` result set, sorted by node and name. */
export function checksOf(set: RpcResultSet): CheckStatus[] {
  const rows: CheckStatus[] = [];
  for (const r of set.results) {
    if (r.statuscode !== 0) continue;
    for (const c of (r.data.checks as Array<Record<string, unknown>> | undefined) ?? []) {
      rows.push({
        node: r.sender,
        name: String(c.name),
        state: String(c.state),
        started: Number(c.started ?? 0),
        version: String(c.version ?? ""),
        output: String(c.output ?? ""),
      });
    }
  }
  return rows.sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
}

async function call(
  ctx: CliContext,
  deps: FleetDeps,
  opts: Flags,
  action: string,
  data: Record<string, unknown>,
): Promise<RpcResultSet> {
  const targeting = targetingOf(ctx, opts);
  return await withFleet(ctx, deps, connectFlags(opts), async (client) => {
    const found = await discoverTargets(client, targeting, "scout");
    requireNodes(found, `run scout ${action}`);
    return await runCall(
      ctx,
      client,
      {
        agent: "scout",
        action,
        data,
        nodes: found.nodes,
        filter: targeting.filter,
        mode: "broadcast",
        timeoutMs: TIMEOUT_MS,
        ...(targeting.collective !== undefined ? { collective: targeting.collective } : {}),
      },
      found,
      { progress: progressWanted(ctx, opts.json === true, opts.progress) },
    );
  });
}

function reportFailures(ctx: CliContext, set: RpcResultSet): void {
  for (const r of set.results) {
    if (r.statuscode !== 0) ctx.stderr(`chorale: ${r.sender}: ${r.statusmsg}\n`);
  }
  if (set.stats.noResponses.length > 0) {
    ctx.stderr(`chorale: no reply from ${set.stats.noResponses.join(", ")}\n`);
  }
}

/** Adds `chorale scout` to `program`. */
export function registerScoutCommand(
  program: Command,
  ctx: CliContext,
  deps: FleetDeps,
  events: MachineEventConnector = connectMachineEvents,
  stored: (sinceMs: number) => MachineEventConnector = storedMachineEvents,
): void {
  const scout = program.command("scout").description("Scout checks across the fleet");

  const status = scout.command("status")
    .description("every Scout check on the selected nodes, with its state")
    .option("--check <name>", "only this check (repeatable)", repeat)
    .option("--json", "print the checks as JSON")
    .option("--no-progress", "never draw the progress bar");
  addTargetingOptions(status);
  status.action(async () => {
    const opts = status.opts() as Flags & { check?: string[] };
    const set = await call(ctx, deps, opts, "checks", {});
    const rows = checksOf(set).filter((c) => !opts.check || opts.check.includes(c.name));
    if (opts.json) say(ctx, JSON.stringify({ checks: rows, stats: set.stats }, null, 2));
    else {
      const colours = coloursFor(ctx);
      const upper = (s: string) => s.toUpperCase();
      if (rows.length === 0) say(ctx, "No Scout checks on the selected nodes");
      else {
        say(
          ctx,
          formatTable(
            ["NODE", "CHECK", "STATE", "STARTED", "OUTPUT"],
            rows.map((c) => [
              c.node,
              c.name,
              statusColour(upper(c.state), colours),
              c.started > 0 ? new Date(c.started * 1000).toISOString().replace(/\.000Z$/, "Z") : "",
              c.output,
            ]),
          ),
        );
        const counts = new Map<string, number>();
        for (const c of rows) counts.set(upper(c.state), (counts.get(upper(c.state)) ?? 0) + 1);
        say(
          ctx,
          `\n${rows.length} checks on ${set.stats.responded.length} nodes: ${
            [...counts].map(([s, n]) => `${n} ${s}`).join(", ")
          }`,
        );
      }
      reportFailures(ctx, set);
    }
    finishCall(set);
  });

  for (
    const [action, description] of [
      ["trigger", "check now"],
      ["maintenance", "pause checking (MAINTENANCE)"],
      ["resume", "resume checking (RESUME)"],
    ] as const
  ) {
    const command = scout.command(action)
      .description(`${description}: the named checks, or every check`)
      .argument("[checks...]", "check names; all when none are given")
      .option("--json", "print the replies as JSON")
      .option("--no-progress", "never draw the progress bar");
    addTargetingOptions(command);
    command.action(async (checks: string[]) => {
      const opts = command.opts() as Flags;
      const set = await call(ctx, deps, opts, action, checks.length > 0 ? { checks } : {});
      if (opts.json) {
        say(
          ctx,
          JSON.stringify(
            {
              replies: set.results.map((r) => ({ sender: r.sender, ...r.data })),
              stats: set.stats,
            },
            null,
            2,
          ),
        );
      } else {
        for (const r of [...set.results].sort((a, b) => a.sender.localeCompare(b.sender))) {
          if (r.statuscode !== 0) continue;
          const list = (key: string) =>
            ((r.data[key] as string[] | undefined) ?? []).join(", ") || "none";
          say(
            ctx,
            `${r.sender}: ${action === "trigger" ? "triggered" : "transitioned"} ${
              list("transitioned")
            }; skipped ${list("skipped")}; unknown ${list("failed")}`,
          );
        }
        reportFailures(ctx, set);
      }
      finishCall(set);
    });
  }

  const watch = scout.command("watch")
    .description("show check results and state changes live, with each check's recent history")
    .option("--check <name>", "only this check (repeatable)", repeat)
    .option("-I, --identity <name>", "only this node (repeatable)", repeat)
    .option("--json", "print each event as a JSON line")
    .option("--since <when>", SINCE_HELP)
    .option("--count <n>", "stop after this many events", parseCount)
    .option("--for <seconds>", "stop after this long", parseSeconds)
    .option("--config <file>", "client configuration file");
  watch.action(async () => {
    const opts = watch.opts() as {
      check?: string[];
      identity?: string[];
      json?: boolean;
      count?: number;
      for?: number;
      config?: string;
      since?: string;
    };
    const colours = coloursFor(ctx);
    const connect = eventFeed(ctx, { since: opts.since, live: events, stored });
    await using feed = await connect(ctx, opts.config !== undefined ? { config: opts.config } : {});
    using limits = watchLimits({
      ...(opts.count !== undefined ? { count: opts.count } : {}),
      ...(opts.for !== undefined ? { ms: opts.for } : {}),
    });
    await feed.run((event: MachineEventMessage) => {
      const d = event.data;
      const transition = String(d.protocol).endsWith(".transition");
      if (transition ? !SCOUT_TRANSITIONS.has(String(d.transition)) : d.type !== "nagios") return;
      if (opts.check && !opts.check.includes(String(d.machine))) return;
      if (opts.identity && !opts.identity.includes(String(d.identity))) return;
      say(ctx, opts.json ? JSON.stringify(event) : renderMachineEvent(event, colours));
      limits.seen();
    }, limits.signal);
  });
}
