/**
 * Hops with times. Every program a message passes through appends one hop to its transport's
 * `seen-by`: `[from, via, to, arrived, left]`, the broker it came in from, who handled it, the
 * broker it left by, and the times (RFC 3339, microseconds) it arrived and left. Choria peers read
 * the first three and ignore the rest, as the published schema allows. A trace is the list of
 * hops a reply carries back: the request's hops, the node's, then the reply's.
 *
 * Pure functions: no I/O.
 *
 * @module
 */
import type { NetworkHop } from "../core/protocol/transport.ts";

/** A hop with the times it arrived and left; the times are empty when a peer did not record them. */
export interface TimedHop {
  /** The broker the message came in from; empty where it started. */
  from: string;
  /** Who handled it: a client, a federation broker stage or a node. */
  via: string;
  /** The broker it left by; empty where it ended. */
  to: string;
  /** When it arrived, ms since the epoch with a fraction, or null when not recorded. */
  arrivedMs: number | null;
  /** When it left, ms since the epoch with a fraction, or null when not recorded. */
  leftMs: number | null;
}

/**
 * Now, in ms since the epoch with sub-millisecond precision (monotonic within a process).
 *
 * @example Read the clock
 * ```ts
 * import { nowMs } from "./hops.ts";
 * console.log(nowMs() > 0); // true
 * ```
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * An RFC 3339 UTC time with microseconds, from ms since the epoch.
 *
 * @example Format a time
 * ```ts
 * import { formatHopTime } from "./hops.ts";
 * console.log(formatHopTime(Date.UTC(2026, 0, 2, 3, 4, 5, 6) + 0.789));
 * // 2026-01-02T03:04:05.006789Z
 * ```
 */
export function formatHopTime(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.min(999, Math.round((ms - whole) * 1000));
  return new Date(whole).toISOString().replace(/Z$/, `${String(micros).padStart(3, "0")}Z`);
}

/**
 * Ms since the epoch from an RFC 3339 time (any number of fraction digits), or null.
 *
 * @example Parse a time
 * ```ts
 * import { parseHopTime } from "./hops.ts";
 * console.log(parseHopTime("2026-01-02T03:04:05.006789Z")! - Date.UTC(2026, 0, 2, 3, 4, 5, 6));
 * // about 0.789
 * console.log(parseHopTime("yesterday")); // null
 * ```
 */
export function parseHopTime(text: unknown): number | null {
  if (typeof text !== "string") return null;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
  if (!m) return null;
  const seconds = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(seconds)) return null;
  const fraction = m[2] === undefined ? 0 : Number(`0.${m[2]}`) * 1000;
  return seconds + fraction;
}

/**
 * The wire form of a hop, to append to a transport's `seen-by`.
 *
 * @example A federation broker's hop
 * ```ts
 * import { wireHop } from "./hops.ts";
 * const hop = wireHop({ from: "nats://f:4222", via: "fed1", to: "nats://m:4222", arrivedMs: 0, leftMs: 0.5 });
 * console.log(hop[1], hop.length); // fed1 5
 * ```
 */
export function wireHop(hop: TimedHop): NetworkHop {
  const wire = [
    hop.from,
    hop.via,
    hop.to,
    hop.arrivedMs === null ? "" : formatHopTime(hop.arrivedMs),
    hop.leftMs === null ? "" : formatHopTime(hop.leftMs),
  ];
  // The transport type names the three fields Choria reads; the times ride after them.
  return wire as unknown as NetworkHop;
}

/**
 * Hops from a transport's `seen-by` (already checked to be arrays of strings).
 *
 * @example Read hops, with and without times
 * ```ts
 * import { readHops } from "./hops.ts";
 * const hops = readHops([["", "ws1", "nats://b:4222"], ["", "n1", "", "2026-01-01T00:00:00Z", ""]]);
 * console.log(hops[0]!.arrivedMs, hops[1]!.arrivedMs); // null 1767225600000
 * ```
 */
export function readHops(seenBy: readonly (readonly string[])[] | undefined): TimedHop[] {
  return (seenBy ?? []).map((parts) => {
    const arrivedMs = parseHopTime(parts[3]);
    return {
      from: parts[0] ?? "",
      via: parts[1] ?? "",
      to: parts[2] ?? "",
      arrivedMs,
      leftMs: parseHopTime(parts[4]) ?? arrivedMs,
    };
  });
}

/** One line of a trace: a hop, how long the message spent getting there and inside it. */
export interface TraceStep extends TimedHop {
  /** 1-based position. */
  index: number;
  /** `request`, `node` or `reply`: which leg of the round trip the hop belongs to. */
  leg: "request" | "node" | "reply";
  /** Ms from the previous hop leaving to this one arriving, or null when a time is missing. */
  transitMs: number | null;
  /** Ms between arriving and leaving, or null when a time is missing. */
  spentMs: number | null;
}

/**
 * The steps of a round trip from the hops a reply carried back, given which hop is the node that
 * answered; every hop before it is the request's leg and every hop after it the reply's.
 *
 * @example Three hops
 * ```ts
 * import { traceSteps } from "./hops.ts";
 * const steps = traceSteps([
 *   { from: "", via: "ws1", to: "b", arrivedMs: 0, leftMs: 0 },
 *   { from: "", via: "n1", to: "", arrivedMs: 2, leftMs: 3 },
 *   { from: "b", via: "fed1", to: "c", arrivedMs: 4, leftMs: 4.5 },
 * ], "n1");
 * console.log(steps.map((s) => `${s.leg}:${s.transitMs}:${s.spentMs}`).join(" "));
 * // request:null:0 node:2:1 reply:1:0.5
 * ```
 */
export function traceSteps(hops: readonly TimedHop[], node: string): TraceStep[] {
  let nodeAt = hops.findIndex((h) => h.via === node);
  if (nodeAt < 0) nodeAt = hops.length;
  return hops.map((hop, i) => {
    const previous = i > 0 ? hops[i - 1]! : null;
    const transitMs = previous?.leftMs != null && hop.arrivedMs !== null
      ? hop.arrivedMs - previous.leftMs
      : null;
    const spentMs = hop.arrivedMs !== null && hop.leftMs !== null
      ? hop.leftMs - hop.arrivedMs
      : null;
    return {
      ...hop,
      index: i + 1,
      leg: i < nodeAt ? "request" : i === nodeAt ? "node" : "reply",
      transitMs,
      spentMs,
    };
  });
}
