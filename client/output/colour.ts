/**
 * Colours for people, never for pipes: on only when the stream is a terminal (or FORCE_COLOR /
 * CLICOLOR_FORCE ask for them) and NO_COLOR is not set, as https://no-color.org says.
 *
 * @module
 */

/** What decides whether colours are used. */
export interface ColourSettings {
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** Whether the output goes to a terminal. */
  isTerminal: boolean;
}

/**
 * Whether to colour output: NO_COLOR (any non-empty value) turns colours off, FORCE_COLOR or
 * CLICOLOR_FORCE (anything but empty or "0") turns them on, otherwise only on a terminal.
 *
 * @example Piped output has no colours
 * ```ts
 * import { colourEnabled } from "./colour.ts";
 * console.log(colourEnabled({ env: () => undefined, isTerminal: false })); // false
 * ```
 */
export function colourEnabled(settings: ColourSettings): boolean {
  const set = (name: string) => {
    const value = settings.env(name);
    return value !== undefined && value !== "";
  };
  if (set("NO_COLOR")) return false;
  for (const name of ["FORCE_COLOR", "CLICOLOR_FORCE"]) {
    if (set(name) && settings.env(name) !== "0") return true;
  }
  return settings.isTerminal;
}

/** Functions that wrap text in one colour each, or leave it alone when colours are off. */
export interface Palette {
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;

/**
 * A palette that colours when `enabled`, and returns text unchanged otherwise.
 *
 * @example Plain text when colours are off
 * ```ts
 * import { palette } from "./colour.ts";
 * console.log(palette(false).red("failed")); // "failed"
 * ```
 */
export function palette(enabled: boolean): Palette {
  if (!enabled) {
    const plain = (text: string) => text;
    return { enabled, red: plain, green: plain, yellow: plain, bold: plain, dim: plain };
  }
  return {
    enabled,
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    bold: sgr(1, 22),
    dim: sgr(2, 22),
  };
}

/** No colours. */
export const plainPalette: Palette = palette(false);

// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** `text` without colour escape sequences; for measuring and tests. */
export function stripColour(text: string): string {
  return text.replace(SGR, "");
}
