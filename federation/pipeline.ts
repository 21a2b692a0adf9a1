/**
 * The federation broker's pipeline, as pure stages (no I/O), in the order Choria runs them:
 *
 * - **request**: a client's transport arrives on `choria.federation.<member>.federation`. It must
 *   be a protocol v1 transport with federation headers (`req`, and 1 to 200 `target` subjects
 *   `<collective>.node.<identity>` or `<collective>.broadcast.agent.<agent>` of a collective the
 *   member serves) and a reply-to that is a reply subject. The original reply-to moves into
 *   `federation.reply-to`, the reply-to becomes `choria.federation.<member>.collective`, the
 *   targets are removed, a hop is recorded, and the result is published once per target into the
 *   member collective.
 * - **reply**: a node's reply arrives on `choria.federation.<member>.collective` carrying the
 *   federation headers back. Its `federation.reply-to` must be a reply subject; the federation
 *   headers are removed, a hop is recorded and the reply goes to that subject on the federation
 *   network.
 *
 * Anything else is refused with a {@linkcode FederationRefusal} that names what is wrong and why
 * (its `reason` labels the error counter); nothing is forwarded blindly.
 *
 * @module
 */
import { ProtocolError } from "../core/protocol/errors.ts";
import { federationCollectiveSubject } from "../core/protocol/subjects.ts";
import {
  decodeTransport,
  encodeTransport,
  type TransportHeaders,
  type TransportV1,
} from "../core/protocol/transport.ts";
import { readHops, type TimedHop, wireHop } from "./hops.ts";

/** The most targets one request may carry, as Choria clients batch them. */
export const MAX_TARGETS = 200;

/** Why a message was refused: the `reason` label of the error counter. */
export const RefusalReasons = [
  "malformed",
  "missing_headers",
  "no_targets",
  "too_many_targets",
  "bad_target",
  "unknown_collective",
  "no_reply_to",
  "bad_reply_to",
  "collective_down",
] as const;

/** One of {@linkcode RefusalReasons}. */
export type RefusalReason = (typeof RefusalReasons)[number];

/** A message the federation broker will not forward, and why. */
export class FederationRefusal extends Error {
  override name = "FederationRefusal";
  /** The error counter's label. */
  readonly reason: RefusalReason;

  constructor(message: string, reason: RefusalReason, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** A member collective as the pipeline sees it. */
export interface MemberCollective {
  /** The member's name: `<member>` in `choria.federation.<member>.federation`. */
  name: string;
  /** The collectives its nodes serve; targets must be in one of them. */
  collectives: readonly string[];
}

/** Who records a hop, and where the message came from and goes to. */
export interface HopContext {
  /** The federation broker's identity. */
  identity: string;
  /** The broker the message came in from. */
  from: string;
  /** The broker it leaves by. */
  to: string;
  /** When it arrived, ms since the epoch. */
  arrivedMs: number;
  /** The clock. */
  now: () => number;
}

/** A request ready for the member collective. */
export interface ForwardedRequest {
  /** The federation request id. */
  requestId: string;
  /** The subjects to publish `payload` to. */
  targets: string[];
  /** The transformed transport's JSON text. */
  payload: string;
}

/** A reply ready for the federation network. */
export interface ForwardedReply {
  requestId: string;
  /** The client's reply subject. */
  target: string;
  payload: string;
  /** Ms from the request leaving a federation broker for this member to the reply arriving. */
  collectiveLatencyMs: number | null;
}

/** The suffix of a federation broker's `via` on the request leg. */
export const REQUEST_STAGE = "(request)";
/** The suffix of a federation broker's `via` on the reply leg. */
export const REPLY_STAGE = "(reply)";

// A subject token: no spaces, dots or wildcards.
const TOKEN = "[^.\\s*>]+";
// Identities are often host names, so several tokens.
const DIRECTED = new RegExp(`^(${TOKEN})\\.node\\.(${TOKEN}(?:\\.${TOKEN})*)$`);
const BROADCAST = new RegExp(`^(${TOKEN})\\.broadcast\\.agent\\.(${TOKEN})$`);
const REPLY = new RegExp(`^${TOKEN}\\.reply\\.${TOKEN}(\\.${TOKEN})*$`);
const FEDERATION = new RegExp(`^choria\\.federation\\.(${TOKEN})\\.federation$`);

/**
 * The member a federation subject names, or null when it is not one.
 *
 * @example Read a federation subject
 * ```ts
 * import { memberOfSubject } from "./pipeline.ts";
 * console.log(memberOfSubject("choria.federation.east.federation")); // east
 * console.log(memberOfSubject("mcollective.node.n1")); // null
 * ```
 */
export function memberOfSubject(subject: string): string | null {
  return FEDERATION.exec(subject)?.[1] ?? null;
}

/**
 * Whether a subject is a reply subject (`<collective>.reply.<...>`), the only kind of subject a
 * federation broker publishes replies to.
 *
 * @example Check reply subjects
 * ```ts
 * import { isReplySubject } from "./pipeline.ts";
 * console.log(isReplySubject("mcollective.reply.0f1e.abc")); // true
 * console.log(isReplySubject("mcollective.node.n1")); // false
 * ```
 */
export function isReplySubject(subject: string): boolean {
  return REPLY.test(subject);
}

function decode(payload: Uint8Array | string, what: string): TransportV1 {
  try {
    return decodeTransport(payload);
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new FederationRefusal(
        `Cannot forward ${what} as it is not a valid protocol v1 transport: ${error.message}`,
        "malformed",
        { cause: error },
      );
    }
    throw error;
  }
}

function checkTarget(target: string, member: MemberCollective, what: string): void {
  const m = DIRECTED.exec(target) ?? BROADCAST.exec(target);
  if (!m) {
    throw new FederationRefusal(
      `Cannot forward ${what} as target '${target}' is not a request subject: expected <collective>.node.<identity> or <collective>.broadcast.agent.<agent>`,
      "bad_target",
    );
  }
  const collective = m[1]!;
  if (!member.collectives.includes(collective)) {
    throw new FederationRefusal(
      `Cannot forward ${what} as target '${target}' names collective '${collective}', which member '${member.name}' does not serve: it serves ${
        member.collectives.map((c) => `'${c}'`).join(", ")
      }`,
      "unknown_collective",
    );
  }
}

/**
 * The request stage: checks a client's federated request for `member` and transforms it for the
 * member collective. Pure apart from reading `hop.now`.
 *
 * @throws {FederationRefusal} Naming what is wrong with the message.
 *
 * @example Refuse a request without federation headers
 * ```ts
 * import { transformRequest } from "./pipeline.ts";
 * try {
 *   transformRequest(
 *     '{"protocol":"choria:transport:1","data":"e30=","headers":{"reply-to":"mcollective.reply.a.b"}}',
 *     { name: "east", collectives: ["mcollective"] },
 *     { identity: "fed1", from: "f", to: "m", arrivedMs: 0, now: () => 0 },
 *   );
 * } catch (error) {
 *   console.log((error as { reason: string }).reason); // missing_headers
 * }
 * ```
 */
export function transformRequest(
  payload: Uint8Array | string,
  member: MemberCollective,
  hop: HopContext,
): ForwardedRequest {
  const where = `a request for member '${member.name}'`;
  const transport = decode(payload, where);
  const federation = transport.headers.federation;
  if (federation === undefined) {
    throw new FederationRefusal(
      `Cannot forward ${where} as its transport has no federation headers: expected headers.federation with 'req' and 'target'`,
      "missing_headers",
    );
  }
  const what = `request ${federation.req} for member '${member.name}'`;
  const targets = federation.target ?? [];
  if (targets.length === 0) {
    throw new FederationRefusal(
      `Cannot forward ${what} as 'headers.federation.target' is empty: it must list 1 to ${MAX_TARGETS} subjects`,
      "no_targets",
    );
  }
  if (targets.length > MAX_TARGETS) {
    throw new FederationRefusal(
      `Cannot forward ${what} as 'headers.federation.target' lists ${targets.length} subjects: at most ${MAX_TARGETS} are allowed per message`,
      "too_many_targets",
    );
  }
  for (const target of targets) checkTarget(target, member, what);
  const replyTo = transport.headers["reply-to"];
  if (replyTo === undefined) {
    throw new FederationRefusal(
      `Cannot forward ${what} as it has no 'headers.reply-to': replies would have nowhere to go`,
      "no_reply_to",
    );
  }
  if (!isReplySubject(replyTo)) {
    throw new FederationRefusal(
      `Cannot forward ${what} as its reply-to must be a reply subject <collective>.reply.<...>: current value is '${replyTo}'`,
      "bad_reply_to",
    );
  }
  const headers: TransportHeaders = {
    ...transport.headers,
    "reply-to": federationCollectiveSubject(member.name),
    federation: { req: federation.req, "reply-to": replyTo },
  };
  headers["seen-by"] = [
    ...(transport.headers["seen-by"] ?? []),
    wireHop(stageHop(hop, REQUEST_STAGE)),
  ];
  return {
    requestId: federation.req,
    targets: [...new Set(targets)],
    payload: encodeTransport({ ...transport, headers }),
  };
}

/**
 * The reply stage: checks a node's reply from `member` and transforms it for the client.
 *
 * @throws {FederationRefusal} Naming what is wrong with the message.
 *
 * @example Forward a reply to its client
 * ```ts
 * import { transformReply } from "./pipeline.ts";
 * const reply = JSON.stringify({
 *   protocol: "choria:transport:1",
 *   data: "e30=",
 *   headers: {
 *     mc_sender: "n1",
 *     federation: { req: "bbb95c73eadb41c39f82a7eedffecee1", "reply-to": "mcollective.reply.ab.cd" },
 *   },
 * });
 * const out = transformReply(reply, { name: "east", collectives: ["mcollective"] }, {
 *   identity: "fed1", from: "m", to: "f", arrivedMs: 0, now: () => 0,
 * });
 * console.log(out.target); // mcollective.reply.ab.cd
 * ```
 */
export function transformReply(
  payload: Uint8Array | string,
  member: MemberCollective,
  hop: HopContext,
): ForwardedReply {
  const where = `a reply from member '${member.name}'`;
  const transport = decode(payload, where);
  const federation = transport.headers.federation;
  if (federation === undefined) {
    throw new FederationRefusal(
      `Cannot forward ${where} from '${
        transport.headers.mc_sender ?? "unknown sender"
      }' as its transport has no federation headers: the node did not carry back 'headers.federation'`,
      "missing_headers",
    );
  }
  const what = `the reply to ${federation.req} from member '${member.name}'`;
  const target = federation["reply-to"];
  if (target === undefined) {
    throw new FederationRefusal(
      `Cannot forward ${what} as it has no 'headers.federation.reply-to': the client's reply subject is unknown`,
      "no_reply_to",
    );
  }
  if (!isReplySubject(target)) {
    throw new FederationRefusal(
      `Cannot forward ${what} as its federation reply-to must be a reply subject <collective>.reply.<...>: current value is '${target}'`,
      "bad_reply_to",
    );
  }
  const hops = readHops(transport.headers["seen-by"]);
  const { federation: _, "reply-to": __, ...rest } = transport.headers;
  const headers: TransportHeaders = rest;
  headers["seen-by"] = [
    ...(transport.headers["seen-by"] ?? []),
    wireHop(stageHop(hop, REPLY_STAGE)),
  ];
  return {
    requestId: federation.req,
    target,
    payload: encodeTransport({ ...transport, headers }),
    collectiveLatencyMs: collectiveLatency(hops, hop.arrivedMs),
  };
}

function stageHop(hop: HopContext, stage: string): TimedHop {
  return {
    from: hop.from,
    via: `${hop.identity} ${stage}`,
    to: hop.to,
    arrivedMs: hop.arrivedMs,
    leftMs: hop.now(),
  };
}

// From the last federation broker hop of the request leg leaving to the reply arriving back.
function collectiveLatency(hops: readonly TimedHop[], arrivedMs: number): number | null {
  for (let i = hops.length - 1; i >= 0; i--) {
    const h = hops[i]!;
    if (h.via.endsWith(` ${REQUEST_STAGE}`)) {
      return h.leftMs === null ? null : Math.max(0, arrivedMs - h.leftMs);
    }
  }
  return null;
}
