/**
 * The protocol v1 reply (`choria:reply:1`): the RPC reply body as JSON text in `message` and an
 * envelope naming the request, the server and the agent.
 *
 * @module
 */
import {
  bodyText,
  checkProtocol,
  type DecodeOptions,
  integerField,
  type JsonObject,
  objectField,
  parseObject,
  stringField,
} from "./_codec.ts";
import { unixSeconds } from "./request.ts";

/** The protocol string of a v1 reply. */
export const REPLY_PROTOCOL = "choria:reply:1" as const;

/** The envelope of a v1 reply. */
export interface ReplyEnvelope {
  /** The id of the request this answers, 32 characters. */
  requestid: string;
  /** The identity of the server that replies. */
  senderid: string;
  /** The agent that replies. */
  agent: string;
  /** When the reply was made, Unix seconds. */
  time: number;
}

/** A v1 reply. */
export interface ReplyV1 {
  /** Always `choria:reply:1`. */
  protocol: typeof REPLY_PROTOCOL;
  /** The RPC reply body as JSON text (base64 of it from old senders: read it with replyBody). */
  message: string;
  /** Which request, server and agent. */
  envelope: ReplyEnvelope;
}

/** Options for {@linkcode createReply}. */
export interface CreateReplyOptions {
  /** The id of the request this answers. */
  requestid: string;
  /** The identity of the server that replies. */
  senderid: string;
  /** The agent that replies. */
  agent: string;
  /** The RPC reply body as JSON text. */
  message: string;
  /** When the reply is made, Unix seconds. @default now */
  time?: number;
}

/**
 * Builds a reply; throws {@linkcode MessageFieldError} when an option breaks the schema.
 *
 * @example Reply to a ping
 * ```ts
 * import { createReply } from "./reply.ts";
 * const reply = createReply({
 *   requestid: "bbb95c73eadb41c39f82a7eedffecee1",
 *   senderid: "n1.example.net",
 *   agent: "rpcutil",
 *   message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1 } }),
 * });
 * console.log(reply.protocol); // choria:reply:1
 * ```
 */
export function createReply(options: CreateReplyOptions): ReplyV1 {
  const reply: ReplyV1 = {
    protocol: REPLY_PROTOCOL,
    message: options.message,
    envelope: {
      requestid: options.requestid,
      senderid: options.senderid,
      agent: options.agent,
      time: options.time ?? unixSeconds(),
    },
  };
  checkReply(reply as unknown as JsonObject, "build");
  return reply;
}

/**
 * The JSON text of a reply, as hashed and sent.
 *
 * @example Encode a reply
 * ```ts
 * import { createReply, encodeReply } from "./reply.ts";
 * const reply = createReply({
 *   requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "n1", agent: "rpcutil", message: "{}",
 * });
 * console.log(encodeReply(reply).startsWith('{"protocol":"choria:reply:1"')); // true
 * ```
 */
export function encodeReply(reply: ReplyV1): string {
  return JSON.stringify(reply);
}

/**
 * Decodes and checks a reply against the enforced schema; throws a {@linkcode ProtocolError}
 * subclass naming what is wrong.
 *
 * @example Decode a reply
 * ```ts
 * import { decodeReply } from "./reply.ts";
 * const reply = decodeReply(JSON.stringify({
 *   protocol: "choria:reply:1", message: "{}",
 *   envelope: { requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "n1", agent: "rpcutil", time: 1 },
 * }));
 * console.log(reply.envelope.senderid); // n1
 * ```
 */
export function decodeReply(input: string | Uint8Array, options: DecodeOptions = {}): ReplyV1 {
  return checkReply(parseObject(input, "decode reply", options), "decode");
}

/**
 * The RPC reply body as JSON text, decoding base64 from old senders.
 *
 * @example Read a reply body
 * ```ts
 * import { replyBody } from "./reply.ts";
 * console.log(replyBody({ message: '{"statuscode":0}', envelope: { requestid: "x" } }));
 * ```
 */
export function replyBody(reply: { message: string; envelope: { requestid: string } }): string {
  return bodyText(reply.message, `decode reply to '${reply.envelope.requestid}'`);
}

function checkReply(object: JsonObject, verb: "decode" | "build"): ReplyV1 {
  let what = `${verb} reply`;
  checkProtocol(object, REPLY_PROTOCOL, what);
  const envelope = objectField(object, "envelope", what) as JsonObject;
  if (typeof envelope.requestid === "string") what = `${verb} reply to '${envelope.requestid}'`;
  stringField(envelope, "envelope.requestid", what, { minLength: 32, maxLength: 32 });
  stringField(object, "message", what, { minLength: 1 });
  stringField(envelope, "envelope.senderid", what);
  stringField(envelope, "envelope.agent", what, { minLength: 1 });
  integerField(envelope, "envelope.time", what);
  return object as unknown as ReplyV1;
}
