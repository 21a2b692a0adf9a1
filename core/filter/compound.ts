/**
 * Compound filters, as Choria's `-S` flag takes them: a small, safe expression language (a
 * tokenizer and a recursive-descent parser making an AST, then an evaluator; no `eval`, no
 * `Function`) over a node's facts, classes, agents and identity. Pure: no I/O.
 *
 * go-choria (`filter/compound/compound.go`, commit 58e80bab) compiles `-S` text with the `expr`
 * language (expr-lang/expr) in an environment of `classes`, `agents`, `facts` and the functions
 * `with(query)`, `fact(path)`, `include(list, item)` and `semver(version, constraint)`, plus one
 * function per data plugin; unknown names are `nil` there. Chorale takes the common subset of
 * expr and adds what Choria's CLI users write by hand:
 *
 * - Logic: `and`/`&&`, `or`/`||`, `not`/`!`, parentheses. `or` binds loosest, then `and`, then
 *   `not`, then comparisons, so `not os == "linux"` means `not (os == "linux")` (expr binds `not`
 *   tighter; for booleans both readings agree).
 * - Comparisons (one per operand pair, not chained): `==` `!=` (strict, case-sensitive equality,
 *   deep for lists and objects, as expr), `<` `<=` `>` `>=` (two numbers or two strings),
 *   `=~` `!~` (a `/regex/` literal or a string pattern, case-insensitive like `-F`), `matches`
 *   (case-sensitive, as expr), `in` and `not in` (list membership or object key), `contains`,
 *   `startsWith`, `endsWith` (strings, case-sensitive).
 * - Values: `"double"`, `'single'` and `` `raw` `` strings, numbers (`-1`, `2.5`, `1e3`), `true`,
 *   `false`, `nil`/`null`, lists `[1, "a"]`, member access `.key` and indexing `[0]`/`["key"]`.
 * - Names: `classes`, `agents`, `facts` (as go-choria) and `identity` (Chorale); any other name is
 *   a fact path, dots and array indexes included (`os.family`, `disks.0.size`): a Chorale
 *   extension. go-choria nodes see such names as `nil`; write `fact("os.family")` to reach both.
 * - Functions: `with(q)` (a fact filter like `-F`, else a class, else an agent, as go-choria),
 *   `fact(path)`, `include(list, item)`, `semver(version, constraint)` (Masterminds-style
 *   constraints: `=`, `!=`, `<`, `<=`, `>`, `>=`, `~`, `^`, `x`/`*` wildcards, comma or space for
 *   AND, `||` for OR, `a - b` ranges; pre-release versions only satisfy terms that name one), and
 *   from expr's builtins `len`, `lower`, `upper`.
 *
 * Not supported: data plugin functions (`scout("x").version`), arithmetic, the ternary `? :`,
 * `??`, closures (`all`, `any`, `filter`), and the rest of expr's builtins; they are parse errors
 * naming the column. A missing value (`nil`) never matches: ordering, pattern and string operators
 * with `nil` give false (their negations true). Other type mismatches are evaluation errors, which
 * make the node not match, as go-choria logs and skips such filters.
 *
 * The input is bounded: at most {@linkcode MAX_COMPOUND_LENGTH} characters and
 * {@linkcode MAX_COMPOUND_DEPTH} levels of nesting.
 *
 * @module
 */
import { matchAgent } from "./agent_filter.ts";
import { matchClass } from "./class_filter.ts";
import {
  compareCodePoints,
  compileRegex,
  type Facts,
  FilterError,
  lookupFact,
  matchFact,
  parseFactFilter,
} from "./fact_filter.ts";
import type { FactFilter } from "../protocol/request.ts";

/** The longest compound filter accepted, in characters. */
export const MAX_COMPOUND_LENGTH = 4096;

/** The deepest nesting of parentheses, lists, calls and `not` accepted. */
export const MAX_COMPOUND_DEPTH = 32;

/** A compound filter that cannot be parsed; `column` (1-based) points at the problem. */
export class CompoundParseError extends FilterError {
  /** The 1-based column of the offending character or token. */
  readonly column: number;
  /** Makes the error. */
  constructor(message: string, column: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "CompoundParseError";
    this.column = column;
  }
}

/** A compound filter that parsed but cannot be evaluated against a node (say `"a" < 1`). */
export class CompoundEvaluationError extends FilterError {
  /** The 1-based column of the operation that failed. */
  readonly column: number;
  /** Makes the error. */
  constructor(message: string, column: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "CompoundEvaluationError";
    this.column = column;
  }
}

/** The comparison operators of compound filters. */
export const CompoundOperators = [
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "=~",
  "!~",
  "matches",
  "in",
  "not in",
  "contains",
  "startsWith",
  "endsWith",
] as const;

/** One of {@linkcode CompoundOperators}. */
export type CompoundOperator = (typeof CompoundOperators)[number];

/** The functions compound filters may call, with how many arguments each takes. */
export const CompoundFunctions = {
  with: 1,
  fact: 1,
  include: 2,
  semver: 2,
  len: 1,
  lower: 1,
  upper: 1,
} as const;

/** One of the names in {@linkcode CompoundFunctions}. */
export type CompoundFunction = keyof typeof CompoundFunctions;

/** The variables compound filters may name; any other name is a fact path. */
export const CompoundVariables = ["facts", "classes", "agents", "identity"] as const;

/** One of {@linkcode CompoundVariables}. */
export type CompoundVariable = (typeof CompoundVariables)[number];

/** A node of a parsed compound filter; `column` is 1-based. */
export type CompoundNode =
  | {
    readonly type: "literal";
    readonly value: string | number | boolean | null;
    readonly column: number;
  }
  | { readonly type: "regex"; readonly source: string; readonly column: number }
  | { readonly type: "fact"; readonly path: string; readonly column: number }
  | {
    readonly type: "variable";
    readonly name: CompoundVariable;
    readonly path: string | undefined;
    readonly column: number;
  }
  | { readonly type: "list"; readonly items: readonly CompoundNode[]; readonly column: number }
  | {
    readonly type: "call";
    readonly name: CompoundFunction;
    readonly args: readonly CompoundNode[];
    readonly column: number;
  }
  | {
    readonly type: "member";
    readonly object: CompoundNode;
    readonly path: string;
    readonly column: number;
  }
  | {
    readonly type: "index";
    readonly object: CompoundNode;
    readonly index: CompoundNode;
    readonly column: number;
  }
  | { readonly type: "not"; readonly operand: CompoundNode; readonly column: number }
  | {
    readonly type: "logical";
    readonly operator: "and" | "or";
    readonly left: CompoundNode;
    readonly right: CompoundNode;
    readonly column: number;
  }
  | {
    readonly type: "compare";
    readonly operator: CompoundOperator;
    readonly left: CompoundNode;
    readonly right: CompoundNode;
    readonly column: number;
  };

/** A parsed compound filter: its text and its syntax tree. */
export interface CompoundExpression {
  /** The filter as written. */
  readonly source: string;
  /** Its syntax tree. */
  readonly ast: CompoundNode;
}

/** What a compound filter is evaluated against. */
export interface CompoundContext {
  /** The node's facts. */
  readonly facts: Facts;
  /** The node's configuration management classes. */
  readonly classes: readonly string[];
  /** The node's agents. */
  readonly agents: readonly string[];
  /** The node's identity. @default "" */
  readonly identity?: string;
}

/** Options for {@linkcode parseCompound}. */
export interface ParseCompoundOptions {
  /** The longest filter accepted, in characters. @default MAX_COMPOUND_LENGTH */
  maxLength?: number;
  /** The deepest nesting accepted. @default MAX_COMPOUND_DEPTH */
  maxDepth?: number;
}

/** Options for {@linkcode matchCompound}. */
export interface MatchCompoundOptions extends ParseCompoundOptions {
  /** Told why the filter could not be parsed or evaluated; it then does not match. @default dropped */
  onError?: (error: FilterError) => void;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

type Token =
  | { kind: "number"; text: string; value: number; column: number }
  | { kind: "string"; text: string; value: string; column: number }
  | { kind: "regex"; text: string; value: string; column: number }
  | { kind: "name"; text: string; column: number }
  | { kind: "keyword"; text: Keyword; column: number }
  | { kind: "symbol"; text: string; column: number }
  | { kind: "end"; text: ""; column: number };

const KEYWORDS = [
  "and",
  "or",
  "not",
  "in",
  "matches",
  "contains",
  "startsWith",
  "endsWith",
  "true",
  "false",
  "nil",
  "null",
] as const;
type Keyword = (typeof KEYWORDS)[number];

const SYMBOLS = ["==", "!=", "<=", ">=", "=~", "!~", "&&", "||", "<", ">", "!", "(", ")", "[", "]"]
  .concat([",", ".", "-"]);
const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_-]/;
const SEGMENT = /[A-Za-z0-9_#-]/;
const ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  "`": "`",
  "/": "/",
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  "0": "\0",
};

function shorten(source: string): string {
  return source.length > 60 ? `${source.slice(0, 57)}...` : source;
}

function parseError(source: string, column: number, detail: string, cause?: unknown): never {
  throw new CompoundParseError(
    `Cannot parse compound filter '${shorten(source)}' at column ${column}: ${detail}`,
    column,
    cause === undefined ? undefined : { cause },
  );
}

function describeToken(token: Token): string {
  return token.kind === "end" ? "the end of the filter" : `'${token.text}'`;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (at: number, detail: string): never => parseError(source, at + 1, detail);
  while (i < source.length) {
    const c = source[i]!;
    const start = i;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      let value = "";
      i++;
      for (;;) {
        if (i >= source.length) fail(start, "the string has no closing " + c);
        const d = source[i]!;
        if (d === c) {
          i++;
          break;
        }
        if (d === "\\" && c !== "`") {
          const e = source[i + 1];
          if (e === "u") {
            const hex = /^[0-9a-fA-F]{4}/.exec(source.slice(i + 2));
            if (!hex) fail(i, "'\\u' needs four hexadecimal digits");
            value += String.fromCharCode(parseInt(hex![0], 16));
            i += 6;
            continue;
          }
          const escaped = e === undefined ? undefined : ESCAPES[e];
          if (escaped === undefined) {
            fail(i, e === undefined ? "the string has no closing " + c : `unknown escape '\\${e}'`);
          }
          value += escaped;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: "string", text: source.slice(start, i), value, column: start + 1 });
      continue;
    }
    if (c === "/") {
      let body = "";
      let inClass = false;
      i++;
      for (;;) {
        if (i >= source.length) fail(start, "the regular expression has no closing '/'");
        const d = source[i]!;
        if (d === "\\" && i + 1 < source.length) {
          // `\/` is a slash in the pattern; other escapes pass to the regex compiler.
          body += source[i + 1] === "/" ? "/" : d + source[i + 1];
          i += 2;
          continue;
        }
        if (d === "[") inClass = true;
        if (d === "]") inClass = false;
        if (d === "/" && !inClass) {
          i++;
          break;
        }
        body += d;
        i++;
      }
      tokens.push({ kind: "regex", text: source.slice(start, i), value: body, column: start + 1 });
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(source.slice(i))!;
      i += m[0].length;
      if (i < source.length && NAME_START.test(source[i]!)) {
        fail(i, `unexpected '${source[i]}' after the number '${m[0]}'`);
      }
      tokens.push({ kind: "number", text: m[0], value: Number(m[0]), column: start + 1 });
      continue;
    }
    if (NAME_START.test(c)) {
      while (i < source.length && NAME_PART.test(source[i]!)) i++;
      const first = source.slice(start, i);
      if ((KEYWORDS as readonly string[]).includes(first)) {
        tokens.push({ kind: "keyword", text: first as Keyword, column: start + 1 });
        continue;
      }
      while (source[i] === "." && i + 1 < source.length && SEGMENT.test(source[i + 1]!)) {
        i++;
        if (source[i] === "#") i++;
        else while (i < source.length && NAME_PART.test(source[i]!)) i++;
      }
      tokens.push({ kind: "name", text: source.slice(start, i), column: start + 1 });
      continue;
    }
    const symbol = SYMBOLS.find((s) => source.startsWith(s, i));
    if (symbol !== undefined) {
      tokens.push({ kind: "symbol", text: symbol, column: start + 1 });
      i += symbol.length;
      continue;
    }
    if (c === "=") fail(i, "unexpected '=': compare with '=='");
    if (c === "&") fail(i, "unexpected '&': use 'and' or '&&'");
    if (c === "|") fail(i, "unexpected '|': use 'or' or '||'");
    const point = source.codePointAt(i)!;
    const shown = /\p{C}/u.test(String.fromCodePoint(point))
      ? `\\u{${point.toString(16)}}`
      : String.fromCodePoint(point);
    fail(i, `unexpected character '${shown}'`);
  }
  tokens.push({ kind: "end", text: "", column: source.length + 1 });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

const COMPARISON_SYMBOLS = new Set(["==", "!=", "<", "<=", ">", ">=", "=~", "!~"]);
const COMPARISON_KEYWORDS = new Set(["matches", "in", "contains", "startsWith", "endsWith"]);
const PATTERN_OPERATORS = new Set(["=~", "!~", "matches"]);

class Parser {
  readonly #source: string;
  readonly #tokens: Token[];
  readonly #maxDepth: number;
  #at = 0;
  #depth = 0;

  constructor(source: string, tokens: Token[], maxDepth: number) {
    this.#source = source;
    this.#tokens = tokens;
    this.#maxDepth = maxDepth;
  }

  parse(): CompoundNode {
    if (this.#peek().kind === "end") this.#fail(this.#peek(), "the filter is empty");
    const node = this.#expression();
    const rest = this.#peek();
    if (rest.kind !== "end") {
      this.#fail(
        rest,
        rest.text === ")"
          ? "unexpected ')' without a matching '('"
          : `unexpected ${describeToken(rest)}: expected 'and', 'or' or the end of the filter`,
      );
    }
    return node;
  }

  #peek(offset = 0): Token {
    return this.#tokens[Math.min(this.#at + offset, this.#tokens.length - 1)]!;
  }

  #next(): Token {
    const token = this.#peek();
    if (this.#at < this.#tokens.length - 1) this.#at++;
    return token;
  }

  #is(text: string, offset = 0): boolean {
    const token = this.#peek(offset);
    return (token.kind === "symbol" || token.kind === "keyword") && token.text === text;
  }

  #expect(text: string, opener: Token): void {
    if (this.#is(text)) {
      this.#next();
      return;
    }
    this.#fail(
      this.#peek(),
      `expected '${text}' to close the '${opener.text}' at column ${opener.column}: found ${
        describeToken(this.#peek())
      }`,
    );
  }

  #fail(token: Token, detail: string): never {
    return parseError(this.#source, token.column, detail);
  }

  #nested<T>(token: Token, parse: () => T): T {
    if (++this.#depth > this.#maxDepth) {
      this.#fail(token, `the filter nests deeper than ${this.#maxDepth} levels`);
    }
    try {
      return parse();
    } finally {
      this.#depth--;
    }
  }

  #expression(): CompoundNode {
    return this.#nested(this.#peek(), () => this.#or());
  }

  #or(): CompoundNode {
    let left = this.#and();
    while (this.#is("or") || this.#is("||")) {
      const op = this.#next();
      left = { type: "logical", operator: "or", left, right: this.#and(), column: op.column };
    }
    return left;
  }

  #and(): CompoundNode {
    let left = this.#not();
    while (this.#is("and") || this.#is("&&")) {
      const op = this.#next();
      left = { type: "logical", operator: "and", left, right: this.#not(), column: op.column };
    }
    return left;
  }

  #not(): CompoundNode {
    if (this.#is("not") || this.#is("!")) {
      const op = this.#next();
      const operand = this.#nested(op, () => this.#not());
      return { type: "not", operand, column: op.column };
    }
    return this.#comparison();
  }

  #comparisonOperator(): { operator: CompoundOperator; token: Token } | undefined {
    const token = this.#peek();
    if (token.kind === "symbol" && COMPARISON_SYMBOLS.has(token.text)) {
      this.#next();
      return { operator: token.text as CompoundOperator, token };
    }
    if (token.kind === "keyword" && COMPARISON_KEYWORDS.has(token.text)) {
      this.#next();
      return { operator: token.text as CompoundOperator, token };
    }
    if (this.#is("not") && this.#is("in", 1)) {
      this.#next();
      this.#next();
      return { operator: "not in", token };
    }
    return undefined;
  }

  #comparison(): CompoundNode {
    const left = this.#postfix();
    const found = this.#comparisonOperator();
    if (found === undefined) return left;
    const { operator, token } = found;
    let right: CompoundNode;
    const next = this.#peek();
    if (next.kind === "regex") {
      if (!PATTERN_OPERATORS.has(operator)) {
        this.#fail(next, `a /regex/ can only follow '=~', '!~' or 'matches', not '${operator}'`);
      }
      this.#next();
      right = this.#regex(next);
    } else {
      right = this.#postfix();
    }
    const again = this.#peek();
    if (this.#comparisonOperator() !== undefined) {
      this.#fail(again, `comparisons cannot be chained: join them with 'and'`);
    }
    return { type: "compare", operator, left, right, column: token.column };
  }

  #regex(token: Token & { kind: "regex" }): CompoundNode {
    try {
      compileRegex(token.value);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      parseError(this.#source, token.column, `invalid regular expression: ${detail}`, error);
    }
    return { type: "regex", source: token.value, column: token.column };
  }

  #postfix(): CompoundNode {
    let node = this.#primary();
    for (;;) {
      if (this.#is(".")) {
        const dot = this.#next();
        const name = this.#next();
        if (name.kind !== "name" && name.kind !== "keyword" && name.kind !== "number") {
          this.#fail(name, `expected a key after '.': found ${describeToken(name)}`);
        }
        node = { type: "member", object: node, path: name.text, column: dot.column };
      } else if (this.#is("[")) {
        const open = this.#next();
        const index = this.#expression();
        this.#expect("]", open);
        node = { type: "index", object: node, index, column: open.column };
      } else {
        return node;
      }
    }
  }

  #primary(): CompoundNode {
    const token = this.#next();
    switch (token.kind) {
      case "number":
        return { type: "literal", value: token.value, column: token.column };
      case "string":
        return { type: "literal", value: token.value, column: token.column };
      case "regex":
        return this.#fail(token, "a /regex/ can only follow '=~', '!~' or 'matches'");
      case "keyword":
        if (token.text === "true" || token.text === "false") {
          return { type: "literal", value: token.text === "true", column: token.column };
        }
        if (token.text === "nil" || token.text === "null") {
          return { type: "literal", value: null, column: token.column };
        }
        return this.#fail(token, `unexpected '${token.text}': expected a value`);
      case "name":
        return this.#name(token);
      case "symbol":
        if (token.text === "(") {
          const node = this.#expression();
          this.#expect(")", token);
          return node;
        }
        if (token.text === "[") return this.#list(token);
        if (token.text === "-") {
          const number = this.#next();
          if (number.kind !== "number") {
            this.#fail(number, `expected a number after '-': found ${describeToken(number)}`);
          }
          return {
            type: "literal",
            value: -(number as { value: number }).value,
            column: token.column,
          };
        }
        return this.#fail(token, `unexpected '${token.text}': expected a value`);
      case "end":
        return this.#fail(token, "unexpected end of the filter: expected a value");
    }
  }

  #list(open: Token): CompoundNode {
    return this.#nested(open, () => {
      const items: CompoundNode[] = [];
      while (!this.#is("]")) {
        items.push(this.#expression());
        if (!this.#is(",")) break;
        this.#next();
      }
      this.#expect("]", open);
      return { type: "list", items, column: open.column };
    });
  }

  #name(token: Token & { kind: "name" }): CompoundNode {
    if (this.#is("(")) {
      if (!Object.hasOwn(CompoundFunctions, token.text)) {
        this.#fail(
          token,
          `unknown function '${token.text}': expected one of ${
            Object.keys(CompoundFunctions).join(", ")
          }`,
        );
      }
      const name = token.text as CompoundFunction;
      const open = this.#next();
      const args = this.#nested(open, () => {
        const list: CompoundNode[] = [];
        while (!this.#is(")")) {
          list.push(this.#expression());
          if (!this.#is(",")) break;
          this.#next();
        }
        this.#expect(")", open);
        return list;
      });
      const arity = CompoundFunctions[name];
      if (args.length !== arity) {
        this.#fail(
          token,
          `'${name}' takes ${arity} argument${arity === 1 ? "" : "s"}: found ${args.length}`,
        );
      }
      return { type: "call", name, args, column: token.column };
    }
    const dot = token.text.indexOf(".");
    const head = dot < 0 ? token.text : token.text.slice(0, dot);
    if ((CompoundVariables as readonly string[]).includes(head)) {
      return {
        type: "variable",
        name: head as CompoundVariable,
        path: dot < 0 ? undefined : token.text.slice(dot + 1),
        column: token.column,
      };
    }
    return { type: "fact", path: token.text, column: token.column };
  }
}

/**
 * Parses a compound filter; throws {@linkcode CompoundParseError} naming the column of the
 * problem (and only that error class, whatever the input).
 *
 * @example Parse a filter and inspect its tree
 * ```ts
 * import { parseCompound } from "./compound.ts";
 * const parsed = parseCompound("with('apache') and os == 'linux'");
 * console.log(parsed.ast.type); // logical
 * ```
 *
 * @example Errors name the column
 * ```ts
 * import { CompoundParseError, parseCompound } from "./compound.ts";
 * try {
 *   parseCompound("(os == 'linux'");
 * } catch (error) {
 *   console.log(error instanceof CompoundParseError && error.column); // 15
 * }
 * ```
 */
export function parseCompound(
  source: string,
  options: ParseCompoundOptions = {},
): CompoundExpression {
  const maxLength = options.maxLength ?? MAX_COMPOUND_LENGTH;
  const maxDepth = options.maxDepth ?? MAX_COMPOUND_DEPTH;
  if (source.length > maxLength) {
    parseError(source, maxLength + 1, `the filter is longer than ${maxLength} characters`);
  }
  const ast = new Parser(source, tokenize(source), maxDepth).parse();
  return { source, ast };
}

// ---------------------------------------------------------------------------------------------
// Evaluator

type Value = unknown;

function describeValue(value: Value): string {
  if (value === null || value === undefined) return "nil";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `the string '${shorten(value)}'`;
  return `the ${typeof value} ${String(value)}`;
}

function deepEqual(a: Value, b: Value): boolean {
  const x = a === undefined ? null : a;
  const y = b === undefined ? null : b;
  if (x === y) return true;
  if (Array.isArray(x) && Array.isArray(y)) {
    return x.length === y.length && x.every((item, i) => deepEqual(item, y[i]));
  }
  if (
    typeof x === "object" && typeof y === "object" && x !== null && y !== null &&
    !Array.isArray(x) && !Array.isArray(y)
  ) {
    const xs = Object.keys(x);
    const ys = Object.keys(y);
    return xs.length === ys.length &&
      xs.every((key) =>
        Object.hasOwn(y, key) &&
        deepEqual((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key])
      );
  }
  return false;
}

class Evaluator {
  readonly #source: string;
  readonly #context: CompoundContext;

  constructor(source: string, context: CompoundContext) {
    this.#source = source;
    this.#context = context;
  }

  fail(column: number, detail: string, cause?: unknown): never {
    throw new CompoundEvaluationError(
      `Cannot evaluate compound filter '${shorten(this.#source)}' at column ${column}: ${detail}`,
      column,
      cause === undefined ? undefined : { cause },
    );
  }

  boolean(node: CompoundNode, what: string): boolean {
    const value = this.value(node);
    if (typeof value !== "boolean") {
      this.fail(node.column, `${what} must be true or false: found ${describeValue(value)}`);
    }
    return value as boolean;
  }

  value(node: CompoundNode): Value {
    switch (node.type) {
      case "literal":
        return node.value;
      case "regex":
        return this.fail(node.column, "a /regex/ is not a value");
      case "fact":
        return lookupFact(this.#context.facts, node.path) ?? null;
      case "variable": {
        const base = node.name === "identity"
          ? this.#context.identity ?? ""
          : this.#context[node.name];
        return node.path === undefined ? base : lookupFact(base, node.path) ?? null;
      }
      case "list":
        return node.items.map((item) => this.value(item));
      case "member":
        return lookupFact(this.value(node.object), node.path) ?? null;
      case "index":
        return this.#index(this.value(node.object), this.value(node.index));
      case "call":
        return this.#call(node);
      case "not":
        return !this.boolean(node.operand, "the operand of 'not'");
      case "logical": {
        const left = this.boolean(node.left, `the left side of '${node.operator}'`);
        if (node.operator === "and" ? !left : left) return left;
        return this.boolean(node.right, `the right side of '${node.operator}'`);
      }
      case "compare":
        return this.#compare(node);
    }
  }

  #index(object: Value, index: Value): Value {
    if (Array.isArray(object) && typeof index === "number" && Number.isInteger(index)) {
      return object[index < 0 ? object.length + index : index] ?? null;
    }
    if (
      typeof object === "object" && object !== null && !Array.isArray(object) &&
      typeof index === "string"
    ) {
      return Object.hasOwn(object, index) ? (object as Record<string, unknown>)[index] : null;
    }
    return null;
  }

  #pattern(node: CompoundNode, ignoreCase: boolean): RegExp {
    const source = node.type === "regex" ? node.source : this.value(node);
    if (typeof source !== "string") {
      this.fail(
        node.column,
        `a pattern must be a string or /regex/: found ${describeValue(source)}`,
      );
    }
    try {
      return compileRegex(source as string, { ignoreCase });
    } catch (error) {
      return this.fail(node.column, (error as Error).message, error);
    }
  }

  #compare(node: CompoundNode & { type: "compare" }): boolean {
    const { operator, column } = node;
    const left = this.value(node.left);
    if (PATTERN_OPERATORS.has(operator)) {
      const regex = this.#pattern(node.right, operator !== "matches");
      const negate = operator === "!~";
      if (left === null || left === undefined) return negate;
      if (typeof left === "object") {
        this.fail(column, `'${operator}' cannot test ${describeValue(left)}`);
      }
      return regex.test(String(left)) !== negate;
    }
    const right = this.value(node.right);
    switch (operator) {
      case "==":
        return deepEqual(left, right);
      case "!=":
        return !deepEqual(left, right);
      case "in":
      case "not in":
        return this.#in(left, right, column) !== (operator === "not in");
      default:
        break;
    }
    if (left === null || left === undefined || right === null || right === undefined) {
      return false;
    }
    if (operator === "contains" || operator === "startsWith" || operator === "endsWith") {
      if (typeof left !== "string" || typeof right !== "string") {
        this.fail(
          column,
          `'${operator}' needs two strings: found ${describeValue(left)} and ${
            describeValue(right)
          }`,
        );
      }
      const l = left as string;
      const r = right as string;
      return operator === "contains"
        ? l.includes(r)
        : operator === "startsWith"
        ? l.startsWith(r)
        : l.endsWith(r);
    }
    let sign: number;
    if (typeof left === "number" && typeof right === "number") {
      sign = left < right ? -1 : left > right ? 1 : 0;
    } else if (typeof left === "string" && typeof right === "string") {
      sign = compareCodePoints(left, right);
    } else {
      return this.fail(
        column,
        `cannot order ${describeValue(left)} and ${describeValue(right)} with '${operator}'`,
      );
    }
    switch (operator) {
      case "<":
        return sign < 0;
      case "<=":
        return sign <= 0;
      case ">":
        return sign > 0;
      default:
        return sign >= 0;
    }
  }

  #in(needle: Value, hay: Value, column: number): boolean {
    if (hay === null || hay === undefined) return false;
    if (Array.isArray(hay)) return hay.some((item) => deepEqual(item, needle));
    if (typeof hay === "object") {
      return typeof needle === "string" && Object.hasOwn(hay, needle);
    }
    return this.fail(column, `'in' needs a list or an object: found ${describeValue(hay)}`);
  }

  #string(node: CompoundNode, name: string): string | null {
    const value = this.value(node);
    if (value === null || value === undefined) return null;
    if (typeof value !== "string") {
      this.fail(node.column, `'${name}' takes a string: found ${describeValue(value)}`);
    }
    return value as string;
  }

  #call(node: CompoundNode & { type: "call" }): Value {
    const [first, second] = node.args as [CompoundNode, CompoundNode];
    const context = this.#context;
    switch (node.name) {
      case "with": {
        const query = this.#string(first, "with");
        if (query === null) return false;
        let filter: FactFilter | undefined;
        try {
          filter = parseFactFilter(query);
        } catch {
          filter = undefined;
        }
        if (filter !== undefined) return matchFact(filter, context.facts);
        return matchClass(query, context.classes) || matchAgent(query, context.agents);
      }
      case "fact": {
        const path = this.#string(first, "fact");
        return path === null ? null : lookupFact(context.facts, path) ?? null;
      }
      case "include": {
        const hay = this.value(first);
        const needle = this.value(second);
        if (hay === null || hay === undefined) return false;
        if (!Array.isArray(hay)) {
          this.fail(node.column, `'include' takes a list first: found ${describeValue(hay)}`);
        }
        return (hay as unknown[]).some((item) => deepEqual(item, needle));
      }
      case "semver": {
        const version = this.#string(first, "semver");
        const constraint = this.#string(second, "semver");
        if (version === null || constraint === null) return false;
        try {
          return satisfies(version, constraint);
        } catch (error) {
          return this.fail(node.column, (error as Error).message, error);
        }
      }
      case "len": {
        const value = this.value(first);
        if (value === null || value === undefined) return 0;
        if (typeof value === "string") return [...value].length;
        if (Array.isArray(value)) return value.length;
        if (typeof value === "object") return Object.keys(value).length;
        return this.fail(node.column, `'len' cannot measure ${describeValue(value)}`);
      }
      case "lower":
      case "upper": {
        const text = this.#string(first, node.name);
        if (text === null) return null;
        return node.name === "lower" ? text.toLowerCase() : text.toUpperCase();
      }
    }
  }
}

/**
 * Evaluates a parsed compound filter against a node; throws
 * {@linkcode CompoundEvaluationError} when an operation does not fit its values or the filter
 * does not give a boolean.
 *
 * @example Evaluate a filter
 * ```ts
 * import { evaluateCompound, parseCompound } from "./compound.ts";
 * const node = { facts: { os: "linux", memory: 2048 }, classes: ["apache"], agents: ["rpcutil"] };
 * const filter = parseCompound("with('apache') and (memory > 1024 or os =~ /bsd/)");
 * console.log(evaluateCompound(filter, node)); // true
 * ```
 */
export function evaluateCompound(
  expression: CompoundExpression,
  context: CompoundContext,
): boolean {
  const evaluator = new Evaluator(expression.source, context);
  return evaluator.boolean(expression.ast, "the filter");
}

/**
 * Whether a node satisfies a compound filter; a filter that cannot be parsed or evaluated does
 * not match, and the error goes to `options.onError`.
 *
 * @example Match a filter against a node
 * ```ts
 * import { matchCompound } from "./compound.ts";
 * const node = { facts: { os: { family: "Debian" } }, classes: [], agents: ["package"] };
 * console.log(matchCompound('os.family == "Debian" && with("package")', node)); // true
 * console.log(matchCompound("os.family ==", node)); // false
 * ```
 */
export function matchCompound(
  source: string,
  context: CompoundContext,
  options: MatchCompoundOptions = {},
): boolean {
  try {
    return evaluateCompound(parseCompound(source, options), context);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    options.onError?.(error);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// semver(): a subset of Masterminds/semver v3 constraints, as go-choria's semverFunc uses.

interface Version {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

const IDENTIFIERS = "[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*";
const VERSION_RE = new RegExp(
  `^v?(\\d+)(?:\\.(\\d+))?(?:\\.(\\d+))?(?:-(${IDENTIFIERS}))?(?:\\+${IDENTIFIERS})?$`,
);
const TERM_RE = new RegExp(
  `^(!=|>=|=>|<=|=<|~>|>|<|=|~|\\^)?v?(\\d+|[xX*])(?:\\.(\\d+|[xX*]))?(?:\\.(\\d+|[xX*]))?` +
    `(?:-(${IDENTIFIERS}))?(?:\\+${IDENTIFIERS})?$`,
);

function parseVersion(text: string): Version {
  const m = VERSION_RE.exec(text.trim());
  if (!m) throw new FilterError(`cannot parse the version '${text}'`);
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    pre: m[4] === undefined ? [] : m[4].split("."),
  };
}

function comparePre(a: string[], b: string[]): number {
  // A release sorts after its pre-releases.
  if (a.length === 0 || b.length === 0) {
    return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) < Number(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

function compareVersions(a: Version, b: Version): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  return comparePre(a.pre, b.pre);
}

function termMatches(term: string, version: Version, constraint: string): boolean {
  const m = TERM_RE.exec(term);
  if (!m) throw new FilterError(`cannot parse the constraint '${constraint}' at '${term}'`);
  const op = m[1] ?? "=";
  const part = (s: string | undefined) =>
    s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s);
  const [major, minor, patch] = [part(m[2]), part(m[3]), part(m[4])];
  const pre = m[5] === undefined ? [] : m[5].split(".");
  if (version.pre.length > 0 && pre.length === 0) return false;
  const lower: Version = { major: major ?? 0, minor: minor ?? 0, patch: patch ?? 0, pre };
  const exact = major !== undefined && minor !== undefined && patch !== undefined;
  const upper: Version | undefined = major === undefined
    ? undefined
    : minor === undefined
    ? { major: major + 1, minor: 0, patch: 0, pre: [] }
    : patch === undefined
    ? { major, minor: minor + 1, patch: 0, pre: [] }
    : undefined;
  const cmpLower = compareVersions(version, lower);
  const below = (limit: Version | undefined) =>
    limit === undefined || compareVersions(version, limit) < 0;
  switch (op) {
    case "=":
    case "!=": {
      const equal = exact ? cmpLower === 0 : major === undefined || (cmpLower >= 0 && below(upper));
      return op === "=" ? equal : !equal;
    }
    case ">":
      return exact ? cmpLower > 0 : major !== undefined && !below(upper);
    case ">=":
    case "=>":
      return cmpLower >= 0;
    case "<":
      return cmpLower < 0;
    case "<=":
    case "=<":
      return exact ? cmpLower <= 0 : major === undefined || below(upper);
    case "~":
    case "~>": {
      if (major === undefined) return true;
      const limit = minor === undefined
        ? { major: major + 1, minor: 0, patch: 0, pre: [] }
        : { major, minor: minor + 1, patch: 0, pre: [] };
      return cmpLower >= 0 && below(limit);
    }
    default: {
      // ^: the leftmost non-zero part may not change.
      if (major === undefined) return true;
      const limit = major > 0 || minor === undefined
        ? { major: major + 1, minor: 0, patch: 0, pre: [] }
        : minor > 0 || patch === undefined
        ? { major: 0, minor: minor + 1, patch: 0, pre: [] }
        : { major: 0, minor: 0, patch: patch + 1, pre: [] };
      return cmpLower >= 0 && below(limit);
    }
  }
}

function satisfies(text: string, constraint: string): boolean {
  const version = parseVersion(text);
  const groups = constraint.split("||");
  return groups.some((group) => {
    const range = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(group);
    const terms = range
      ? [`>=${range[1]}`, `<=${range[2]}`]
      : group.replace(/(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)\s+/g, "$1").split(/[\s,]+/).filter((t) =>
        t !== ""
      );
    if (terms.length === 0) {
      throw new FilterError(`cannot parse the constraint '${constraint}': a group is empty`);
    }
    return terms.every((term) => termMatches(term, version, constraint));
  });
}
