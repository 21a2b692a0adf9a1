/**
 * Choria lifecycle events: what components publish when they start, stop, stay alive, get
 * provisioned, upgrade or deal with a Governor, to `choria.lifecycle.event.<type>.<component>`.
 *
 * Two encodings travel, and both decode here into one union discriminated on `type`:
 *
 * - the CloudEvents 1.0 format go-choria publishes by default: `specversion`, `id`, `source`
 *   (`io.choria.lifecycle`), `type` (`io.choria.lifecycle.v1.<type>`), `subject` (the identity),
 *   `datacontenttype` (`application/json`), `time` (RFC 3339 UTC, whole seconds) and the event in
 *   `data`, the key order go-choria's own test expects byte for byte;
 * - the older Choria format (`plugin.choria.legacy_lifecycle_format`): the event object alone.
 *
 * The event object has `protocol`, `id`, `identity`, `component`, `timestamp` (Unix seconds) and
 * per type `version`, `new_version` or `governor`, `sequence`, `event_type`. Protocols of the form
 * `choria:lifecycle:<type>:1` from old senders are read and normalised to
 * `io.choria.lifecycle.v1.<type>`, as go-choria does. Pure: no I/O; the clock and ids can be
 * injected.
 *
 * @module
 */
import { lifecycleSubject } from "../core/protocol/subjects.ts";

/** The lifecycle event types Choria defines. */
export const LifecycleTypes = {
  /** A component started; carries its version. */
  startup: "startup",
  /** A component is stopping. */
  shutdown: "shutdown",
  /** A component is still running; carries its version (go-choria sends one every 30 minutes). */
  alive: "alive",
  /** A component finished being provisioned. */
  provisioned: "provisioned",
  /** A component upgraded itself; carries the old and new version. */
  upgraded: "upgraded",
  /** A component entered, left, timed out on or was evicted from a Governor slot. */
  governor: "governor",
} as const;

/** One of {@linkcode LifecycleTypes}. */
export type LifecycleType = (typeof LifecycleTypes)[keyof typeof LifecycleTypes];

/** The encodings of lifecycle events on the wire. */
export const LifecycleFormats = {
  /** An event inside a CloudEvents 1.0 envelope: go-choria's default. */
  cloudevent: "cloudevent",
  /** The bare event object: go-choria's legacy format. */
  choria: "choria",
} as const;

/** One of {@linkcode LifecycleFormats}. */
export type LifecycleFormat = (typeof LifecycleFormats)[keyof typeof LifecycleFormats];

/** The stages a Governor event reports, as go-choria names them. */
export const GovernorEventTypes = {
  /** A slot was obtained. */
  enter: "enter",
  /** A slot was left. */
  exit: "exit",
  /** No slot could be obtained in time. */
  timeout: "timeouts",
  /** A slot was taken away through the admin API. */
  eviction: "eviction",
} as const;

/** One of {@linkcode GovernorEventTypes}. */
export type GovernorEventType = (typeof GovernorEventTypes)[keyof typeof GovernorEventTypes];

/** The CloudEvent `source` of lifecycle events. */
export const LIFECYCLE_SOURCE = "io.choria.lifecycle" as const;

/** The components go-choria's server reports: `server`, or this one while provisioning. */
export const ServerComponents = {
  server: "server",
  provisioning: "provision_mode_server",
} as const;

/** The protocol string of a lifecycle event type: `io.choria.lifecycle.v1.<type>`. */
export type LifecycleProtocol<T extends LifecycleType = LifecycleType> =
  `io.choria.lifecycle.v1.${T}`;

/** What every lifecycle event carries. */
interface LifecycleEventBase<T extends LifecycleType> {
  /** The event type, the discriminant; not on the wire (it is in `protocol`). */
  readonly type: T;
  /** `io.choria.lifecycle.v1.<type>`. */
  protocol: LifecycleProtocol<T>;
  /** A unique id for the event (a UUID). */
  id: string;
  /** The identity of the node or program the event is about. */
  identity: string;
  /** The component that published it, say `server`. */
  component: string;
  /** When the event was made, Unix seconds. */
  timestamp: number;
}

/** `io.choria.lifecycle.v1.startup`. */
export interface StartupEvent extends LifecycleEventBase<"startup"> {
  /** The version of the component. */
  version: string;
}

/** `io.choria.lifecycle.v1.shutdown`; go-choria sends no version, but one is kept when present. */
export interface ShutdownEvent extends LifecycleEventBase<"shutdown"> {
  /** The version of the component, when the sender included one. */
  version?: string;
}

/** `io.choria.lifecycle.v1.alive`. */
export interface AliveEvent extends LifecycleEventBase<"alive"> {
  /** The version of the component. */
  version: string;
}

/** `io.choria.lifecycle.v1.provisioned`; a version is kept when present. */
export interface ProvisionedEvent extends LifecycleEventBase<"provisioned"> {
  /** The version of the component, when the sender included one. */
  version?: string;
}

/** `io.choria.lifecycle.v1.upgraded`. */
export interface UpgradedEvent extends LifecycleEventBase<"upgraded"> {
  /** The version before the upgrade. */
  version: string;
  /** The version after it. */
  new_version: string;
}

/** `io.choria.lifecycle.v1.governor`. */
export interface GovernorEvent extends LifecycleEventBase<"governor"> {
  /** The Governor's name. */
  governor: string;
  /** The slot, 0 when not applicable. */
  sequence: number;
  /** What happened. */
  event_type: GovernorEventType;
}

/** Any lifecycle event, discriminated on `type`. */
export type LifecycleEvent =
  | StartupEvent
  | ShutdownEvent
  | AliveEvent
  | ProvisionedEvent
  | UpgradedEvent
  | GovernorEvent;

/** The event of one type. */
export type LifecycleEventOf<T extends LifecycleType> = Extract<LifecycleEvent, { type: T }>;

/** A lifecycle event in its CloudEvents 1.0 envelope, keys in go-choria's order. */
export interface LifecycleCloudEvent {
  /** Always `1.0`. */
  specversion: "1.0";
  /** The event's id. */
  id: string;
  /** Always `io.choria.lifecycle`. */
  source: typeof LIFECYCLE_SOURCE;
  /** The event's protocol: `io.choria.lifecycle.v1.<type>`. */
  type: LifecycleProtocol;
  /** The event's identity. */
  subject: string;
  /** Always `application/json`. */
  datacontenttype: "application/json";
  /** The event's timestamp, RFC 3339 in UTC. */
  time: string;
  /** The event object, as the Choria format carries it. */
  data: Record<string, unknown>;
}

/** What every event needs. */
export interface LifecycleEventCommon {
  /** The identity of the node or program. */
  identity: string;
  /** The component publishing, say `server`. */
  component: string;
  /** The event id. @default crypto.randomUUID() */
  id?: string;
  /** When the event is made, ms since the epoch (rounded down to seconds). @default Date.now() */
  now?: number;
}

/** The options of {@linkcode lifecycleEvent} for each type. */
export interface LifecycleEventOptions {
  /** Startup needs the component's version. */
  startup: LifecycleEventCommon & { version: string };
  /** Shutdown may carry a version (go-choria sends none). */
  shutdown: LifecycleEventCommon & { version?: string };
  /** Alive needs the component's version. */
  alive: LifecycleEventCommon & { version: string };
  /** Provisioned may carry a version (go-choria sends none). */
  provisioned: LifecycleEventCommon & { version?: string };
  /** Upgraded needs both versions. */
  upgraded: LifecycleEventCommon & { version: string; newVersion: string };
  /** Governor needs the Governor's name and the stage; the slot defaults to 0. */
  governor: LifecycleEventCommon & {
    governor: string;
    eventType: GovernorEventType;
    sequence?: number;
  };
}

/** A lifecycle event decoded from the wire, with the format it came in. */
export interface DecodedLifecycleEvent {
  /** Which encoding it used. */
  format: LifecycleFormat;
  /** The event. */
  event: LifecycleEvent;
}

/** Any failure to build or decode a lifecycle event. */
export class LifecycleError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LifecycleError";
  }
}

/** Input that is not JSON, or JSON in neither lifecycle format. */
export class LifecycleFormatError extends LifecycleError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LifecycleFormatError";
  }
}

/** An event whose type is not one Choria defines. */
export class UnknownLifecycleTypeError extends LifecycleError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnknownLifecycleTypeError";
  }
}

/** An event with a missing field, or a field of the wrong type. */
export class LifecycleFieldError extends LifecycleError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LifecycleFieldError";
  }
}

const TYPE_NAMES: readonly string[] = Object.values(LifecycleTypes);
const GOVERNOR_STAGES: readonly string[] = Object.values(GovernorEventTypes);

/**
 * Whether `value` names a lifecycle event type.
 *
 * @example Check a type name
 * ```ts
 * import { isLifecycleType } from "./lifecycle.ts";
 * console.log(isLifecycleType("startup"), isLifecycleType("reboot")); // true false
 * ```
 */
export function isLifecycleType(value: unknown): value is LifecycleType {
  return typeof value === "string" && TYPE_NAMES.includes(value);
}

/**
 * The protocol string of a type: `io.choria.lifecycle.v1.<type>`.
 *
 * @example Name a protocol
 * ```ts
 * import { lifecycleProtocol } from "./lifecycle.ts";
 * console.log(lifecycleProtocol("alive")); // io.choria.lifecycle.v1.alive
 * ```
 */
export function lifecycleProtocol<T extends LifecycleType>(type: T): LifecycleProtocol<T> {
  return `io.choria.lifecycle.v1.${type}`;
}

/**
 * Builds a lifecycle event; throws {@linkcode LifecycleFieldError} when a required option is
 * empty (identity, component, a startup or alive version, a Governor name) or out of range.
 *
 * @example Announce a startup
 * ```ts
 * import { lifecycleEvent } from "./lifecycle.ts";
 * const event = lifecycleEvent("startup", {
 *   identity: "n1.example.net", component: "server", version: "0.1.0",
 * });
 * console.log(event.protocol); // io.choria.lifecycle.v1.startup
 * ```
 */
export function lifecycleEvent<T extends LifecycleType>(
  type: T,
  options: LifecycleEventOptions[T],
): LifecycleEventOf<T> {
  if (!isLifecycleType(type)) {
    throw new UnknownLifecycleTypeError(
      `Cannot build lifecycle event as its type must be one of ${
        TYPE_NAMES.join(", ")
      }: current value is '${String(type)}'`,
    );
  }
  const what = `build ${type} event`;
  const now = options.now ?? Date.now();
  if (!Number.isFinite(now)) {
    throw new LifecycleFieldError(
      `Cannot ${what} as 'now' must be a finite number: current value is ${now}`,
    );
  }
  const event: Record<string, unknown> = {
    type,
    protocol: lifecycleProtocol(type),
    id: options.id ?? crypto.randomUUID(),
    identity: options.identity,
    component: options.component,
    timestamp: Math.floor(now / 1000),
  };
  const o = options as Partial<
    & LifecycleEventCommon
    & { version: string; newVersion: string; governor: string; eventType: string; sequence: number }
  >;
  switch (type) {
    case "startup":
    case "alive":
      event.version = o.version;
      break;
    case "shutdown":
    case "provisioned":
      if (o.version !== undefined) event.version = o.version;
      break;
    case "upgraded":
      event.version = o.version;
      event.new_version = o.newVersion;
      break;
    case "governor":
      event.governor = o.governor;
      event.sequence = o.sequence ?? 0;
      event.event_type = o.eventType;
      break;
  }
  return checkEvent(type, event, what, true) as LifecycleEventOf<T>;
}

/**
 * The subject an event is published to: `choria.lifecycle.event.<type>.<component>`.
 *
 * @example Address an event
 * ```ts
 * import { lifecycleEvent, lifecycleEventSubject } from "./lifecycle.ts";
 * const event = lifecycleEvent("shutdown", { identity: "n1", component: "server" });
 * console.log(lifecycleEventSubject(event)); // choria.lifecycle.event.shutdown.server
 * ```
 */
export function lifecycleEventSubject(event: LifecycleEvent): string {
  return lifecycleSubject(event.type, event.component);
}

/**
 * The event object as the Choria format carries it (and a CloudEvent's `data`): the wire fields
 * in go-choria's order, without the `type` discriminant.
 *
 * @example The data of an alive event
 * ```ts
 * import { lifecycleEvent, lifecycleEventData } from "./lifecycle.ts";
 * const event = lifecycleEvent("alive", {
 *   identity: "n1", component: "server", version: "0.1.0", id: "x", now: 0,
 * });
 * console.log(JSON.stringify(lifecycleEventData(event)));
 * // {"protocol":"io.choria.lifecycle.v1.alive","id":"x","identity":"n1","component":"server","timestamp":0,"version":"0.1.0"}
 * ```
 */
export function lifecycleEventData(event: LifecycleEvent): Record<string, unknown> {
  const data: Record<string, unknown> = {
    protocol: event.protocol,
    id: event.id,
    identity: event.identity,
    component: event.component,
    timestamp: event.timestamp,
  };
  switch (event.type) {
    case "startup":
    case "alive":
      data.version = event.version;
      break;
    case "shutdown":
    case "provisioned":
      if (event.version !== undefined) data.version = event.version;
      break;
    case "upgraded":
      data.version = event.version;
      data.new_version = event.new_version;
      break;
    case "governor":
      data.governor = event.governor;
      data.sequence = event.sequence;
      data.event_type = event.event_type;
      break;
  }
  return data;
}

/**
 * The event in a CloudEvents 1.0 envelope, as go-choria publishes it by default.
 *
 * @example Wrap an event
 * ```ts
 * import { lifecycleEvent, toCloudEvent } from "./lifecycle.ts";
 * const event = lifecycleEvent("startup", {
 *   identity: "ginkgo.example.net", component: "ginkgo", version: "1.2.3", now: 1535106973000,
 * });
 * console.log(toCloudEvent(event).time); // 2018-08-24T10:36:13Z
 * ```
 */
export function toCloudEvent(event: LifecycleEvent): LifecycleCloudEvent {
  return {
    specversion: "1.0",
    id: event.id,
    source: LIFECYCLE_SOURCE,
    type: event.protocol,
    subject: event.identity,
    datacontenttype: "application/json",
    time: rfc3339Seconds(event.timestamp),
    data: lifecycleEventData(event),
  };
}

/**
 * The JSON text of an event in either format; CloudEvents unless told otherwise, as go-choria.
 *
 * @example Encode in both formats
 * ```ts
 * import { encodeLifecycleEvent, lifecycleEvent } from "./lifecycle.ts";
 * const event = lifecycleEvent("shutdown", { identity: "n1", component: "server" });
 * console.log(encodeLifecycleEvent(event).includes('"specversion":"1.0"')); // true
 * console.log(encodeLifecycleEvent(event, "choria").startsWith('{"protocol":')); // true
 * ```
 */
export function encodeLifecycleEvent(
  event: LifecycleEvent,
  format: LifecycleFormat = LifecycleFormats.cloudevent,
): string {
  return JSON.stringify(
    format === LifecycleFormats.choria ? lifecycleEventData(event) : toCloudEvent(event),
  );
}

/**
 * Decodes an event in either format into the typed union; throws
 * {@linkcode LifecycleFormatError} for input in neither format, {@linkcode UnknownLifecycleTypeError}
 * for types Choria does not define and {@linkcode LifecycleFieldError} for missing or mistyped
 * fields. The format is told apart as go-choria does: a `protocol` field means the Choria format,
 * `specversion` 1.0 with source `io.choria.lifecycle` a CloudEvent.
 *
 * @example Decode a legacy shutdown event
 * ```ts
 * import { decodeLifecycleEvent } from "./lifecycle.ts";
 * const { format, event } = decodeLifecycleEvent(JSON.stringify({
 *   protocol: "choria:lifecycle:shutdown:1", id: "cb6f", identity: "dev1", component: "server",
 *   timestamp: 1575482338,
 * }));
 * console.log(format, event.type, event.protocol);
 * // choria shutdown io.choria.lifecycle.v1.shutdown
 * ```
 */
export function decodeLifecycleEvent(input: string | Uint8Array): DecodedLifecycleEvent {
  let text: string;
  try {
    text = typeof input === "string" ? input : new TextDecoder("utf-8", { fatal: true }).decode(
      input,
    );
  } catch (cause) {
    throw new LifecycleFormatError("Cannot decode lifecycle event as it is not UTF-8 text", {
      cause,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LifecycleFormatError(
      `Cannot decode lifecycle event as it is not JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
  return decodeLifecycleObject(value);
}

/**
 * Like {@linkcode decodeLifecycleEvent} for a value already parsed from JSON.
 *
 * @example Decode a parsed CloudEvent
 * ```ts
 * import { decodeLifecycleObject } from "./lifecycle.ts";
 * const { event } = decodeLifecycleObject({
 *   specversion: "1.0", id: "1", source: "io.choria.lifecycle",
 *   type: "io.choria.lifecycle.v1.alive", subject: "n1", time: "2018-08-24T10:36:13Z",
 *   data: {
 *     protocol: "io.choria.lifecycle.v1.alive", id: "1", identity: "n1", component: "server",
 *     timestamp: 1535106973, version: "0.1.0",
 *   },
 * });
 * if (event.type === "alive") console.log(event.version); // 0.1.0
 * ```
 */
export function decodeLifecycleObject(value: unknown): DecodedLifecycleEvent {
  if (!isObject(value)) {
    throw new LifecycleFormatError(
      `Cannot decode lifecycle event as it is not a JSON object: found ${describe(value)}`,
    );
  }
  if ("protocol" in value) {
    return { format: LifecycleFormats.choria, event: decodeEventObject(value, "lifecycle event") };
  }
  if (value.specversion === "1.0" && value.source === LIFECYCLE_SOURCE) {
    return { format: LifecycleFormats.cloudevent, event: decodeCloudEvent(value) };
  }
  if ("specversion" in value) {
    throw new LifecycleFormatError(
      `Cannot decode lifecycle event as it is not a Choria lifecycle CloudEvent: specversion is ${
        describe(value.specversion)
      }, source is ${describe(value.source)}`,
    );
  }
  throw new LifecycleFormatError(
    "Cannot decode lifecycle event as it is in neither format: it has no 'protocol' and no 'specversion'",
  );
}

function decodeCloudEvent(object: Record<string, unknown>): LifecycleEvent {
  const what = "decode lifecycle CloudEvent";
  requireString(object, "id", what);
  const type = requireString(object, "type", what);
  let data: unknown = object.data;
  if (data === undefined && typeof object.data_base64 === "string") {
    try {
      data = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(object.data_base64)));
    } catch (cause) {
      throw new LifecycleFieldError(
        `Cannot ${what} '${object.id}' as its 'data_base64' is not base64 of JSON`,
        { cause },
      );
    }
  } else if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch (cause) {
      throw new LifecycleFieldError(
        `Cannot ${what} '${object.id}' as its 'data' is a string that is not JSON`,
        { cause },
      );
    }
  }
  if (!isObject(data)) {
    throw new LifecycleFieldError(
      `Cannot ${what} '${object.id}' as its 'data' must be an object: found ${describe(data)}`,
    );
  }
  const event = decodeEventObject(data, "lifecycle CloudEvent data");
  if (type !== event.protocol) {
    throw new LifecycleFieldError(
      `Cannot ${what} '${object.id}' as its 'type' disagrees with its data: type is '${type}', data protocol is '${event.protocol}'`,
    );
  }
  return event;
}

function decodeEventObject(object: Record<string, unknown>, subject: string): LifecycleEvent {
  const what = `decode ${subject}`;
  const protocol = requireString(object, "protocol", what);
  const type = typeOfProtocol(protocol, what);
  const event: Record<string, unknown> = {
    type,
    protocol: lifecycleProtocol(type),
    id: object.id,
    identity: object.identity,
    component: object.component,
    timestamp: object.timestamp,
  };
  for (const key of ["version", "new_version", "governor", "sequence", "event_type"]) {
    if (key in object) event[key] = object[key];
  }
  if (type === "governor" && event.sequence === undefined) event.sequence = 0;
  return checkEvent(type, event, what, false);
}

// Choria writes io.choria.lifecycle.v1.<type>; senders before 2019 wrote choria:lifecycle:<type>:1.
function typeOfProtocol(protocol: string, what: string): LifecycleType {
  const match = /^io\.choria\.lifecycle\.v1\.([^.]+)$/.exec(protocol) ??
    /^choria:lifecycle:([^:]+):1$/.exec(protocol);
  if (match === null) {
    throw new LifecycleFormatError(
      `Cannot ${what} as its 'protocol' is not a lifecycle protocol: current value is '${protocol}'`,
    );
  }
  const type = match[1];
  if (!isLifecycleType(type)) {
    throw new UnknownLifecycleTypeError(
      `Cannot ${what} as its type must be one of ${TYPE_NAMES.join(", ")}: current value is '${
        String(type)
      }'`,
    );
  }
  return type;
}

function checkEvent(
  type: LifecycleType,
  event: Record<string, unknown>,
  what: string,
  building: boolean,
): LifecycleEvent {
  if (typeof event.id === "string" && !building) what = `${what} '${event.id}'`;
  // Decoding follows the schemas (an empty id or identity is still a string); building refuses
  // empty names, which would make subjects like `choria.lifecycle.event.startup.`.
  const min = building ? 1 : 0;
  requireString(event, "id", what, min);
  requireString(event, "identity", what, min);
  requireString(event, "component", what, min);
  if (!Number.isSafeInteger(event.timestamp)) {
    throw new LifecycleFieldError(
      `Cannot ${what} as its 'timestamp' must be an integer: found ${describe(event.timestamp)}`,
    );
  }
  switch (type) {
    case "startup":
    case "alive":
      requireString(event, "version", what, min);
      break;
    case "shutdown":
    case "provisioned":
      if (event.version !== undefined) requireString(event, "version", what);
      break;
    case "upgraded":
      requireString(event, "version", what, min);
      requireString(event, "new_version", what, min);
      break;
    case "governor": {
      requireString(event, "governor", what, 1);
      const sequence = event.sequence;
      if (!Number.isSafeInteger(sequence) || (sequence as number) < 0) {
        throw new LifecycleFieldError(
          `Cannot ${what} as its 'sequence' must be a non-negative integer: found ${
            describe(sequence)
          }`,
        );
      }
      const stage = requireString(event, "event_type", what);
      if (!GOVERNOR_STAGES.includes(stage)) {
        throw new LifecycleFieldError(
          `Cannot ${what} as its 'event_type' must be one of ${
            GOVERNOR_STAGES.join(", ")
          }: current value is '${stage}'`,
        );
      }
      break;
    }
  }
  return event as unknown as LifecycleEvent;
}

function requireString(
  object: Record<string, unknown>,
  field: string,
  what: string,
  minLength = 0,
): string {
  const value = object[field];
  if (typeof value !== "string") {
    throw new LifecycleFieldError(
      `Cannot ${what} as its '${field}' must be a string: found ${describe(value)}`,
    );
  }
  if (value.length < minLength) {
    throw new LifecycleFieldError(`Cannot ${what} as its '${field}' must not be empty`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

// Go's RFC3339Nano drops a zero fraction: 2018-08-24T10:36:13Z, never .000Z.
function rfc3339Seconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}
