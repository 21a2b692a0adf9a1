/**
 * The protocol v1 secure reply (`choria:secure:reply:1`): a reply's JSON text in `message` and
 * `hash`, the base64 SHA-256 of its UTF-8 bytes.
 *
 * Beyond Choria v1, Chorale servers may also sign replies so a client can tell which node
 * answered: the optional `signature` (base64, over the same bytes as `hash`) and `pubcert` (the
 * server's PEM certificate) sit beside `hash`. The v1 schemas do not forbid additional
 * properties and go-choria ignores unknown JSON keys, so Choria clients still read these replies;
 * the names are the ones the secure request uses for the same things.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Signer } from "../security/signing.ts";
import {
  checkProtocol,
  type DecodeOptions,
  fromBase64,
  type JsonObject,
  optionalStringField,
  parseObject,
  stringField,
  toBase64,
  utf8,
} from "./_codec.ts";
import { MessageFieldError, ReplyHashError } from "./errors.ts";
import { decodeReply, encodeReply, type ReplyV1 } from "./reply.ts";

/** The protocol string of a v1 secure reply. */
export const SECURE_REPLY_PROTOCOL = "choria:secure:reply:1" as const;

/** A v1 secure reply. */
export interface SecureReplyV1 {
  /** Always `choria:secure:reply:1`. */
  protocol: typeof SECURE_REPLY_PROTOCOL;
  /** The JSON text of a {@linkcode ReplyV1}. */
  message: string;
  /** Base64 of the SHA-256 of the UTF-8 bytes of `message`. */
  hash: string;
  /** Chorale extension: base64 of the server's signature over the bytes of `message`. */
  signature?: string;
  /** Chorale extension: the signing server's PEM certificate, with `signature`. */
  pubcert?: string;
}

/** Options for {@linkcode createSecureReply}. */
export interface CreateSecureReplyOptions {
  /** The server's signer, to sign the reply (a Chorale extension). @default unsigned */
  signer?: Signer;
}

/**
 * Base64 of the SHA-256 of a message's UTF-8 bytes: a secure reply's `hash`.
 *
 * @example Hash a reply message
 * ```ts
 * import { replyHash } from "./secure_reply.ts";
 * console.log(replyHash("")); // 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
 * ```
 */
export function replyHash(message: string): string {
  return createHash("sha256").update(message, "utf8").digest("base64");
}

/**
 * Encodes a reply, hashes it and, given a signer, signs it.
 *
 * @example Make an unsigned secure reply
 * ```ts
 * import { createReply } from "./reply.ts";
 * import { createSecureReply } from "./secure_reply.ts";
 * const reply = createReply({
 *   requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "n1", agent: "rpcutil", message: "{}",
 * });
 * const secure = await createSecureReply(reply);
 * console.log(secure.hash.length); // 44
 * ```
 */
export async function createSecureReply(
  reply: ReplyV1,
  options: CreateSecureReplyOptions = {},
): Promise<SecureReplyV1> {
  const message = encodeReply(reply);
  const secure: SecureReplyV1 = {
    protocol: SECURE_REPLY_PROTOCOL,
    message,
    hash: replyHash(message),
  };
  if (options.signer) {
    secure.signature = toBase64(await options.signer.sign(utf8(message)));
    secure.pubcert = options.signer.certificate;
  }
  return secure;
}

/**
 * The JSON text of a secure reply.
 *
 * @example Encode a secure reply
 * ```ts
 * import { encodeSecureReply } from "./secure_reply.ts";
 * console.log(encodeSecureReply({ protocol: "choria:secure:reply:1", message: "{}", hash: "x" }));
 * ```
 */
export function encodeSecureReply(secure: SecureReplyV1): string {
  return JSON.stringify(secure);
}

/**
 * Decodes a secure reply and checks its fields (not its hash: see checkReplyHash); throws a
 * {@linkcode ProtocolError} subclass naming what is wrong.
 *
 * @example Decode a secure reply
 * ```ts
 * import { decodeSecureReply } from "./secure_reply.ts";
 * const secure = decodeSecureReply('{"protocol":"choria:secure:reply:1","message":"{}","hash":"x"}');
 * console.log(secure.signature); // undefined
 * ```
 */
export function decodeSecureReply(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): SecureReplyV1 {
  const what = "decode secure reply";
  const object = parseObject(input, what, options);
  checkProtocol(object, SECURE_REPLY_PROTOCOL, what);
  stringField(object, "message", what, { minLength: 1 });
  stringField(object, "hash", what, { minLength: 1 });
  const signature = optionalStringField(object, "signature", what, { minLength: 1 });
  const pubcert = optionalStringField(object, "pubcert", what, { minLength: 1 });
  if ((signature === undefined) !== (pubcert === undefined)) {
    throw new MessageFieldError(
      `Cannot ${what} as it has a '${
        signature === undefined ? "pubcert" : "signature"
      }' without a '${signature === undefined ? "signature" : "pubcert"}'`,
    );
  }
  return object as JsonObject as unknown as SecureReplyV1;
}

/**
 * Checks that a secure reply's `hash` is the SHA-256 of its message; throws
 * {@linkcode ReplyHashError} when it is not (the message was altered or the hash is garbage).
 *
 * @example Check a reply's hash
 * ```ts
 * import { checkReplyHash, replyHash } from "./secure_reply.ts";
 * checkReplyHash({ protocol: "choria:secure:reply:1", message: "{}", hash: replyHash("{}") });
 * ```
 */
export function checkReplyHash(secure: SecureReplyV1, id = ""): void {
  const expected = replyHash(secure.message);
  // Ruby's base64 may wrap lines; compare the decoded bytes' canonical form.
  const given = secure.hash === expected ? expected : canonicalBase64(secure.hash);
  if (given !== expected) {
    throw new ReplyHashError(
      `Cannot accept reply${id === "" ? "" : ` to '${id}'`} as its hash does not match its message`,
    );
  }
}

function canonicalBase64(text: string): string {
  try {
    return toBase64(Uint8Array.fromBase64(text));
  } catch {
    return "";
  }
}

/**
 * The reply a secure reply carries, decoded and checked (its hash is not checked here).
 *
 * @example Open a secure reply
 * ```ts
 * import { createReply } from "./reply.ts";
 * import { createSecureReply, openSecureReply } from "./secure_reply.ts";
 * const reply = createReply({
 *   requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "n1", agent: "rpcutil", message: "{}",
 * });
 * console.log(openSecureReply(await createSecureReply(reply)).envelope.senderid); // n1
 * ```
 */
export function openSecureReply(secure: SecureReplyV1, options: DecodeOptions = {}): ReplyV1 {
  return decodeReply(secure.message, options);
}

/**
 * The signature bytes of a signed secure reply, or undefined when it is unsigned; throws
 * {@linkcode Base64Error}.
 *
 * @example Read a reply signature
 * ```ts
 * import { secureReplySignature } from "./secure_reply.ts";
 * console.log(secureReplySignature({ protocol: "choria:secure:reply:1", message: "{}", hash: "" }));
 * ```
 */
export function secureReplySignature(secure: SecureReplyV1, id = ""): Uint8Array | undefined {
  if (secure.signature === undefined) return undefined;
  return fromBase64(
    secure.signature,
    id === "" ? "decode secure reply" : `decode secure reply to '${id}'`,
    "signature",
  );
}
