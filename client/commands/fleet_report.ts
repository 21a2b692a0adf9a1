/**
 * `chorale fleet` (alias `report`): a summary of the fleet from the stream store: how many nodes
 * registered, which versions they run, which stopped recently, and how many nodes have each value
 * of their facts.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, say, UsageError } from "../cli.ts";
import { repeat } from "../targeting.ts";
import { parseSince } from "../../streams/events.ts";
import type { FleetSummary } from "../../streams/inventory.ts";
import { connectStore, storeCliError } from "./_store.ts";

/** The summary as text for people. */
export function renderFleet(summary: FleetSummary, now: Date): string {
  const lines = [`Nodes: ${summary.nodes}`, "", "Versions:"];
  for (const v of summary.versions) lines.push(`  ${v.version || "(unknown)"}: ${v.nodes}`);
  lines.push("", `Stopped recently: ${summary.stopped.length}`);
  for (const s of summary.stopped) {
    const ago = Math.round((now.getTime() / 1000 - s.timestamp) / 60);
    lines.push(
      `  ${s.identity}  shut down ${new Date(s.timestamp * 1000).toISOString()} (${ago} min ago)`,
    );
  }
  if (summary.stale.length > 0) {
    lines.push("", `Not registered lately: ${summary.stale.length}`);
    for (const s of summary.stale) {
      lines.push(`  ${s.identity}  last seen ${new Date(s.lastSeenMs).toISOString()}`);
    }
  }
  for (const [fact, values] of Object.entries(summary.facts)) {
    lines.push("", `${fact}:`);
    for (const v of values) lines.push(`  ${v.value}: ${v.nodes}`);
  }
  return lines.join("\n") + "\n";
}

/** Adds `chorale fleet` to `program`. */
export function registerFleetCommand(program: Command, ctx: CliContext): void {
  program.command("fleet")
    .alias("report")
    .description("summarise the fleet from the stream store: nodes, versions, stopped nodes, facts")
    .option(
      "--fact <fact>",
      "count the values of this fact (repeatable; default: every top-level one)",
      repeat,
    )
    .option("--since <when>", "look for stopped nodes this far back (90s, 30m, 1h, 2d)", "24h")
    .option("--stale <when>", "list nodes that have not registered for this long (say 15m)")
    .option("--json", "print the summary as JSON")
    .option(
      "--config <file>",
      "client configuration file (default: chorale.yaml here or above, else the user's)",
    )
    .action(async (opts) => {
      const now = ctx.now();
      let since: number, stale: number;
      try {
        since = parseSince(opts.since, now.getTime());
        stale = opts.stale ? now.getTime() - parseSince(opts.stale, now.getTime()) : 0;
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      try {
        await using session = await connectStore(ctx, opts);
        const summary = await session.store.fleet({
          eventsSinceMs: since,
          ...(opts.fact ? { facts: opts.fact } : {}),
          ...(stale > 0 ? { staleAfterMs: stale } : {}),
        });
        if (opts.json) say(ctx, JSON.stringify(summary, null, 2));
        else ctx.stdout(renderFleet(summary, now));
      } catch (error) {
        throw storeCliError(error);
      }
    });
}
