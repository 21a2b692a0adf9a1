/**
 * `chorale machine`: autonomous agents for the people who write them and the people who run them.
 *
 * - `validate FILE...`: checks machine files (or Scout check files, told apart by their
 *   content) and reports every problem of each; exit 1 when any is invalid.
 * - `graph FILE`: the machine's states and transitions as a Graphviz DOT graph.
 * - `run PATH`: runs one machine (a `machine.yaml` or its directory) in the foreground and prints
 *   its transitions and watcher states, for developing it. Its commands must be in Deno's
 *   `--allow-run` list; one that is not fails its watcher with a message saying so.
 * - `watch`: live transitions and watcher states from the fleet, filtered by machine, watcher
 *   type and identity.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { basename, dirname, join, resolve } from "node:path";
import YAML from "yaml";
import {
  compileScoutCheck,
  defaultPlugins,
  loadManifest,
  Machine,
  machineGraph,
  type MachineManifest,
  ManifestError,
} from "../../machines/mod.ts";
import type { Logger } from "../../core/log.ts";
import { type CliContext, CliError, say, UsageError } from "../cli.ts";
import type { Palette } from "../output/colour.ts";
import { parseCount, parseSeconds, repeat } from "../targeting.ts";
import { coloursFor } from "./_fleet.ts";
import {
  connectMachineEvents,
  type MachineEventConnector,
  type MachineEventMessage,
  storedMachineEvents,
  watchLimits,
} from "./_machine_events.ts";
import { parseSince } from "../../streams/events.ts";

/** What the machine commands need besides the CLI context. */
export interface MachineCommandDeps {
  /** Opens the live event feed for `watch`. */
  events: MachineEventConnector;
  /** Opens the stream store's feed for `watch --since`, from a time in ms. */
  stored: (sinceMs: number) => MachineEventConnector;
}

/** The real dependencies. */
export const defaultMachineDeps: MachineCommandDeps = {
  events: connectMachineEvents,
  stored: storedMachineEvents,
};

/** The feed `watch` reads: the stream store's from `--since`, else the broker's live events. */
export function eventFeed(
  ctx: CliContext,
  options: {
    /** `--since`, when given. */
    since: string | undefined;
    /** The broker's live events. */
    live: MachineEventConnector;
    /** The stream store's, from a time in ms. */
    stored: (sinceMs: number) => MachineEventConnector;
  },
): MachineEventConnector {
  const { since, live, stored } = options;
  if (since === undefined) return live;
  try {
    return stored(parseSince(since, ctx.now().getTime()));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The `--since` option of the watch commands. */
export const SINCE_HELP =
  "replay the events the stream store kept since then (90s, 30m, 1h, 2d or RFC 3339), then follow; needs no subscribe permission";

/** The machine file of a path: the path itself, or `machine.yaml` in a directory. */
async function machineFile(ctx: CliContext, path: string): Promise<string> {
  const full = resolve(ctx.cwd(), path);
  try {
    return (await Deno.stat(full)).isDirectory ? join(full, "machine.yaml") : full;
  } catch (cause) {
    throw new CliError(`Cannot read ${path} as it does not exist`, 1, { cause });
  }
}

/** Loads a machine file or a Scout check file, telling them apart by their content. */
export async function loadMachineFile(ctx: CliContext, path: string): Promise<MachineManifest> {
  const file = await machineFile(ctx, path);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (cause) {
    throw new CliError(`Cannot read ${file}: ${(cause as Error).message}`, 1, { cause });
  }
  const options = { plugins: defaultPlugins() };
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch {
    parsed = null;
  }
  const scout = typeof parsed === "object" && parsed !== null &&
    !("transitions" in parsed) && !("watchers" in parsed) &&
    ("plugin" in parsed || "builtin" in parsed);
  return scout
    ? compileScoutCheck(text, basename(file).replace(/\.ya?ml$/, ""), options)
    : loadManifest(text, options, file);
}

/** One machine event as a line of text. */
export function renderMachineEvent(event: MachineEventMessage, colours: Palette): string {
  const d = event.data;
  const time = typeof d.timestamp === "number"
    ? new Date(d.timestamp * 1000).toISOString().replace(/\.000Z$/, "Z")
    : "";
  const head = `${colours.dim(time)} ${d.identity} ${colours.bold(String(d.machine))}`;
  if (String(d.protocol).endsWith(".transition")) {
    return `${head} ${d.transition}: ${d.from_state} -> ${colours.bold(String(d.to_state))}`;
  }
  const name = `${d.type} ${d.name}`;
  switch (d.type) {
    case "nagios":
      return `${head} ${name} ${statusColour(String(d.status), colours)}: ${d.output}${
        history(d, colours)
      }`;
    case "exec":
      return `${head} ${name} ${d.previous_outcome} (${
        Math.round(Number(d.previous_run_time) / 1e6)
      } ms)`;
    case "file":
      return `${head} ${name} ${d.previous_outcome} ${d.path}`;
    case "metric":
      return `${head} ${name} ${JSON.stringify(d.metrics ?? {})}`;
    default:
      return `${head} ${name} ${String(d.state ?? "")}`.trimEnd();
  }
}

/** A Nagios status in its colour. */
export function statusColour(status: string, colours: Palette): string {
  return status === "OK"
    ? colours.green(status)
    : status === "WARNING"
    ? colours.yellow(status)
    : status === "CRITICAL"
    ? colours.red(status)
    : colours.dim(status);
}

const SHORT = ["OK", "WARN", "CRIT", "UNKN", "UNKN"];

function history(d: Record<string, unknown>, colours: Palette): string {
  const items = Array.isArray(d.history) ? d.history as Array<{ status: number }> : [];
  if (items.length < 2) return "";
  return ` ${colours.dim("history")} ${
    items.map((h) => statusColour(SHORT[h.status] ?? "UNKN", colours)).join(" ")
  }`;
}

/** A logger that tells the person running a machine why a watcher failed or a transition was dropped. */
function problemLogger(ctx: CliContext): Logger {
  const problem = (message: string, fields?: Record<string, unknown>) =>
    ctx.stderr(`chorale: ${message}${fields?.error ? `: ${fields.error}` : ""}\n`);
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: problem,
    error: problem,
    child: () => logger,
  };
  return logger;
}

/** Adds `chorale machine` to `program`. */
export function registerMachineCommand(
  program: Command,
  ctx: CliContext,
  deps: MachineCommandDeps = defaultMachineDeps,
): void {
  const machine = program.command("machine")
    .description("validate, graph, run and watch autonomous agents (Choria machines)");

  machine.command("validate")
    .description("check machine files or Scout check files, reporting every problem")
    .argument("<files...>", "machine.yaml files, their directories, or Scout check files")
    .action(async (files) => {
      let bad = 0;
      for (const path of files) {
        try {
          const m = await loadMachineFile(ctx, path);
          const states = new Set(m.transitions.flatMap((t) => [...t.from, t.destination]));
          say(
            ctx,
            `${path}: ok: ${m.name} ${m.version}, ${states.size} states, ${m.transitions.length} transitions, ${m.watchers.length} watchers`,
          );
        } catch (error) {
          if (!(error instanceof ManifestError)) throw error;
          bad++;
          say(
            ctx,
            `${path}: ${error.problems.length} problem${error.problems.length === 1 ? "" : "s"}:`,
          );
          for (const problem of error.problems) say(ctx, `  ${problem}`);
        }
      }
      if (bad > 0) throw new CliError(`Cannot accept ${bad} of ${files.length} files`, 1);
    });

  machine.command("graph")
    .description("print a machine's states and transitions as a Graphviz DOT graph")
    .argument("<file>", "a machine.yaml, its directory, or a Scout check file")
    .addHelpText(
      "after",
      "\nExample:\n  chorale machine graph machines/keep_file | dot -Tsvg > keep_file.svg",
    )
    .action(async (file) => {
      try {
        ctx.stdout(machineGraph(await loadMachineFile(ctx, file)));
      } catch (error) {
        if (error instanceof ManifestError) {
          throw new CliError(error.message.split(": ")[0]!, 1, { details: error.problems });
        }
        throw error;
      }
    });

  const run = machine.command("run")
    .description("run one machine in the foreground, printing its transitions and watcher states")
    .argument("<path>", "a machine.yaml or its directory")
    .option("--for <seconds>", "stop after this long (default: until Ctrl-C)", parseSeconds)
    .option("--identity <name>", "the identity events carry", "localhost")
    .option("--json", "print each event as a JSON line");
  run.action(async (path) => {
    const opts = run.opts() as { for?: number; identity: string; json?: boolean };
    let manifest: MachineManifest;
    try {
      manifest = await loadMachineFile(ctx, path);
    } catch (error) {
      if (error instanceof ManifestError) {
        throw new CliError(error.message.split(": ")[0]!, 1, { details: error.problems });
      }
      throw error;
    }
    const file = await machineFile(ctx, path);
    const colours = coloursFor(ctx);
    using limits = watchLimits(opts.for !== undefined ? { ms: opts.for } : {});
    await using running = new Machine({
      manifest,
      directory: dirname(file),
      identity: opts.identity,
      plugins: defaultPlugins(),
      splay: false,
      logger: problemLogger(ctx),
      publish: (subject, event) => {
        const message = { subject, data: event.data };
        say(ctx, opts.json ? JSON.stringify(message) : renderMachineEvent(message, colours));
      },
    });
    say(
      ctx,
      opts.json
        ? JSON.stringify({ machine: manifest.name, state: running.state })
        : `${manifest.name} ${manifest.version} starts in state ${manifest.initial_state}`,
    );
    await running.start();
    await new Promise<void>((done) => {
      if (limits.signal.aborted) done();
      limits.signal.addEventListener("abort", () => done(), { once: true });
    });
  });

  const watch = machine.command("watch")
    .description("show live transitions and watcher states from the fleet")
    .option("--machine <name>", "only this machine (repeatable)", repeat)
    .option("--type <type>", "only watchers of this type, or 'transition' (repeatable)", repeat)
    .option("-I, --identity <name>", "only this node (repeatable)", repeat)
    .option("--json", "print each event as a JSON line")
    .option("--since <when>", SINCE_HELP)
    .option("--count <n>", "stop after this many events", parseCount)
    .option("--for <seconds>", "stop after this long", parseSeconds)
    .option("--config <file>", "client configuration file");
  watch.addHelpText(
    "after",
    `
Live events need the client's identity to have subscribe rights on choria.machine.> in the
broker's permissions; --since reads the stream store (deno task store) instead.

Examples:
  chorale machine watch
  chorale machine watch --machine keep_file --type transition -I web1.example.net
  chorale machine watch --since 1h --type nagios`,
  ).action(async () => {
    const opts = watch.opts() as {
      machine?: string[];
      type?: string[];
      identity?: string[];
      json?: boolean;
      count?: number;
      for?: number;
      config?: string;
      since?: string;
    };
    const colours = coloursFor(ctx);
    const connect = eventFeed(ctx, { since: opts.since, live: deps.events, stored: deps.stored });
    await using feed = await connect(
      ctx,
      opts.config !== undefined ? { config: opts.config } : {},
    );
    using limits = watchLimits({
      ...(opts.count !== undefined ? { count: opts.count } : {}),
      ...(opts.for !== undefined ? { ms: opts.for } : {}),
    });
    await feed.run((event) => {
      if (!matches(event, opts)) return;
      say(ctx, opts.json ? JSON.stringify(event) : renderMachineEvent(event, colours));
      limits.seen();
    }, limits.signal);
  });
}

function matches(
  event: MachineEventMessage,
  filter: { machine?: string[]; type?: string[]; identity?: string[] },
): boolean {
  const d = event.data;
  const type = String(d.protocol).endsWith(".transition") ? "transition" : String(d.type);
  return (!filter.machine || filter.machine.includes(String(d.machine))) &&
    (!filter.type || filter.type.includes(type)) &&
    (!filter.identity || filter.identity.includes(String(d.identity)));
}
