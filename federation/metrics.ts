/**
 * The federation broker's figures, in Prometheus' text format: messages in and out per direction
 * and member collective, errors per direction, member and reason, the time each stage takes, and
 * per-collective latency (a request leaving a federation broker to its reply coming back).
 *
 * @module
 */

/** Which way a message goes: `request` (federation to member) or `reply` (member to federation). */
export type Direction = "request" | "reply";

/** Histogram buckets, seconds: fine below a millisecond, where a hop should be. */
export const LATENCY_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
] as const;

class Histogram {
  readonly counts: number[] = LATENCY_BUCKETS.map(() => 0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) this.counts[i]!++;
    }
  }
}

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

const HELP: Record<string, [type: "counter" | "histogram" | "gauge", help: string]> = {
  chorale_federation_messages_in_total: ["counter", "Messages received, by direction and member"],
  chorale_federation_messages_out_total: [
    "counter",
    "Messages published (one per target), by direction and member",
  ],
  chorale_federation_errors_total: [
    "counter",
    "Messages refused or failed, by direction, member and reason",
  ],
  chorale_federation_process_seconds: ["histogram", "Time to check and transform one message"],
  chorale_federation_collective_latency_seconds: [
    "histogram",
    "From a request leaving a federation broker to its reply arriving back, by member",
  ],
  chorale_federation_member_connected: ["gauge", "1 while the member's broker is connected"],
};

/**
 * The counters and histograms of one federation broker.
 *
 * @example Count and render
 * ```ts
 * import { FederationMetrics } from "./metrics.ts";
 * const metrics = new FederationMetrics();
 * metrics.countIn("request", "east");
 * metrics.countError("request", "east", "malformed");
 * console.log(metrics.value("chorale_federation_errors_total", {
 *   direction: "request", member: "east", reason: "malformed",
 * })); // 1
 * console.log(metrics.render().includes("chorale_federation_messages_in_total")); // true
 * ```
 */
export class FederationMetrics {
  readonly #counters = new Map<string, Map<string, number>>();
  readonly #histograms = new Map<string, Map<string, Histogram>>();
  readonly #gauges = new Map<string, Map<string, number>>();

  #add(name: string, labels: Labels, by = 1): void {
    let series = this.#counters.get(name);
    if (!series) this.#counters.set(name, series = new Map());
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + by);
  }

  #observe(name: string, labels: Labels, seconds: number): void {
    let series = this.#histograms.get(name);
    if (!series) this.#histograms.set(name, series = new Map());
    const key = labelText(labels);
    let histogram = series.get(key);
    if (!histogram) series.set(key, histogram = new Histogram());
    histogram.observe(seconds);
  }

  /** One message received. */
  countIn(direction: Direction, member: string): void {
    this.#add("chorale_federation_messages_in_total", { direction, member });
  }

  /** `n` messages published. */
  countOut(direction: Direction, member: string, n = 1): void {
    this.#add("chorale_federation_messages_out_total", { direction, member }, n);
  }

  /** One message refused or failed. */
  countError(direction: Direction, member: string, reason: string): void {
    this.#add("chorale_federation_errors_total", { direction, member, reason });
  }

  /** How long a stage took, ms. */
  observeProcess(direction: Direction, ms: number): void {
    this.#observe("chorale_federation_process_seconds", { direction }, ms / 1000);
  }

  /** A member collective's round trip, ms. */
  observeLatency(member: string, ms: number): void {
    this.#observe("chorale_federation_collective_latency_seconds", { member }, ms / 1000);
  }

  /** Whether a member's broker is connected. */
  setConnected(member: string, connected: boolean): void {
    let series = this.#gauges.get("chorale_federation_member_connected");
    if (!series) this.#gauges.set("chorale_federation_member_connected", series = new Map());
    series.set(labelText({ member }), connected ? 1 : 0);
  }

  /** A counter's or gauge's value (0 when never set), or a histogram's count. */
  value(name: string, labels: Labels): number {
    const key = labelText(labels);
    return this.#counters.get(name)?.get(key) ?? this.#gauges.get(name)?.get(key) ??
      this.#histograms.get(name)?.get(key)?.count ?? 0;
  }

  /** The Prometheus text exposition of every series. */
  render(): string {
    const lines: string[] = [];
    const head = (name: string) => {
      const [type, help] = HELP[name] ?? ["counter", name];
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    for (const [name, series] of [...this.#counters, ...this.#gauges]) {
      head(name);
      for (const [labels, value] of series) lines.push(`${name}${labels} ${value}`);
    }
    for (const [name, series] of this.#histograms) {
      head(name);
      for (const [labels, h] of series) {
        const inner = labels === "" ? "" : labels.slice(1, -1) + ",";
        LATENCY_BUCKETS.forEach((le, i) =>
          lines.push(`${name}_bucket{${inner}le="${le}"} ${h.counts[i]}`)
        );
        lines.push(`${name}_bucket{${inner}le="+Inf"} ${h.count}`);
        lines.push(`${name}_sum${labels} ${h.sum}`, `${name}_count${labels} ${h.count}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}
