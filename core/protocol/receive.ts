/**
 * Receipt of protocol v1 messages: from the bytes a subscriber got to a verified request or
 * reply, or a typed error saying why not. Pure: the caller passes the clock, the verifier and the
 * replay guard in.
 *
 * A request is accepted when it decodes (transport, secure request, request), its time is within
 * the TTL window, it was not accepted before, and its certificate and signature verify. The time
 * rules are go-choria's (`ValidateTTL`): a request is expired when now is past its time plus its
 * TTL, and from the future when its time is past now plus the allowed skew, which by default is
 * the request's own TTL, as go-choria allows. The cheap checks (decoding, time, replay lookup) run
 * before the signature check; a request is remembered against replays only once verified.
 *
 * @module
 */
import {
  type CertificateVerifier,
  SignatureError,
  type VerifiedCertificate,
} from "../security/verify.ts";
import { type DecodeOptions, utf8 } from "./_codec.ts";
import { ReplayedRequestError, RequestExpiredError, RequestFromFutureError } from "./errors.ts";
import type { ReplayGuard } from "./replay_guard.ts";
import { replyBody, type ReplyV1 } from "./reply.ts";
import { requestBody, type RequestV1 } from "./request.ts";
import {
  checkReplyHash,
  decodeSecureReply,
  openSecureReply,
  secureReplySignature,
  type SecureReplyV1,
} from "./secure_reply.ts";
import {
  decodeSecureRequest,
  openSecureRequest,
  secureRequestSignature,
  type SecureRequestV1,
} from "./secure_request.ts";
import { decodeTransport, transportData, type TransportV1 } from "./transport.ts";

/** Options for {@linkcode checkRequestTime}. */
export interface RequestTimeOptions {
  /** The current time, ms since the epoch. @default Date.now() */
  now?: number;
  /** How far in the future a request may be dated, seconds. @default the request's TTL */
  allowedSkew?: number;
}

/** What {@linkcode receiveRequest} needs. */
export interface ReceiveRequestOptions extends RequestTimeOptions, DecodeOptions {
  /** Verifies the caller's certificate and signature. */
  verifier: CertificateVerifier;
  /** Remembers accepted requests; `null` turns replay protection within the TTL off. */
  replayGuard: ReplayGuard | null;
}

/** A request that passed every check. */
export interface VerifiedRequest {
  /** The transport as received. */
  transport: TransportV1;
  /** The secure request inside it. */
  secure: SecureRequestV1;
  /** The request inside that. */
  request: RequestV1;
  /** The RPC body as JSON text (decoded from base64 for old senders). */
  body: string;
  /** The certificate that signed it. */
  signer: VerifiedCertificate;
  /** When the request expires: its time plus TTL, ms since the epoch. */
  expiresAt: number;
}

/**
 * Checks a request's time against its TTL and the allowed clock skew; throws
 * {@linkcode RequestExpiredError} or {@linkcode RequestFromFutureError}.
 *
 * @example Refuse an old request
 * ```ts
 * import { checkRequestTime } from "./receive.ts";
 * const envelope = { requestid: "bbb95c73eadb41c39f82a7eedffecee1", ttl: 60, time: 1512427002 };
 * try {
 *   checkRequestTime({ envelope });
 * } catch (e) {
 *   console.log((e as Error).name); // RequestExpiredError
 * }
 * ```
 */
export function checkRequestTime(
  request: { envelope: { requestid: string; ttl: number; time: number } },
  options: RequestTimeOptions = {},
): void {
  const { requestid, ttl, time } = request.envelope;
  const now = options.now ?? Date.now();
  const skew = options.allowedSkew ?? ttl;
  const iso = (ms: number) => new Date(ms).toISOString();
  const expiresAt = (time + ttl) * 1000;
  if (now > expiresAt) {
    throw new RequestExpiredError(
      `Cannot accept request '${requestid}' as it expired at ${iso(expiresAt)}: made at ${
        iso(time * 1000)
      } with a TTL of ${ttl}s, now is ${iso(now)}`,
    );
  }
  if (time * 1000 > now + skew * 1000) {
    throw new RequestFromFutureError(
      `Cannot accept request '${requestid}' as it is dated more than ${skew}s in the future: made at ${
        iso(time * 1000)
      }, now is ${iso(now)}`,
    );
  }
}

/**
 * Decodes and verifies a received request transport: decode (transport, secure request,
 * request, body), check the time window, refuse replays, verify the certificate and signature,
 * then remember the request. Throws a {@linkcode ProtocolError} subclass for decoding, time and
 * replay failures and a {@linkcode VerificationError} subclass for certificate and signature
 * failures.
 *
 * @example Receive a signed request
 * ```ts
 * import { CertificateAuthority } from "../security/ca.ts";
 * import { createSigner } from "../security/signing.ts";
 * import { CertificateVerifier } from "../security/verify.ts";
 * import { receiveRequest } from "./receive.ts";
 * import { ReplayGuard } from "./replay_guard.ts";
 * import { createRequest } from "./request.ts";
 * import { createSecureRequest } from "./secure_request.ts";
 * import { createTransport, encodeTransport } from "./transport.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("client", "alice.mcollective");
 * const signer = createSigner(issued.cert, issued.key);
 * const request = createRequest({
 *   agent: "rpcutil", collective: "mcollective", callerid: "choria=alice.mcollective",
 *   senderid: "ws1", message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {} }),
 * });
 * const wire = encodeTransport(
 *   createTransport(await createSecureRequest(request, signer), { replyTo: "r", sender: "ws1" }),
 * );
 * const verified = receiveRequest(wire, {
 *   verifier: new CertificateVerifier({ ca: ca.certPem }),
 *   replayGuard: new ReplayGuard(),
 * });
 * console.log(verified.signer.certname); // alice.mcollective
 * ```
 */
export function receiveRequest(
  payload: string | Uint8Array,
  options: ReceiveRequestOptions,
): VerifiedRequest {
  const now = options.now ?? Date.now();
  const decode: DecodeOptions = options.maxBytes === undefined
    ? {}
    : { maxBytes: options.maxBytes };
  const transport = decodeTransport(payload, decode);
  const secure = decodeSecureRequest(transportData(transport), decode);
  const request = openSecureRequest(secure, decode);
  const { requestid: id, callerid } = request.envelope;
  const body = requestBody(request);
  const signature = secureRequestSignature(secure, id);
  checkRequestTime(
    request,
    options.allowedSkew === undefined ? { now } : { now, allowedSkew: options.allowedSkew },
  );
  const key = `${callerid} ${id}`;
  if (options.replayGuard?.has(key, now)) {
    throw new ReplayedRequestError(
      `Cannot accept request '${id}' as it was already received: caller is ${callerid}`,
    );
  }
  const signer = options.verifier.verifyMessage({
    id,
    callerid,
    pubcert: secure.pubcert,
    message: utf8(secure.message),
    signature,
  }, { now });
  const expiresAt = (request.envelope.time + request.envelope.ttl) * 1000;
  options.replayGuard?.add(key, expiresAt, now);
  return { transport, secure, request, body, signer, expiresAt };
}

/** What {@linkcode receiveReply} needs. */
export interface ReceiveReplyOptions extends DecodeOptions {
  /** Verifies signed replies; without it signatures are not checked. @default none */
  verifier?: CertificateVerifier;
  /** Refuse replies without a server signature (needs `verifier`). @default false */
  requireSignature?: boolean;
  /** The current time, ms since the epoch. @default Date.now() */
  now?: number;
}

/** A reply whose hash matched and, when signed and a verifier was given, whose signature did. */
export interface VerifiedReply {
  /** The transport as received. */
  transport: TransportV1;
  /** The secure reply inside it. */
  secure: SecureReplyV1;
  /** The reply inside that. */
  reply: ReplyV1;
  /** The RPC reply body as JSON text. */
  body: string;
  /** The server certificate that signed it, when it was signed and verified. */
  signer?: VerifiedCertificate;
}

/**
 * Decodes a received reply transport, checks the reply hash and, when the reply is signed and a
 * verifier is given, the server's certificate and signature (its name must be the sender id).
 *
 * @example Receive a reply
 * ```ts
 * import { receiveReply } from "./receive.ts";
 * import { createReply } from "./reply.ts";
 * import { createSecureReply } from "./secure_reply.ts";
 * import { createTransport, encodeTransport } from "./transport.ts";
 * const reply = createReply({
 *   requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "n1", agent: "rpcutil",
 *   message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: {} }),
 * });
 * const wire = encodeTransport(createTransport(await createSecureReply(reply), { sender: "n1" }));
 * console.log(receiveReply(wire).reply.envelope.senderid); // n1
 * ```
 */
export function receiveReply(
  payload: string | Uint8Array,
  options: ReceiveReplyOptions = {},
): VerifiedReply {
  const decode: DecodeOptions = options.maxBytes === undefined
    ? {}
    : { maxBytes: options.maxBytes };
  const transport = decodeTransport(payload, decode);
  const secure = decodeSecureReply(transportData(transport), decode);
  const reply = openSecureReply(secure, decode);
  const id = reply.envelope.requestid;
  checkReplyHash(secure, id);
  const body = replyBody(reply);
  const signature = secureReplySignature(secure, id);
  const verified: VerifiedReply = { transport, secure, reply, body };
  if (signature === undefined || secure.pubcert === undefined) {
    if (options.requireSignature) {
      throw new SignatureError(
        `Cannot verify reply to '${id}' as it is not signed: sender is ${reply.envelope.senderid}`,
      );
    }
    return verified;
  }
  if (options.verifier) {
    const now = options.now ?? Date.now();
    verified.signer = options.verifier.verifyReply({
      id,
      senderid: reply.envelope.senderid,
      pubcert: secure.pubcert,
      message: utf8(secure.message),
      signature,
    }, { now });
  } else if (options.requireSignature) {
    throw new TypeError("Cannot verify reply signatures as 'verifier' is missing");
  }
  return verified;
}
