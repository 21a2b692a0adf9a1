/**
 * Fact filters, as Choria's `-F` flag takes them: parse `fact<operator>value` into the v1 wire
 * form `{fact, operator, value}` and evaluate it against a node's nested facts. Pure: no I/O.
 *
 * The rules follow go-choria's `filter/facts/facts.go` and `filter/facts/matchers.go` (commit
 * 58e80bab):
 *
 * - Parsing: the operators are `==`, `=`, `!=`, `<`, `>`, `<=`, `>=`, `=<`, `=>` and `=~`; `=` is
 *   sent as `==`, `=<` as `<=`, `=>` as `>=`; a `/regex/` value turns `=`/`==` into `=~`; when
 *   several operators appear the rightmost one splits the text (so gjson queries in the fact name
 *   survive); both sides are trimmed and neither may be empty, start (the fact) or end (the value)
 *   with `<`, `>` or `=`.
 * - Fact names are gjson paths: dots into objects, numbers into arrays (`disks.0.size`), `#` for an
 *   array's length or to collect a key from each element (`disks.#.size`), `\.` for a literal dot.
 * - A missing fact matches nothing, not even `!=`; `null`, objects and arrays match nothing either.
 * - String facts: `==` and `!=` ignore case (Go's `strings.EqualFold`); `<`, `<=`, `>`, `>=` compare
 *   the lower-cased texts; `=~` is a case-insensitive regular expression (go-choria prefixes
 *   `(?i)`), with any leading and trailing slashes trimmed. Strings stay strings even when they
 *   look numeric: a fact `"10"` is less than the value `9`.
 * - Boolean facts compare with values Go's `strconv.ParseBool` reads (`1 t T TRUE true True` and
 *   `0 f F FALSE false False`); ordering a boolean is an error, so it matches nothing.
 * - Number facts compare numerically with numeric values; `==` with a non-number is false, `!=`
 *   true, and ordering with one an error that matches nothing.
 *
 * Where go-choria contradicts the operator's evident meaning Chorale does not copy it:
 *
 * - go-choria's `>` with a decimal value means `>=` (`gtMatch`); here it is `>`.
 * - go-choria's `!=` on a `false` fact means `==` (`neMatch` calls `falsey`), so `fbool!=false`
 *   matches there; here `!=` is always the negation of `==`, and `==` on a boolean needs a value
 *   ParseBool reads (go-choria makes `fbool==anything-unparsable` true).
 * - go-choria truncates number facts when the value has no dot (`fnumber==1` matches 1.2) and
 *   compares integer text (`inumber==01` fails); here numbers compare as numbers.
 * - go-choria's `=~` on numbers tests `%.4f` text when the pattern has a dot; here it tests the
 *   number's shortest decimal text. On booleans go-choria ignores the pattern and tests
 *   truthiness; here the pattern is tested against `true` or `false`.
 * - go-choria turns every `op/regex/` into `=~`, even `!=/x/`; here only `=`, `==` and `=~` take a
 *   `/regex/` and any other operator with one is a parse error.
 * - When a `/regex/` value itself contains an operator (`path=~/a=b/`), go-choria splits at the
 *   rightmost operator and mangles it; here the first operator followed by the `/regex/` wins.
 *
 * Regular expressions are Go RE2 syntax run by JavaScript: a leading `(?i)`, `(?m)`, `(?s)`
 * becomes a flag, `(?P<name>` becomes `(?<name>`, `\A` and `\z` are kept; look-arounds and
 * back-references (which RE2 refuses) are refused here too.
 *
 * @module
 */
import type { FactFilter, FactOperator } from "../protocol/request.ts";

/** A node's facts: nested JSON data, as read from YAML or JSON fact files. */
export type Facts = { readonly [key: string]: unknown };

/** Any failure to parse or apply a discovery filter. */
export class FilterError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FilterError";
  }
}

/** A fact filter string that cannot be parsed, or a fact comparison that cannot be made. */
export class FactFilterError extends FilterError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FactFilterError";
  }
}

/** Options for {@linkcode matchFact} and {@linkcode matchFacts}. */
export interface MatchFactOptions {
  /**
   * Told why a comparison could not be made (a non-numeric value ordered against a number, an
   * invalid regular expression); the filter then does not match, as in go-choria.
   * @default errors are dropped
   */
  onError?: (error: FactFilterError) => void;
}

/** Options for {@linkcode compileRegex}. */
export interface CompileRegexOptions {
  /** Match regardless of case, as go-choria's `(?i)` prefix does. @default false */
  ignoreCase?: boolean;
  /** Names what the pattern is for in error messages. @default "regular expression" */
  what?: string;
}

// Go's FindAll over `<=|>=|=>|=<|<|>|!=|=~|={1,2}`: alternatives are tried in this order at each
// position, leftmost first, without overlaps.
const SCAN_OPERATORS = ["<=", ">=", "=>", "=<", "<", ">", "!=", "=~", "==", "="] as const;
const OPERATOR_CHARS = new Set(["<", ">", "="]);
const SPELLINGS: Readonly<Record<string, FactOperator>> = {
  "=": "==",
  "==": "==",
  "=<": "<=",
  "<=": "<=",
  "=>": ">=",
  ">=": ">=",
  "<": "<",
  ">": ">",
  "!=": "!=",
  "=~": "=~",
};

/**
 * The source of a `/regex/` word without its slashes, or `undefined` when the word is not one
 * (it must start and end with `/` and have at least two characters).
 *
 * @example Tell a regular expression from a name
 * ```ts
 * import { slashRegexSource } from "./fact_filter.ts";
 * console.log(slashRegexSource("/^web\\d+/")); // ^web\d+
 * console.log(slashRegexSource("apache")); // undefined
 * ```
 */
export function slashRegexSource(word: string): string | undefined {
  return word.length >= 2 && word.startsWith("/") && word.endsWith("/")
    ? word.slice(1, -1)
    : undefined;
}

/**
 * Compiles a Go RE2 pattern as a JavaScript `RegExp`; throws {@linkcode FilterError} naming the
 * pattern when it is invalid or uses what RE2 lacks (look-arounds, back-references).
 *
 * @example Compile a case-insensitive pattern
 * ```ts
 * import { compileRegex } from "./fact_filter.ts";
 * console.log(compileRegex("^web\\d+$", { ignoreCase: true }).test("WEB1")); // true
 * ```
 */
export function compileRegex(source: string, options: CompileRegexOptions = {}): RegExp {
  const what = options.what ?? "regular expression";
  const fail = (detail: string, cause?: unknown): never => {
    throw new FilterError(
      `Cannot compile ${what} '${source}': ${detail}`,
      cause === undefined ? undefined : { cause },
    );
  };
  let flags = options.ignoreCase ? "i" : "";
  let pattern = source;
  const leading = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  if (leading) {
    for (const flag of leading[1]!) {
      if (flag !== "i" && flag !== "m" && flag !== "s") {
        fail(`the inline flag '${flag}' is not supported`);
      }
      if (!flags.includes(flag)) flags += flag;
    }
    pattern = pattern.slice(leading[0].length);
  }
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) fail("it ends with a lone '\\'");
      if (/[1-9]/.test(next!) || next === "k") fail("back-references are not supported");
      if (next === "A") out += "(?<![\\s\\S])";
      else if (next === "z") out += "(?![\\s\\S])";
      else out += c + next;
      i++;
      continue;
    }
    if (pattern.startsWith("(?P<", i)) {
      out += "(?<";
      i += 3;
      continue;
    }
    if (/^\(\?(=|!|<=|<!)/.test(pattern.slice(i, i + 4))) fail("look-arounds are not supported");
    out += c;
  }
  try {
    return new RegExp(out, flags + "u");
  } catch {
    // Go accepts escapes of any punctuation (`\:`), which unicode mode refuses.
    try {
      return new RegExp(out, flags);
    } catch (error) {
      return fail(error instanceof Error ? error.message : String(error), error);
    }
  }
}

/**
 * Parses a fact filter as typed on the CLI (`-F os=linux`, `-F "memory>=1024"`,
 * `-F fqdn=/^web/`) into the v1 wire form; throws {@linkcode FactFilterError} when it has no
 * operator, an empty side, or an invalid regular expression.
 *
 * @example Parse the forms of a fact filter
 * ```ts
 * import { parseFactFilter } from "./fact_filter.ts";
 * console.log(parseFactFilter("os=linux")); // { fact: "os", operator: "==", value: "linux" }
 * console.log(parseFactFilter("memory=>1024").operator); // >=
 * console.log(parseFactFilter("fqdn=/^web/").operator); // =~
 * ```
 */
export function parseFactFilter(text: string): FactFilter {
  const fail = (detail: string, cause?: unknown): never => {
    throw new FactFilterError(
      `Cannot parse fact filter '${text}': ${detail}`,
      cause === undefined ? undefined : { cause },
    );
  };
  const found: { index: number; written: string }[] = [];
  for (let i = 0; i < text.length;) {
    const written = SCAN_OPERATORS.find((op) => text.startsWith(op, i));
    if (written === undefined) {
      i++;
      continue;
    }
    found.push({ index: i, written });
    i += written.length;
  }
  if (found.length === 0) {
    fail("expected 'fact<operator>value' with one of == = != < > <= >= =~");
  }
  const afterOperator = (m: { index: number; written: string }) =>
    text.slice(m.index + m.written.length).trim();
  const regexValued = text.trimEnd().endsWith("/")
    ? found.find((m) =>
      (m.written === "=" || m.written === "==" || m.written === "=~") &&
      slashRegexSource(afterOperator(m)) !== undefined
    )
    : undefined;
  const chosen = regexValued ?? found[found.length - 1]!;
  const fact = text.slice(0, chosen.index).trim();
  const value = afterOperator(chosen);
  if (fact === "") fail("the fact name is empty");
  if (value === "") fail("the value is empty");
  if (OPERATOR_CHARS.has(fact[0]!)) fail(`the fact name cannot start with '${fact[0]}'`);
  if (OPERATOR_CHARS.has(value[value.length - 1]!)) {
    fail(`the value cannot end with '${value[value.length - 1]}'`);
  }
  let operator = SPELLINGS[chosen.written]!;
  const source = slashRegexSource(value);
  if (source !== undefined) {
    if (operator !== "==" && operator !== "=~") {
      fail(`only '=', '==' and '=~' take a /regex/, not '${chosen.written}'`);
    }
    operator = "=~";
  }
  if (operator === "=~") {
    try {
      compileRegex(trimSlashes(value), { ignoreCase: true });
    } catch (error) {
      fail(`the value is not a valid regular expression`, error);
    }
  }
  return { fact, operator, value };
}

/**
 * The value at a gjson-style path in nested facts (or any JSON data), or `undefined` when there
 * is none. Paths use dots into objects, numbers into arrays, `#` for an array's length (last) or
 * to collect the rest of the path from every element (`disks.#.size`), and `\` to escape a dot.
 *
 * @example Look up nested facts
 * ```ts
 * import { lookupFact } from "./fact_filter.ts";
 * const facts = { os: { family: "RedHat" }, disks: [{ size: 10 }, { size: 20 }] };
 * console.log(lookupFact(facts, "os.family")); // RedHat
 * console.log(lookupFact(facts, "disks.1.size")); // 20
 * console.log(lookupFact(facts, "disks.#.size")); // [ 10, 20 ]
 * console.log(lookupFact(facts, "disks.#")); // 2
 * ```
 */
export function lookupFact(facts: unknown, path: string): unknown {
  return walk(facts, splitPath(path));
}

function splitPath(path: string): string[] {
  const segments: string[] = [];
  let current = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && i + 1 < path.length) {
      current += path[++i];
    } else if (c === ".") {
      segments.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  segments.push(current);
  return segments;
}

function walk(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (Array.isArray(current)) {
      if (segment === "#") {
        if (i === segments.length - 1) return current.length;
        const rest = segments.slice(i + 1);
        return current.map((item) => walk(item, rest)).filter((item) => item !== undefined);
      }
      if (!/^\d+$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (isObject(current)) {
      current = Object.hasOwn(current, segment) ? current[segment] : undefined;
    } else {
      return undefined;
    }
    if (current === undefined) return undefined;
  }
  return current;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Whether the facts satisfy one fact filter, by the rules in this module's description. A
 * comparison that cannot be made does not match and is reported to `options.onError`.
 *
 * @example Compare facts the way Choria does
 * ```ts
 * import { matchFact } from "./fact_filter.ts";
 * const facts = { os: "Linux", memory: 2048, virtual: false };
 * console.log(matchFact({ fact: "os", operator: "==", value: "linux" }, facts)); // true
 * console.log(matchFact({ fact: "memory", operator: ">", value: "1024" }, facts)); // true
 * console.log(matchFact({ fact: "virtual", operator: "==", value: "false" }, facts)); // true
 * ```
 */
export function matchFact(
  filter: FactFilter,
  facts: Facts,
  options: MatchFactOptions = {},
): boolean {
  try {
    return compareFact(lookupFact(facts, filter.fact), filter.operator, filter.value);
  } catch (error) {
    const reported = error instanceof FactFilterError ? error : new FactFilterError(
      `Cannot match fact '${filter.fact}' ${filter.operator} '${filter.value}': ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
    options.onError?.(reported);
    return false;
  }
}

/**
 * Whether the facts satisfy every fact filter (an empty list matches nothing, as in go-choria;
 * callers skip empty lists).
 *
 * @example Match several fact filters
 * ```ts
 * import { matchFacts, parseFactFilter } from "./fact_filter.ts";
 * const filters = ["os=linux", "nested.count>=2"].map(parseFactFilter);
 * console.log(matchFacts(filters, { os: "linux", nested: { count: 3 } })); // true
 * ```
 */
export function matchFacts(
  filters: readonly FactFilter[],
  facts: Facts,
  options: MatchFactOptions = {},
): boolean {
  return filters.length > 0 && filters.every((filter) => matchFact(filter, facts, options));
}

function compareFact(fact: unknown, operator: FactOperator, value: string): boolean {
  if (fact === undefined) return false;
  const fail = (detail: string): never => {
    throw new FactFilterError(`Cannot compare fact with '${operator}' '${value}': ${detail}`);
  };
  if (operator === "=~") {
    const text = typeof fact === "string"
      ? fact
      : typeof fact === "number" || typeof fact === "boolean"
      ? String(fact)
      : undefined;
    if (text === undefined) return false;
    let regex: RegExp;
    try {
      regex = compileRegex(trimSlashes(value), { ignoreCase: true });
    } catch (error) {
      throw new FactFilterError(
        `Cannot compare fact with '=~' '${value}': ${(error as Error).message}`,
        { cause: error },
      );
    }
    return regex.test(text);
  }
  if (typeof fact === "string") {
    const a = fact.toLowerCase();
    const b = value.toLowerCase();
    switch (operator) {
      case "==":
        return a === b;
      case "!=":
        return a !== b;
      default:
        return order(compareCodePoints(a, b), operator);
    }
  }
  if (typeof fact === "number") {
    const number = parseGoNumber(value);
    if (operator === "==") return number === fact;
    if (operator === "!=") return number !== fact;
    if (number === undefined) fail(`the fact is a number and the value is not`);
    return order(fact < number! ? -1 : fact > number! ? 1 : 0, operator);
  }
  if (typeof fact === "boolean") {
    const wanted = parseGoBool(value);
    if (operator === "==") return wanted === fact;
    if (operator === "!=") return wanted !== fact;
    return fail("a boolean fact cannot be ordered");
  }
  if (operator === "==" || operator === "!=") return false;
  return fail(`a ${fact === null ? "null" : "structured"} fact cannot be ordered`);
}

function order(sign: number, operator: "<" | ">" | "<=" | ">="): boolean {
  switch (operator) {
    case "<":
      return sign < 0;
    case ">":
      return sign > 0;
    case "<=":
      return sign <= 0;
    case ">=":
      return sign >= 0;
  }
}

/**
 * Orders two strings by code point (-1, 0 or 1), as Go orders their UTF-8 bytes; JavaScript's `<`
 * orders UTF-16 units instead, which differs past U+FFFF.
 *
 * @example Order strings as Go does
 * ```ts
 * import { compareCodePoints } from "./fact_filter.ts";
 * console.log(compareCodePoints("\u{1F600}", "\uFFFF")); // 1
 * ```
 */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

function parseGoNumber(value: string): number | undefined {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) ? Number(value) : undefined;
}

function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+/, "").replace(/\/+$/, "");
}
