/**
 * A small cron parser for the schedule watcher: five fields (minute, hour, day of month, month,
 * day of week) with `*`, lists, ranges and steps, plus the `@hourly`, `@daily` (`@midnight`),
 * `@weekly`, `@monthly` and `@yearly` (`@annually`) shorthands. Times are the host's local time,
 * as cron's. Pure: no clock of its own.
 *
 * @module
 */

/** A cron expression that cannot be read. */
export class CronError extends Error {
  override name = "CronError";
}

/** A parsed cron expression. */
export interface CronSchedule {
  /** The text it came from. */
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Whether the day of month and day of week were both restricted (cron then ORs them). */
  dayOr: boolean;
}

const SHORTHANDS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};
const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function field(text: string, index: number, source: string): Set<number> {
  const { name, min, max } = FIELDS[index]!;
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) {
      throw new CronError(
        `Cannot read cron schedule ${
          JSON.stringify(source)
        } as its ${name} field is not a number, range, list or step: current value is '${text}'`,
      );
    }
    const low = match[1] === "*" ? min : Number(match[2]);
    const high = match[1] === "*" ? max : match[3] !== undefined ? Number(match[3]) : low;
    const step = match[4] !== undefined ? Number(match[4]) : 1;
    if (low < min || high > max || low > high || step < 1) {
      throw new CronError(
        `Cannot read cron schedule ${
          JSON.stringify(source)
        } as its ${name} field must lie within ${min}-${max}: current value is '${text}'`,
      );
    }
    // `5/15` means from 5 to the end in steps of 15, as cron reads it.
    const end = match[4] !== undefined && match[3] === undefined && match[1] !== "*" ? max : high;
    for (let v = low; v <= end; v += step) values.add(index === 4 && v === 7 ? 0 : v);
  }
  return values;
}

/**
 * Parses a cron expression; throws {@linkcode CronError} naming the bad field.
 *
 * @example Every five minutes during working hours
 * ```ts
 * import { parseCron } from "./cron.ts";
 * const cron = parseCron("*\/5 9-17 * * 1-5");
 * console.log(cron.minutes.size, cron.hours.has(12), cron.weekdays.has(0)); // 12 true false
 * ```
 */
export function parseCron(source: string): CronSchedule {
  const text = SHORTHANDS[source.trim()] ?? source.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      `Cannot read cron schedule ${
        JSON.stringify(source)
      } as it needs 5 fields (minute hour day month weekday): found ${parts.length}`,
    );
  }
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => field(p, i, source));
  return {
    source,
    minutes: minutes!,
    hours: hours!,
    days: days!,
    months: months!,
    weekdays: weekdays!,
    dayOr: parts[2] !== "*" && parts[4] !== "*",
  };
}

/**
 * Whether the schedule fires in the minute of `date` (seconds are ignored).
 *
 * @example Check a time
 * ```ts
 * import { cronMatches, parseCron } from "./cron.ts";
 * console.log(cronMatches(parseCron("30 2 * * *"), new Date(2026, 0, 5, 2, 30, 45))); // true
 * ```
 */
export function cronMatches(cron: CronSchedule, date: Date): boolean {
  if (!cron.minutes.has(date.getMinutes()) || !cron.hours.has(date.getHours())) return false;
  if (!cron.months.has(date.getMonth() + 1)) return false;
  const day = cron.days.has(date.getDate());
  const weekday = cron.weekdays.has(date.getDay());
  return cron.dayOr ? day || weekday : day && weekday;
}
