/**
 * An injected, component-scoped logger. Daemons write one JSON object per line to stderr.
 *
 * @module
 */

/** Log levels, least to most severe. */
export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** A level name. */
export type LogLevel = keyof typeof LogLevels;

/** Extra structured fields on a log line. */
export type LogFields = Record<string, unknown>;

/** A logger scoped to one component. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger for a sub-component, with `component` set to `name`. */
  child(name: string): Logger;
}

/** Options for {@linkcode jsonLogger}. */
export interface JsonLoggerOptions {
  /** The component name on every line. */
  component: string;
  /** The least severe level written. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default a synchronous write to stderr */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function stderrWrite(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/**
 * A logger that writes JSON lines.
 *
 * @example Log a start-up line
 * ```ts
 * import { jsonLogger } from "./log.ts";
 * const lines: string[] = [];
 * jsonLogger({ component: "broker", write: (l) => lines.push(l) }).info("listening", { port: 4222 });
 * console.log(JSON.parse(lines[0]!).port); // 4222
 * ```
 */
export function jsonLogger(options: JsonLoggerOptions): Logger {
  const min = LogLevels[options.level ?? "info"];
  const write = options.write ?? stderrWrite;
  const make = (component: string): Logger => {
    const log = (level: LogLevel) => (message: string, fields?: LogFields) => {
      if (LogLevels[level] < min) return;
      write(
        JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields }),
      );
    };
    return {
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
      child: (name) => make(`${component}.${name}`),
    };
  };
  return make(options.component);
}

/** A logger that drops everything, for tests and libraries. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
