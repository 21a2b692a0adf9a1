/**
 * `chorale events tail`: lifecycle (or autonomous agent) events from the stream store, history
 * first, then live until interrupted.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { type CliContext, say, UsageError } from "../cli.ts";
import { formatEvent, parseSince, tailEvents } from "../../streams/events.ts";
import { lifecycleEventData } from "../../server/lifecycle.ts";
import { connectStore, storeCliError } from "./_store.ts";

const TYPES = ["startup", "shutdown", "alive", "provisioned", "upgraded", "governor"];

function parseType(value: string, previous: string[] | undefined): string[] {
  if (!TYPES.includes(value)) {
    throw new InvalidArgumentError(`Give one of ${TYPES.join(", ")}.`);
  }
  return [...previous ?? [], value];
}

/** Adds `chorale events` to `program`. */
export function registerEventsCommand(program: Command, ctx: CliContext): void {
  const events = program.command("events").description(
    "lifecycle and autonomous agent events kept by the stream store",
  );
  events.command("tail")
    .description("show events since a time, then new ones as they come (Ctrl-C ends)")
    .option("--since <when>", "start this long ago (90s, 30m, 1h, 2d) or at an RFC 3339 time", "1h")
    .option(
      "--type <type>",
      `only this lifecycle type: ${TYPES.join(", ")} (repeatable)`,
      parseType,
    )
    .option("--component <name>", "only events from this component, say server")
    .option("--machine", "autonomous agent events (CHORIA_MACHINE) instead of lifecycle events")
    .option("--no-follow", "show the history and stop")
    .option("--json", "one JSON object a line")
    .option(
      "--config <file>",
      "client configuration file (default: chorale.yaml here or above, else the user's)",
    )
    .addHelpText(
      "after",
      `
Examples:
  chorale events tail --since 1h
  chorale events tail --type shutdown --component server --no-follow`,
    )
    .action(async (opts) => {
      let sinceMs: number;
      try {
        sinceMs = parseSince(opts.since, ctx.now().getTime());
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      const follow = opts.follow !== false;
      if (follow) Deno.addSignalListener("SIGINT", onSignal);
      try {
        await using session = await connectStore(ctx, opts);
        for await (
          const tailed of tailEvents(session.store, {
            sinceMs,
            stream: opts.machine ? "machine" : "events",
            ...(opts.type ? { types: opts.type } : {}),
            ...(opts.component ? { component: opts.component } : {}),
            follow,
            signal: stop.signal,
            // Short waits, so Ctrl-C ends the command quickly.
            pollMs: 2_000,
          })
        ) {
          if (opts.json) {
            say(
              ctx,
              JSON.stringify({
                seq: tailed.message.seq,
                subject: tailed.message.subject,
                stored: new Date(tailed.message.timeMs).toISOString(),
                ...(tailed.event ? { type: tailed.event.type } : {}),
                data: tailed.event ? lifecycleEventData(tailed.event) : tailed.data,
              }),
            );
          } else say(ctx, formatEvent(tailed));
        }
      } catch (error) {
        throw storeCliError(error);
      } finally {
        if (follow) Deno.removeSignalListener("SIGINT", onSignal);
      }
    });
}
