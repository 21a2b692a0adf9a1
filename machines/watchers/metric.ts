/**
 * The `metric` watcher: runs a command every `interval` (its property, as Choria's) that prints
 * Choria's metric JSON, `{"labels": {...}, "metrics": {"name": number, ...}}`, and records the
 * values (for the Prometheus textfile and the `metric` state event), labelled with the
 * `labels` property over the command's. Good output fires `success_transition`, a failure or
 * output that is not such JSON `fail_transition`; with `store` the values go to the machine data.
 *
 * @module
 */
import { runCommand } from "../command.ts";
import type { WatcherDef } from "../manifest.ts";
import { type CheckOutcome, PolledWatcher, propertyChecks, type WatcherPlugin } from "./watcher.ts";

class MetricWatcher extends PolledWatcher {
  #labels: Record<string, string> = {};
  #values: Record<string, number> = {};
  #error = "";

  protected async check(signal: AbortSignal): Promise<CheckOutcome> {
    const command = String(this.def.properties.command);
    const run = await runCommand(command, {
      cwd: this.host.directory,
      env: { MACHINE_NAME: this.host.machine, MACHINE_WATCHER_NAME: this.def.name },
      timeoutMs: 10_000,
      signal,
    });
    if (run.failure || run.code !== 0) {
      return this.#fail(run.failure?.message ?? `'${command}' exited with code ${run.code}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(run.stdout);
    } catch {
      return this.#fail(
        `Cannot read metrics from '${command}' as its output is not JSON: ${
          JSON.stringify(run.stdout.slice(0, 80))
        }`,
      );
    }
    const p = parsed as { labels?: unknown; metrics?: unknown };
    const metrics = p?.metrics;
    if (typeof metrics !== "object" || metrics === null || Array.isArray(metrics)) {
      return this.#fail(`Cannot read metrics from '${command}' as its output has no "metrics" map`);
    }
    const values: Record<string, number> = {};
    for (const [name, value] of Object.entries(metrics)) {
      if (
        typeof value === "number" && Number.isFinite(value) && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)
      ) values[name] = value;
    }
    const labels: Record<string, string> = {};
    for (const source of [p.labels, this.def.properties.labels]) {
      if (typeof source === "object" && source !== null) {
        for (const [k, v] of Object.entries(source)) labels[k] = String(v);
      }
    }
    this.#labels = labels;
    this.#values = values;
    this.#error = "";
    this.host.recordMetrics({ machine: this.host.machine, watcher: this.def.name, labels, values });
    if (this.def.properties.store === true) this.host.data.merge(values);
    return "success";
  }

  #fail(message: string): CheckOutcome {
    this.#error = message;
    this.host.logger.warn("metric watcher failed", {
      machine: this.host.machine,
      watcher: this.def.name,
      error: message,
    });
    return "fail";
  }

  stateFields(): Record<string, unknown> {
    return {
      command: String(this.def.properties.command),
      labels: this.#labels,
      metrics: this.#values,
      ...(this.#error ? { error: this.#error } : {}),
    };
  }
}

/** The `metric` watcher plugin. */
export const metricWatcher: WatcherPlugin = {
  type: "metric",
  properties: ["command", "interval", "labels", "skip_prometheus", "store"],
  validate(def: WatcherDef, problem) {
    const check = propertyChecks(def, problem);
    check.string("command", true);
    check.duration("interval", true);
    check.boolean("store");
    check.boolean("skip_prometheus");
    const labels = def.properties.labels;
    if (
      labels !== undefined &&
      (typeof labels !== "object" || labels === null || Array.isArray(labels))
    ) {
      problem(`labels: must be a map of text: current value is ${JSON.stringify(labels)}`);
    }
  },
  // Choria puts the metric watcher's interval among its properties.
  create: (def, host) =>
    new MetricWatcher({ ...def, interval: def.interval ?? String(def.properties.interval) }, host),
};
