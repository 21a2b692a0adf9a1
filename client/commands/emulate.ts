/**
 * `chorale emulate`: runs many real Chorale servers (`emulated-0`, `emulated-1`, ...) against a
 * broker, for fleet benchmarks and trying the CLI at scale. Each is a full server with its own
 * identity, certificate (issued at start by the CA in `--ca-dir`), facts and broker connection,
 * that authenticates, authorizes and audits as the server configuration (`--config`) says. See
 * `emulator/` for how they are spread over processes and loopback addresses.
 *
 * Starting the emulator processes needs `--allow-run=deno`, which the `chorale` task does not
 * grant: run it as `deno task emulate ...` (the same command with that one permission more).
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { waitForStopSignal } from "../../core/daemon.ts";
import type { LogLevel } from "../../core/log.ts";
import type { Emulator, EmulatorOptions } from "../../emulator/supervisor.ts";
import { caDir, type CliContext, CliError, collect, say, UsageError } from "../cli.ts";
import { ExitCodes } from "../exit_codes.ts";

/** What `chorale emulate` waits on before it stops the fleet; tests pass their own. */
export interface EmulateDeps {
  /** Resolves when the fleet should stop. @default the first SIGINT or SIGTERM */
  untilStopped(emulator: Emulator): Promise<void>;
}

const defaultDeps: EmulateDeps = { untilStopped: () => waitForStopSignal() };

function wholeNumber(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) {
      throw new InvalidArgumentError(
        `Cannot use '${flag}' as it must be a whole number: current value is '${value}'`,
      );
    }
    return Number(value);
  };
}

const LOG_LEVELS = ["debug", "info", "warn", "error"];

/** Adds `chorale emulate` to `program`. */
export function registerEmulateCommand(
  program: Command,
  ctx: CliContext,
  deps: EmulateDeps = defaultDeps,
): void {
  const command = program.command("emulate")
    .description("run many emulated Chorale servers against a broker (deno task emulate)")
    .requiredOption("--instances <n>", "how many servers to emulate", wholeNumber("--instances"))
    .option(
      "--processes <n>",
      "processes to spread them over (default: one per 18,000 servers)",
      wholeNumber("--processes"),
    )
    .option(
      "--broker <url>",
      "broker URL, tls://host:port (repeatable; default: brokers in --config)",
      collect,
    )
    .option(
      "--addresses <n>",
      "spread connections over 127.0.0.1 .. 127.0.0.<n> (default: one per 25,000 servers)",
      wholeNumber("--addresses"),
    )
    .option(
      "--reply-size <bytes>",
      "the emulated agent's reply size (default: 0)",
      wholeNumber("--reply-size"),
    )
    .option(
      "--delay <ms>",
      "the emulated agent's delay before replying (default: 0)",
      wholeNumber("--delay"),
    )
    .option("--config <file>", "server configuration: collectives, policies, audit, facts")
    .option(
      "--ca-dir <dir>",
      "the chorale ca directory whose CA issues each server's certificate (default: as chorale ca)",
    )
    .option(
      "--log-level <level>",
      "the servers' log level: debug, info, warn or error (default: warn)",
    )
    .option("--json", "report progress as JSON lines");
  command.addHelpText(
    "after",
    `
The servers are real: each authenticates, authorizes and audits requests as the server
configuration says, hosts rpcutil, discovery, choria_util and the emulated agent, and is named
emulated-<i> with facts emulated_index=<i> and emulated_group=<i mod 10> beside those of the
configuration's fact files. Each gets its own certificate emulated-<i> from the CA in --ca-dir
(servers sign their replies, and clients check the signer is the sender), so the configuration's
security section is not used. The broker must trust that CA.

Examples:
  deno task emulate --instances 1000 --ca-dir ca --config server.yaml --broker tls://127.0.0.1:4222
  deno task emulate --instances 50000 --processes 3 --ca-dir ca --config server.yaml --reply-size 1024

Exit codes: 0 stopped by a signal, 1 a process failed, 2 usage or configuration error,
6 the broker cannot be reached.`,
  ).action(async () => {
    const opts = command.opts();
    if (opts.logLevel !== undefined && !LOG_LEVELS.includes(opts.logLevel)) {
      throw new UsageError(
        `Cannot use '--log-level' as it must be debug, info, warn or error: current value is '${opts.logLevel}'`,
      );
    }
    // Loaded here, not at the top, so other commands do not load the server's modules.
    const { EmulatorConfigError, loadEmulatorConfig } = await import("../../emulator/config.ts");
    const { BrokerUnreachableError, Emulator, EmulatorError, EmulatorUsageError } = await import(
      "../../emulator/supervisor.ts"
    );
    let configuredBrokers: string[];
    const dir = caDir(ctx, opts.caDir);
    try {
      const config = await loadEmulatorConfig({
        caDir: dir,
        ...(opts.config !== undefined ? { file: opts.config } : {}),
        ...(opts.broker !== undefined ? { brokers: opts.broker } : {}),
        env: (name) => ctx.env(name),
      });
      configuredBrokers = config.settings.brokers;
    } catch (error) {
      if (error instanceof EmulatorConfigError) {
        throw new UsageError("Cannot configure the emulated servers", {
          cause: error,
          details: error.problems,
          hint: "make a CA with chorale ca init, and give --ca-dir and --broker or --config",
        });
      }
      throw error;
    }
    let lastReport = 0;
    let ready = false;
    const options: EmulatorOptions = {
      instances: opts.instances,
      configuredBrokers,
      caDir: dir,
      ...(opts.processes !== undefined ? { processes: opts.processes } : {}),
      ...(opts.broker !== undefined ? { brokers: opts.broker } : {}),
      ...(opts.addresses !== undefined ? { addresses: opts.addresses } : {}),
      ...(opts.replySize !== undefined ? { replySize: opts.replySize } : {}),
      ...(opts.delay !== undefined ? { delayMs: opts.delay } : {}),
      ...(opts.config !== undefined ? { config: opts.config } : {}),
      ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel as LogLevel } : {}),
      onProgress: (counts) => {
        if (opts.json) {
          say(ctx, JSON.stringify({ event: "progress", ...counts }));
          return;
        }
        const now = Date.now();
        if (!ready || now - lastReport < 1_000) return;
        lastReport = now;
        say(ctx, `connected ${counts.connected} of ${counts.total}`);
      },
    };
    const started = performance.now();
    let emulator: Emulator;
    try {
      emulator = await Emulator.start(options);
    } catch (error) {
      if (error instanceof BrokerUnreachableError) {
        throw new CliError(error.message, ExitCodes.brokerUnreachable, {
          cause: error,
          hint: "start the broker first, or check --broker",
        });
      }
      if (error instanceof EmulatorError) {
        const code = error instanceof EmulatorUsageError ? ExitCodes.usage : ExitCodes.error;
        throw new CliError(error.message, code, { cause: error });
      }
      throw error;
    }
    ready = true;
    const ms = Math.round(performance.now() - started);
    const { plan } = emulator;
    if (opts.json) {
      say(
        ctx,
        JSON.stringify({
          event: "ready",
          instances: plan.instances,
          processes: plan.processes,
          brokers: plan.brokers,
          pids: emulator.pids,
          ms,
        }),
      );
    } else {
      say(
        ctx,
        `emulating ${plan.instances} servers (emulated-0 .. emulated-${
          plan.instances - 1
        }) in ${plan.processes} process${plan.processes === 1 ? "" : "es"} on ${
          plan.brokers.join(", ")
        }: connected in ${(ms / 1000).toFixed(1)} s; Ctrl-C stops them`,
      );
    }
    try {
      const exited = emulator.exited().then((e) => e);
      const outcome = await Promise.race([
        deps.untilStopped(emulator).then(() => null),
        exited,
      ]);
      if (outcome !== null) {
        throw new CliError(
          `Emulator process ${outcome.index} exited with code ${outcome.status.code}${
            outcome.error ? `: ${outcome.error}` : ""
          }`,
          ExitCodes.error,
        );
      }
    } finally {
      await emulator.stop();
      if (opts.json) say(ctx, JSON.stringify({ event: "stopped" }));
    }
  });
}
