/**
 * Registration: what a node publishes about itself every `registerinterval` seconds so that data
 * adapters and registries can keep an inventory of the fleet.
 *
 * The payload is go-choria's `inventory_content` plugin's (`choria:registration:inventorycontent:1`):
 *
 * ```json
 * {"protocol":"choria:registration:inventorycontent:1","zcontent":"<base64 of gzip of the inventory JSON>"}
 * ```
 *
 * where the inventory is `{"agents":[<DDL metadata>],"classes":[],"facts":{},"status":<status
 * file>,"collectives":[],"build_info":{"version":"","sha":""},"machines":[]}`: the node's identity
 * travels in `status.identity` (and the request's `senderid`), Chorale's version in
 * `build_info.version`. Compression is gzip (Go's `compress/gzip`), on by default as in go-choria
 * (`plugin.choria.registration.inventory_content.compression`); without it `content` holds the
 * inventory as inline JSON, as go-choria's `json.RawMessage` writes it (older releases wrote
 * base64, which is still read). The `file_content` plugin's message
 * (`choria:registration:filecontent:1`: `mtime`, `file`, `updated`, base64 `content` or gzip
 * `zcontent`) is built and read too.
 *
 * On the wire registration is a signed v1 request for agent `registration`, from the node
 * (`callerid` `choria=<certname>`, `senderid` its identity), reply-to `dev.null`, published to
 * `<collective>.broadcast.agent.registration`: go-choria's registration manager does exactly that.
 * Everything here is pure except for the clock and random number defaults, which can be injected.
 *
 * @module
 */
import { gunzipSync, gzipSync, inflateSync } from "node:zlib";
import type { AgentDdl } from "../agents/agent.ts";
import { checkRequestTime } from "../core/protocol/receive.ts";
import { createRequest, requestBody, type RequestV1 } from "../core/protocol/request.ts";
import {
  createSecureRequest,
  decodeSecureRequest,
  openSecureRequest,
  secureRequestSignature,
  type SecureRequestV1,
} from "../core/protocol/secure_request.ts";
import { callerId, registrationSubject } from "../core/protocol/subjects.ts";
import {
  createTransport,
  decodeTransport,
  encodeTransport,
  transportData,
  type TransportV1,
} from "../core/protocol/transport.ts";
import { type Signer, verifyBytes } from "../core/security/signing.ts";
import {
  CallerMismatchError,
  type CertificateVerifier,
  SignatureError,
  type VerifiedCertificate,
} from "../core/security/verify.ts";
import { decodeServerStatus, type ServerStatus, StatusFileError } from "./status_file.ts";

/** The protocol of inventory registration payloads. */
export const INVENTORY_CONTENT_PROTOCOL = "choria:registration:inventorycontent:1" as const;

/** The protocol of file content registration payloads. */
export const FILE_CONTENT_PROTOCOL = "choria:registration:filecontent:1" as const;

/** The agent registration requests are addressed to. */
export const REGISTRATION_AGENT = "registration" as const;

/** The reply-to go-choria gives registration requests: nobody replies. */
export const REGISTRATION_REPLY_TO = "dev.null" as const;

/** Choria's default `registerinterval`, seconds. */
export const DEFAULT_REGISTER_INTERVAL = 300;

/** The largest decompressed payload {@linkcode decodeRegistrationContent} accepts by default. */
export const DEFAULT_MAX_INFLATED_BYTES = 16 * 1_048_576;

/** An agent's DDL metadata, as the inventory lists it (go-choria's `agents.Metadata`). */
export type AgentMetadata = AgentDdl["metadata"];

/** The build the node runs. */
export interface InventoryBuildInfo {
  /** The version, say Chorale's. */
  version: string;
  /** The commit it was built from; empty when unknown. */
  sha: string;
}

/** The state of one autonomous agent (Choria machine). */
export interface InventoryMachineState {
  /** The machine's name. */
  name: string;
  /** Its version. */
  version: string;
  /** Its current state. */
  state: string;
}

/** A node's inventory, as go-choria's `registration.InventoryData`. */
export interface Inventory {
  /** The agents it runs, with their DDL metadata. */
  agents: AgentMetadata[];
  /** Its configuration management classes. */
  classes: string[];
  /** Its facts. */
  facts: Record<string, unknown>;
  /** Its status file contents; null from senders that had none. */
  status: ServerStatus | null;
  /** The collectives it is in. */
  collectives: string[];
  /** What it runs; null from senders before go-choria 0.27. */
  build_info: InventoryBuildInfo | null;
  /** Its autonomous agents. */
  machines: InventoryMachineState[];
}

/** An `inventory_content` registration payload. */
export interface InventoryContentMessage {
  /** Always `choria:registration:inventorycontent:1`. */
  protocol: typeof INVENTORY_CONTENT_PROTOCOL;
  /** The inventory, inline, when not compressed. */
  content?: Inventory;
  /** Base64 of the gzip of the inventory's JSON, when compressed. */
  zcontent?: string;
}

/** A `file_content` registration payload, as go-choria's `FileContentMessage`. */
export interface FileContentMessage {
  /** The file's modification time, Unix seconds. */
  mtime: number;
  /** The file's path on the node. */
  file: string;
  /** Whether the file changed since the previous publish. */
  updated: boolean;
  /** Always `choria:registration:filecontent:1`. */
  protocol: typeof FILE_CONTENT_PROTOCOL;
  /** Base64 of the file, when not compressed. */
  content?: string;
  /** Base64 of the gzip of the file, when compressed. */
  zcontent?: string;
}

/** A registration payload Chorale builds. */
export type RegistrationContent = InventoryContentMessage | FileContentMessage;

/** Options for {@linkcode buildInventory}. */
export interface InventoryOptions {
  /** The agents the node runs: their DDLs or just the DDL metadata. */
  agents: readonly (AgentDdl | AgentMetadata)[];
  /** The collectives the node is in. */
  collectives: readonly string[];
  /** The version the node runs. */
  version: string;
  /** The commit of that version. @default "" */
  sha?: string;
  /** Classes. @default [] */
  classes?: readonly string[];
  /** Facts. @default {} */
  facts?: Record<string, unknown>;
  /** The status file contents. @default null */
  status?: ServerStatus | null;
  /** Autonomous agents. @default [] */
  machines?: readonly InventoryMachineState[];
}

/** Options for {@linkcode inventoryContent} and {@linkcode fileContent}. */
export interface ContentOptions {
  /** Gzip the data into `zcontent`. @default true, as go-choria */
  compress?: boolean;
}

/** Options for {@linkcode fileContent}. */
export interface FileContentOptions extends ContentOptions {
  /** The file's modification time, Unix seconds. */
  mtime: number;
  /** Whether it changed since the last publish. @default false */
  updated?: boolean;
}

/** Options for {@linkcode createRegistrationMessage}. */
export interface RegistrationMessageOptions {
  /** The collective to register in (Choria's `registration_collective`, else the main one). */
  collective: string;
  /** The node's identity, the request's `senderid`. @default the signer's certname */
  identity?: string;
  /** Publish here instead of `<collective>.broadcast.agent.registration` (`...target`). */
  target?: string;
  /** Seconds the request stays valid, at least 30. @default 60 */
  ttl?: number;
  /** The current time, ms since the epoch. @default Date.now() */
  now?: number;
  /** The request id, 32 characters. @default a random one */
  requestid?: string;
}

/** A registration request ready to publish. */
export interface RegistrationMessage {
  /** Where to publish it. */
  subject: string;
  /** The JSON text to publish: a v1 transport. */
  payload: string;
  /** The transport. */
  transport: TransportV1;
  /** The request inside it. */
  request: RequestV1;
}

/** Options for {@linkcode decodeRegistrationContent}. */
export interface DecodeContentOptions {
  /** The largest decompressed payload, bytes. @default 16 MiB */
  maxInflatedBytes?: number;
}

/** Options for {@linkcode decodeRegistration}. */
export interface DecodeRegistrationOptions extends DecodeContentOptions {
  /**
   * Verifies the node's certificate and signature; `null` skips verification (say for an adapter
   * behind a trusted broker). Server certificates need not match the client name patterns.
   */
  verifier: CertificateVerifier | null;
  /** The current time, ms since the epoch. @default Date.now() */
  now?: number;
  /** Refuse requests outside their TTL window. @default true */
  checkTime?: boolean;
  /** The largest message to decode, bytes. @default 1 MiB */
  maxBytes?: number;
}

/** Registration data, decoded: discriminated on `type`. */
export type RegistrationData =
  | {
    /** An inventory. */
    type: "inventory";
    /** The inventory, with Go's `null` lists read as empty. */
    inventory: Inventory;
    /** Whether it came gzip-compressed. */
    compressed: boolean;
  }
  | {
    /** A file's contents. */
    type: "file";
    /** The file's path on the node. */
    file: string;
    /** Its modification time, Unix seconds. */
    mtime: number;
    /** Whether it changed since the last publish. */
    updated: boolean;
    /** The file's bytes. */
    data: Uint8Array;
    /** Whether they came compressed. */
    compressed: boolean;
  }
  | {
    /** Data from a registration plugin Chorale does not know. */
    type: "other";
    /** Its `protocol`, when it is a JSON object with one. */
    protocol: string | null;
    /** The payload text as received. */
    body: string;
  };

/** A verified (or, with `verifier: null`, merely decoded) registration message. */
export type DecodedRegistration = RegistrationData & {
  /** The transport as received. */
  transport: TransportV1;
  /** The secure request inside it. */
  secure: SecureRequestV1;
  /** The request inside that. */
  request: RequestV1;
  /** The node's certificate, when verified. */
  signer: VerifiedCertificate | null;
};

/** Options for {@linkcode registrationSchedule}. */
export interface RegistrationScheduleOptions {
  /** Seconds between publishes (`registerinterval`). @default 300 */
  interval?: number;
  /**
   * The most seconds to wait before the first publish; 0 publishes at once. Choria's
   * `registration_splay = true` is a splay of `interval`. @default 0
   */
  splay?: number;
  /** A source of numbers in [0, 1). @default Math.random */
  random?: () => number;
}

/** When to publish registration. */
export interface RegistrationSchedule {
  /** Wait this long before the first publish, ms: random in [0, splay). */
  firstDelayMs: number;
  /** Then publish this often, ms. */
  intervalMs: number;
}

/** Any failure to build or decode registration data. */
export class RegistrationError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistrationError";
  }
}

/** A registration payload with a missing or mistyped field. */
export class RegistrationContentError extends RegistrationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistrationContentError";
  }
}

/** Compressed data that is not base64 of gzip (or zlib), or inflates past the limit. */
export class RegistrationCompressionError extends RegistrationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistrationCompressionError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Builds an inventory; agent metadata is kept in go-choria's key order.
 *
 * @example Describe a node
 * ```ts
 * import { buildInventory } from "./registration.ts";
 * const inventory = buildInventory({
 *   agents: [{
 *     name: "rpcutil", description: "Utility actions", author: "R.I.Pienaar", license: "Apache-2.0",
 *     version: "0.29.4", url: "https://choria.io/", timeout: 2,
 *   }],
 *   collectives: ["mcollective"],
 *   version: "0.1.0",
 *   facts: { country: "mt" },
 * });
 * console.log(inventory.agents[0]?.name, inventory.build_info?.version); // rpcutil 0.1.0
 * ```
 */
export function buildInventory(options: InventoryOptions): Inventory {
  return {
    agents: options.agents.map((agent) =>
      agentMetadata("metadata" in agent ? agent.metadata : agent)
    ),
    classes: [...(options.classes ?? [])],
    facts: options.facts ?? {},
    status: options.status ?? null,
    collectives: [...options.collectives],
    build_info: { version: options.version, sha: options.sha ?? "" },
    machines: (options.machines ?? []).map(({ name, version, state }) => ({
      name,
      version,
      state,
    })),
  };
}

/**
 * The `inventory_content` payload of an inventory: gzip and base64 in `zcontent` unless told
 * not to compress.
 *
 * @example Compress an inventory
 * ```ts
 * import { buildInventory, inventoryContent } from "./registration.ts";
 * const inventory = buildInventory({ agents: [], collectives: ["mcollective"], version: "0.1.0" });
 * const message = inventoryContent(inventory);
 * console.log(message.protocol, message.zcontent?.startsWith("H4sI")); // choria:registration:inventorycontent:1 true
 * ```
 */
export function inventoryContent(
  inventory: Inventory,
  options: ContentOptions = {},
): InventoryContentMessage {
  if (options.compress ?? true) {
    return {
      protocol: INVENTORY_CONTENT_PROTOCOL,
      zcontent: gzipBase64(JSON.stringify(inventory)),
    };
  }
  return { protocol: INVENTORY_CONTENT_PROTOCOL, content: inventory };
}

/**
 * The `file_content` payload of a file's bytes (read by the caller): gzip and base64 in
 * `zcontent` unless told not to compress, then base64 in `content`.
 *
 * @example Publish a file
 * ```ts
 * import { fileContent } from "./registration.ts";
 * const message = fileContent("/etc/node.json", new TextEncoder().encode('{"file": true}'), {
 *   mtime: 1511865541, compress: false,
 * });
 * console.log(JSON.stringify(message));
 * // {"mtime":1511865541,"file":"/etc/node.json","updated":false,"protocol":"choria:registration:filecontent:1","content":"eyJmaWxlIjogdHJ1ZX0="}
 * ```
 */
export function fileContent(
  file: string,
  data: Uint8Array,
  options: FileContentOptions,
): FileContentMessage {
  if (!Number.isSafeInteger(options.mtime)) {
    throw new RangeError(
      `Cannot build file content registration as 'mtime' must be an integer: current value is ${options.mtime}`,
    );
  }
  const message: FileContentMessage = {
    mtime: options.mtime,
    file,
    updated: options.updated ?? false,
    protocol: FILE_CONTENT_PROTOCOL,
  };
  if (options.compress ?? true) message.zcontent = gzipSync(data).toBase64();
  else message.content = data.toBase64();
  return message;
}

/**
 * Wraps a registration payload in a v1 request for agent `registration`, signs it as the node and
 * puts it in a transport addressed to `<collective>.broadcast.agent.registration`, as go-choria's
 * registration manager publishes it. Throws the core `MessageFieldError` for a bad TTL or id.
 *
 * @example Sign an inventory
 * ```ts
 * import { CertificateAuthority } from "../core/security/ca.ts";
 * import { createSigner } from "../core/security/signing.ts";
 * import { buildInventory, createRegistrationMessage, inventoryContent } from "./registration.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("server", "n1.example.net");
 * const inventory = buildInventory({ agents: [], collectives: ["mcollective"], version: "0.1.0" });
 * const message = await createRegistrationMessage(
 *   inventoryContent(inventory),
 *   createSigner(issued.cert, issued.key),
 *   { collective: "mcollective" },
 * );
 * console.log(message.subject); // mcollective.broadcast.agent.registration
 * ```
 */
export async function createRegistrationMessage(
  content: RegistrationContent,
  signer: Signer,
  options: RegistrationMessageOptions,
): Promise<RegistrationMessage> {
  const identity = options.identity ?? signer.certname;
  const request = createRequest({
    agent: REGISTRATION_AGENT,
    collective: options.collective,
    callerid: callerId(signer.certname),
    senderid: identity,
    message: JSON.stringify(content),
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    time: Math.floor((options.now ?? Date.now()) / 1000),
    ...(options.requestid === undefined ? {} : { requestid: options.requestid }),
  });
  const transport = createTransport(await createSecureRequest(request, signer), {
    replyTo: REGISTRATION_REPLY_TO,
    sender: identity,
  });
  return {
    subject: options.target ?? registrationSubject(options.collective),
    payload: encodeTransport(transport),
    transport,
    request,
  };
}

/**
 * Decodes a received registration message: the transport, secure request and request (for agent
 * `registration`), its TTL window, the node's certificate and signature (unless `verifier` is
 * null), then the payload. The signer must be the caller it claims (`choria=<certname>`) unless
 * privileged; it need not match the client name patterns, since nodes sign registration. Throws
 * the core decoders' `ProtocolError`s (including `RequestExpiredError`), the verifier's
 * `VerificationError`s, or a {@linkcode RegistrationError}.
 *
 * @example Receive an inventory
 * ```ts
 * import { CertificateAuthority } from "../core/security/ca.ts";
 * import { createSigner } from "../core/security/signing.ts";
 * import { CertificateVerifier } from "../core/security/verify.ts";
 * import {
 *   buildInventory, createRegistrationMessage, decodeRegistration, inventoryContent,
 * } from "./registration.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("server", "n1.example.net");
 * const inventory = buildInventory({ agents: [], collectives: ["mcollective"], version: "0.1.0" });
 * const { payload } = await createRegistrationMessage(
 *   inventoryContent(inventory), createSigner(issued.cert, issued.key), { collective: "mcollective" },
 * );
 * const received = decodeRegistration(payload, {
 *   verifier: new CertificateVerifier({ ca: ca.certPem }),
 * });
 * if (received.type === "inventory") console.log(received.inventory.collectives); // [ "mcollective" ]
 * ```
 */
export function decodeRegistration(
  payload: string | Uint8Array,
  options: DecodeRegistrationOptions,
): DecodedRegistration {
  const now = options.now ?? Date.now();
  const limits = options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes };
  const transport = decodeTransport(payload, limits);
  const secure = decodeSecureRequest(transportData(transport), limits);
  const request = openSecureRequest(secure, limits);
  const { requestid: id, agent, callerid } = request.envelope;
  if (agent !== REGISTRATION_AGENT) {
    throw new RegistrationError(
      `Cannot decode registration '${id}' as its agent must be '${REGISTRATION_AGENT}': current value is '${agent}'`,
    );
  }
  if (options.checkTime ?? true) checkRequestTime(request, { now });
  let signer: VerifiedCertificate | null = null;
  if (options.verifier !== null) {
    const signature = secureRequestSignature(secure, id);
    signer = options.verifier.verifyCertificate(secure.pubcert, { now });
    if (callerid !== callerId(signer.certname) && !signer.privileged) {
      throw new CallerMismatchError(
        `Cannot verify registration '${id}' as its caller id is not its certificate's: caller is ${callerid}, signer is ${signer.certname}`,
      );
    }
    if (!verifyBytes(signer.publicKey, encoder.encode(secure.message), signature)) {
      throw new SignatureError(
        `Cannot verify registration '${id}' as its signature does not match: signer is ${signer.certname}`,
      );
    }
  }
  const data = decodeRegistrationContent(requestBody(request), options);
  return { ...data, transport, secure, request, signer };
}

/**
 * Decodes a registration payload's JSON text: inventory and file content payloads are checked and
 * decompressed (gzip, or zlib as the published schema says), anything else comes back as
 * `other`. Throws {@linkcode RegistrationContentError} or {@linkcode RegistrationCompressionError}.
 *
 * @example Read go-choria's file content test vector
 * ```ts
 * import { decodeRegistrationContent } from "./registration.ts";
 * const data = decodeRegistrationContent(
 *   '{"mtime":1511865541,"file":"testdata/sample.json","updated":false,' +
 *     '"protocol":"choria:registration:filecontent:1",' +
 *     '"zcontent":"H4sIAAAAAAAA/6pWSsvMSVWyUigpKk2tBQAAAP//AQAA//9QwpuPDgAAAA=="}',
 * );
 * if (data.type === "file") console.log(new TextDecoder().decode(data.data)); // {"file": true}
 * ```
 */
export function decodeRegistrationContent(
  body: string,
  options: DecodeContentOptions = {},
): RegistrationData {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // Custom plugins may publish anything.
    return { type: "other", protocol: null, body };
  }
  if (!isObject(value)) return { type: "other", protocol: null, body };
  const limit = options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
  switch (value.protocol) {
    case INVENTORY_CONTENT_PROTOCOL:
      return decodeInventoryContent(value, limit);
    case FILE_CONTENT_PROTOCOL:
      return decodeFileContent(value, limit);
    default:
      return {
        type: "other",
        protocol: typeof value.protocol === "string" ? value.protocol : null,
        body,
      };
  }
}

/**
 * When to publish: a first delay drawn uniformly from [0, splay) seconds, then every `interval`
 * seconds, as go-choria's `registration_splay`. Throws a RangeError for a non-positive interval or
 * a negative splay.
 *
 * @example Splay the first publish over the interval
 * ```ts
 * import { registrationSchedule } from "./registration.ts";
 * const schedule = registrationSchedule({ interval: 300, splay: 300, random: () => 0.5 });
 * console.log(schedule); // { firstDelayMs: 150000, intervalMs: 300000 }
 * ```
 */
export function registrationSchedule(
  options: RegistrationScheduleOptions = {},
): RegistrationSchedule {
  const interval = options.interval ?? DEFAULT_REGISTER_INTERVAL;
  const splay = options.splay ?? 0;
  if (!Number.isFinite(interval) || interval <= 0) {
    throw new RangeError(
      `Cannot schedule registration as 'interval' must be a positive number of seconds: current value is ${interval}`,
    );
  }
  if (!Number.isFinite(splay) || splay < 0) {
    throw new RangeError(
      `Cannot schedule registration as 'splay' must be zero or a positive number of seconds: current value is ${splay}`,
    );
  }
  const splayMs = Math.round(splay * 1000);
  const draw = (options.random ?? Math.random)();
  // Clamp: a faulty source must not push the first publish past the splay.
  const fraction = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 1) : 0;
  const firstDelayMs = splayMs === 0 ? 0 : Math.min(Math.floor(fraction * splayMs), splayMs - 1);
  return { firstDelayMs, intervalMs: Math.round(interval * 1000) };
}

function decodeInventoryContent(
  object: Record<string, unknown>,
  limit: number,
): RegistrationData {
  const what = "decode inventory registration";
  let raw: unknown;
  let compressed = false;
  if (typeof object.zcontent === "string" && object.zcontent !== "") {
    raw = parseJson(inflate(object.zcontent, limit, what), what, "zcontent");
    compressed = true;
  } else if (isObject(object.content)) {
    raw = object.content;
  } else if (typeof object.content === "string") {
    // Before go-choria used json.RawMessage, content was []byte: base64.
    raw = parseJson(base64(object.content, what, "content"), what, "content");
  } else if (object.content === undefined || object.content === null) {
    throw new RegistrationContentError(`Cannot ${what} as it has neither 'zcontent' nor 'content'`);
  } else {
    throw new RegistrationContentError(
      `Cannot ${what} as its 'content' must be an object or base64 text: found ${
        describe(object.content)
      }`,
    );
  }
  return { type: "inventory", inventory: checkInventory(raw, what), compressed };
}

function decodeFileContent(object: Record<string, unknown>, limit: number): RegistrationData {
  const what = "decode file content registration";
  if (typeof object.file !== "string") {
    throw new RegistrationContentError(
      `Cannot ${what} as its 'file' must be a string: found ${describe(object.file)}`,
    );
  }
  if (!Number.isSafeInteger(object.mtime)) {
    throw new RegistrationContentError(
      `Cannot ${what} '${object.file}' as its 'mtime' must be an integer: found ${
        describe(object.mtime)
      }`,
    );
  }
  const where = `${what} '${object.file}'`;
  let data: Uint8Array;
  let compressed = false;
  if (typeof object.zcontent === "string" && object.zcontent !== "") {
    data = inflate(object.zcontent, limit, where);
    compressed = true;
  } else if (typeof object.content === "string") {
    data = base64(object.content, where, "content");
  } else {
    throw new RegistrationContentError(
      `Cannot ${where} as it has neither 'zcontent' nor 'content'`,
    );
  }
  return {
    type: "file",
    file: object.file,
    mtime: object.mtime as number,
    updated: object.updated === true,
    data,
    compressed,
  };
}

function checkInventory(raw: unknown, what: string): Inventory {
  if (!isObject(raw)) {
    throw new RegistrationContentError(
      `Cannot ${what} as its inventory must be an object: found ${describe(raw)}`,
    );
  }
  // Go writes nil slices and maps as null.
  const list = (field: string): unknown[] => {
    const value = raw[field] ?? [];
    if (!Array.isArray(value)) {
      throw new RegistrationContentError(
        `Cannot ${what} as its '${field}' must be an array: found ${describe(value)}`,
      );
    }
    return value;
  };
  const strings = (field: string): string[] => {
    const value = list(field);
    value.forEach((item, i) => {
      if (typeof item !== "string") {
        throw new RegistrationContentError(
          `Cannot ${what} as its '${field}[${i}]' must be a string: found ${describe(item)}`,
        );
      }
    });
    return value as string[];
  };
  const agents = list("agents").map((agent, i) => {
    if (!isObject(agent) || typeof agent.name !== "string") {
      throw new RegistrationContentError(
        `Cannot ${what} as its 'agents[${i}]' must be agent metadata with a name: found ${
          describe(agent)
        }`,
      );
    }
    return agent as unknown as AgentMetadata;
  });
  const facts = raw.facts ?? {};
  if (!isObject(facts)) {
    throw new RegistrationContentError(
      `Cannot ${what} as its 'facts' must be an object: found ${describe(facts)}`,
    );
  }
  let status: ServerStatus | null = null;
  if (raw.status !== null && raw.status !== undefined) {
    try {
      status = decodeServerStatus(raw.status);
    } catch (cause) {
      if (!(cause instanceof StatusFileError)) throw cause;
      throw new RegistrationContentError(`Cannot ${what} as its 'status' is not a server status`, {
        cause,
      });
    }
  }
  let buildInfo: InventoryBuildInfo | null = null;
  if (raw.build_info !== null && raw.build_info !== undefined) {
    const info = raw.build_info;
    if (!isObject(info) || typeof info.version !== "string") {
      throw new RegistrationContentError(
        `Cannot ${what} as its 'build_info' must have a version: found ${describe(info)}`,
      );
    }
    buildInfo = { version: info.version, sha: typeof info.sha === "string" ? info.sha : "" };
  }
  const machines = list("machines").map((machine, i) => {
    if (!isObject(machine) || typeof machine.name !== "string") {
      throw new RegistrationContentError(
        `Cannot ${what} as its 'machines[${i}]' must be a machine state with a name: found ${
          describe(machine)
        }`,
      );
    }
    return machine as unknown as InventoryMachineState;
  });
  return {
    agents,
    classes: strings("classes"),
    facts,
    status,
    collectives: strings("collectives"),
    build_info: buildInfo,
    machines,
  };
}

function agentMetadata(m: AgentMetadata): AgentMetadata {
  // go-choria's agents.Metadata field order; provider and service are omitempty.
  const out: AgentMetadata = {
    license: m.license,
    author: m.author,
    timeout: m.timeout,
    name: m.name,
    version: m.version,
    url: m.url,
    description: m.description,
  };
  if (m.provider) out.provider = m.provider;
  if (m.service) out.service = m.service;
  return out;
}

function gzipBase64(text: string): string {
  return gzipSync(encoder.encode(text)).toBase64();
}

function base64(text: string, what: string, field: string): Uint8Array {
  try {
    // Ruby senders wrap base64 lines.
    return Uint8Array.fromBase64(text.replace(/\s+/g, ""));
  } catch (cause) {
    throw new RegistrationContentError(`Cannot ${what} as its '${field}' is not base64`, {
      cause,
    });
  }
}

function inflate(text: string, limit: number, what: string): Uint8Array {
  const bytes = base64(text, what, "zcontent");
  const options = { maxOutputLength: limit };
  try {
    // gzip starts 1f 8b; the published schema says zlib, whose header starts 78.
    const out = bytes[0] === 0x1f && bytes[1] === 0x8b
      ? gunzipSync(bytes, options)
      : inflateSync(bytes, options);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (cause) {
    const tooLarge = (cause as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    throw new RegistrationCompressionError(
      tooLarge
        ? `Cannot ${what} as its 'zcontent' inflates past ${limit} bytes`
        : `Cannot ${what} as its 'zcontent' is not gzip or zlib data: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function parseJson(bytes: Uint8Array, what: string, field: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new RegistrationContentError(`Cannot ${what} as its '${field}' is not JSON text`, {
      cause,
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
