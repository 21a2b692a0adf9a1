/**
 * The agent SDK: {@linkcode defineAgent} pairs a Choria JSON DDL with one handler per action, and
 * {@linkcode runAction} is the host logic that runs one request against an agent and always
 * produces a reply, turning every failure into a status code as go-choria's dispatcher does.
 *
 * Outputs a handler returns that its DDL does not declare are kept in the reply, as go-choria
 * keeps them (it only adds output defaults and never filters), so agents can grow outputs before
 * their DDL does and older clients simply ignore them.
 *
 * @module
 */
import {
  type ActionContext,
  ActionError,
  type ActionHandler,
  type ActionRequest,
  type Agent,
  type NodeInfo,
  type StatusCode,
  StatusCodes,
} from "./agent.ts";
import { fillOutputDefaults, parseDdl, validateInputs } from "./ddl.ts";
import { type Logger, silentLogger } from "../core/log.ts";

/** An agent and its handlers that do not match. */
export class AgentDefinitionError extends Error {
  override name = "AgentDefinitionError";
}

/** Options for {@linkcode defineAgent}. */
export interface DefineAgentOptions {
  /** Names the DDL in error messages. @default the DDL's `metadata.name` */
  file?: string;
}

/**
 * Checks a DDL and pairs it with its handlers: every action in the DDL needs a handler and every
 * handler needs an action in the DDL.
 *
 * @param ddl The DDL: a parsed JSON value (such as a `with { type: "json" }` import) or JSON text.
 * @param handlers One handler per action, keyed by action name.
 * @throws {DdlError} When the DDL is not valid.
 * @throws {AgentDefinitionError} When the handlers and the DDL's actions do not match.
 *
 * @example Define an agent
 * ```ts
 * import { defineAgent } from "./sdk.ts";
 * const agent = defineAgent({
 *   metadata: {
 *     name: "hello", description: "Says hello", author: "me", license: "Apache-2.0",
 *     version: "1.0.0", url: "https://example.net", timeout: 2,
 *   },
 *   actions: [{
 *     action: "greet", description: "Greets", input: {},
 *     output: { message: { description: "Greeting", display_as: "Message", type: "string" } },
 *   }],
 * }, { greet: () => ({ message: "hello" }) });
 * console.log(Object.keys(agent.actions)); // ["greet"]
 * ```
 */
export function defineAgent(
  ddl: unknown,
  handlers: Record<string, ActionHandler>,
  options: DefineAgentOptions = {},
): Agent {
  const parsed = parseDdl(ddl, options.file === undefined ? {} : { file: options.file });
  const name = parsed.metadata.name;
  const declared = new Set(parsed.actions.map((action) => action.action));
  const given = Object.keys(handlers);
  const problems: string[] = [];
  const missing = [...declared].filter((action) => !Object.hasOwn(handlers, action));
  if (missing.length === 1) problems.push(`action ${quoteList(missing)} has no handler`);
  if (missing.length > 1) problems.push(`actions ${quoteList(missing)} have no handler`);
  const extra = given.filter((action) => !declared.has(action));
  if (extra.length === 1) problems.push(`handler ${quoteList(extra)} has no action in the DDL`);
  if (extra.length > 1) problems.push(`handlers ${quoteList(extra)} have no action in the DDL`);
  const broken = given.filter((action) =>
    declared.has(action) && typeof handlers[action] !== "function"
  );
  if (broken.length > 0) problems.push(`the handler of ${quoteList(broken)} is not a function`);
  if (problems.length > 0) {
    throw new AgentDefinitionError(`Cannot define agent '${name}' as ${problems.join("; ")}`);
  }
  return { ddl: parsed, actions: { ...handlers } };
}

/** The reply to one action: what travels back to the client in the RPC reply. */
export interface ActionReply {
  statuscode: StatusCode;
  statusmsg: string;
  data: Record<string, unknown>;
}

/** Options for {@linkcode runAction}. */
export interface RunActionOptions {
  /** What the server tells the action about the node. */
  node: NodeInfo;
  /** Gets the action's log lines. @default a logger that drops everything */
  logger?: Logger;
  /** Aborted when the server stops; the action's signal is aborted with it. @default none */
  signal?: AbortSignal;
}

type Outcome =
  | { type: "returned"; value: unknown }
  | { type: "threw"; error: unknown }
  | { type: "timeout" }
  | { type: "stopped" };

/**
 * Runs one request against an agent and always produces a reply: an unknown action is status 2;
 * input problems are status 3 (missing) or 4 (invalid) with every problem in `statusmsg`; the
 * handler runs with the validated inputs (defaults filled) under the DDL's `metadata.timeout`
 * seconds with an AbortSignal, and a handler still running when the timeout passes is answered
 * with status 1 "Aborted: timed out after Ns" whether or not it heeds the signal; an
 * {@linkcode ActionError} keeps its status code and message; anything else thrown is status 5
 * with its message. A successful reply gets the DDL's output defaults filled; outputs the DDL does
 * not declare are kept. A failed reply's data is `{}`.
 *
 * @param request The request; its `data` is the raw request data, validated here.
 *
 * @example Ping an agent
 * ```ts
 * import { defineAgent, runAction } from "./sdk.ts";
 * import type { NodeInfo } from "./agent.ts";
 * const agent = defineAgent({
 *   metadata: {
 *     name: "hello", description: "Says hello", author: "me", license: "Apache-2.0",
 *     version: "1.0.0", url: "https://example.net", timeout: 2,
 *   },
 *   actions: [{ action: "greet", description: "Greets", input: {}, output: {} }],
 * }, { greet: () => ({ message: "hello" }) });
 * const node = {} as NodeInfo; // the server provides the real one
 * const reply = await runAction(agent, {
 *   requestId: "0123", callerid: "choria=me.mcollective", senderid: "client",
 *   agent: "hello", action: "greet", collective: "mcollective", data: {},
 * }, { node });
 * console.log(reply); // { statuscode: 0, statusmsg: "OK", data: { message: "hello" } }
 * ```
 */
export async function runAction(
  agent: Agent,
  request: ActionRequest,
  options: RunActionOptions,
): Promise<ActionReply> {
  const logger = options.logger ?? silentLogger;
  try {
    return await run(agent, request, options, logger);
  } catch (error) {
    // Only a fault in the host itself lands here (a DDL the agent was built around by hand, say);
    // the client still gets its reply.
    logger.error("action host failed", {
      agent: request.agent,
      action: request.action,
      error: messageOf(error),
    });
    return failure(StatusCodes.unknownError, messageOf(error));
  }
}

async function run(
  agent: Agent,
  request: ActionRequest,
  options: RunActionOptions,
  logger: Logger,
): Promise<ActionReply> {
  const name = agent.ddl.metadata.name;
  const action = agent.ddl.actions.find((item) => item.action === request.action);
  const handler = Object.hasOwn(agent.actions, request.action)
    ? agent.actions[request.action]
    : undefined;
  if (action === undefined || typeof handler !== "function") {
    return failure(
      StatusCodes.unknownAction,
      `Cannot run action '${request.action}' as agent '${name}' does not have it`,
    );
  }

  const { data, problems, warnings } = validateInputs(action, request.data);
  for (const warning of warnings) {
    logger.warn(warning, { agent: name, action: action.action, requestid: request.requestId });
  }
  if (problems.length > 0) {
    return failure(problems[0]!.statuscode, problems.map((p) => p.message).join("; "));
  }

  const stop = options.signal;
  if (stop?.aborted) return failure(StatusCodes.aborted, "Aborted: the server is stopping");

  const timeout = agent.ddl.metadata.timeout;
  const controller = new AbortController();
  const context: ActionContext = {
    request: { ...request, data },
    node: options.node,
    signal: controller.signal,
    logger,
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  let onStop: (() => void) | undefined;
  const aborted = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(
        new DOMException(`Action timed out after ${timeout}s`, "TimeoutError"),
      );
      resolve({ type: "timeout" });
    }, timeout * 1000);
    onStop = () => {
      controller.abort(stop?.reason);
      resolve({ type: "stopped" });
    };
    stop?.addEventListener("abort", onStop, { once: true });
  });
  // The handler may throw synchronously, reject, or never settle; each becomes an outcome, and a
  // late rejection after the timeout is swallowed here rather than left unhandled.
  const handled = (async (): Promise<Outcome> => {
    try {
      return { type: "returned", value: await handler(data, context) };
    } catch (error) {
      return { type: "threw", error };
    }
  })();

  let outcome: Outcome;
  try {
    outcome = await Promise.race([handled, aborted]);
  } finally {
    clearTimeout(timer);
    if (onStop !== undefined) stop?.removeEventListener("abort", onStop);
  }

  const fields = { agent: name, action: action.action, requestid: request.requestId };
  switch (outcome.type) {
    case "timeout":
      logger.warn("action timed out", { ...fields, timeout });
      return failure(StatusCodes.aborted, `Aborted: timed out after ${timeout}s`);
    case "stopped":
      return failure(StatusCodes.aborted, "Aborted: the server is stopping");
    case "threw": {
      const error = outcome.error;
      if (error instanceof ActionError) return failure(error.statuscode, error.message);
      logger.error("action failed", { ...fields, error: messageOf(error) });
      return failure(StatusCodes.unknownError, messageOf(error));
    }
    case "returned": {
      const value = outcome.value;
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return failure(
          StatusCodes.unknownError,
          `Cannot reply to action '${action.action}' as its handler returned ${
            Array.isArray(value) ? "an array" : String(value)
          }: handlers return an object`,
        );
      }
      return {
        statuscode: StatusCodes.ok,
        statusmsg: "OK",
        data: fillOutputDefaults(action, value as Record<string, unknown>),
      };
    }
  }
}

function failure(statuscode: StatusCode, statusmsg: string): ActionReply {
  return { statuscode, statusmsg, data: {} };
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function quoteList(names: string[]): string {
  return names.map((name) => `'${name}'`).join(", ");
}
