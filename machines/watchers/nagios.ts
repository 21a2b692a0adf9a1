/**
 * The `nagios` watcher: runs a Nagios plugin (or a built-in check) while the machine is in one
 * of its states, once on entry and every `interval`, and fires the transition named after the
 * result, `OK`, `WARNING`, `CRITICAL` or `UNKNOWN`, as Choria's does; a timeout, a missing
 * program or garbage output is UNKNOWN. It keeps the last results as history and announces every
 * result. Built-ins: `heartbeat` (always OK, with the time as perfdata) and `choria_status`
 * (CRITICAL when the server is not connected, has had no request within `last_message`, or its
 * certificate expires within `pubcert_expire`).
 *
 * @module
 */
import { runCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";
import type { WatcherDef } from "../manifest.ts";
import { type NagiosStatus, nagiosStatus, parseNagiosOutput, type Perfdata } from "../nagios.ts";
import {
  type CheckOutcome,
  durationProperty,
  PolledWatcher,
  propertyChecks,
  type WatcherPlugin,
} from "./watcher.ts";

/** How many results the history keeps. */
const HISTORY = 10;
const BUILTINS = ["heartbeat", "choria_status"];

interface Result {
  status: NagiosStatus;
  code: 0 | 1 | 2 | 3;
  output: string;
  perfdata: Perfdata[];
  checkTime: number;
  runtime: number;
}

class NagiosWatcher extends PolledWatcher {
  #last: Result | null = null;
  readonly #history: Array<{ execute: string; status: number; perfdata: Perfdata[] }> = [];

  /** The last result, or null before the first check. */
  get last(): Result | null {
    return this.#last;
  }

  protected async check(signal: AbortSignal): Promise<CheckOutcome> {
    const started = Date.now();
    const builtin = this.def.properties.builtin as string | undefined;
    let result: Omit<Result, "checkTime" | "runtime">;
    if (builtin === "heartbeat") {
      result = {
        status: "OK",
        code: 0,
        output: "heartbeat",
        perfdata: [{ label: "time", value: Math.floor(started / 1000), unit: "s" }],
      };
    } else if (builtin === "choria_status") {
      result = this.#choriaStatus(started);
    } else {
      result = await this.#plugin(signal);
    }
    const runtime = (Date.now() - started) / 1000;
    this.#last = { ...result, checkTime: Math.floor(started / 1000), runtime };
    this.#history.push({
      execute: new Date(started).toISOString(),
      status: result.code,
      perfdata: result.perfdata,
    });
    if (this.#history.length > HISTORY) this.#history.splice(0, this.#history.length - HISTORY);
    this.host.recordMetrics({
      machine: this.host.machine,
      watcher: this.def.name,
      labels: {},
      values: {
        status_code: result.code,
        runtime_seconds: runtime,
        ...Object.fromEntries(result.perfdata.map((p) => [`perf_${p.label}`, p.value])),
      },
    });
    // The transition is named after the status: OK, WARNING, CRITICAL, UNKNOWN.
    this.host.fire(result.status, `nagios watcher ${this.def.name}: ${result.output}`);
    return "none";
  }

  async #plugin(signal: AbortSignal): Promise<Omit<Result, "checkTime" | "runtime">> {
    const plugin = String(this.def.properties.plugin);
    const run = await runCommand(plugin, {
      cwd: this.host.directory,
      env: { MACHINE_NAME: this.host.machine, MACHINE_WATCHER_NAME: this.def.name },
      timeoutMs: durationProperty(this.def, "timeout", 10_000),
      signal,
      maxOutput: 16_384,
    });
    if (run.failure) {
      return { status: "UNKNOWN", code: 3, output: run.failure.message, perfdata: [] };
    }
    const { status, code } = nagiosStatus(run.code);
    // Plugins write to standard output; a program that only complains on standard error (such
    // as one used as a plugin) is still reported in its own words.
    const { message, perfdata } = parseNagiosOutput(
      run.stdout.trim() === "" ? run.stderr : run.stdout,
    );
    if (run.code !== null && (run.code < 0 || run.code > 3)) {
      return {
        status,
        code,
        output: `'${plugin}' exited with code ${run.code}, not a Nagios status: ${message}`,
        perfdata,
      };
    }
    return { status, code, output: message === "" ? "(no output)" : message, perfdata };
  }

  #choriaStatus(now: number): Omit<Result, "checkTime" | "runtime"> {
    const status = this.host.nodeStatus();
    const problems: string[] = [];
    if (!status.connected) problems.push("not connected to a broker");
    const last = this.def.properties.last_message;
    if (typeof last === "string") {
      const age = status.lastMessageMs === null ? Infinity : now - status.lastMessageMs;
      if (age > parseDuration(last)) {
        problems.push(
          status.lastMessageMs === null
            ? "no request received yet"
            : `last request ${Math.round(age / 1000)}s ago`,
        );
      }
    }
    const expire = this.def.properties.pubcert_expire;
    if (
      typeof expire === "string" && status.certificateExpiresMs !== null &&
      status.certificateExpiresMs - now < parseDuration(expire)
    ) {
      problems.push(`certificate expires ${new Date(status.certificateExpiresMs).toISOString()}`);
    }
    const perfdata: Perfdata[] = [];
    if (status.lastMessageMs !== null) {
      perfdata.push({
        label: "last_message",
        value: Math.floor(status.lastMessageMs / 1000),
        unit: "s",
      });
    }
    return problems.length > 0
      ? { status: "CRITICAL", code: 2, output: problems.join(", "), perfdata }
      : { status: "OK", code: 0, output: "connected", perfdata };
  }

  stateFields(): Record<string, unknown> {
    const last = this.#last;
    const plugin = (this.def.properties.builtin as string | undefined) ??
      String(this.def.properties.plugin ?? "");
    return {
      plugin,
      status: last?.status ?? "UNKNOWN",
      status_code: last?.code ?? 3,
      output: last?.output ?? "not checked yet",
      check_time: last?.checkTime ?? 0,
      perfdata: last?.perfdata ?? [],
      runtime: last?.runtime ?? 0,
      annotations: (this.def.properties.annotations as Record<string, string> | undefined) ?? {},
      history: [...this.#history],
    };
  }
}

/** The `nagios` watcher plugin. */
export const nagiosWatcher: WatcherPlugin = {
  type: "nagios",
  properties: ["plugin", "builtin", "timeout", "annotations", "last_message", "pubcert_expire"],
  validate(def: WatcherDef, problem) {
    const check = propertyChecks(def, problem);
    const builtin = def.properties.builtin;
    if (builtin !== undefined && (typeof builtin !== "string" || !BUILTINS.includes(builtin))) {
      problem(
        `builtin: must be one of ${BUILTINS.join(", ")}: current value is ${
          JSON.stringify(builtin)
        }`,
      );
    }
    // Choria's schema asks for plugin always; a built-in check needs none.
    check.string("plugin", builtin === undefined);
    check.duration("timeout");
    check.duration("last_message");
    check.duration("pubcert_expire");
    const annotations = def.properties.annotations;
    if (annotations !== undefined) {
      if (typeof annotations !== "object" || annotations === null || Array.isArray(annotations)) {
        problem(
          `annotations: must be a map of text: current value is ${JSON.stringify(annotations)}`,
        );
      } else {
        for (const [key, value] of Object.entries(annotations)) {
          if (!/^[a-zA-Z_-]+$/.test(key) || typeof value !== "string") {
            problem(`annotations.${key}: must be text under a name of letters, _ or -`);
          }
        }
      }
    }
  },
  create: (def, host) => new NagiosWatcher(def, host),
};
