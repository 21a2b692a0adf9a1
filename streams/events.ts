/**
 * Reading lifecycle and machine events back from the store: history from a time, then live
 * (long-polling the store, so a client needs no permission to subscribe to event subjects).
 *
 * @module
 */
import { decodeLifecycleEvent, type LifecycleEvent } from "../server/lifecycle.ts";
import type { StoreClient } from "./api.ts";
import { EVENTS_STREAM, MACHINE_STREAM } from "./service.ts";
import type { StoredMessage } from "./store.ts";

/** One event read back. */
export interface TailedEvent {
  /** The stored message. */
  message: StoredMessage;
  /** The lifecycle event, for the events stream. */
  event?: LifecycleEvent;
  /** The parsed JSON, for the machine stream. */
  data?: unknown;
}

/** Options for {@linkcode tailEvents}. */
export interface TailOptions {
  /** Start with events stored at or after this time, ms. */
  sinceMs: number;
  /** `events` (lifecycle) or `machine`. @default "events" */
  stream?: "events" | "machine";
  /** Only these lifecycle types. @default every type */
  types?: string[];
  /** Only this component. @default every component */
  component?: string;
  /** Keep waiting for new events after the history. @default false */
  follow?: boolean;
  /** Ends a follow. */
  signal?: AbortSignal;
  /** How long each wait for new events lasts, ms. @default 10000 */
  pollMs?: number;
}

/**
 * Parses `--since`: a duration back from now (`90s`, `30m`, `1h`, `2d`) or an RFC 3339 time.
 *
 * @example An hour ago
 * ```ts
 * import { parseSince } from "./events.ts";
 * console.log(parseSince("1h", 7_200_000)); // 3600000
 * ```
 */
export function parseSince(value: string, now: number): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s"];
    return now - Number(m[1]) * unit;
  }
  const time = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}T/.test(value) && Number.isFinite(time)) return time;
  throw new RangeError(
    `Cannot use '${value}' as a start: give a duration such as 90s, 30m, 1h or 2d, or an RFC 3339 time`,
  );
}

/**
 * Yields stored events from `sinceMs` in order, then, with `follow`, new ones as they are stored
 * until the signal aborts. Messages that do not decode are skipped (the store keeps only events
 * that passed their check).
 */
export async function* tailEvents(
  store: StoreClient,
  options: TailOptions,
): AsyncGenerator<TailedEvent> {
  const stream = options.stream === "machine" ? MACHINE_STREAM : EVENTS_STREAM;
  const types = options.types && options.types.length > 0 ? new Set(options.types) : null;
  let from: { timeMs: number } | { seq: number } = { timeMs: options.sinceMs };
  let history = true;
  while (!options.signal?.aborted) {
    const { messages } = await store.fetch(stream, {
      from,
      limit: 1_000,
      ...(history ? {} : { waitMs: options.pollMs ?? 10_000 }),
    });
    for (const message of messages) {
      from = { seq: message.seq + 1 };
      const tailed = decode(message, stream === EVENTS_STREAM);
      if (tailed === null) continue;
      if (tailed.event) {
        if (types && !types.has(tailed.event.type)) continue;
        if (options.component && tailed.event.component !== options.component) continue;
      }
      yield tailed;
    }
    if (messages.length === 0) {
      if (!options.follow) return;
      if (history) {
        history = false;
        // Everything up to now is shown; from here on wait for what comes.
        if ("timeMs" in from) {
          const { lastSeq } = await store.fetch(stream, { from: { seq: 1 }, limit: 1 });
          from = { seq: lastSeq + 1 };
        }
      }
    }
  }
}

function decode(message: StoredMessage, lifecycle: boolean): TailedEvent | null {
  try {
    if (lifecycle) return { message, event: decodeLifecycleEvent(message.data).event };
    return { message, data: JSON.parse(new TextDecoder().decode(message.data)) };
  } catch {
    return null;
  }
}

/**
 * One line for a person: time, type, component, identity and version.
 *
 * @example Format a startup
 * ```ts
 * import { formatEvent } from "./events.ts";
 * import { lifecycleEvent } from "../server/lifecycle.ts";
 * const event = lifecycleEvent("startup", {
 *   identity: "n1", component: "server", version: "0.1.0", now: 0,
 * });
 * console.log(formatEvent({
 *   message: { stream: "CHORIA_EVENTS", seq: 1, subject: "s", timeMs: 0, data: new Uint8Array() },
 *   event,
 * }));
 * // 1970-01-01T00:00:00Z  startup   server  n1  version 0.1.0
 * ```
 */
export function formatEvent(tailed: TailedEvent): string {
  const e = tailed.event;
  if (e === undefined) {
    return `${new Date(tailed.message.timeMs).toISOString()}  ${tailed.message.subject}  ${
      JSON.stringify(tailed.data)
    }`;
  }
  const time = new Date(e.timestamp * 1000).toISOString().replace(/\.000Z$/, "Z");
  const version = "version" in e && e.version ? `  version ${e.version}` : "";
  return `${time}  ${e.type.padEnd(8)}  ${e.component}  ${e.identity}${version}`;
}
