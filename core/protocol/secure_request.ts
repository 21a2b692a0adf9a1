/**
 * The protocol v1 secure request (`choria:secure:request:1`): a request's JSON text in `message`,
 * the caller's signature over exactly those bytes (UTF-8) in `signature` (base64), and the
 * caller's PEM certificate, possibly followed by intermediates, in `pubcert`.
 *
 * The schema describes `message` as base64; real Choria peers send the request's JSON text, as
 * the 2017 capture shows, and so does Chorale.
 *
 * @module
 */
import type { Signer } from "../security/signing.ts";
import {
  checkProtocol,
  type DecodeOptions,
  fromBase64,
  type JsonObject,
  parseObject,
  stringField,
  toBase64,
  utf8,
} from "./_codec.ts";
import { decodeRequest, encodeRequest, type RequestV1 } from "./request.ts";

/** The protocol string of a v1 secure request. */
export const SECURE_REQUEST_PROTOCOL = "choria:secure:request:1" as const;

/** A v1 secure request. */
export interface SecureRequestV1 {
  /** Always `choria:secure:request:1`. */
  protocol: typeof SECURE_REQUEST_PROTOCOL;
  /** The JSON text of a {@linkcode RequestV1}: the signed bytes. */
  message: string;
  /** Base64 of the signature over the UTF-8 bytes of `message`. */
  signature: string;
  /** The signer's PEM certificate, possibly followed by intermediates. */
  pubcert: string;
}

/**
 * Encodes and signs a request.
 *
 * @example Sign a request
 * ```ts
 * import { CertificateAuthority } from "../security/ca.ts";
 * import { createSigner } from "../security/signing.ts";
 * import { createRequest } from "./request.ts";
 * import { createSecureRequest } from "./secure_request.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("client", "alice.mcollective");
 * const signer = createSigner(issued.cert, issued.key);
 * const request = createRequest({
 *   agent: "rpcutil", collective: "mcollective", callerid: "choria=alice.mcollective",
 *   senderid: "ws1", message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {} }),
 * });
 * const secure = await createSecureRequest(request, signer);
 * console.log(secure.pubcert === signer.certificate); // true
 * ```
 */
export async function createSecureRequest(
  request: RequestV1,
  signer: Signer,
): Promise<SecureRequestV1> {
  const message = encodeRequest(request);
  const signature = await signer.sign(utf8(message));
  return {
    protocol: SECURE_REQUEST_PROTOCOL,
    message,
    signature: toBase64(signature),
    pubcert: signer.certificate,
  };
}

/**
 * The JSON text of a secure request.
 *
 * @example Encode a secure request
 * ```ts
 * import { encodeSecureRequest } from "./secure_request.ts";
 * const text = encodeSecureRequest({
 *   protocol: "choria:secure:request:1", message: "{}", signature: "AA==", pubcert: "pem",
 * });
 * console.log(text.length > 0); // true
 * ```
 */
export function encodeSecureRequest(secure: SecureRequestV1): string {
  return JSON.stringify(secure);
}

/**
 * Decodes a secure request and checks its fields (not its signature: see receiveRequest);
 * throws a {@linkcode ProtocolError} subclass naming what is wrong.
 *
 * @example Decode the 2017 insecure capture's shape
 * ```ts
 * import { decodeSecureRequest } from "./secure_request.ts";
 * const secure = decodeSecureRequest(
 *   '{"protocol":"choria:secure:request:1","message":"{}","signature":"insecure","pubcert":"insecure"}',
 * );
 * console.log(secure.signature); // insecure
 * ```
 */
export function decodeSecureRequest(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): SecureRequestV1 {
  const object = parseObject(input, "decode secure request", options);
  return checkSecureRequest(object);
}

/**
 * The request a secure request carries, decoded and checked.
 *
 * @example Open a secure request
 * ```ts
 * import { CertificateAuthority } from "../security/ca.ts";
 * import { createSigner } from "../security/signing.ts";
 * import { createRequest } from "./request.ts";
 * import { createSecureRequest, openSecureRequest } from "./secure_request.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("client", "alice.mcollective");
 * const request = createRequest({
 *   agent: "rpcutil", collective: "mcollective", callerid: "choria=alice.mcollective",
 *   senderid: "ws1", message: "{}",
 * });
 * const secure = await createSecureRequest(request, createSigner(issued.cert, issued.key));
 * console.log(openSecureRequest(secure).envelope.agent); // rpcutil
 * ```
 */
export function openSecureRequest(
  secure: SecureRequestV1,
  options: DecodeOptions = {},
): RequestV1 {
  return decodeRequest(secure.message, options);
}

/**
 * The signature bytes of a secure request; throws {@linkcode Base64Error}.
 *
 * @example Read a signature
 * ```ts
 * import { secureRequestSignature } from "./secure_request.ts";
 * const secure = {
 *   protocol: "choria:secure:request:1" as const, message: "{}", signature: "AQID", pubcert: "",
 * };
 * console.log(secureRequestSignature(secure)); // Uint8Array(3) [ 1, 2, 3 ]
 * ```
 */
export function secureRequestSignature(secure: SecureRequestV1, id = ""): Uint8Array {
  return fromBase64(
    secure.signature,
    id === "" ? "decode secure request" : `decode secure request '${id}'`,
    "signature",
  );
}

function checkSecureRequest(object: JsonObject): SecureRequestV1 {
  const what = "decode secure request";
  checkProtocol(object, SECURE_REQUEST_PROTOCOL, what);
  stringField(object, "message", what, { minLength: 1 });
  stringField(object, "signature", what, { minLength: 1 });
  stringField(object, "pubcert", what, { minLength: 1 });
  return object as unknown as SecureRequestV1;
}
