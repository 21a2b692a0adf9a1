/**
 * What an agent is to the server: its DDL (Choria's JSON DDL, the single source for validation,
 * help and typed clients) and a handler per action. The server's dispatcher validates inputs
 * against the DDL, fills defaults, runs the handler under the DDL's timeout with an AbortSignal,
 * fills output defaults and always replies with a status code.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";

/** Choria's RPC status codes. */
export const StatusCodes = {
  ok: 0,
  aborted: 1,
  unknownAction: 2,
  missingData: 3,
  invalidData: 4,
  unknownError: 5,
} as const;

/** One of {@linkcode StatusCodes}. */
export type StatusCode = typeof StatusCodes[keyof typeof StatusCodes];

/**
 * A failure an action reports on purpose: its status code and message travel to the client.
 * Any other error a handler throws becomes status 5 (UnknownError).
 */
export class ActionError extends Error {
  override name = "ActionError";
  readonly statuscode: StatusCode;

  constructor(statuscode: StatusCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.statuscode = statuscode;
  }
}

/** What the server tells an action about the node it runs on. */
export interface NodeInfo {
  /** The node's identity (its certificate name). */
  identity: string;
  /** The collectives the node is in; the first is the main one. */
  collectives: string[];
  /** The node's facts now (nested). */
  facts(): Record<string, unknown>;
  /** The node's classes now. */
  classes(): string[];
  /** The agents the node runs, with their DDL metadata. */
  agents(): AgentDdl[];
  /** Counters for rpcutil's daemon_stats. */
  stats(): Record<string, unknown>;
  /** When the server started. */
  startedAt: Date;
  /** The server's version. */
  version: string;
}

/** The request an action runs for. */
export interface ActionRequest {
  requestId: string;
  callerid: string;
  senderid: string;
  agent: string;
  action: string;
  collective: string;
  /** Inputs after validation, with the DDL's defaults filled in. */
  data: Record<string, unknown>;
}

/** Everything a handler gets besides its inputs. */
export interface ActionContext {
  request: ActionRequest;
  node: NodeInfo;
  /** Aborted when the action's timeout passes or the server stops. */
  signal: AbortSignal;
  logger: Logger;
}

/** Runs one action: returns its outputs, or throws an {@linkcode ActionError}. */
export type ActionHandler = (
  inputs: Record<string, unknown>,
  context: ActionContext,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** The parts of Choria's JSON DDL the server and clients use. */
export interface AgentDdl {
  $schema?: string;
  metadata: {
    name: string;
    description: string;
    author: string;
    license: string;
    version: string;
    url: string;
    /** Seconds an action may run. */
    timeout: number;
    provider?: string;
    service?: boolean;
  };
  actions: ActionDdl[];
}

/** One action in a DDL. */
export interface ActionDdl {
  action: string;
  description: string;
  display?: "ok" | "failed" | "always";
  input: Record<string, InputDdl>;
  output: Record<string, OutputDdl>;
  aggregate?: unknown[];
}

/** One input in a DDL. */
export interface InputDdl {
  prompt: string;
  description: string;
  type: "string" | "integer" | "float" | "number" | "boolean" | "list" | "hash" | "array" | "any";
  optional: boolean;
  default?: unknown;
  validation?: string;
  maxlength?: number;
  list?: unknown[];
}

/** One output in a DDL. */
export interface OutputDdl {
  description: string;
  display_as: string;
  type?: string;
  default?: unknown;
}

/** An agent the server can host. */
export interface Agent {
  ddl: AgentDdl;
  /** A handler for each action the DDL names. */
  actions: Record<string, ActionHandler>;
}
