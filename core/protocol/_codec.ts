/**
 * Private helpers of the protocol v1 codecs: size limits, JSON objects, base64 and field checks
 * that name the message and field in their errors.
 *
 * @module
 */
import {
  Base64Error,
  MessageFieldError,
  MessageJsonError,
  MessageSizeError,
  ProtocolMismatchError,
} from "./errors.ts";

/** The default size limit of a message: NATS's default maximum payload, 1 MiB. */
export const DEFAULT_MAX_BYTES = 1_048_576;

/** Options of every decoder. */
export interface DecodeOptions {
  /** The largest message to decode, in bytes (UTF-8). @default 1048576 */
  maxBytes?: number;
}

/** A JSON object as parsed. */
export type JsonObject = Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The UTF-8 text of bytes; throws MessageJsonError for invalid UTF-8. */
export function textOf(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new MessageJsonError(`Cannot ${what} as it is not UTF-8 text`, { cause });
  }
}

function checkSize(size: number, what: string, maxBytes: number): void {
  if (size > maxBytes) {
    throw new MessageSizeError(
      `Cannot ${what} as it is ${size} bytes: the limit is ${maxBytes}`,
    );
  }
}

/** Parses `input` as the JSON text of an object, refusing it beyond `maxBytes`. */
export function parseObject(
  input: string | Uint8Array,
  what: string,
  options: DecodeOptions = {},
): JsonObject {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let text: string;
  if (typeof input === "string") {
    // A UTF-16 length already over the limit is over it in UTF-8 too; only measure near it.
    if (input.length > maxBytes) checkSize(input.length, what, maxBytes);
    else if (input.length * 3 > maxBytes) checkSize(utf8(input).length, what, maxBytes);
    text = input;
  } else {
    checkSize(input.length, what, maxBytes);
    text = textOf(input, what);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new MessageJsonError(`Cannot ${what} as it is not JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MessageJsonError(
      `Cannot ${what} as it is not a JSON object: found ${describe(value)}`,
    );
  }
  return value as JsonObject;
}

/** A short description of a JSON value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  return `a ${typeof value}`;
}

/** Checks the `protocol` field of a message. */
export function checkProtocol(object: JsonObject, expected: string, what: string): void {
  const protocol = object.protocol;
  if (protocol === expected) return;
  if (typeof protocol !== "string") {
    throw new MessageFieldError(
      protocol === undefined
        ? `Cannot ${what} as it has no 'protocol'`
        : `Cannot ${what} as its 'protocol' must be a string: found ${describe(protocol)}`,
    );
  }
  throw new ProtocolMismatchError(
    `Cannot ${what} as its protocol is '${protocol}': expected '${expected}'`,
  );
}

/** Decodes base64, allowing line breaks (as Ruby's encoder writes); throws Base64Error. */
export function fromBase64(text: string, what: string, field: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(text);
  } catch (cause) {
    throw new Base64Error(`Cannot ${what} as its '${field}' is not valid base64`, {
      cause,
    });
  }
}

/** Standard, padded base64. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

// Fields may be named by a dotted path for messages ("envelope.ttl"); the last part is the key.
function keyOf(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}

/** Reads a string field, at least `minLength` long and at most `maxLength`. */
export function stringField(
  object: JsonObject,
  field: string,
  what: string,
  limits: { minLength?: number; maxLength?: number } = {},
): string {
  const value = object[keyOf(field)];
  if (typeof value !== "string") {
    throw new MessageFieldError(
      value === undefined
        ? `Cannot ${what} as it has no '${field}'`
        : `Cannot ${what} as its '${field}' must be a string: found ${describe(value)}`,
    );
  }
  checkLength(value, field, what, limits);
  return value;
}

/** Reads a string field that may be absent. */
export function optionalStringField(
  object: JsonObject,
  field: string,
  what: string,
  limits: { minLength?: number; maxLength?: number } = {},
): string | undefined {
  return object[keyOf(field)] === undefined ? undefined : stringField(object, field, what, limits);
}

/** Checks a string's length against the schema's minLength and maxLength. */
export function checkLength(
  value: string,
  field: string,
  what: string,
  limits: { minLength?: number; maxLength?: number },
): void {
  const { minLength = 0, maxLength = Infinity } = limits;
  if (value.length < minLength || value.length > maxLength) {
    const want = minLength === maxLength
      ? `exactly ${minLength} characters`
      : maxLength === Infinity
      ? `at least ${minLength} character${minLength === 1 ? "" : "s"}`
      : `${minLength} to ${maxLength} characters`;
    throw new MessageFieldError(
      `Cannot ${what} as its '${field}' must be ${want}: current length is ${value.length}`,
    );
  }
}

/** Reads an integer field, at least `minimum`. */
export function integerField(
  object: JsonObject,
  field: string,
  what: string,
  minimum = -Infinity,
): number {
  const value = object[keyOf(field)];
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new MessageFieldError(
      value === undefined
        ? `Cannot ${what} as it has no '${field}'`
        : `Cannot ${what} as its '${field}' must be an integer: found ${describe(value)}`,
    );
  }
  if (value < minimum) {
    throw new MessageFieldError(
      `Cannot ${what} as its '${field}' must be at least ${minimum}: current value is ${value}`,
    );
  }
  return value;
}

/** Reads an object field. */
export function objectField(
  object: JsonObject,
  field: string,
  what: string,
  optional = false,
): JsonObject | undefined {
  const value = object[keyOf(field)];
  if (value === undefined && optional) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MessageFieldError(
      value === undefined
        ? `Cannot ${what} as it has no '${field}'`
        : `Cannot ${what} as its '${field}' must be an object: found ${describe(value)}`,
    );
  }
  return value as JsonObject;
}

/** Reads an array field whose items pass `check` (which throws for a bad item). */
export function arrayField(
  object: JsonObject,
  field: string,
  what: string,
  check: (item: unknown, index: number) => void,
  optional = false,
): unknown[] | undefined {
  const value = object[keyOf(field)];
  if (value === undefined && optional) return undefined;
  if (!Array.isArray(value)) {
    throw new MessageFieldError(
      value === undefined
        ? `Cannot ${what} as it has no '${field}'`
        : `Cannot ${what} as its '${field}' must be an array: found ${describe(value)}`,
    );
  }
  value.forEach(check);
  return value;
}

/** Whether `message` reads as JSON text rather than base64: JSON bodies are objects or arrays. */
export function looksLikeJson(message: string): boolean {
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b || c === 0x5b; // { or [
  }
  return false;
}

/**
 * The JSON text of an RPC body carried in a v1 `message`: raw JSON as Choria sends it now, or
 * base64 of it as old senders did.
 */
export function bodyText(message: string, what: string): string {
  if (looksLikeJson(message)) return message;
  return textOf(fromBase64(message, what, "message"), what);
}
