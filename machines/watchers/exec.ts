/**
 * The `exec` watcher: runs a command while the machine is in one of its states, once on entry
 * and every `interval`; exit code 0 fires `success_transition`, anything else (including a
 * timeout, a missing or forbidden program, or unreadable `parse_as_data` output) fires
 * `fail_transition`. The command gets Choria's environment: `MACHINE_NAME`,
 * `MACHINE_WATCHER_NAME`, `WATCHER_DATA` and `WATCHER_FACTS` (paths of JSON files holding the
 * machine's data and the node's facts) and the `environment` property's `VAR=VALUE` entries.
 * Runs are governed: a node-wide cap on commands, and the optional named `governor`.
 *
 * @module
 */
import { runCommand } from "../command.ts";
import type { WatcherDef } from "../manifest.ts";
import {
  type CheckOutcome,
  durationProperty,
  PolledWatcher,
  propertyChecks,
  type WatcherHost,
  type WatcherPlugin,
} from "./watcher.ts";

const ENV_ENTRY = /^[a-zA-Z_]+[a-zA-Z0-9_]*=.+/;

class ExecWatcher extends PolledWatcher {
  #outcome: "unknown" | "skipped" | "error" | "success" = "unknown";
  #runTimeNs = 0;
  /** The last problem, for logs and `machine_state`. */
  lastError = "";

  protected override announceAfterCheck(outcome: CheckOutcome): boolean {
    return !(outcome === "success" && this.def.properties.suppress_success_announce === true);
  }

  protected async check(signal: AbortSignal): Promise<CheckOutcome> {
    const p = this.def.properties;
    const command = String(p.command);
    const timeoutMs = durationProperty(this.def, "timeout", 10_000);
    const governorMs = durationProperty(this.def, "governor_timeout", 300_000);
    const releases: Array<() => void> = [];
    try {
      if (typeof p.governor === "string") {
        releases.push(await this.host.governors.named(p.governor).acquire(governorMs, signal));
      }
      releases.push(await this.host.governors.overall.acquire(governorMs, signal));
    } catch (error) {
      for (const release of releases) release();
      return this.#failed((error as Error).message);
    }
    const files: string[] = [];
    try {
      const env: Record<string, string> = {
        MACHINE_NAME: this.host.machine,
        MACHINE_WATCHER_NAME: this.def.name,
      };
      for (
        const [name, value] of [["WATCHER_DATA", this.host.data.snapshot()], [
          "WATCHER_FACTS",
          this.host.facts(),
        ]] as const
      ) {
        const file = await Deno.makeTempFile({
          prefix: `chorale-${name.toLowerCase()}-`,
          suffix: ".json",
          ...(this.host.tempDir ? { dir: this.host.tempDir } : {}),
        });
        files.push(file);
        await Deno.writeTextFile(file, JSON.stringify(value));
        env[name] = file;
      }
      for (const entry of (p.environment as string[] | undefined) ?? []) {
        const at = entry.indexOf("=");
        env[entry.slice(0, at)] = entry.slice(at + 1);
      }
      const result = await runCommand(command, {
        cwd: this.host.directory,
        env,
        timeoutMs,
        signal,
      });
      this.#runTimeNs = result.durationMs * 1_000_000;
      if (result.failure) return this.#failed(result.failure.message);
      if (result.code !== 0) {
        return this.#failed(
          `'${command}' exited with code ${result.code}: ${result.stderr.trim().slice(0, 200)}`,
        );
      }
      if (p.parse_as_data === true) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(result.stdout);
        } catch {
          return this.#failed(
            `Cannot store the output of '${command}' as data as it is not JSON: ${
              JSON.stringify(result.stdout.slice(0, 80))
            }`,
          );
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          return this.#failed(
            `Cannot store the output of '${command}' as data as it is not a JSON object`,
          );
        }
        this.host.data.merge(parsed as Record<string, unknown>);
      }
      this.#outcome = "success";
      this.lastError = "";
      return "success";
    } finally {
      for (const release of releases) release();
      for (const file of files) await Deno.remove(file).catch(() => {});
    }
  }

  #failed(message: string): CheckOutcome {
    this.#outcome = "error";
    this.lastError = message;
    this.host.logger.warn("exec watcher failed", {
      machine: this.host.machine,
      watcher: this.def.name,
      error: message,
    });
    return "fail";
  }

  stateFields(): Record<string, unknown> {
    return {
      command: String(this.def.properties.command),
      previous_outcome: this.#outcome,
      previous_run_time: this.#runTimeNs,
    };
  }
}

/** The `exec` watcher plugin. */
export const execWatcher: WatcherPlugin = {
  type: "exec",
  properties: [
    "command",
    "environment",
    "governor",
    "governor_timeout",
    "parse_as_data",
    "suppress_success_announce",
    "timeout",
  ],
  validate(def: WatcherDef, problem) {
    const check = propertyChecks(def, problem);
    check.string("command", true);
    check.string("governor");
    check.duration("timeout");
    check.duration("governor_timeout");
    check.boolean("parse_as_data");
    check.boolean("suppress_success_announce");
    const env = def.properties.environment;
    if (env !== undefined) {
      if (!Array.isArray(env)) {
        problem(
          `environment: must be a list of VAR=VALUE: current value is ${JSON.stringify(env)}`,
        );
      } else {
        env.forEach((entry, i) => {
          if (typeof entry !== "string" || !ENV_ENTRY.test(entry)) {
            problem(
              `environment[${i}]: must be VAR=VALUE: current value is ${JSON.stringify(entry)}`,
            );
          }
        });
      }
    }
  },
  create: (def: WatcherDef, host: WatcherHost) => new ExecWatcher(def, host),
};
