/**
 * Scout checks: a small YAML file per check, compiled into a nagios-watcher machine as Choria's
 * Scout builds them. The machine's states are `unknown`, `ok`, `warning`, `critical` and
 * `maintenance`; the check fires `OK`, `WARNING`, `CRITICAL` or `UNKNOWN`; `MAINTENANCE` stops
 * checking and `RESUME` goes back to `unknown`, which checks at once. An optional remediation
 * command runs (as an exec watcher) on entering `critical` (or the `remediate.states` given) and
 * every `remediate.interval` while the check stays there.
 *
 * ```yaml
 * # checks/ssh.yaml: the check is named after the file unless `name` says otherwise
 * plugin: /usr/lib/nagios/plugins/check_ssh localhost   # or builtin: heartbeat | choria_status
 * interval: 1m            # default 5m
 * timeout: 10s            # default 10s
 * annotations: { team: ops }
 * remediate:
 *   command: /usr/sbin/service ssh restart
 *   interval: 5m          # default: the check's interval
 *   timeout: 1m           # default 1m
 *   states: [critical]    # default [critical]; warning and unknown may be added
 * ```
 *
 * @module
 */
import YAML from "yaml";
import { isDuration } from "./duration.ts";
import {
  describeValue,
  type MachineManifest,
  ManifestError,
  validateManifest,
  type ValidateOptions,
} from "./manifest.ts";

/** The states of a Scout check. */
export const ScoutStates = ["unknown", "ok", "warning", "critical", "maintenance"] as const;
const CHECKING = ["unknown", "ok", "warning", "critical"];
const KEYS = new Set([
  "name",
  "plugin",
  "builtin",
  "interval",
  "timeout",
  "annotations",
  "remediate",
  "last_message",
  "pubcert_expire",
]);

/**
 * Compiles a Scout check file into a machine manifest; throws {@linkcode ManifestError} with
 * every problem.
 *
 * @example Compile a check
 * ```ts
 * import { compileScoutCheck } from "./scout.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * const manifest = compileScoutCheck("builtin: heartbeat\ninterval: 30s\n", "heartbeat", {
 *   plugins: defaultPlugins(),
 * });
 * console.log(manifest.initial_state, manifest.transitions.map((t) => t.name));
 * // unknown ["OK", "WARNING", "CRITICAL", "UNKNOWN", "MAINTENANCE", "RESUME"]
 * ```
 */
export function compileScoutCheck(
  text: string,
  defaultName: string,
  options: ValidateOptions,
): MachineManifest {
  const source = `Scout check ${defaultName}`;
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (cause) {
    throw new ManifestError(source, [`not YAML: ${(cause as Error).message.split("\n")[0]}`], {
      cause,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ManifestError(source, [
      `a check must be a map: current value is ${describeValue(value)}`,
    ]);
  }
  const check = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(check)) {
    if (!KEYS.has(key)) {
      problems.push(`${key}: is not a Scout check setting (known: ${[...KEYS].join(", ")})`);
    }
  }
  if (check.plugin === undefined && check.builtin === undefined) {
    problems.push("plugin: give a Nagios plugin to run, or a builtin");
  }
  for (const key of ["interval", "timeout"]) {
    if (check[key] !== undefined && !isDuration(check[key])) {
      problems.push(
        `${key}: must be a Go duration such as 30s or 5m: current value is ${
          describeValue(check[key])
        }`,
      );
    }
  }
  // Bad values are reported above; the machine is built with defaults so they are not reported twice.
  const interval = isDuration(check.interval) ? check.interval : "5m";
  const properties: Record<string, unknown> = {};
  for (
    const key of ["plugin", "builtin", "timeout", "annotations", "last_message", "pubcert_expire"]
  ) {
    if (check[key] !== undefined && !(key === "timeout" && !isDuration(check[key]))) {
      properties[key] = check[key];
    }
  }
  const transitions = [
    ...["OK", "WARNING", "CRITICAL", "UNKNOWN"].map((name) => ({
      name,
      from: [...CHECKING],
      destination: name.toLowerCase(),
    })),
    { name: "MAINTENANCE", from: [...CHECKING], destination: "maintenance" },
    { name: "RESUME", from: ["maintenance"], destination: "unknown" },
  ];
  const watchers: Record<string, unknown>[] = [{
    name: "check",
    type: "nagios",
    state_match: [...CHECKING],
    interval,
    properties,
  }];
  const remediate = check.remediate;
  if (remediate !== undefined) {
    if (typeof remediate !== "object" || remediate === null || Array.isArray(remediate)) {
      problems.push(
        `remediate: must be a map with a command: current value is ${describeValue(remediate)}`,
      );
    } else {
      const r = remediate as Record<string, unknown>;
      for (const key of Object.keys(r)) {
        if (!["command", "interval", "timeout", "states"].includes(key)) {
          problems.push(
            `remediate.${key}: is not a remediation setting (known: command, interval, timeout, states)`,
          );
        }
      }
      let states = ["critical"];
      if (r.states !== undefined) {
        const allowed = ["unknown", "warning", "critical"];
        if (
          !Array.isArray(r.states) || r.states.length === 0 ||
          !r.states.every((s) => allowed.includes(s))
        ) {
          problems.push(
            `remediate.states: must be a list of unknown, warning or critical: current value is ${
              JSON.stringify(r.states)
            }`,
          );
        } else states = r.states;
      }
      watchers.push({
        name: "remediate",
        type: "exec",
        state_match: states,
        interval: r.interval ?? interval,
        properties: { command: r.command, timeout: r.timeout ?? "1m" },
      });
    }
  }
  const name = check.name ?? defaultName;
  const result = validateManifest({
    name,
    version: "1.0.0",
    initial_state: "unknown",
    transitions,
    watchers,
  }, options);
  if (!result.ok) {
    problems.push(
      ...result.problems.map((p) =>
        p.replace(/^watchers\[0\] \(check\)(\.properties)?\./, "").replace(
          /^watchers\[1\] \(remediate\)(\.properties)?\./,
          "remediate.",
        )
      ),
    );
  }
  if (problems.length > 0 || !result.ok) throw new ManifestError(source, problems);
  return result.manifest;
}
