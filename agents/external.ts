/**
 * External agents: programs in any language that the server runs once per request, following
 * Choria's external agent protocol (go-choria `providers/agent/mcorpc/external`, schemas
 * `io.choria.mcorpc.external.v1.*`).
 *
 * An agent directory holds, for each agent, its JSON DDL `<name>.json` and an executable `<name>`
 * beside it (or both inside a folder `<name>/`, as go-choria also accepts). The DDL's
 * `metadata.name` must be `<name>`, and its `metadata.provider`, when set, must be `external`.
 * Names of Choria's built-in agents (`rpcutil`, `choria_util`, `choria_provision`,
 * `choria_registry`, `discovery`, `scout`) are refused, as go-choria refuses them.
 *
 * For each run the host makes a private temporary folder (mode 0700) holding the request file
 * (0600), an empty reply file (0600) and a facts file (0600), and runs the executable through
 * {@linkcode runCommand}: an argv array with the request path, the reply path and the protocol
 * as arguments, never a shell; stdin closed; the working directory the private folder; the pinned
 * environment plus:
 *
 * | variable | value |
 * |---|---|
 * | `CHORIA_EXTERNAL_REQUEST` | the request file |
 * | `CHORIA_EXTERNAL_REPLY` | the reply file the program writes |
 * | `CHORIA_EXTERNAL_PROTOCOL` | `io.choria.mcorpc.external.v1.rpc_request` or `…activation_request` |
 * | `CHORIA_EXTERNAL_FACTS` | the node's facts as JSON (`{}` for the activation check) |
 * | `CHORIA_EXTERNAL_CONFIG` | `<pluginConfigDir>/<name>`, only when `pluginConfigDir` is given |
 *
 * The request is `{$schema, protocol, agent, action, requestid, senderid, callerid, collective,
 * ttl, msgtime, data}`; the reply is `{statuscode?, statusmsg?, data}`. Before an agent loads, it
 * is run once with the activation request `{$schema, protocol, agent}` and must reply
 * `{"activate": true}` within the activation timeout. The folder is removed after every run. What
 * the program prints is logged at debug level and never read as the reply.
 *
 * Where Chorale differs from go-choria: the third argument names the protocol actually used
 * (go-choria always passes the RPC protocol there); the action's deadline is the DDL timeout the
 * server enforces (go-choria adds 1.5 s); a reply with a non-zero statuscode keeps it even when the
 * program exits non-zero (go-choria reports status 1 for any failure of the program).
 *
 * Permissions: `--allow-read` of the agent directory and the temporary directory, `--allow-write`
 * of the temporary directory, and `--allow-run` of each agent executable.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  type ActionContext,
  ActionError,
  type ActionHandler,
  type Agent,
  type AgentDdl,
  type StatusCode,
  StatusCodes,
} from "./agent.ts";
import { parseDdl } from "./ddl.ts";
import {
  CommandAbortedError,
  CommandError,
  type CommandResult,
  type CommandRunner,
  runCommand,
} from "./_command.ts";
import type { Logger } from "../core/log.ts";

/** The protocol names and schema addresses of Choria's external agent protocol, version 1. */
export const ExternalProtocols = {
  rpcRequest: "io.choria.mcorpc.external.v1.rpc_request",
  rpcRequestSchema: "https://choria.io/schemas/mcorpc/external/v1/rpc_request.json",
  activationRequest: "io.choria.mcorpc.external.v1.activation_request",
  activationRequestSchema: "https://choria.io/schemas/mcorpc/external/v1/activation_request.json",
} as const;

/** Agent names an external agent may not take: go-choria's deny list. */
export const RESERVED_AGENT_NAMES: readonly string[] = Object.freeze([
  "rpcutil",
  "choria_util",
  "choria_provision",
  "choria_registry",
  "discovery",
  "scout",
]);

/** The request file an external agent reads for an action (`rpc_request.json`). */
export interface ExternalRpcRequest {
  $schema: string;
  protocol: string;
  agent: string;
  action: string;
  requestid: string;
  senderid: string;
  callerid: string;
  collective: string;
  /** Seconds the request is valid for from `msgtime`. */
  ttl: number;
  /** When the request was made, in Unix seconds. */
  msgtime: number;
  data: Record<string, unknown>;
}

/** Options for {@linkcode loadExternalAgents}. */
export interface LoadExternalAgentsOptions {
  /** Gets load problems (warn), activation results and the programs' output (debug). */
  logger: Logger;
  /** Runs the executables. @default runCommand */
  runner?: CommandRunner;
  /** Milliseconds an activation check may take. @default 2000 */
  activationTimeoutMs?: number;
  /** Milliseconds between SIGTERM and SIGKILL when a run is aborted. @default 2000 */
  killGraceMs?: number;
  /** Where the private per-run folders are made. @default the system's temporary directory */
  tempDir?: string;
  /** Folder of per-agent config files, passed as `CHORIA_EXTERNAL_CONFIG`. @default unset */
  pluginConfigDir?: string;
  /** Bytes of a reply file that are read; a larger reply is refused. @default 4194304 */
  maxReplyBytes?: number;
  /** Bytes of stdout and stderr each kept for the debug log. @default 65536 */
  maxOutputBytes?: number;
  /** DDLs considered in the directory; the rest are skipped with a problem. @default 256 */
  maxAgents?: number;
  /** Stops activation checks under way (the server is stopping). @default none */
  signal?: AbortSignal;
}

/** The agents found in a directory and why the others were skipped. */
export interface ExternalAgents {
  /** The loaded agents, by name. */
  agents: Agent[];
  /** One line per skipped agent or unreadable entry, such as "Cannot load external agent …". */
  problems: string[];
}

/**
 * Loads every external agent in a directory: each `<name>.json` DDL that parses, has an
 * executable `<name>` beside it and passes the activation check becomes an {@linkcode Agent} whose
 * handlers run that executable. Everything else is skipped with a line in `problems` (and a
 * warning in the log); the others still load. Activation checks run four at a time.
 *
 * @param dir The agent directory.
 *
 * @example Load the agents in a directory
 * ```ts ignore
 * import { loadExternalAgents } from "./external.ts";
 * import { silentLogger } from "../core/log.ts";
 * const { agents, problems } = await loadExternalAgents("/etc/chorale/agents", {
 *   logger: silentLogger,
 * });
 * console.log(agents.map((agent) => agent.ddl.metadata.name), problems);
 * ```
 */
export async function loadExternalAgents(
  dir: string,
  options: LoadExternalAgentsOptions,
): Promise<ExternalAgents> {
  const settings = settle(options, "load external agents");
  const scan = await scanDirectory(dir, settings.maxAgents);
  const loaded = await mapLimit(
    scan.candidates,
    4,
    (candidate) => loadCandidate(candidate, settings),
  );
  const result = collate(scan.problems, loaded);
  for (const problem of result.problems) settings.logger.warn(problem, { dir });
  return result;
}

/** What a poll of {@linkcode watchExternalAgents} found: the whole set and what changed. */
export interface ExternalAgentsChange extends ExternalAgents {
  /** Agents loaded now that were not before (all of them on the first report). */
  added: string[];
  /** Agents reloaded because their DDL or executable changed. */
  changed: string[];
  /** Agents loaded before that are gone or now fail to load. */
  removed: string[];
}

/** Options for {@linkcode watchExternalAgents}. */
export interface WatchExternalAgentsOptions extends LoadExternalAgentsOptions {
  /** Milliseconds between the end of one poll and the start of the next. @default 60000 */
  intervalMs?: number;
  /**
   * Gets the first poll's result, then each poll's result when an agent was added, changed or
   * removed, or the problems changed. Calls never overlap; a throw or rejection is logged.
   */
  onChange: (change: ExternalAgentsChange) => void | Promise<void>;
}

/** A running {@linkcode watchExternalAgents}; dispose of it to stop polling. */
export interface ExternalAgentWatcher extends AsyncDisposable {
  /** Settles once the first poll has been reported. */
  readonly ready: Promise<void>;
  /** The agents and problems of the last poll. */
  current(): ExternalAgents;
  /** Polls now (after any poll under way) and resolves once it is reported. */
  refresh(): Promise<void>;
  /** Stops polling, aborts activation checks under way and waits for the current poll. */
  close(): Promise<void>;
}

/**
 * Watches an agent directory by polling: each poll compares the modification time, size, inode
 * and mode of every DDL and executable with the last poll's, reloads (and activation-checks) only
 * the agents whose files changed, drops the ones whose files are gone and reports the new set.
 * An agent that failed to load is tried again only once its files change, so a poll runs no
 * programs when nothing changed. Polls never overlap.
 *
 * @param dir The agent directory; it may be missing (a problem is reported) and appear later.
 *
 * @example Reload agents without restarting
 * ```ts ignore
 * import { watchExternalAgents } from "./external.ts";
 * import { silentLogger } from "../core/log.ts";
 * await using watcher = watchExternalAgents("/etc/chorale/agents", {
 *   logger: silentLogger,
 *   intervalMs: 10_000,
 *   onChange: ({ agents, removed }) => console.log(agents.length, removed),
 * });
 * await watcher.ready;
 * ```
 */
export function watchExternalAgents(
  dir: string,
  options: WatchExternalAgentsOptions,
): ExternalAgentWatcher {
  const intervalMs = options.intervalMs ?? 60_000;
  if (!Number.isInteger(intervalMs) || intervalMs < 1) {
    throw new RangeError(
      `Cannot watch external agents as 'intervalMs' must be a positive integer: current value is ${intervalMs}`,
    );
  }
  const stop = new AbortController();
  const signal = options.signal === undefined
    ? stop.signal
    : AbortSignal.any([stop.signal, options.signal]);
  const settings = settle({ ...options, signal }, "watch external agents");
  const logger = settings.logger;

  let known = new Map<string, Loaded>();
  let last: ExternalAgents = { agents: [], problems: [] };
  let reported = false;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let chain: Promise<void> = Promise.resolve();

  const poll = async (): Promise<void> => {
    if (closed) return;
    const scan = await scanDirectory(dir, settings.maxAgents);
    const next = new Map<string, Loaded>();
    const stale: Candidate[] = [];
    for (const candidate of scan.candidates) {
      const before = known.get(candidate.name);
      if (before !== undefined && before.candidate.fingerprint === candidate.fingerprint) {
        next.set(candidate.name, before);
      } else stale.push(candidate);
    }
    const fresh = await mapLimit(stale, 4, (candidate) => loadCandidate(candidate, settings));
    if (closed) return;
    for (const item of fresh) next.set(item.candidate.name, item);
    const ordered = scan.candidates.map((candidate) => next.get(candidate.name)!);
    const result = collate(scan.problems, ordered);

    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [name, now] of next) {
      const before = known.get(name);
      if (now.agent === undefined) continue;
      if (before?.agent === undefined) added.push(name);
      else if (before !== now) changed.push(name);
    }
    for (const [name, before] of known) {
      if (before.agent !== undefined && next.get(name)?.agent === undefined) removed.push(name);
    }
    const problemsChanged = result.problems.join("\n") !== last.problems.join("\n");
    known = next;
    last = result;
    if (reported && added.length + changed.length + removed.length === 0 && !problemsChanged) {
      return;
    }
    for (const problem of result.problems) logger.warn(problem, { dir });
    if (reported || added.length + changed.length + removed.length > 0) {
      logger.info("external agents changed", { dir, added, changed, removed });
    }
    reported = true;
    try {
      await options.onChange({ ...result, added, changed, removed });
    } catch (error) {
      logger.error("external agent change handler failed", { dir, error: messageOf(error) });
    }
  };

  const enqueue = (): Promise<void> => {
    const run = chain.then(poll).catch((error) => {
      logger.error("external agent poll failed", { dir, error: messageOf(error) });
    });
    chain = run;
    return run;
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      enqueue().then(schedule);
    }, intervalMs);
  };

  const ready = enqueue();
  ready.then(schedule);

  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      stop.abort(new Error("The external agent watcher is closing"));
    }
    await chain;
  };

  return {
    ready,
    current: () => ({ agents: [...last.agents], problems: [...last.problems] }),
    refresh: () => closed ? Promise.resolve() : enqueue(),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** How an external agent's reply was read: its outputs, or the failure to report. */
export type ExternalReplyOutcome =
  | { ok: true; data: Record<string, unknown> }
  | {
    ok: false;
    statuscode: StatusCode;
    /** The agent's own `statusmsg`, or why the reply was refused, reading on from "… as ". */
    message: string;
    /** Whether `message` is the agent's own `statusmsg` rather than the host's reason. */
    fromAgent: boolean;
  };

/**
 * Reads the reply file of one run: pure, no I/O. A reply is a JSON object with an optional
 * `statuscode` (an integer 0 to 5), an optional `statusmsg` and `data` (an object; missing or
 * `null` reads as `{}`). A non-zero `statuscode` is kept with its `statusmsg`, even when the
 * program exited non-zero. Anything else fails with status 5: a non-zero exit, a missing, empty or
 * non-JSON reply, a reply that is not an object, a bad `statuscode`, or `data` that is not an
 * object.
 *
 * @param text The reply file's text; `undefined` when there was none.
 * @param exitCode The program's exit code.
 *
 * @example Read a reply
 * ```ts
 * import { parseExternalReply } from "./external.ts";
 * console.log(parseExternalReply('{"data": {"ok": true}}', 0)); // { ok: true, data: { ok: true } }
 * const failed = parseExternalReply("", 1);
 * console.log(failed.ok === false && failed.message); // "its executable exited with code 1"
 * ```
 */
export function parseExternalReply(
  text: string | undefined,
  exitCode: number,
): ExternalReplyOutcome {
  const refuse = (message: string): ExternalReplyOutcome => ({
    ok: false,
    statuscode: StatusCodes.unknownError,
    message,
    fromAgent: false,
  });
  const exited = exitCode === 0 ? undefined : `its executable exited with code ${exitCode}`;
  const read = readJsonObject(text, "reply");
  if (typeof read === "string") return refuse(exited ?? read);
  const statuscode = read.statuscode;
  if (statuscode !== undefined && statuscode !== null) {
    if (
      typeof statuscode !== "number" || !Number.isInteger(statuscode) || statuscode < 0 ||
      statuscode > 5
    ) {
      return refuse(
        exited ?? `its reply has an invalid statuscode: current value is ${show(statuscode)}`,
      );
    }
    if (statuscode !== 0) {
      const statusmsg = typeof read.statusmsg === "string" && read.statusmsg !== ""
        ? read.statusmsg
        : `the agent failed with status ${statuscode}`;
      return {
        ok: false,
        statuscode: statuscode as StatusCode,
        message: statusmsg,
        fromAgent: typeof read.statusmsg === "string" && read.statusmsg !== "",
      };
    }
  }
  if (exited !== undefined) return refuse(exited);
  const data = read.data;
  if (data === undefined || data === null) return { ok: true, data: {} };
  if (!isObject(data)) {
    return refuse(`its reply's data must be an object: current value is ${show(data)}`);
  }
  return { ok: true, data };
}

// ---------------------------------------------------------------------------------------------
// Internals

interface Settings {
  logger: Logger;
  runner: CommandRunner;
  activationTimeoutMs: number;
  killGraceMs: number;
  tempDir: string | undefined;
  pluginConfigDir: string | undefined;
  maxReplyBytes: number;
  maxOutputBytes: number;
  maxAgents: number;
  signal: AbortSignal | undefined;
}

function settle(options: LoadExternalAgentsOptions, doing: string): Settings {
  const settings: Settings = {
    logger: options.logger,
    runner: options.runner ?? runCommand,
    activationTimeoutMs: options.activationTimeoutMs ?? 2000,
    killGraceMs: options.killGraceMs ?? 2000,
    tempDir: options.tempDir,
    pluginConfigDir: options.pluginConfigDir,
    maxReplyBytes: options.maxReplyBytes ?? 4 * 1024 * 1024,
    maxOutputBytes: options.maxOutputBytes ?? 64 * 1024,
    maxAgents: options.maxAgents ?? 256,
    signal: options.signal,
  };
  for (
    const key of [
      "activationTimeoutMs",
      "killGraceMs",
      "maxReplyBytes",
      "maxOutputBytes",
      "maxAgents",
    ] as const
  ) {
    const value = settings[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Cannot ${doing} as '${key}' must be a positive integer: current value is ${value}`,
      );
    }
  }
  return settings;
}

/** One agent's files as a poll found them. */
interface Candidate {
  name: string;
  ddlPath: string;
  executable: string;
  /** Changes whenever the DDL or the executable does. */
  fingerprint: string;
}

/** One candidate's load result. */
interface Loaded {
  candidate: Candidate;
  agent?: Agent;
  problem?: string;
}

const AGENT_NAME = /^[a-z0-9_]+$/;
const MAX_DDL_BYTES = 1024 * 1024;

async function scanDirectory(
  dir: string,
  maxAgents: number,
): Promise<{ candidates: Candidate[]; problems: string[] }> {
  const root = resolve(dir);
  const problems: string[] = [];
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(root)) entries.push(entry);
  } catch (error) {
    return {
      candidates: [],
      problems: [`Cannot read external agent directory '${root}': ${messageOf(error)}`],
    };
  }
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

  const found = new Map<string, { ddlPath: string; executable: string }>();
  for (const entry of entries) {
    let name: string;
    let ddlPath: string;
    let executable: string;
    if (entry.name.endsWith(".json") && !entry.isDirectory) {
      name = entry.name.slice(0, -".json".length);
      ddlPath = join(root, entry.name);
      executable = join(root, name);
    } else if (entry.isDirectory || entry.isSymlink) {
      name = entry.name;
      ddlPath = join(root, name, `${name}.json`);
      executable = join(root, name, name);
      if (!(await isFile(ddlPath))) continue;
    } else continue;
    if (!AGENT_NAME.test(name)) {
      problems.push(
        `Cannot load external agent from '${ddlPath}' as its name must be made of a-z, 0-9 and _: current value is '${name}'`,
      );
      continue;
    }
    if (RESERVED_AGENT_NAMES.includes(name)) {
      problems.push(
        `Cannot load external agent '${name}' from '${ddlPath}' as that name is reserved for a built-in agent`,
      );
      continue;
    }
    const before = found.get(name);
    if (before !== undefined) {
      problems.push(
        `Cannot load external agent '${name}' from '${ddlPath}' as '${before.ddlPath}' already defines it`,
      );
      continue;
    }
    found.set(name, { ddlPath, executable });
  }

  const candidates: Candidate[] = [];
  let skipped = 0;
  for (const [name, paths] of found) {
    if (candidates.length >= maxAgents) {
      skipped++;
      continue;
    }
    const fingerprint = `${await stamp(paths.ddlPath)}|${await stamp(paths.executable)}`;
    candidates.push({ name, ...paths, fingerprint });
  }
  if (skipped > 0) {
    problems.push(
      `Cannot load ${skipped} more external agent${
        skipped === 1 ? "" : "s"
      } from '${root}' as 'maxAgents' is ${maxAgents}`,
    );
  }
  return { candidates, problems };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function stamp(path: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    return `${info.mtime?.getTime() ?? 0}:${info.size}:${info.ino ?? 0}:${info.mode ?? 0}`;
  } catch {
    return "missing";
  }
}

async function loadCandidate(candidate: Candidate, settings: Settings): Promise<Loaded> {
  const { name, ddlPath, executable } = candidate;
  const skip = (problem: string): Loaded => ({ candidate, problem });
  let ddl: AgentDdl;
  try {
    const info = await Deno.stat(ddlPath);
    if (info.size > MAX_DDL_BYTES) {
      return skip(
        `Cannot load external agent '${name}' as its DDL '${ddlPath}' is larger than ${MAX_DDL_BYTES} bytes`,
      );
    }
    ddl = parseDdl(await Deno.readTextFile(ddlPath), { file: ddlPath });
  } catch (error) {
    return skip(`Cannot load external agent '${name}': ${messageOf(error)}`);
  }
  if (ddl.metadata.name !== name) {
    return skip(
      `Cannot load external agent '${name}' as its DDL names it '${ddl.metadata.name}'`,
    );
  }
  if (ddl.metadata.provider !== undefined && ddl.metadata.provider !== "external") {
    return skip(
      `Cannot load external agent '${name}' as its DDL's provider must be 'external': current value is '${ddl.metadata.provider}'`,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(executable);
  } catch (error) {
    return skip(
      `Cannot load external agent '${name}' as its executable '${executable}' cannot be read: ${
        messageOf(error)
      }`,
    );
  }
  if (!info.isFile || info.mode === null || (info.mode & 0o111) === 0) {
    return skip(
      `Cannot load external agent '${name}' as '${executable}' is not an executable file`,
    );
  }

  const logger = settings.logger;
  const timeout = AbortSignal.timeout(settings.activationTimeoutMs);
  const signal = settings.signal === undefined
    ? timeout
    : AbortSignal.any([timeout, settings.signal]);
  let reply: ExecResult;
  try {
    reply = await execute(
      executable,
      ExternalProtocols.activationRequest,
      {
        $schema: ExternalProtocols.activationRequestSchema,
        protocol: ExternalProtocols.activationRequest,
        agent: name,
      },
      {},
      signal,
      settings,
    );
  } catch (error) {
    const reason = error instanceof CommandAbortedError && timeout.aborted
      ? `it did not finish within ${settings.activationTimeoutMs}ms`
      : messageOf(error);
    return skip(`Cannot load external agent '${name}' as its activation check failed: ${reason}`);
  }
  logOutput(logger, reply.result, { agent: name, check: "activation" });
  if (reply.result.code !== 0) {
    return skip(
      `Cannot load external agent '${name}' as its activation check failed: its executable exited with code ${reply.result.code}`,
    );
  }
  const read = readJsonObject(reply.text, "activation reply");
  if (typeof read === "string") {
    return skip(`Cannot load external agent '${name}' as its activation check failed: ${read}`);
  }
  if (typeof read.activate !== "boolean") {
    return skip(
      `Cannot load external agent '${name}' as its activation check failed: 'activate' must be a boolean: current value is ${
        show(read.activate)
      }`,
    );
  }
  if (!read.activate) {
    return skip(`Skipped external agent '${name}' as its activation check declined it`);
  }
  logger.debug("external agent activated", { agent: name, executable });

  const actions: Record<string, ActionHandler> = {};
  for (const action of ddl.actions) {
    actions[action.action] = actionHandler(name, action.action, executable, settings);
  }
  return { candidate, agent: { ddl, actions } };
}

function actionHandler(
  agent: string,
  action: string,
  executable: string,
  settings: Settings,
): ActionHandler {
  const label = `${agent}#${action}`;
  return async (inputs, context) => {
    const fields = { agent, action, requestid: context.request.requestId };
    let run: ExecResult;
    try {
      run = await execute(
        executable,
        ExternalProtocols.rpcRequest,
        rpcRequest(agent, action, inputs, context),
        factsOf(context),
        context.signal,
        settings,
      );
    } catch (error) {
      if (error instanceof CommandAbortedError) {
        if (error.partial !== undefined) logOutput(context.logger, error.partial, fields);
        throw new ActionError(
          StatusCodes.aborted,
          `Aborted: external agent action '${label}' was stopped: ${reasonOf(context.signal)}`,
          { cause: error },
        );
      }
      throw new ActionError(
        StatusCodes.unknownError,
        `Cannot run action '${label}': ${messageOf(error)}`,
        { cause: error },
      );
    }
    logOutput(context.logger, run.result, fields);
    const outcome = parseExternalReply(run.text, run.result.code);
    if (outcome.ok) return outcome.data;
    if (outcome.statuscode === StatusCodes.unknownError || !outcome.fromAgent) {
      context.logger.warn("external agent action failed", {
        ...fields,
        code: run.result.code,
        error: outcome.message,
      });
    }
    throw new ActionError(
      outcome.statuscode,
      outcome.fromAgent ? outcome.message : `Cannot run action '${label}' as ${outcome.message}`,
    );
  };
}

function rpcRequest(
  agent: string,
  action: string,
  inputs: Record<string, unknown>,
  context: ActionContext,
): ExternalRpcRequest {
  const request = context.request;
  // ActionRequest carries no ttl or message time; use them when the server passes them along.
  const extra = request as unknown as Record<string, unknown>;
  const ttl = typeof extra.ttl === "number" ? extra.ttl : 60;
  const time = extra.msgtime ?? extra.time;
  const msgtime = typeof time === "number"
    ? Math.floor(time)
    : time instanceof Date
    ? Math.floor(time.getTime() / 1000)
    : Math.floor(Date.now() / 1000);
  return {
    $schema: ExternalProtocols.rpcRequestSchema,
    protocol: ExternalProtocols.rpcRequest,
    agent,
    action,
    requestid: request.requestId,
    senderid: request.senderid,
    callerid: request.callerid,
    collective: request.collective,
    ttl,
    msgtime,
    data: inputs,
  };
}

function factsOf(context: ActionContext): Record<string, unknown> {
  try {
    const facts = context.node.facts();
    return isObject(facts) ? facts : {};
  } catch (error) {
    context.logger.warn("cannot read facts for external agent", { error: messageOf(error) });
    return {};
  }
}

interface ExecResult {
  result: CommandResult;
  /** The reply file's text; `undefined` when the program removed it. */
  text: string | undefined;
}

/**
 * Runs one request through an executable in a private folder and reads the reply file.
 * @throws {CommandError} the program could not start; {CommandAbortedError} the signal aborted it
 */
async function execute(
  executable: string,
  protocol: string,
  request: unknown,
  facts: Record<string, unknown>,
  signal: AbortSignal,
  settings: Settings,
): Promise<ExecResult> {
  if (signal.aborted) {
    throw new CommandAbortedError(
      [executable],
      `Cannot run '${executable}' as it was aborted before it started: ${reasonOf(signal)}`,
      undefined,
      { cause: signal.reason },
    );
  }
  const folder = await Deno.makeTempDir({
    prefix: "chorale-external-",
    ...(settings.tempDir === undefined ? {} : { dir: settings.tempDir }),
  });
  try {
    await Deno.chmod(folder, 0o700);
    const requestPath = join(folder, "request.json");
    const replyPath = join(folder, "reply.json");
    const factsPath = join(folder, "facts.json");
    const encoder = new TextEncoder();
    await Deno.writeFile(requestPath, encoder.encode(JSON.stringify(request)), {
      mode: 0o600,
      createNew: true,
    });
    await Deno.writeFile(replyPath, new Uint8Array(), { mode: 0o600, createNew: true });
    await Deno.writeFile(factsPath, encoder.encode(JSON.stringify(facts)), {
      mode: 0o600,
      createNew: true,
    });
    const env: Record<string, string> = {
      CHORIA_EXTERNAL_REQUEST: requestPath,
      CHORIA_EXTERNAL_REPLY: replyPath,
      CHORIA_EXTERNAL_PROTOCOL: protocol,
      CHORIA_EXTERNAL_FACTS: factsPath,
    };
    const agent = (request as { agent: string }).agent;
    if (settings.pluginConfigDir !== undefined) {
      env.CHORIA_EXTERNAL_CONFIG = resolve(settings.pluginConfigDir, agent);
    }
    const result = await settings.runner([executable, requestPath, replyPath, protocol], {
      signal,
      env,
      cwd: folder,
      killGraceMs: settings.killGraceMs,
      maxOutputBytes: settings.maxOutputBytes,
    });
    return { result, text: await readReply(replyPath, settings.maxReplyBytes) };
  } finally {
    await Deno.remove(folder, { recursive: true }).catch((error) => {
      settings.logger.warn("cannot remove external agent temporary folder", {
        folder,
        error: messageOf(error),
      });
    });
  }
}

/** Reads a reply file; `undefined` when missing, a refusal message when not a small file. */
async function readReply(path: string, max: number): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (!info.isFile) {
    throw new CommandError([path], `Cannot read reply '${path}' as it is not a regular file`);
  }
  if (info.size > max) {
    throw new CommandError(
      [path],
      `Cannot read reply '${path}' as it is larger than ${max} bytes: current size is ${info.size}`,
    );
  }
  return await Deno.readTextFile(path);
}

/** Parses a JSON object, or says what is wrong with the text. */
function readJsonObject(
  text: string | undefined,
  what: string,
): Record<string, unknown> | string {
  if (text === undefined) return `its ${what} file is missing`;
  if (text.trim() === "") return `it wrote no ${what}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `its ${what} is not JSON: ${messageOf(error)}`;
  }
  if (!isObject(value)) return `its ${what} must be a JSON object: current value is ${show(value)}`;
  return value;
}

function logOutput(
  logger: Logger,
  result: CommandResult,
  fields: Record<string, unknown>,
): void {
  if (result.stdout === "" && result.stderr === "") return;
  logger.debug("external agent output", {
    ...fields,
    code: result.code,
    stdout: result.stdout,
    stderr: result.stderr,
    truncated: result.truncated,
  });
}

function collate(scanProblems: string[], loaded: Loaded[]): ExternalAgents {
  const agents: Agent[] = [];
  const problems = [...scanProblems];
  for (const item of loaded) {
    if (item.agent !== undefined) agents.push(item.agent);
    if (item.problem !== undefined) problems.push(item.problem);
  }
  return { agents, problems };
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function reasonOf(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
