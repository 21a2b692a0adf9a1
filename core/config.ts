/**
 * Typed configuration: each program declares its keys once, with type, default, environment
 * variable and doc string, and loads them from defaults < YAML file < environment < flags. Every
 * problem is collected, so a broken file is reported whole.
 *
 * @module
 */
import YAML from "yaml";

/** The value types a key can have. */
export type KeyType = "string" | "integer" | "boolean" | "duration" | "size" | "list" | "object";

/** One configuration key. */
export interface ConfigKey {
  /** Dotted path in the YAML file, snake_case: `tls.cert`. */
  key: string;
  type: KeyType;
  /** The value when nothing sets it (milliseconds for durations, bytes for sizes). */
  default: unknown;
  /** Environment variable that overrides the file. */
  env?: string;
  /** What the key does, for `--help` and the README. */
  doc: string;
}

/** Where values came from, lowest precedence first after the defaults. */
export interface ConfigSources {
  /** YAML text of the configuration file, and its path for messages. */
  file?: { path: string; text: string };
  /** Reads one environment variable (so a program needs access only to its own names). */
  env?: (name: string) => string | undefined;
  /** Values from command-line flags, by key, as typed strings or already-typed values. */
  flags?: Record<string, unknown>;
}

/** The result of {@linkcode loadConfig}. */
export interface LoadedConfig {
  values: Record<string, unknown>;
  /** Every problem found, each naming the key and source. */
  problems: string[];
}

/** A configuration that cannot be used, with every problem listed. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Cannot use the configuration: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1_024,
  k: 1_024,
  mb: 1_048_576,
  m: 1_048_576,
  gb: 1_073_741_824,
  g: 1_073_741_824,
};

/** Converts a raw value to `type`, or returns a problem text. */
export function coerce(type: KeyType, raw: unknown): { value: unknown } | { problem: string } {
  const bad = (what: string) => ({ problem: `expected ${what}, got ${JSON.stringify(raw)}` });
  switch (type) {
    case "string":
      return typeof raw === "string" || typeof raw === "number"
        ? { value: String(raw) }
        : bad("a string");
    case "integer": {
      const n = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      return typeof n === "number" && Number.isInteger(n) ? { value: n } : bad("an integer");
    }
    case "boolean": {
      if (typeof raw === "boolean") return { value: raw };
      if (raw === "true" || raw === "1" || raw === "yes") return { value: true };
      if (raw === "false" || raw === "0" || raw === "no") return { value: false };
      return bad("true or false");
    }
    case "duration":
      return withUnits(raw, DURATION_UNITS, 1_000) ?? bad("a duration such as 500ms, 10s or 2m");
    case "size":
      return withUnits(raw, SIZE_UNITS, 1) ?? bad("a size such as 4096, 64KB or 1MB");
    case "list":
      if (typeof raw === "string") {
        return { value: raw.split(",").map((s) => s.trim()).filter(Boolean) };
      }
      return Array.isArray(raw) && raw.every((v) => typeof v === "string")
        ? { value: raw }
        : bad("a list of strings");
    case "object":
      return typeof raw === "object" && raw !== null && !Array.isArray(raw)
        ? { value: raw }
        : bad("a mapping");
  }
}

// A bare number is in `bareUnit`s (seconds for durations, bytes for sizes).
function withUnits(
  raw: unknown,
  units: Record<string, number>,
  bareUnit: number,
): { value: number } | null {
  if (typeof raw === "number" && raw >= 0) return { value: raw * bareUnit };
  if (typeof raw !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  if (unit === "") return { value: Number(m[1]) * bareUnit };
  const factor = units[unit];
  return factor === undefined ? null : { value: Math.round(Number(m[1]) * factor) };
}

function flatten(
  value: unknown,
  prefix: string,
  out: Map<string, unknown>,
  objectKeys: Set<string>,
): void {
  if (
    typeof value === "object" && value !== null && !Array.isArray(value) && !objectKeys.has(prefix)
  ) {
    for (const [k, v] of Object.entries(value)) {
      flatten(v, prefix ? `${prefix}.${k}` : k, out, objectKeys);
    }
  } else {
    out.set(prefix, value);
  }
}

/**
 * Loads values for `keys` from `sources`.
 *
 * @example Defaults, then the environment
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const keys = [{ key: "max_payload", type: "size" as const, default: 1024, env: "MAX", doc: "" }];
 * const { values } = loadConfig(keys, { env: (name) => ({ MAX: "2KB" })[name] });
 * console.log(values.max_payload); // 2048
 * ```
 */
export function loadConfig(keys: readonly ConfigKey[], sources: ConfigSources): LoadedConfig {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const byKey = new Map(keys.map((k) => [k.key, k]));
  for (const k of keys) values[k.key] = k.default;
  const set = (k: ConfigKey, raw: unknown, where: string) => {
    const result = coerce(k.type, raw);
    if ("value" in result) values[k.key] = result.value;
    else problems.push(`${where}: '${k.key}' ${result.problem}`);
  };
  if (sources.file) {
    let doc: unknown;
    try {
      doc = YAML.parse(sources.file.text);
    } catch (error) {
      problems.push(
        `${sources.file.path}: not valid YAML: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    if (doc !== undefined && doc !== null) {
      if (typeof doc !== "object" || Array.isArray(doc)) {
        problems.push(`${sources.file.path}: expected a mapping of settings at the top level`);
      } else {
        const flat = new Map<string, unknown>();
        const objectKeys = new Set(keys.filter((k) => k.type === "object").map((k) => k.key));
        flatten(doc, "", flat, objectKeys);
        for (const [path, raw] of flat) {
          const k = byKey.get(path);
          if (k) set(k, raw, sources.file.path);
          else problems.push(`${sources.file.path}: unknown setting '${path}'`);
        }
      }
    }
  }
  for (const k of keys) {
    const raw = k.env ? sources.env?.(k.env) : undefined;
    if (raw !== undefined && raw !== "") set(k, raw, `environment ${k.env}`);
  }
  for (const [key, raw] of Object.entries(sources.flags ?? {})) {
    const k = byKey.get(key);
    if (raw === undefined) continue;
    if (k) set(k, raw, `flag for '${key}'`);
    else problems.push(`unknown flag for '${key}'`);
  }
  return { values, problems };
}

/** A help text listing every key with its default and environment variable. */
export function describeKeys(keys: readonly ConfigKey[]): string {
  return keys.map((k) =>
    `  ${k.key} (${k.type}, default ${JSON.stringify(k.default)}${
      k.env ? `, env ${k.env}` : ""
    })\n      ${k.doc}`
  ).join("\n");
}
