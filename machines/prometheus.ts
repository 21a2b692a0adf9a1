/**
 * Prometheus textfile output for node_exporter's textfile collector: each machine's state, its
 * transition count, and every metric its watchers measured (nagios status codes, runtimes and
 * perfdata; metric watcher values). Written whole to a temporary file and renamed, so the
 * collector never reads half a file.
 *
 * @module
 */
import { join } from "node:path";
import type { MetricSample } from "./watchers/watcher.ts";

/** One machine as the textfile shows it. */
export interface MachineMetricsView {
  name: string;
  state: string;
  states: string[];
  transitions: number;
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k.replace(/[^a-zA-Z0-9_]/g, "_")}="${
      v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")
    }"`
  );
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

/**
 * The textfile for these machines and samples.
 *
 * @example Render the textfile
 * ```ts
 * import { renderTextfile } from "./prometheus.ts";
 * const text = renderTextfile([{ name: "m", state: "ok", states: ["ok", "critical"], transitions: 1 }], []);
 * console.log(text.includes('chorale_machine_state{machine="m",state="ok"} 1')); // true
 * ```
 */
export function renderTextfile(machines: MachineMetricsView[], samples: MetricSample[]): string {
  const lines = [
    "# HELP chorale_machine_state Whether the machine is in this state",
    "# TYPE chorale_machine_state gauge",
  ];
  for (const m of machines) {
    for (const s of m.states) {
      lines.push(
        `chorale_machine_state${labelText({ machine: m.name, state: s })} ${s === m.state ? 1 : 0}`,
      );
    }
  }
  lines.push(
    "# HELP chorale_machine_transitions_total Transitions since the machine started",
    "# TYPE chorale_machine_transitions_total counter",
  );
  for (const m of machines) {
    lines.push(
      `chorale_machine_transitions_total${labelText({ machine: m.name })} ${m.transitions}`,
    );
  }
  const byName = new Map<string, string[]>();
  for (const sample of samples) {
    for (const [name, value] of Object.entries(sample.values)) {
      const metric = `chorale_machine_watcher_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
      const list = byName.get(metric) ?? [];
      list.push(
        `${metric}${
          labelText({ ...sample.labels, machine: sample.machine, watcher: sample.watcher })
        } ${value}`,
      );
      byName.set(metric, list);
    }
  }
  for (const [metric, list] of byName) lines.push(`# TYPE ${metric} gauge`, ...list);
  return lines.join("\n") + "\n";
}

/** Writes the textfile `chorale_machines.prom` in `dir`, atomically. */
export async function writeTextfile(dir: string, text: string): Promise<void> {
  const target = join(dir, "chorale_machines.prom");
  const temp = `${target}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, target);
}
