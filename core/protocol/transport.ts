/**
 * The protocol v1 transport (`choria:transport:1`): what travels on NATS. `data` is base64 of a
 * secure request's or secure reply's JSON text; `headers` say where replies go, who sent it, which
 * hops it took and, for federation, where a federation broker should deliver it.
 *
 * The federation targets are under `federation.target`, as go-choria sends them; the published
 * schema's `targets` is wrong.
 *
 * @module
 */
import {
  arrayField,
  checkProtocol,
  type DecodeOptions,
  describe,
  fromBase64,
  type JsonObject,
  objectField,
  optionalStringField,
  parseObject,
  stringField,
  textOf,
  toBase64,
  utf8,
} from "./_codec.ts";
import { MessageFieldError } from "./errors.ts";
import type { SecureReplyV1 } from "./secure_reply.ts";
import type { SecureRequestV1 } from "./secure_request.ts";

/** The protocol string of a v1 transport. */
export const TRANSPORT_PROTOCOL = "choria:transport:1" as const;

/** One hop a message took: the broker it came in from, who handled it, the broker it left by. */
export type NetworkHop = [from: string, via: string, to: string];

/** Headers a federation broker reads and writes. */
export interface FederationHeaders {
  /** The request id of the message inside, 32 characters. */
  req: string;
  /** The original reply-to, recorded by the federation broker. */
  "reply-to"?: string;
  /** The identities the federation broker should deliver to. */
  target?: string[];
}

/** The headers of a v1 transport. */
export interface TransportHeaders {
  /** Where replies to a request go. */
  "reply-to"?: string;
  /** The identity of the sender. */
  mc_sender?: string;
  /** The hops the message took. */
  "seen-by"?: NetworkHop[];
  /** Federation headers. */
  federation?: FederationHeaders;
}

/** A v1 transport. */
export interface TransportV1 {
  /** Always `choria:transport:1`. */
  protocol: typeof TRANSPORT_PROTOCOL;
  /** Base64 of a secure request's or secure reply's JSON text. */
  data: string;
  /** Routing and tracing headers. */
  headers: TransportHeaders;
}

/** Options for {@linkcode createTransport}. */
export interface CreateTransportOptions {
  /** Where replies go; requests need one. @default none */
  replyTo?: string;
  /** The sender's identity. @default none */
  sender?: string;
  /** Hops so far. @default none */
  seenBy?: NetworkHop[];
  /** Federation headers. @default none */
  federation?: FederationHeaders;
}

/**
 * Wraps a secure request or reply for the wire.
 *
 * @example Wrap a secure request
 * ```ts
 * import { createTransport } from "./transport.ts";
 * const transport = createTransport(
 *   { protocol: "choria:secure:request:1", message: "{}", signature: "AA==", pubcert: "pem" },
 *   { replyTo: "mcollective.reply.0f.abc", sender: "ws1" },
 * );
 * console.log(transport.headers["reply-to"]); // mcollective.reply.0f.abc
 * ```
 */
export function createTransport(
  message: SecureRequestV1 | SecureReplyV1,
  options: CreateTransportOptions = {},
): TransportV1 {
  const headers: TransportHeaders = {};
  if (options.replyTo !== undefined) headers["reply-to"] = options.replyTo;
  if (options.sender !== undefined) headers.mc_sender = options.sender;
  if (options.seenBy !== undefined) headers["seen-by"] = options.seenBy;
  if (options.federation !== undefined) headers.federation = options.federation;
  const transport: TransportV1 = {
    protocol: TRANSPORT_PROTOCOL,
    data: toBase64(utf8(JSON.stringify(message))),
    headers,
  };
  checkHeaders(headers, "build transport");
  return transport;
}

/**
 * The JSON text of a transport, as published.
 *
 * @example Encode a transport
 * ```ts
 * import { encodeTransport } from "./transport.ts";
 * console.log(encodeTransport({ protocol: "choria:transport:1", data: "e30=", headers: {} }));
 * ```
 */
export function encodeTransport(transport: TransportV1): string {
  return JSON.stringify(transport);
}

/**
 * Decodes a transport and checks its fields and headers; `data` stays base64 (read it with
 * transportData). Throws a {@linkcode ProtocolError} subclass naming what is wrong.
 *
 * @example Decode a transport
 * ```ts
 * import { decodeTransport } from "./transport.ts";
 * const t = decodeTransport('{"protocol":"choria:transport:1","data":"e30=","headers":{}}');
 * console.log(t.data); // e30=
 * ```
 */
export function decodeTransport(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): TransportV1 {
  const what = "decode transport";
  const object = parseObject(input, what, options);
  checkProtocol(object, TRANSPORT_PROTOCOL, what);
  stringField(object, "data", what);
  checkHeaders(objectField(object, "headers", what) as JsonObject, what);
  return object as unknown as TransportV1;
}

/**
 * The JSON text inside a transport: base64-decoded `data` (line breaks allowed, as Ruby writes).
 * Throws {@linkcode Base64Error} or {@linkcode MessageJsonError} for bad base64 or UTF-8.
 *
 * @example Read a transport's data
 * ```ts
 * import { transportData } from "./transport.ts";
 * console.log(transportData({ protocol: "choria:transport:1", data: "e30=", headers: {} })); // {}
 * ```
 */
export function transportData(transport: TransportV1): string {
  return textOf(fromBase64(transport.data, "decode transport", "data"), "decode transport data");
}

function checkHeaders(headers: TransportHeaders | JsonObject, what: string): void {
  const h = headers as JsonObject;
  optionalStringField(h, "headers.reply-to", what, { minLength: 1 });
  optionalStringField(h, "headers.mc_sender", what, { minLength: 1 });
  arrayField(h, "headers.seen-by", what, (hop, i) => {
    if (!Array.isArray(hop) || hop.some((part) => typeof part !== "string")) {
      throw new MessageFieldError(
        `Cannot ${what} as its 'headers.seen-by[${i}]' must be an array of strings: found ${
          describe(hop)
        }`,
      );
    }
  }, true);
  const federation = objectField(h, "headers.federation", what, true);
  if (federation === undefined) return;
  stringField(federation, "headers.federation.req", what, { minLength: 32, maxLength: 32 });
  optionalStringField(federation, "headers.federation.reply-to", what, { minLength: 1 });
  arrayField(federation, "headers.federation.target", what, (target, i) => {
    if (typeof target !== "string") {
      throw new MessageFieldError(
        `Cannot ${what} as its 'headers.federation.target[${i}]' must be a string: found ${
          describe(target)
        }`,
      );
    }
  }, true);
}
