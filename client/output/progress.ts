/**
 * A one-line progress bar for replies as they arrive, drawn on a terminal only. The drawing is a
 * pure function; {@linkcode ProgressBar} writes it over itself with a carriage return and wipes
 * it when done so what follows starts on a clean line.
 *
 * @module
 */

/**
 * The bar for `done` of `total` in `columns` characters: `  2 / 3  [=====>    ]  67%`.
 *
 * @example
 * ```ts
 * import { renderProgress } from "./progress.ts";
 * console.log(renderProgress(1, 2, 30)); // "  1 / 2 [=======>       ]  50%"
 * ```
 */
export function renderProgress(done: number, total: number, columns: number): string {
  const shown = Math.min(done, total);
  const ratio = total <= 0 ? 1 : shown / total;
  const digits = String(total).length;
  const counts = `${String(shown).padStart(digits + 2)} / ${total}`;
  const percent = `${String(Math.floor(ratio * 100)).padStart(3)}%`;
  const room = Math.max(10, columns - counts.length - percent.length - 4);
  const filled = Math.round(ratio * room);
  const bar = filled >= room
    ? "=".repeat(room)
    : `${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}`.padEnd(room);
  return `${counts} [${bar}] ${percent}`;
}

/** Where a progress bar writes, and how wide the terminal is. */
export interface ProgressTarget {
  write(text: string): void;
  /** Terminal width in characters. @default 80 */
  columns?: number;
}

/** A progress bar on a terminal; `enabled: false` makes every method do nothing. */
export class ProgressBar {
  readonly #target: ProgressTarget;
  readonly #enabled: boolean;
  #total: number;
  #done = 0;
  #drawn = false;

  constructor(target: ProgressTarget, total: number, enabled: boolean) {
    this.#target = target;
    this.#total = total;
    this.#enabled = enabled;
  }

  /** Counts one more reply and redraws. */
  tick(): void {
    this.#done++;
    if (this.#done > this.#total) this.#total = this.#done;
    this.#draw();
  }

  /** Draws the bar as it is now. */
  #draw(): void {
    if (!this.#enabled) return;
    const reported = this.#target.columns ?? 80;
    // A pseudo-terminal may report no size at all.
    const columns = Math.min(reported >= 20 ? reported : 80, 100);
    this.#target.write(`\r${renderProgress(this.#done, this.#total, columns - 1)}`);
    this.#drawn = true;
  }

  /** Draws the empty bar. */
  start(): void {
    this.#draw();
  }

  /** Wipes the bar from the line. */
  clear(): void {
    if (!this.#enabled || !this.#drawn) return;
    this.#target.write("\r\x1b[2K");
    this.#drawn = false;
  }
}
