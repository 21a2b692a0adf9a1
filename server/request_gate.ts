/**
 * The gate every request passes before an action runs: authenticate (decode, time window, replay,
 * certificate and signature), authorize (the agent's action policy), audit (one rpcaudit line,
 * written before the action runs). Refusals are typed and logged; an authorization refusal is
 * answered with status 1 (Aborted), as Choria answers it, while a request that fails
 * authentication gets no reply, since nothing in it can be trusted.
 *
 * @module
 */
import { type StatusCode, StatusCodes } from "../agents/agent.ts";
import type { Logger } from "../core/log.ts";
import { ProtocolError } from "../core/protocol/errors.ts";
import { receiveRequest, type VerifiedRequest } from "../core/protocol/receive.ts";
import type { ReplayGuard } from "../core/protocol/replay_guard.ts";
import { createReply } from "../core/protocol/reply.ts";
import { createSecureReply } from "../core/protocol/secure_reply.ts";
import { createTransport, encodeTransport, type NetworkHop } from "../core/protocol/transport.ts";
import type { AuditLog } from "../core/security/audit.ts";
import { authorize, type Decision } from "../core/security/policy.ts";
import { authorizeWithFiles } from "../core/security/policy_files.ts";
import type { Signer } from "../core/security/signing.ts";
import { type CertificateVerifier, VerificationError } from "../core/security/verify.ts";

/** The RPC request body inside a verified request. */
export interface RpcRequest {
  agent: string;
  action: string;
  data: Record<string, unknown>;
}

/** The RPC reply body. */
export interface RpcReply {
  statuscode: StatusCode;
  statusmsg: string;
  data: Record<string, unknown>;
}

/** What the gate needs. */
export interface RequestGateOptions {
  /** Verifies callers' certificates and signatures. */
  verifier: CertificateVerifier;
  /** Refuses replays within the TTL window. */
  replayGuard: ReplayGuard;
  /**
   * The policies directory (`<agent>.policy`, `groups`); null turns authorization off, as
   * Choria's `rpcauthorization = 0` does.
   */
  policyDir: string | null;
  /** Allow agents that have no policy file. @default false */
  allowUnconfigured?: boolean;
  /** Where authorized requests are recorded; null turns auditing off. */
  audit: AuditLog | null;
  /** The node's facts and classes, for policy rules. */
  facts: () => Record<string, unknown>;
  classes: () => string[];
  /**
   * Whether the request's filter selects this node; checked right after authentication, and a
   * request that does not select the node is dropped without a word. @default every request
   */
  selects?: (request: VerifiedRequest) => boolean;
  logger: Logger;
}

/** Why a request was refused, and at which stage. */
export class RequestRefusedError extends Error {
  override name = "RequestRefusedError";
  readonly stage: "authentication" | "authorization" | "request";

  constructor(stage: RequestRefusedError["stage"], message: string, options?: ErrorOptions) {
    super(message, options);
    this.stage = stage;
  }
}

/** A request that passed the gate. */
export interface AdmittedRequest {
  verified: VerifiedRequest;
  rpc: RpcRequest;
  decision: Decision;
}

/** The gate's answer: an admitted request, one meant for other nodes, or a refusal. */
export type GateResult =
  | { outcome: "admitted"; request: AdmittedRequest }
  | { outcome: "filtered"; verified: VerifiedRequest }
  | {
    outcome: "refused";
    error: RequestRefusedError;
    /** Set when the request was authentic, so it can be answered. */
    verified?: VerifiedRequest;
  };

/**
 * Checks a received request transport. Never throws for bad input: every refusal comes back as a
 * {@linkcode RequestRefusedError} and is logged with the request id and claimed caller.
 */
export async function admitRequest(
  payload: Uint8Array | string,
  options: RequestGateOptions,
): Promise<GateResult> {
  let verified: VerifiedRequest;
  try {
    verified = receiveRequest(payload, {
      verifier: options.verifier,
      replayGuard: options.replayGuard,
    });
  } catch (cause) {
    if (!(cause instanceof ProtocolError) && !(cause instanceof VerificationError)) throw cause;
    return refuse(options, "authentication", cause.message, cause);
  }
  const { envelope } = verified.request;
  if (options.selects && !options.selects(verified)) {
    return { outcome: "filtered", verified };
  }
  const rpc = parseRpcRequest(verified.body);
  if (typeof rpc === "string") return refuse(options, "request", rpc, undefined, verified);
  if (rpc.agent !== envelope.agent) {
    return refuse(
      options,
      "request",
      `Cannot accept request '${envelope.requestid}' as its body is for agent '${rpc.agent}' but its envelope is for '${envelope.agent}'`,
      undefined,
      verified,
    );
  }
  const policyRequest = {
    agent: rpc.agent,
    callerid: envelope.callerid,
    action: rpc.action,
    facts: options.facts(),
    classes: options.classes(),
  };
  const decision = options.policyDir === null
    ? authorize(null, { ...policyRequest, groups: new Map() }, { allowUnconfigured: true })
    : await authorizeWithFiles(options.policyDir, policyRequest, {
      allowUnconfigured: options.allowUnconfigured ?? false,
    });
  if (!decision.allowed) {
    return refuse(options, "authorization", decision.reason, decision.error, verified);
  }
  try {
    await options.audit?.record({
      requestId: envelope.requestid,
      requestTime: new Date(envelope.time * 1000),
      caller: envelope.callerid,
      sender: envelope.senderid,
      agent: rpc.agent,
      action: rpc.action,
      data: rpc.data,
    });
  } catch (cause) {
    // A request that cannot be audited does not run.
    return refuse(
      options,
      "authorization",
      `Cannot run request '${envelope.requestid}' as it could not be audited`,
      cause,
      verified,
    );
  }
  return { outcome: "admitted", request: { verified, rpc, decision } };
}

function parseRpcRequest(body: string): RpcRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return "Cannot parse the RPC request body as JSON";
  }
  const v = value as Record<string, unknown>;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return "Cannot accept the RPC request body as it is not a JSON object";
  }
  if (typeof v.agent !== "string" || typeof v.action !== "string") {
    return "Cannot accept the RPC request body as it lacks a string 'agent' and 'action'";
  }
  const data = v.data ?? {};
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return "Cannot accept the RPC request body as its 'data' is not an object";
  }
  return { agent: v.agent, action: v.action, data: data as Record<string, unknown> };
}

function refuse(
  options: RequestGateOptions,
  stage: RequestRefusedError["stage"],
  message: string,
  cause?: unknown,
  verified?: VerifiedRequest,
): GateResult {
  const error = new RequestRefusedError(stage, message, cause === undefined ? {} : { cause });
  options.logger.warn("request refused", {
    stage,
    reason: message,
    error: cause instanceof Error ? cause.name : undefined,
    ...(verified
      ? {
        request_id: verified.request.envelope.requestid,
        caller: verified.request.envelope.callerid,
        agent: verified.request.envelope.agent,
      }
      : {}),
  });
  return verified ? { outcome: "refused", error, verified } : { outcome: "refused", error };
}

/** What a reply needs to say. */
export interface ReplyOptions {
  /** The server's identity (the reply's sender id). */
  identity: string;
  /** Signs the reply so clients can tell which node answered. @default unsigned */
  signer?: Signer;
}

/**
 * The wire bytes of a reply to `verified` with `body`. As Choria servers do, a reply to a request
 * that came through a federation broker carries the request's federation id and original
 * reply-to back (the broker is stateless and routes the reply by them), and a reply to a request
 * that recorded its hops (`seen-by`) carries them on with this node's own hop and time appended.
 */
export async function encodeRpcReply(
  verified: VerifiedRequest,
  body: RpcReply,
  options: ReplyOptions,
): Promise<string> {
  const reply = createReply({
    requestid: verified.request.envelope.requestid,
    senderid: options.identity,
    agent: verified.request.envelope.agent,
    message: JSON.stringify(body),
  });
  const secure = await createSecureReply(reply, options.signer ? { signer: options.signer } : {});
  const { federation, "seen-by": seenBy } = verified.transport.headers;
  const at = new Date().toISOString();
  return encodeTransport(createTransport(secure, {
    sender: options.identity,
    ...(federation === undefined ? {} : {
      federation: {
        req: federation.req,
        ...(federation["reply-to"] === undefined ? {} : { "reply-to": federation["reply-to"] }),
      },
    }),
    // A hop is [from, via, to] with the times it arrived and left after it; Choria peers read
    // the first three.
    ...(seenBy === undefined
      ? {}
      : { seenBy: [...seenBy, ["", options.identity, "", at, at] as unknown as NetworkHop] }),
  }));
}

/** The reply Choria sends to a request its policy refuses. */
export function notAuthorizedReply(error: RequestRefusedError): RpcReply {
  return {
    statuscode: StatusCodes.aborted,
    statusmsg: `You are not authorized to call this agent or action: ${error.message}`,
    data: {},
  };
}
