/**
 * The protocol v1 request (`choria:request:1`): the RPC body as JSON text in `message` and the
 * envelope a server needs to decide whether to run it (who asks, which agent, which nodes, how
 * long it stays valid). Exactly as go-choria's enforced schema, with the real-traffic corrections:
 * compound filters are `[[{"expr": "..."}]]`, `message` is raw JSON text (base64 from old senders
 * is still read), `requestid` has 32 characters and `ttl` is at least 30 seconds.
 *
 * @module
 */
import {
  arrayField,
  bodyText,
  checkProtocol,
  type DecodeOptions,
  describe,
  integerField,
  type JsonObject,
  objectField,
  parseObject,
  stringField,
} from "./_codec.ts";
import { MessageFieldError } from "./errors.ts";

/** The protocol string of a v1 request. */
export const REQUEST_PROTOCOL = "choria:request:1" as const;

/** The smallest TTL go-choria accepts, in seconds. */
export const MIN_TTL = 30;

/** The TTL requests get unless told otherwise, in seconds (Choria's default). */
export const DEFAULT_TTL = 60;

/** The comparison operators of fact filters. */
export const FactOperators = [">=", "<=", "<", ">", "!=", "==", "=~"] as const;

/** One of {@linkcode FactOperators}. */
export type FactOperator = (typeof FactOperators)[number];

/** A fact filter: nodes whose fact `fact` compares to `value` with `operator`. */
export interface FactFilter {
  /** The fact name. */
  fact: string;
  /** The comparison. */
  operator: FactOperator;
  /** The value to compare with; never empty. */
  value: string;
}

/** One term of a compound filter: Choria sends `{"expr": "<compound expression>"}`. */
export interface CompoundTerm {
  /** The compound filter expression. */
  expr?: string;
  /** Other keys, kept as received. */
  [key: string]: unknown;
}

/** Which nodes should act on a request: every list is ANDed except `identity`, which is ORed. */
export interface RequestFilter {
  /** Fact filters. */
  fact: FactFilter[];
  /** Configuration management classes. */
  cf_class: string[];
  /** Agents the node must have; may be absent from old senders. */
  agent?: string[];
  /** Identities, any of which may match. */
  identity: string[];
  /** Compound filters, each a list of terms: `[[{"expr": "..."}]]`. */
  compound: CompoundTerm[][];
}

/** The envelope of a v1 request. */
export interface RequestEnvelope {
  /** 32 characters, unique per request. */
  requestid: string;
  /** The identity of the sending machine. */
  senderid: string;
  /** The caller: `choria=<certname>`. */
  callerid: string;
  /** The sub collective the request is for. */
  collective: string;
  /** The agent to run. */
  agent: string;
  /** How many seconds after `time` the request stays valid; at least 30. */
  ttl: number;
  /** When the request was made, Unix seconds. */
  time: number;
  /** Which nodes should act on it. */
  filter: RequestFilter;
}

/** A v1 request. */
export interface RequestV1 {
  /** Always `choria:request:1`. */
  protocol: typeof REQUEST_PROTOCOL;
  /** The RPC body as JSON text (base64 of it from old senders: read it with requestBody). */
  message: string;
  /** Who, what, where and when. */
  envelope: RequestEnvelope;
}

/** Options for {@linkcode createRequest}. */
export interface CreateRequestOptions {
  /** The agent to run. */
  agent: string;
  /** The sub collective. */
  collective: string;
  /** The caller: `choria=<certname>`. */
  callerid: string;
  /** The identity of the sending machine. */
  senderid: string;
  /** The RPC body as JSON text. */
  message: string;
  /** Seconds the request stays valid, at least 30. @default 60 */
  ttl?: number;
  /** When the request is made, Unix seconds. @default now */
  time?: number;
  /** The request id, 32 characters. @default newRequestId() */
  requestid?: string;
  /** Which nodes should act; missing lists are empty. @default no filter */
  filter?: Partial<RequestFilter>;
}

/**
 * A new request id: a random UUID without its dashes (32 hex characters).
 *
 * @example Make a request id
 * ```ts
 * import { newRequestId } from "./request.ts";
 * console.log(newRequestId().length); // 32
 * ```
 */
export function newRequestId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** The current time in Unix seconds. */
export function unixSeconds(now: number = Date.now()): number {
  return Math.floor(now / 1000);
}

/**
 * Builds a request; throws {@linkcode MessageFieldError} when an option breaks the schema (say a
 * TTL under 30 or an empty message).
 *
 * @example Build a request for rpcutil ping
 * ```ts
 * import { createRequest } from "./request.ts";
 * const request = createRequest({
 *   agent: "rpcutil",
 *   collective: "mcollective",
 *   callerid: "choria=alice.mcollective",
 *   senderid: "workstation.example.net",
 *   message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {} }),
 *   filter: { compound: [[{ expr: "with('apache')" }]] },
 * });
 * console.log(request.envelope.ttl); // 60
 * ```
 */
export function createRequest(options: CreateRequestOptions): RequestV1 {
  const filter = options.filter ?? {};
  const request: RequestV1 = {
    protocol: REQUEST_PROTOCOL,
    message: options.message,
    envelope: {
      requestid: options.requestid ?? newRequestId(),
      senderid: options.senderid,
      callerid: options.callerid,
      collective: options.collective,
      agent: options.agent,
      ttl: options.ttl ?? DEFAULT_TTL,
      time: options.time ?? unixSeconds(),
      filter: {
        fact: filter.fact ?? [],
        cf_class: filter.cf_class ?? [],
        agent: filter.agent ?? [],
        identity: filter.identity ?? [],
        compound: filter.compound ?? [],
      },
    },
  };
  checkRequest(request as unknown as JsonObject, "build");
  return request;
}

/**
 * The JSON text of a request, as signed and sent.
 *
 * @example Encode a request
 * ```ts
 * import { createRequest, encodeRequest } from "./request.ts";
 * const request = createRequest({
 *   agent: "rpcutil", collective: "mcollective", callerid: "choria=alice.mcollective",
 *   senderid: "ws1", message: "{}",
 * });
 * console.log(encodeRequest(request).startsWith('{"protocol":"choria:request:1"')); // true
 * ```
 */
export function encodeRequest(request: RequestV1): string {
  return JSON.stringify(request);
}

/**
 * Decodes and checks a request against the enforced schema; throws a
 * {@linkcode ProtocolError} subclass naming what is wrong.
 *
 * @example Decode a request
 * ```ts
 * import { decodeRequest } from "./request.ts";
 * const request = decodeRequest(JSON.stringify({
 *   protocol: "choria:request:1",
 *   message: "{}",
 *   envelope: {
 *     requestid: "bbb95c73eadb41c39f82a7eedffecee1", senderid: "ws1",
 *     callerid: "choria=alice.mcollective", collective: "mcollective", agent: "rpcutil",
 *     ttl: 60, time: 1512427002,
 *     filter: { fact: [], cf_class: [], agent: [], identity: [], compound: [] },
 *   },
 * }));
 * console.log(request.envelope.agent); // rpcutil
 * ```
 */
export function decodeRequest(input: string | Uint8Array, options: DecodeOptions = {}): RequestV1 {
  return checkRequest(parseObject(input, "decode request", options), "decode");
}

/**
 * The RPC body of a request as JSON text, decoding base64 from old senders; throws
 * {@linkcode Base64Error} when `message` is neither JSON nor base64.
 *
 * @example Read the body of a 2017 request
 * ```ts
 * import { requestBody } from "./request.ts";
 * const body = requestBody({ message: "eyJhIjoxfQ==", envelope: { requestid: "x" } });
 * console.log(body); // {"a":1}
 * ```
 */
export function requestBody(
  request: { message: string; envelope: { requestid: string } },
): string {
  return bodyText(request.message, `decode request '${request.envelope.requestid}'`);
}

function checkRequest(object: JsonObject, verb: "decode" | "build"): RequestV1 {
  let what = `${verb} request`;
  checkProtocol(object, REQUEST_PROTOCOL, what);
  const envelope = objectField(object, "envelope", what) as JsonObject;
  if (typeof envelope.requestid === "string") what = `${verb} request '${envelope.requestid}'`;
  stringField(envelope, "envelope.requestid", what, { minLength: 32, maxLength: 32 });
  stringField(object, "message", what, { minLength: 1 });
  stringField(envelope, "envelope.senderid", what);
  stringField(envelope, "envelope.callerid", what, { minLength: 1 });
  stringField(envelope, "envelope.collective", what, { minLength: 1 });
  stringField(envelope, "envelope.agent", what, { minLength: 1 });
  integerField(envelope, "envelope.ttl", what, MIN_TTL);
  integerField(envelope, "envelope.time", what);
  const filter = objectField(envelope, "envelope.filter", what) as JsonObject;
  const strings = (field: string) => (item: unknown, i: number) => {
    if (typeof item !== "string") {
      throw new MessageFieldError(
        `Cannot ${what} as its '${field}[${i}]' must be a string: found ${describe(item)}`,
      );
    }
  };
  for (const field of ["cf_class", "identity"]) {
    arrayField(filter, `envelope.filter.${field}`, what, strings(`envelope.filter.${field}`));
  }
  arrayField(filter, "envelope.filter.agent", what, strings("envelope.filter.agent"), true);
  arrayField(filter, "envelope.filter.fact", what, (item, i) => {
    const field = `envelope.filter.fact[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new MessageFieldError(
        `Cannot ${what} as its '${field}' must be an object: found ${describe(item)}`,
      );
    }
    const fact = item as JsonObject;
    stringField(fact, `${field}.fact`, what, { minLength: 1 });
    const operator = stringField(fact, `${field}.operator`, what);
    if (!(FactOperators as readonly string[]).includes(operator)) {
      throw new MessageFieldError(
        `Cannot ${what} as its '${field}.operator' must be one of ${
          FactOperators.join(" ")
        }: current value is '${operator}'`,
      );
    }
    stringField(fact, `${field}.value`, what, { minLength: 1 });
  });
  arrayField(filter, "envelope.filter.compound", what, (item, i) => {
    const field = `envelope.filter.compound[${i}]`;
    if (!Array.isArray(item)) {
      throw new MessageFieldError(
        `Cannot ${what} as its '${field}' must be an array of objects: found ${describe(item)}`,
      );
    }
    item.forEach((term: unknown, j) => {
      if (typeof term !== "object" || term === null || Array.isArray(term)) {
        throw new MessageFieldError(
          `Cannot ${what} as its '${field}[${j}]' must be an object: found ${describe(term)}`,
        );
      }
    });
  });
  return object as unknown as RequestV1;
}
