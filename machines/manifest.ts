/**
 * Choria's autonomous agent manifest (`machine.yaml`): its types, and a validator that reports
 * every problem at once, each with its place in the file. It checks what the JSON schema
 * (`choria/machine/v1/manifest.json`) checks, then what the schema cannot: that every state a
 * watcher or the initial state names is reached by some transition, that every transition a
 * watcher fires exists, that names are unique, and each watcher type's own properties (through
 * the plugin of that type). Pure: no I/O.
 *
 * @module
 */
import YAML from "yaml";
import { isDuration, parseDuration } from "./duration.ts";
import type { WatcherPlugin } from "./watchers/watcher.ts";

/** One transition: an event that moves the machine from any of `from` to `destination`. */
export interface TransitionDef {
  name: string;
  from: string[];
  destination: string;
  description?: string;
}

/** One watcher as declared. */
export interface WatcherDef {
  name: string;
  type: string;
  /** States the watcher is active in; empty means every state. */
  state_match: string[];
  fail_transition?: string;
  success_transition?: string;
  /** A Go duration, or absent. */
  interval?: string;
  announce_interval?: string;
  properties: Record<string, unknown>;
}

/** A machine manifest. */
export interface MachineManifest {
  name: string;
  version: string;
  initial_state: string;
  /** Seconds of random delay before the machine starts. */
  splay_start: number;
  transitions: TransitionDef[];
  watchers: WatcherDef[];
}

/** A manifest that is not valid, with every problem. */
export class ManifestError extends Error {
  override name = "ManifestError";
  readonly problems: string[];

  constructor(source: string, problems: string[], options?: ErrorOptions) {
    super(`Cannot load machine ${source}: ${problems.join("; ")}`, options);
    this.problems = problems;
  }
}

/** The result of {@linkcode validateManifest}: a manifest when there are no problems. */
export type ManifestCheck =
  | { ok: true; manifest: MachineManifest; problems: [] }
  | { ok: false; problems: string[] };

/** Options for {@linkcode validateManifest}. */
export interface ValidateOptions {
  /** The watcher plugins, by type; a watcher of another type is a problem. */
  plugins: ReadonlyMap<string, WatcherPlugin>;
  /** The shortest watcher interval allowed, ms. @default 1000 */
  minIntervalMs?: number;
}

const GENERIC_NAME = /^[a-zA-Z][a-zA-Z0-9_-]+$/;
const MANIFEST_KEYS = [
  "name",
  "version",
  "initial_state",
  "splay_start",
  "transitions",
  "watchers",
];
const WATCHER_KEYS = [
  "name",
  "type",
  "state_match",
  "fail_transition",
  "success_transition",
  "interval",
  "announce_interval",
  "properties",
];
const VERSION = /^\d+\.\d+\.\d+$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** How a value looks in a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (isObject(value)) return "a map";
  return JSON.stringify(value);
}

/**
 * Reads a manifest from YAML (or JSON) text and validates it; throws {@linkcode ManifestError}
 * with every problem.
 *
 * @example Load a manifest
 * ```ts
 * import { loadManifest } from "./manifest.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * const manifest = loadManifest(`
 * name: keep_file
 * version: 1.0.0
 * initial_state: unknown
 * transitions:
 *   - { name: missing, from: [unknown, present], destination: missing }
 *   - { name: restored, from: [unknown, missing], destination: present }
 * watchers:
 *   - name: file
 *     type: file
 *     interval: 1s
 *     fail_transition: missing
 *     success_transition: restored
 *     properties: { path: /tmp/x }
 * `, { plugins: defaultPlugins() });
 * console.log(manifest.name, manifest.watchers.length); // keep_file 1
 * ```
 */
export function loadManifest(
  text: string,
  options: ValidateOptions,
  source = "manifest",
): MachineManifest {
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (cause) {
    throw new ManifestError(source, [`not YAML: ${(cause as Error).message.split("\n")[0]}`], {
      cause,
    });
  }
  const check = validateManifest(value, options);
  if (!check.ok) throw new ManifestError(source, check.problems);
  return check.manifest;
}

/**
 * Validates a parsed manifest, collecting every problem.
 *
 * @example Report every problem
 * ```ts
 * import { validateManifest } from "./manifest.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * const check = validateManifest({ name: "x", version: "1" }, { plugins: defaultPlugins() });
 * console.log(check.ok, check.problems.length > 2); // false true
 * ```
 */
export function validateManifest(value: unknown, options: ValidateOptions): ManifestCheck {
  const problems: string[] = [];
  const push = (problem: string) => problems.push(problem);
  if (!isObject(value)) {
    return {
      ok: false,
      problems: [`the manifest must be a map: current value is ${describeValue(value)}`],
    };
  }
  unknownKeys(value, MANIFEST_KEYS, "", "machine", push);
  const name = checkName(value.name, "name", push);
  if (typeof value.version !== "string" || !VERSION.test(value.version)) {
    push(
      `version: must be a SemVer version such as 1.0.0: current value is ${
        describeValue(value.version)
      }`,
    );
  }
  const initial = checkName(value.initial_state, "initial_state", push);
  let splay = 0;
  if (value.splay_start !== undefined) {
    if (!Number.isInteger(value.splay_start) || (value.splay_start as number) < 0) {
      push(
        `splay_start: must be a whole number of seconds: current value is ${
          describeValue(value.splay_start)
        }`,
      );
    } else splay = value.splay_start as number;
  }

  const transitions: TransitionDef[] = [];
  if (!Array.isArray(value.transitions) || value.transitions.length === 0) {
    push(
      `transitions: must be a list of at least one transition: current value is ${
        describeValue(value.transitions)
      }`,
    );
  } else {
    value.transitions.forEach((t, i) => {
      const transition = checkTransition(t, `transitions[${i}]`, push);
      if (transition) transitions.push(transition);
    });
  }
  const states = new Set<string>();
  for (const t of transitions) {
    states.add(t.destination);
    for (const f of t.from) states.add(f);
  }
  // The same event may leave different states for different places, but not one state for two.
  const seen = new Map<string, string>();
  for (const t of transitions) {
    for (const from of t.from) {
      const key = `${t.name}\u0000${from}`;
      const other = seen.get(key);
      if (other !== undefined && other !== t.destination) {
        push(
          `transitions: '${t.name}' from state '${from}' leads both to '${other}' and to '${t.destination}'`,
        );
      }
      seen.set(key, t.destination);
    }
  }
  const transitionNames = new Set(transitions.map((t) => t.name));
  if (initial !== undefined && transitions.length > 0 && !states.has(initial)) {
    push(
      `initial_state: '${initial}' is not a state any transition leaves or reaches (states: ${
        [...states].join(", ")
      })`,
    );
  }

  const watchers: WatcherDef[] = [];
  if (!Array.isArray(value.watchers) || value.watchers.length === 0) {
    push(
      `watchers: must be a list of at least one watcher: current value is ${
        describeValue(value.watchers)
      }`,
    );
  } else {
    const names = new Set<string>();
    value.watchers.forEach((w, i) => {
      const where = isObject(w) && typeof w.name === "string"
        ? `watchers[${i}] (${w.name})`
        : `watchers[${i}]`;
      const checked = checkWatcher(w, where, options, push);
      if (!checked) return;
      const watcher = checked.def;
      if (names.has(watcher.name)) {
        push(`${where}: name '${watcher.name}' is used by another watcher`);
      }
      names.add(watcher.name);
      for (const state of watcher.state_match) {
        if (transitions.length > 0 && !states.has(state)) {
          push(
            `${where}: state_match names unknown state '${state}' (states: ${
              [...states].join(", ")
            })`,
          );
        }
      }
      for (const key of ["success_transition", "fail_transition"] as const) {
        const t = watcher[key];
        if (t !== undefined && transitions.length > 0 && !transitionNames.has(t)) {
          push(
            `${where}: ${key} '${t}' is not a transition of this machine (transitions: ${
              [...transitionNames].join(", ")
            })`,
          );
        }
      }
      if (checked.valid) watchers.push(watcher);
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    problems: [],
    manifest: {
      name: name!,
      version: value.version as string,
      initial_state: initial!,
      splay_start: splay,
      transitions,
      watchers,
    },
  };
}

function checkName(value: unknown, where: string, push: (p: string) => void): string | undefined {
  if (typeof value !== "string" || !GENERIC_NAME.test(value)) {
    push(
      `${where}: must be a name of 2 or more letters, digits, _ or - starting with a letter: current value is ${
        describeValue(value)
      }`,
    );
    return undefined;
  }
  return value;
}

function checkTransition(
  value: unknown,
  where: string,
  push: (p: string) => void,
): TransitionDef | undefined {
  if (!isObject(value)) {
    push(
      `${where}: must be a map with name, from and destination: current value is ${
        describeValue(value)
      }`,
    );
    return undefined;
  }
  const label = typeof value.name === "string" ? `${where} (${value.name})` : where;
  const before = { count: 0 };
  const count = (p: string) => {
    before.count++;
    push(p);
  };
  const name = checkName(value.name, `${label}.name`, count);
  const destination = checkName(value.destination, `${label}.destination`, count);
  const from: string[] = [];
  if (!Array.isArray(value.from) || value.from.length === 0) {
    count(`${label}.from: must be a list of states: current value is ${describeValue(value.from)}`);
  } else {
    value.from.forEach((f, i) => {
      const state = checkName(f, `${label}.from[${i}]`, count);
      if (state) from.push(state);
    });
  }
  if (value.description !== undefined && typeof value.description !== "string") {
    count(
      `${label}.description: must be text: current value is ${describeValue(value.description)}`,
    );
  }
  // Choria delivers other machines' events to `subscribe`; Chorale does not, and a machine that
  // waits for them would never move, so it is refused rather than run half-working.
  if (value.subscribe !== undefined) {
    count(
      `${label}.subscribe: is not supported by Chorale: machines do not receive other machines' events`,
    );
  }
  unknownKeys(
    value,
    ["name", "from", "destination", "description", "subscribe"],
    label,
    "transition",
    count,
  );
  if (before.count > 0) return undefined;
  return {
    name: name!,
    from,
    destination: destination!,
    ...(typeof value.description === "string" ? { description: value.description } : {}),
  };
}

function unknownKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  where: string,
  what: string,
  push: (p: string) => void,
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      push(
        `${where}${where ? "." : ""}${key}: is not a ${what} setting (known: ${known.join(", ")})`,
      );
    }
  }
}

function checkWatcher(
  value: unknown,
  where: string,
  options: ValidateOptions,
  push: (p: string) => void,
): { def: WatcherDef; valid: boolean } | undefined {
  if (!isObject(value)) {
    push(
      `${where}: must be a map with name, type and properties: current value is ${
        describeValue(value)
      }`,
    );
    return undefined;
  }
  let bad = 0;
  const count = (p: string) => {
    bad++;
    push(p);
  };
  const name = checkName(value.name, `${where}.name`, count);
  const plugin = typeof value.type === "string" ? options.plugins.get(value.type) : undefined;
  if (!plugin) {
    count(
      `${where}.type: must be one of ${[...options.plugins.keys()].join(", ")}: current value is ${
        describeValue(value.type)
      }`,
    );
  }
  const stateMatch: string[] = [];
  if (value.state_match !== undefined) {
    if (!Array.isArray(value.state_match)) {
      count(
        `${where}.state_match: must be a list of states: current value is ${
          describeValue(value.state_match)
        }`,
      );
    } else {
      value.state_match.forEach((s, i) => {
        const state = checkName(s, `${where}.state_match[${i}]`, count);
        if (state) stateMatch.push(state);
      });
    }
  }
  for (const key of ["success_transition", "fail_transition"]) {
    if (value[key] !== undefined) checkName(value[key], `${where}.${key}`, count);
  }
  const minInterval = options.minIntervalMs ?? 1_000;
  for (const key of ["interval", "announce_interval"]) {
    const v = value[key];
    if (v === undefined) continue;
    if (!isDuration(v)) {
      count(
        `${where}.${key}: must be a Go duration such as 10s or 5m: current value is ${
          describeValue(v)
        }`,
      );
    } else if (parseDuration(v) < minInterval) {
      count(
        `${where}.${key}: must be at least ${minInterval} ms: current value is ${
          JSON.stringify(v)
        }`,
      );
    }
  }
  if (value.foreign_state_required !== undefined) {
    count(
      `${where}.foreign_state_required: is not supported by Chorale: machines do not see other machines' states`,
    );
  }
  unknownKeys(value, [...WATCHER_KEYS, "foreign_state_required"], where, "watcher", count);
  const properties = value.properties ?? {};
  if (!isObject(properties)) {
    count(`${where}.properties: must be a map: current value is ${describeValue(properties)}`);
  }
  const def: WatcherDef = {
    name: name ?? "",
    type: String(value.type),
    state_match: stateMatch,
    properties: isObject(properties) ? properties : {},
    ...(typeof value.success_transition === "string"
      ? { success_transition: value.success_transition }
      : {}),
    ...(typeof value.fail_transition === "string"
      ? { fail_transition: value.fail_transition }
      : {}),
    ...(typeof value.interval === "string" ? { interval: value.interval } : {}),
    ...(typeof value.announce_interval === "string"
      ? { announce_interval: value.announce_interval }
      : {}),
  };
  if (plugin && isObject(properties)) {
    for (const key of Object.keys(properties)) {
      if (!plugin.properties.includes(key)) {
        count(
          `${where}.properties.${key}: is not a property Chorale's ${plugin.type} watcher supports (known: ${
            plugin.properties.join(", ")
          })`,
        );
      }
    }
    plugin.validate(def, (p) => count(`${where}.properties.${p}`));
  }
  return { def, valid: bad === 0 };
}
