/**
 * The `service` agent: Choria's service agent (DDL `agents/ddl/service.json`, version 4.1.0) with
 * `status`, `start`, `stop` and `restart`, each replying `{status: "running" | "stopped"}`.
 *
 * The init system is systemd (`systemctl`) when `/run/systemd/system` exists, as systemd's own
 * `sd_booted()` decides, and SysV init scripts otherwise: through `/usr/sbin/service` for scripts in
 * `/etc/init.d`, or run directly from {@linkcode ServiceAgentOptions.initDir} when one is given.
 * SysV `status` follows the LSB exit codes: 0 is running, 1 to 3 are stopped, anything else fails.
 *
 * As in Choria, `start` of a running service and `stop` of a stopped one fail with status 1
 * ("Could not start 'x': Service is already running"); after a change the agent polls the status
 * for up to {@linkcode ServiceAgentOptions.settleMs} and replies with what it finds. An unknown
 * service, a failing init script or systemctl, and the action timeout are status 1; a program that
 * cannot be started is status 5. Service names are checked ({@linkcode SERVICE_NAME_PATTERN})
 * before any program runs and programs run from an argv array, never a shell.
 *
 * Permissions: `--allow-read=/run/systemd/system,/etc/init.d` and
 * `--allow-run=/usr/bin/systemctl,/usr/sbin/service` (plus the scripts of a custom `initDir`);
 * `start`, `stop` and `restart` need root.
 *
 * @module
 */
import ddlJson from "./ddl/service.json" with { type: "json" };
import {
  type ActionContext,
  ActionError,
  type ActionHandler,
  type Agent,
  type AgentDdl,
  StatusCodes,
} from "./agent.ts";
import {
  CommandAbortedError,
  CommandError,
  type CommandResult,
  type CommandRunner,
  runCommand,
} from "./_command.ts";

const SYSTEMCTL = "/usr/bin/systemctl";
const SERVICE = "/usr/sbin/service";
const SYSTEMD_RUN_DIR = "/run/systemd/system";
const INIT_D = "/etc/init.d";
const MAX_NAME_LENGTH = 90;

/**
 * Service and unit names: letters, digits and `_ . @ : + -`, starting with a letter, digit or `_`,
 * as Choria's `service_name` validator allows. No `/`, no leading `-` or `.`, no spaces.
 */
export const SERVICE_NAME_PATTERN: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$/;

/** What the agent replies in `status`. */
export type ServiceStatus = "running" | "stopped";

/** Options for {@linkcode serviceAgent}. */
export interface ServiceAgentOptions {
  /** Runs the programs. @default runCommand */
  runner?: CommandRunner;
  /** The init system; `auto` picks systemd when `/run/systemd/system` exists. @default "auto" */
  manager?: "auto" | "systemd" | "sysv";
  /**
   * A directory of SysV init scripts to run directly (`<initDir>/<name> start`), for tests and
   * non-standard layouts. @default undefined: `/usr/sbin/service <name> start` for `/etc/init.d`
   */
  initDir?: string;
  /** Milliseconds `start`, `stop` and `restart` wait for the status to reach its target. @default 3000 */
  settleMs?: number;
}

/**
 * Checks a requested service name. Pure: this is the gate between a request and `argv`.
 *
 * @throws {ActionError} status 3 when the value is missing, 4 when it is not a valid service name
 *
 * @example Accept a unit name, refuse a path
 * ```ts
 * import { parseServiceName } from "./service.ts";
 * console.log(parseServiceName("getty@tty1.service")); // "getty@tty1.service"
 * try {
 *   parseServiceName("../../bin/sh");
 * } catch (error) {
 *   console.log((error as Error).message.startsWith("Cannot use")); // true
 * }
 * ```
 */
export function parseServiceName(value: unknown): string {
  if (value === undefined || value === null || value === "") {
    throw new ActionError(StatusCodes.missingData, "Cannot find the 'service' input");
  }
  if (typeof value !== "string") {
    throw new ActionError(
      StatusCodes.invalidData,
      `Cannot use the 'service' input as it must be a string: current type is ${typeof value}`,
    );
  }
  if (value.length > MAX_NAME_LENGTH || !SERVICE_NAME_PATTERN.test(value)) {
    throw new ActionError(
      StatusCodes.invalidData,
      `Cannot use ${
        JSON.stringify(value)
      } as a service name: it must be at most ${MAX_NAME_LENGTH} letters, digits and '_.@:+-', starting with a letter, digit or '_'`,
    );
  }
  return value;
}

type Verb = "start" | "stop" | "restart";

/** One init system. */
interface Backend {
  status(name: string, context: ActionContext): Promise<ServiceStatus>;
  change(name: string, verb: Verb, context: ActionContext): Promise<void>;
}

/** The last line a program wrote, for error messages. */
function reason(result: CommandResult): string {
  const text = result.stderr.trim() || result.stdout.trim();
  return text.split("\n").at(-1)?.trim() || "no output";
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      signal.removeEventListener("abort", stop);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Creates the `service` agent.
 *
 * @example Ask for the status of a service
 * ```ts
 * import type { ActionContext } from "./agent.ts";
 * import { serviceAgent } from "./service.ts";
 * const context = { signal: new AbortController().signal } as ActionContext;
 * try {
 *   const reply = await serviceAgent().actions.status!({ service: "procps" }, context);
 *   console.log(reply.status); // "running"
 * } catch (error) {
 *   console.log((error as Error).name); // "ActionError" where there is no procps service
 * }
 * ```
 */
export function serviceAgent(options: ServiceAgentOptions = {}): Agent {
  const runner = options.runner ?? runCommand;
  const settleMs = options.settleMs ?? 3000;
  if (!Number.isInteger(settleMs) || settleMs < 0) {
    throw new RangeError(
      `Cannot create the service agent as 'settleMs' must be a non-negative integer: current value is ${settleMs}`,
    );
  }

  const run = async (
    argv: readonly string[],
    context: ActionContext,
    what: string,
  ): Promise<CommandResult> => {
    try {
      return await runner(argv, { signal: context.signal });
    } catch (error) {
      if (error instanceof CommandAbortedError) {
        throw new ActionError(StatusCodes.aborted, `Cannot ${what} as it was aborted`, {
          cause: error,
        });
      }
      if (error instanceof CommandError) {
        throw new ActionError(StatusCodes.unknownError, `Cannot ${what}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  };

  const systemd: Backend = {
    async status(name, context) {
      const what = `get the status of '${name}'`;
      const shown = await run(
        [SYSTEMCTL, "show", "--property=LoadState", "--value", "--", name],
        context,
        what,
      );
      if (shown.code !== 0) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot ${what} as systemctl failed with exit code ${shown.code}: ${reason(shown)}`,
        );
      }
      if (shown.stdout.trim() === "not-found") {
        throw new ActionError(StatusCodes.aborted, `Cannot find service '${name}'`);
      }
      const active = await run([SYSTEMCTL, "is-active", "--", name], context, what);
      if (active.code === 0) return "running";
      if (active.stdout.trim() !== "") return "stopped";
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot ${what} as systemctl failed with exit code ${active.code}: ${reason(active)}`,
      );
    },
    async change(name, verb, context) {
      const result = await run([SYSTEMCTL, verb, "--", name], context, `${verb} '${name}'`);
      if (result.code !== 0) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot ${verb} '${name}' as systemctl failed with exit code ${result.code}: ${
            reason(result)
          }`,
        );
      }
    },
  };

  const scriptDir = options.initDir ?? INIT_D;
  const sysvArgv = (name: string, verb: string) =>
    options.initDir === undefined ? [SERVICE, name, verb] : [`${scriptDir}/${name}`, verb];
  const requireScript = async (name: string) => {
    const path = `${scriptDir}/${name}`;
    try {
      if ((await Deno.stat(path)).isFile) return;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    throw new ActionError(
      StatusCodes.aborted,
      `Cannot find service '${name}': there is no init script ${path}`,
    );
  };

  const sysv: Backend = {
    async status(name, context) {
      await requireScript(name);
      const what = `get the status of '${name}'`;
      const result = await run(sysvArgv(name, "status"), context, what);
      if (result.code === 0) return "running";
      // LSB: 1 dead with a pid file, 2 dead with a lock file, 3 not running.
      if (result.code >= 1 && result.code <= 3) return "stopped";
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot ${what} as its init script failed with exit code ${result.code}: ${reason(result)}`,
      );
    },
    async change(name, verb, context) {
      await requireScript(name);
      const result = await run(sysvArgv(name, verb), context, `${verb} '${name}'`);
      if (result.code !== 0) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot ${verb} '${name}' as its init script failed with exit code ${result.code}: ${
            reason(result)
          }`,
        );
      }
    },
  };

  let chosen: Promise<Backend> | undefined;
  const backend = (): Promise<Backend> => {
    if (options.manager === "systemd") return Promise.resolve(systemd);
    if (options.manager === "sysv" || options.initDir !== undefined) return Promise.resolve(sysv);
    chosen ??= exists(SYSTEMD_RUN_DIR).then((booted) => booted ? systemd : sysv);
    return chosen;
  };

  /** Polls until the status is `target` or `settleMs` passes; returns the last status seen. */
  const settle = async (
    impl: Backend,
    name: string,
    target: ServiceStatus,
    context: ActionContext,
  ): Promise<ServiceStatus> => {
    const deadline = Date.now() + settleMs;
    while (true) {
      const now = await impl.status(name, context);
      if (now === target || Date.now() >= deadline) return now;
      try {
        await sleep(Math.min(200, deadline - Date.now()), context.signal);
      } catch (error) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot confirm that '${name}' is ${target} as the action was aborted`,
          { cause: error },
        );
      }
    }
  };

  const transition =
    (verb: Verb, target: ServiceStatus, refuse?: string): ActionHandler =>
    async (inputs, context) => {
      const name = parseServiceName(inputs.service);
      const impl = await backend();
      if (refuse !== undefined && await impl.status(name, context) === target) {
        throw new ActionError(StatusCodes.aborted, `Could not ${verb} '${name}': ${refuse}`);
      }
      await impl.change(name, verb, context);
      return { status: await settle(impl, name, target, context) };
    };

  const actions: Record<string, ActionHandler> = {
    status: async (inputs, context) => {
      const name = parseServiceName(inputs.service);
      return { status: await (await backend()).status(name, context) };
    },
    start: transition("start", "running", "Service is already running"),
    stop: transition("stop", "stopped", "Service is already stopped"),
    restart: transition("restart", "running"),
  };

  return { ddl: ddlJson as AgentDdl, actions };
}
