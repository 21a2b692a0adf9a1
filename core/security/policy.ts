/**
 * Choria action policies: parse policy and groups files and decide whether a request may run.
 *
 * A policy file holds an optional `policy default allow|deny` line and rules, one a line, with
 * five fields separated by one or more tabs:
 *
 * ```text
 * policy default deny
 * allow	choria=ops.mcollective /^up=/	status restart	os=linux	/^role::web/
 * deny	*	*	*	*
 * ```
 *
 * The fields are the effect (`allow` or `deny`), the callers, the actions, the facts and the
 * classes. Every field but the effect is `*` or a space-separated list. The first rule whose
 * callers, actions, facts and classes all match decides; when none matches, the policy's default
 * does, and a policy without a default line falls back to the `allowUnconfigured` option.
 *
 * - Callers match when any entry matches: a caller id (`choria=rip.mcollective`, `uid=500`), a
 *   `/regex/` tested against the caller id, or the name of a group from the groups file whose
 *   members include the caller id.
 * - Actions match when any entry is the action's name.
 * - Facts match when every entry matches: `fact<op>value` with the operators `=` and `==`
 *   (equality), `!=`, `<`, `>`, `<=`, `>=` (`=<` and `=>` are accepted as aliases), `=~` (regular
 *   expression) and `fact=/regex/`. Fact names may be dotted paths into nested facts
 *   (`os.release.major`), with numeric segments indexing arrays and `\.` escaping a dot. Numbers
 *   compare numerically, strings by code unit, booleans against `true`/`false`/`1`/`0`/`t`/`f`;
 *   a missing fact never matches, not even with `!=`.
 * - Classes match when every entry matches: a class name, or a `/regex/` that any class matches.
 *
 * Compound statements (`foo=bar and (one or two)`, `!`, `not`, data functions such as
 * `puppet().enabled=false`) in the facts or classes field, including the old four-field form
 * whose fourth field mixes facts and classes, are recognised but not evaluated, like go-choria:
 * an `allow` rule holding one never matches. Where go-choria also skips a `deny` rule holding
 * one, Chorale fails closed and applies it to every request whose caller and action match. Each
 * such rule leaves a warning in {@linkcode Policy.warnings}. Unlike go-choria, parentheses inside
 * a regular expression (`/^(web|db)/`) do not make a statement compound.
 *
 * Parsing is strict where go-choria logs and skips: a malformed line throws a
 * {@linkcode PolicyError} naming the file, line and problem. Callers keep the error and pass it to
 * {@linkcode authorize}, which denies every request against a broken policy (fail closed) and
 * puts the error in the decision.
 *
 * This module does no I/O; `policy_files.ts` reads policies from disk.
 *
 * @example Decide a request
 * ```ts
 * import { authorize, parsePolicy } from "./policy.ts";
 * const policy = parsePolicy("policy default deny\nallow\t*\tstatus\t*\t*\n", { file: "svc.policy" });
 * const decision = authorize(policy, { callerid: "choria=rip.mcollective", action: "status" });
 * console.log(decision.allowed, decision.reason);
 * // true "Allowing based on 'allow' policy line 2 in svc.policy"
 * ```
 *
 * @module
 */

/** What a rule or a default does. */
export type PolicyEffect = "allow" | "deny";

/** Fact comparison operators, after normalising `=` to `==`, `=<` to `<=` and `=>` to `>=`. */
export type FactOperator = "==" | "!=" | "<" | ">" | "<=" | ">=" | "=~";

/** One entry of a rule's callers field. */
export type CallerMatcher =
  /** A caller id, or a group name when the groups file defines one by that name. */
  | { readonly type: "name"; readonly name: string }
  /** A `/regex/` tested against the caller id. */
  | { readonly type: "regex"; readonly regex: RegExp };

/** One entry of a rule's facts field. */
export type FactMatcher =
  | {
    /** The entry as written. */
    readonly text: string;
    /** The fact's path: its name split on unescaped dots. */
    readonly path: readonly string[];
    readonly operator: "=~";
    readonly regex: RegExp;
  }
  | {
    readonly text: string;
    readonly path: readonly string[];
    readonly operator: Exclude<FactOperator, "=~">;
    readonly value: string;
  };

/** One entry of a rule's classes field. */
export type ClassMatcher =
  | { readonly type: "name"; readonly name: string }
  | { readonly type: "regex"; readonly regex: RegExp };

/** One `allow` or `deny` line. */
export interface PolicyRule {
  /** The 1-based line number in the policy file. */
  readonly line: number;
  readonly effect: PolicyEffect;
  /** `*` or the entries, any of which may match. */
  readonly callers: "*" | readonly CallerMatcher[];
  /** `*` or action names, any of which may match. */
  readonly actions: "*" | readonly string[];
  /** `*` or the entries, all of which must match; empty when {@linkcode compound} is set. */
  readonly facts: "*" | readonly FactMatcher[];
  /** `*` or the entries, all of which must match; empty when {@linkcode compound} is set. */
  readonly classes: "*" | readonly ClassMatcher[];
  /**
   * The compound statement this rule holds, which Chorale does not evaluate: an `allow` rule with
   * one never matches and a `deny` rule with one matches every request whose caller and action
   * match.
   */
  readonly compound?: string;
}

/** Something in a policy that parsed but will not act as its author may expect. */
export interface PolicyWarning {
  readonly line: number;
  readonly message: string;
}

/** A parsed policy file. */
export interface Policy {
  /** The file's name, used in reasons and errors. */
  readonly file: string;
  /** The `policy default` line's effect, if the file has one. */
  readonly default?: PolicyEffect;
  readonly rules: readonly PolicyRule[];
  readonly warnings: readonly PolicyWarning[];
}

/** Groups of caller ids by group name, as parsed from a groups file. */
export type PolicyGroups = ReadonlyMap<string, readonly string[]>;

/** The request facts an authorization decision needs. */
export interface AuthorizationRequest {
  /** The caller id, `choria=<certname>` for certificate callers. */
  callerid: string;
  action: string;
  /** The node's facts; absent facts match no fact entry. */
  facts?: Readonly<Record<string, unknown>>;
  /** The node's classes; absent classes match no class entry. */
  classes?: readonly string[];
  /** Groups referenced by callers fields; without them group names only match literally. */
  groups?: PolicyGroups;
}

/** Options for {@linkcode authorize}. */
export interface AuthorizeOptions {
  /**
   * Allow requests when the agent has no policy (`null`), and when its policy has no
   * `policy default` line and no rule matches; Choria's `plugin.actionpolicy.allow_unconfigured`.
   *
   * @default false
   */
  allowUnconfigured?: boolean;
}

/** The outcome of {@linkcode authorize}. */
export interface Decision {
  readonly allowed: boolean;
  /** Names the matching line, the default or the problem, for logs. */
  readonly reason: string;
  /** The line of the rule that decided, if one did. */
  readonly line?: number;
  /** The error that made a broken policy deny. */
  readonly error?: PolicyError;
}

/** Options for {@linkcode parsePolicy} and {@linkcode parseGroups}. */
export interface ParseOptions {
  /**
   * The file's name, for reasons and errors.
   *
   * @default "policy" for policies, "groups" for groups
   */
  file?: string;
}

/** A policy or groups file that cannot be used, naming the file and line. */
export class PolicyError extends Error {
  override name = "PolicyError";
  /** The file with the problem. */
  readonly file: string;
  /** The 1-based line with the problem, when the problem is on one line. */
  readonly line: number | undefined;

  /**
   * @example Report a problem on a line
   * ```ts
   * import { PolicyError } from "./policy.ts";
   * const error = new PolicyError("Cannot parse policy line 3 of 'a.policy' as it is odd", {
   *   file: "a.policy",
   *   line: 3,
   * });
   * console.log(error.line); // 3
   * ```
   */
  constructor(message: string, options: { file: string; line?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = options.file;
    this.line = options.line;
  }
}

// Compound statements have a token that starts with `!` or is `not`, `and` or `or`, or one with
// parentheses outside a regular expression (grouping, or data functions like `puppet()`).
const COMPOUND_WORD = /^!|^not$|^or$|^and$/;
// Longer operators first so that `<=` is not read as `<`.
const FACT_OPERATOR = /<=|>=|=>|=<|!=|=~|==|=|<|>/;
const GROUP_NAME = /^[\w.-]+$/;

/**
 * Parses a Choria action policy file.
 *
 * @param text The file's contents.
 * @returns The policy, with warnings for compound statements it will not evaluate.
 * @throws {PolicyError} naming the first malformed line.
 *
 * @example Parse the default-deny policy with one rule
 * ```ts
 * import { parsePolicy } from "./policy.ts";
 * const policy = parsePolicy("policy default deny\nallow\t\t*\t\ttest\t\t*\t\t*\n");
 * console.log(policy.default, policy.rules.length); // "deny" 1
 * ```
 */
export function parsePolicy(text: string, options: ParseOptions = {}): Policy {
  const file = options.file ?? "policy";
  const rules: PolicyRule[] = [];
  const warnings: PolicyWarning[] = [];
  let defaultEffect: PolicyEffect | undefined;
  let defaultLine = 0;

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = (lines[i] ?? "").trim();
    if (content === "" || content.startsWith("#")) continue;
    const fail: Fail = (problem, cause) => {
      throw new PolicyError(`Cannot parse policy line ${line} of '${file}' as ${problem}`, {
        file,
        line,
        cause,
      });
    };

    if (/^policy\s/.test(content)) {
      const match = /^policy\s+default\s+(allow|deny)$/.exec(content);
      if (!match) fail(`'${content}' is not 'policy default allow' or 'policy default deny'`);
      if (defaultEffect !== undefined) {
        fail(`the default was already set on line ${defaultLine}`);
      }
      defaultEffect = match[1] as PolicyEffect;
      defaultLine = line;
      continue;
    }

    const fields = content.split(/\t+/).map((f) => f.trim());
    const effect = fields[0] ?? "";
    if (effect !== "allow" && effect !== "deny") {
      if (fields.length === 1 && /^(allow|deny) /.test(content)) {
        fail("its fields are separated by spaces: Choria separates fields with tabs");
      }
      fail(`it starts with '${effect.split(/\s/)[0]}': expected 'allow', 'deny' or 'policy'`);
    }
    const names = ["callers", "actions", "facts", "classes"];
    fields.slice(1).forEach((f, n) => {
      if (f === "") fail(`its ${names[n] ?? "last"} field is empty`);
    });

    const [, callerField = "", actionField = "", factField = "", classField = ""] = fields;
    let compound: string | undefined;
    if (fields.length === 4) {
      // The four-field form is MCollective's: its last field mixes facts and classes in one
      // compound statement.
      if (!isCompound(factField)) {
        fail(
          "it has 4 fields: expected 5 (a fourth field must hold a compound statement of facts and classes)",
        );
      }
      compound = factField;
    } else if (fields.length !== 5) {
      fail(`it has ${fields.length} ${fields.length === 1 ? "field" : "fields"}: expected 5`);
    } else if (isCompound(factField) || isCompound(classField)) {
      compound = isCompound(factField) ? factField : classField;
    }

    const callers = parseCallers(callerField, fail);
    const actions = parseList(actionField, "actions", fail);
    const rule: PolicyRule = compound === undefined
      ? {
        line,
        effect,
        callers,
        actions,
        facts: parseFacts(factField, fail),
        classes: parseClasses(classField, fail),
      }
      : { line, effect, callers, actions, facts: [], classes: [], compound };
    if (compound !== undefined) {
      warnings.push({
        line,
        message:
          `Compound statements are not supported: the '${effect}' rule on line ${line} of '${file}' ${
            effect === "allow"
              ? "never matches"
              : "matches every request from its callers to its actions"
          }`,
      });
    }
    rules.push(rule);
  }

  return defaultEffect === undefined
    ? { file, rules, warnings }
    : { file, default: defaultEffect, rules, warnings };
}

/**
 * Parses a Choria policy groups file: one group a line, its name then its members separated by
 * spaces, `#` starting a comment line. A group without members is kept empty (go-choria drops
 * it; either way no caller is its member).
 *
 * @throws {PolicyError} for an invalid group name or a group defined twice.
 *
 * @example Parse a groups file
 * ```ts
 * import { parseGroups } from "./policy.ts";
 * const groups = parseGroups("# admins\nsysadmin cert=sa1 cert=sa2\n");
 * console.log(groups.get("sysadmin")); // ["cert=sa1", "cert=sa2"]
 * ```
 */
export function parseGroups(text: string, options: ParseOptions = {}): Map<string, string[]> {
  const file = options.file ?? "groups";
  const groups = new Map<string, string[]>();
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = (lines[i] ?? "").trim();
    if (content === "" || content.startsWith("#")) continue;
    const [name = "", ...members] = content.split(/\s+/);
    const fail: Fail = (problem) => {
      throw new PolicyError(`Cannot parse groups line ${line} of '${file}' as ${problem}`, {
        file,
        line,
      });
    };
    if (!GROUP_NAME.test(name)) {
      fail(`'${name}' is not a group name: expected letters, digits, '_', '.' or '-'`);
    }
    const previous = seen.get(name);
    if (previous !== undefined) fail(`group '${name}' was already defined on line ${previous}`);
    seen.set(name, line);
    groups.set(name, members);
  }
  return groups;
}

/**
 * Decides whether a request may run under a policy: the first matching rule decides, then the
 * policy's default, then `allowUnconfigured`.
 *
 * @param policy The agent's policy; `null` when the agent has none, which `allowUnconfigured`
 *   decides; a {@linkcode PolicyError} when the policy could not be read or parsed, which denies.
 *
 * @example Deny through a broken policy
 * ```ts
 * import { authorize, parsePolicy, PolicyError } from "./policy.ts";
 * let policy;
 * try {
 *   policy = parsePolicy("allow * * * *");
 * } catch (error) {
 *   if (!(error instanceof PolicyError)) throw error;
 *   policy = error;
 * }
 * const decision = authorize(policy, { callerid: "choria=rip.mcollective", action: "status" });
 * console.log(decision.allowed, decision.error?.line); // false 1
 * ```
 */
export function authorize(
  policy: Policy | PolicyError | null,
  request: AuthorizationRequest,
  options: AuthorizeOptions = {},
): Decision {
  const allowUnconfigured = options.allowUnconfigured ?? false;
  if (policy instanceof PolicyError) {
    return {
      allowed: false,
      reason: `Denying as the policy is broken: ${policy.message}`,
      error: policy,
    };
  }
  if (policy === null) {
    return allowUnconfigured
      ? {
        allowed: true,
        reason: "Allowing as the agent has no policy and unconfigured agents are allowed",
      }
      : {
        allowed: false,
        reason: "Denying as the agent has no policy and unconfigured agents are denied",
      };
  }

  for (const rule of policy.rules) {
    if (!callersMatch(rule.callers, request.callerid, request.groups)) continue;
    if (rule.actions !== "*" && !rule.actions.includes(request.action)) continue;
    if (rule.compound !== undefined) {
      if (rule.effect === "allow") continue;
      return {
        allowed: false,
        reason:
          `Denying based on explicit 'deny' policy line ${rule.line} in ${policy.file}, whose compound statement is applied without evaluation`,
        line: rule.line,
      };
    }
    if (rule.facts !== "*" && !rule.facts.every((f) => factMatches(f, request.facts))) continue;
    if (rule.classes !== "*" && !rule.classes.every((c) => classMatches(c, request.classes))) {
      continue;
    }
    return rule.effect === "allow"
      ? {
        allowed: true,
        reason: `Allowing based on 'allow' policy line ${rule.line} in ${policy.file}`,
        line: rule.line,
      }
      : {
        allowed: false,
        reason: `Denying based on explicit 'deny' policy line ${rule.line} in ${policy.file}`,
        line: rule.line,
      };
  }

  if (policy.default !== undefined) {
    return policy.default === "allow"
      ? { allowed: true, reason: `Allowing based on default policy in ${policy.file}` }
      : { allowed: false, reason: `Denying based on default policy in ${policy.file}` };
  }
  return allowUnconfigured
    ? {
      allowed: true,
      reason:
        `Allowing as no line in ${policy.file} matched and it sets no default: unconfigured requests are allowed`,
    }
    : {
      allowed: false,
      reason:
        `Denying as no line in ${policy.file} matched and it sets no default: unconfigured requests are denied`,
    };
}

type Fail = (problem: string, cause?: unknown) => never;

function isCompound(field: string): boolean {
  return tokens(field).some((token) =>
    COMPOUND_WORD.test(token) || /[()]/.test(withoutRegularExpression(token))
  );
}

// Parentheses inside a regular expression are groups, not compound syntax; go-choria's test
// does not tell them apart and skips such lines.
function withoutRegularExpression(token: string): string {
  if (slashed(token) !== undefined) return "";
  const operator = FACT_OPERATOR.exec(token);
  if (operator === null) return token;
  const value = token.slice(operator.index + operator[0].length);
  return operator[0] === "=~" || slashed(value) !== undefined
    ? token.slice(0, operator.index)
    : token;
}

function tokens(field: string): string[] {
  return field.split(/\s+/).filter((t) => t !== "");
}

function parseList(field: string, name: string, fail: Fail): "*" | string[] {
  if (field === "*") return "*";
  const list = tokens(field);
  if (list.includes("*")) fail(`'*' in its ${name} field must stand alone`);
  return list;
}

function parseCallers(field: string, fail: Fail): "*" | CallerMatcher[] {
  const list = parseList(field, "callers", fail);
  if (list === "*") return "*";
  return list.map((token): CallerMatcher => {
    if (!token.startsWith("/")) return { type: "name", name: token };
    const source = slashed(token);
    if (source === undefined) fail(`caller '${token}' is not a /regex/`);
    return { type: "regex", regex: compile(source, `caller '${token}'`, fail) };
  });
}

function parseClasses(field: string, fail: Fail): "*" | ClassMatcher[] {
  const list = parseList(field, "classes", fail);
  if (list === "*") return "*";
  return list.map((token): ClassMatcher => {
    const source = slashed(token);
    if (source !== undefined) {
      return { type: "regex", regex: compile(source, `class '${token}'`, fail) };
    }
    if (/.[<>=]./.test(token)) {
      fail(`class '${token}' is a fact comparison: facts belong in the fourth field`);
    }
    return { type: "name", name: token };
  });
}

function parseFacts(field: string, fail: Fail): "*" | FactMatcher[] {
  const list = parseList(field, "facts", fail);
  if (list === "*") return "*";
  return list.map((token) => parseFact(token, fail));
}

function parseFact(text: string, fail: Fail): FactMatcher {
  const match = FACT_OPERATOR.exec(text);
  if (!match) fail(`fact '${text}' has no operator: expected fact=value`);
  const written = match[0];
  const name = text.slice(0, match.index).trim();
  const value = text.slice(match.index + written.length).trim();
  if (name === "" || value === "" || /[<>=]$/.test(value)) {
    fail(`fact '${text}' is not a comparison: expected fact=value`);
  }
  const path = factPath(name);
  if (path.some((segment) => segment === "")) {
    fail(`fact '${text}' has an empty segment in its name '${name}'`);
  }
  const operator =
    ({ "=": "==", "=<": "<=", "=>": ">=" } as Record<string, FactOperator>)[written] ??
      written as FactOperator;
  const source = slashed(value);
  if (operator === "=~" || (operator === "==" && source !== undefined)) {
    return { text, path, operator: "=~", regex: compile(source ?? value, `fact '${text}'`, fail) };
  }
  if (source !== undefined) {
    fail(
      `fact '${text}' compares with a /regex/ using '${written}': only '=', '==' and '=~' take one`,
    );
  }
  return { text, path, operator: operator as Exclude<FactOperator, "=~">, value };
}

function factPath(name: string): string[] {
  const segments: string[] = [];
  let current = "";
  for (let i = 0; i < name.length; i++) {
    const char = name[i];
    if (char === "\\" && name[i + 1] === ".") {
      current += ".";
      i++;
    } else if (char === ".") {
      segments.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  segments.push(current);
  return segments;
}

/** The inside of `/inside/`, or undefined when the token is not slashed. */
function slashed(token: string): string | undefined {
  return token.length >= 2 && token.startsWith("/") && token.endsWith("/")
    ? token.slice(1, -1)
    : undefined;
}

function compile(source: string, what: string, fail: Fail): RegExp {
  if (source === "") fail(`${what} is an empty regular expression`);
  // Choria's patterns are Go regular expressions; the common `(?i)` prefix becomes a flag.
  const insensitive = source.startsWith("(?i)");
  try {
    return new RegExp(insensitive ? source.slice(4) : source, insensitive ? "i" : "");
  } catch (cause) {
    return fail(`${what} is not a valid regular expression`, cause);
  }
}

function callersMatch(
  callers: "*" | readonly CallerMatcher[],
  callerid: string,
  groups: PolicyGroups | undefined,
): boolean {
  if (callers === "*") return true;
  return callers.some((c) =>
    c.type === "regex"
      ? c.regex.test(callerid)
      : c.name === callerid || (groups?.get(c.name)?.includes(callerid) ?? false)
  );
}

function classMatches(matcher: ClassMatcher, classes: readonly string[] | undefined): boolean {
  if (classes === undefined) return false;
  return matcher.type === "name"
    ? classes.includes(matcher.name)
    : classes.some((c) => matcher.regex.test(c));
}

function lookup(facts: unknown, path: readonly string[]): { found: boolean; value: unknown } {
  let current = facts;
  for (const segment of path) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) {
      const index = Number(segment);
      if (index >= current.length) return { found: false, value: undefined };
      current = current[index];
    } else if (
      typeof current === "object" && current !== null && !Array.isArray(current) &&
      Object.hasOwn(current, segment)
    ) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return { found: false, value: undefined };
    }
  }
  return { found: true, value: current };
}

function parseNumber(value: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) ? Number(value) : NaN;
}

// Go's strconv.ParseBool, which Choria uses for boolean facts.
function parseBoolean(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

function factMatches(
  matcher: FactMatcher,
  facts: Readonly<Record<string, unknown>> | undefined,
): boolean {
  const { found, value: fact } = lookup(facts, matcher.path);
  if (!found) return false;
  if (typeof fact !== "string" && typeof fact !== "number" && typeof fact !== "boolean") {
    return false;
  }
  if (matcher.operator === "=~") return matcher.regex.test(String(fact));
  const { operator, value } = matcher;

  let equal: boolean;
  let order: number | undefined;
  if (typeof fact === "string") {
    equal = fact === value;
    order = fact < value ? -1 : fact > value ? 1 : 0;
  } else if (typeof fact === "number") {
    const wanted = parseNumber(value);
    equal = fact === wanted;
    order = Number.isNaN(wanted) ? undefined : Math.sign(fact - wanted);
  } else {
    equal = parseBoolean(value) === fact;
    order = undefined;
  }

  switch (operator) {
    case "==":
      return equal;
    case "!=":
      return !equal;
    case "<":
      return order !== undefined && order < 0;
    case ">":
      return order !== undefined && order > 0;
    case "<=":
      return order !== undefined && order <= 0;
    case ">=":
      return order !== undefined && order >= 0;
  }
}
