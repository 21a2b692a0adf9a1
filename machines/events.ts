/**
 * The events machines publish, as Choria publishes them: CloudEvents 1.0 whose `data` is a
 * `io.choria.machine.v1.transition` event (on `choria.machine.transition`) or a
 * `io.choria.machine.watcher.<type>.v1.state` event (on `choria.machine.watcher.<type>.state`),
 * valid against the schemas in Choria's `choria/machine/`. Pure: no I/O.
 *
 * @module
 */
import { machineTransitionSubject, machineWatcherSubject } from "../core/protocol/subjects.ts";

/** The CloudEvent `source` of machine events. */
export const MACHINE_SOURCE = "io.choria.machine";

/** A machine event in its CloudEvents envelope. */
export interface MachineCloudEvent {
  specversion: "1.0";
  id: string;
  source: typeof MACHINE_SOURCE;
  type: string;
  subject: string;
  datacontenttype: "application/json";
  time: string;
  data: Record<string, unknown>;
}

/** Who the event is from: the machine instance and its host. */
export interface MachineRef {
  /** The machine instance's id. */
  id: string;
  identity: string;
  machine: string;
  version: string;
}

function envelope(
  type: string,
  identity: string,
  nowMs: number,
  data: Record<string, unknown>,
): MachineCloudEvent {
  return {
    specversion: "1.0",
    id: crypto.randomUUID(),
    source: MACHINE_SOURCE,
    type,
    subject: identity,
    datacontenttype: "application/json",
    time: new Date(nowMs).toISOString().replace(/\.\d{3}Z$/, "Z"),
    data,
  };
}

/**
 * A transition event and its subject.
 *
 * @example Announce a transition
 * ```ts
 * import { transitionEvent } from "./events.ts";
 * const { subject, event } = transitionEvent(
 *   { id: "a-b-c-d-e", identity: "n1", machine: "keep_file", version: "1.0.0" },
 *   { transition: "missing", from: "present", to: "missing" },
 * );
 * console.log(subject, event.type, event.data.to_state); // choria.machine.transition io.choria.machine.v1.transition missing
 * ```
 */
export function transitionEvent(
  ref: MachineRef,
  change: { transition: string; from: string; to: string },
  nowMs = Date.now(),
): { subject: string; event: MachineCloudEvent } {
  const protocol = "io.choria.machine.v1.transition";
  return {
    subject: machineTransitionSubject(),
    event: envelope(protocol, ref.identity, nowMs, {
      protocol,
      identity: ref.identity,
      id: ref.id,
      version: ref.version,
      timestamp: Math.floor(nowMs / 1000),
      machine: ref.machine,
      transition: change.transition,
      from_state: change.from,
      to_state: change.to,
    }),
  };
}

/** A watcher's state: its name and type, and the fields its type's event carries. */
export interface WatcherState {
  name: string;
  type: string;
  /** Type-specific fields, such as `path` and `previous_outcome` for a file watcher. */
  fields: Record<string, unknown>;
}

/**
 * A watcher state event and its subject.
 *
 * @example Announce a file watcher's state
 * ```ts
 * import { watcherStateEvent } from "./events.ts";
 * const { subject, event } = watcherStateEvent(
 *   { id: "a-b-c-d-e", identity: "n1", machine: "keep_file", version: "1.0.0" },
 *   { name: "check", type: "file", fields: { path: "/tmp/x", previous_outcome: "changed" } },
 * );
 * console.log(subject, event.type); // choria.machine.watcher.file.state io.choria.machine.watcher.file.v1.state
 * ```
 */
export function watcherStateEvent(
  ref: MachineRef,
  watcher: WatcherState,
  nowMs = Date.now(),
): { subject: string; event: MachineCloudEvent } {
  const protocol = `io.choria.machine.watcher.${watcher.type}.v1.state`;
  return {
    subject: machineWatcherSubject(watcher.type),
    event: envelope(protocol, ref.identity, nowMs, {
      protocol,
      identity: ref.identity,
      id: ref.id,
      version: ref.version,
      timestamp: Math.floor(nowMs / 1000),
      machine: ref.machine,
      name: watcher.name,
      type: watcher.type,
      ...watcher.fields,
    }),
  };
}

/**
 * Reads a machine event from the wire: the CloudEvent envelope or the bare event. Returns null
 * for anything else.
 *
 * @example Decode an event
 * ```ts
 * import { decodeMachineEvent } from "./events.ts";
 * const data = decodeMachineEvent('{"specversion":"1.0","data":{"protocol":"io.choria.machine.v1.transition","machine":"m"}}');
 * console.log(data?.machine); // m
 * ```
 */
export function decodeMachineEvent(text: string | Uint8Array): Record<string, unknown> | null {
  try {
    const value = JSON.parse(typeof text === "string" ? text : new TextDecoder().decode(text));
    const data = value?.specversion ? value.data : value;
    if (typeof data !== "object" || data === null || typeof data.protocol !== "string") return null;
    return data.protocol.startsWith("io.choria.machine.") ? data : null;
  } catch {
    return null;
  }
}
