/**
 * Choria's JSON agent DDL: loading and checking a DDL against the rules of the mcorpc agent schema,
 * validating an action's inputs the way a Choria server does, and filling output defaults.
 *
 * Everything here is pure: no I/O, no clocks, no globals. The host (`runAction` in sdk.ts) turns
 * the problems found into status codes and reply messages.
 *
 * Validation follows go-choria's `validator` package and DDL code, with these choices made where it
 * is silent or surprising:
 *
 * - `shellsafe` forbids exactly what Choria forbids: a backtick, `$`, `;`, `|`, `&&`, `>` and `<`.
 *   Like Choria, it lets through a newline and a single `&`, both of which still chain commands in
 *   a shell: agents should pass inputs to programs as argument lists, never through a shell.
 * - Regular expressions search the value (unanchored) as Go's do; `^` and `$` match at the ends of
 *   the value, not at line breaks as Ruby's do (so `"ok\n; reboot"` fails `^\w+$`). A Ruby-style
 *   `/…/i` or `/…/m` is understood, as are `\A`, `\z`, `\Z`, a leading `(?i)`-style flag group
 *   and POSIX classes like `[[:alpha:]]`.
 * - A validation that is a bare lowercase word Chorale does not know (`service_name`,
 *   `puppet_tags`: Ruby validator plugins) passes with a warning, as it does in go-choria.
 * - `maxlength` counts Unicode code points, as Ruby does (Go counts bytes, so anything a Go client
 *   accepts passes here); 0 means no limit. Validation applies even when `maxlength` is 0.
 * - `null` for an input counts as not given: a declared non-null default is filled in, otherwise a
 *   required input is missing (status 3). A required input with a non-null default is filled, as
 *   Choria's client does, rather than rejected.
 * - Inputs the action does not declare are rejected (status 4) as go-choria does, except Ruby
 *   clients' `process_results`, which is dropped.
 *
 * @module
 */
import type { ActionDdl, AgentDdl, InputDdl, OutputDdl } from "./agent.ts";
import { StatusCodes } from "./agent.ts";

/** One fault found in a DDL. */
export interface DdlProblem {
  /** Where the fault is, as a path like `actions[2].input.item.maxlength`; `""` for the document. */
  path: string;
  /** What is wrong, reading on from the path: "must be an integer: current value is '2'". */
  message: string;
}

/** Options for {@linkcode DdlError}. */
export interface DdlErrorOptions extends ErrorOptions {
  /** The file (or other label) the DDL came from. */
  file: string;
  /** Every fault found. */
  problems: DdlProblem[];
}

/** A DDL that cannot be loaded: every fault is in `problems`, the first is in the message. */
export class DdlError extends Error {
  override name = "DdlError";
  /** The file (or other label) the DDL came from. */
  readonly file: string;
  /** Every fault found, in document order. */
  readonly problems: DdlProblem[];

  /**
   * @example Report a fault in a DDL
   * ```ts
   * import { DdlError } from "./ddl.ts";
   * const error = new DdlError("Cannot load DDL 'a.json' as metadata is required", {
   *   file: "a.json",
   *   problems: [{ path: "metadata", message: "is required" }],
   * });
   * console.log(error.problems.length); // 1
   * ```
   */
  constructor(message: string, options: DdlErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = options.file;
    this.problems = options.problems;
  }
}

/** Options for {@linkcode parseDdl}. */
export interface ParseDdlOptions {
  /** Names the DDL in error messages. @default the DDL's `metadata.name`, or "DDL" */
  file?: string;
}

const SHORT_NAME = /^[a-z0-9_]+$/;
// The schema says short names, but choria_provision's gencsr has inputs C, L, O, OU and ST.
const INPUT_NAME = /^[A-Za-z0-9_]+$/;
const VERSION = /^(\d+\.)?(\d+\.)?(\*|\d+)$/;
const INPUT_TYPES = [
  "string",
  "integer",
  "float",
  "number",
  "boolean",
  "list",
  "hash",
  "array",
  "any",
] as const;
const OUTPUT_TYPES = [
  "string",
  "list",
  "boolean",
  "integer",
  "float",
  "number",
  "hash",
  "array",
  "any",
] as const;
const DISPLAY = ["ok", "failed", "always"];
const KEYWORDS = new Set([
  "shellsafe",
  "ipv4address",
  "ipv6address",
  "ipaddress",
  "boolean",
  "integer",
  "float",
  "number",
]);
const NAMED_VALIDATOR = /^[a-z][a-z0-9_]*$/;

/**
 * Loads a Choria JSON DDL and checks it against the mcorpc agent DDL schema: required fields, their
 * types, short names, a version, a whole-second timeout of at least 1 (the schema says 2; go-choria
 * runs agents with 1), known input and output types (`Hash` and `Array` are accepted and lowercased;
 * `any` is Chorale's addition), a `validation` and `maxlength` on every string input, a `list` on
 * every list input, regular expressions that compile, defaults of the declared type and unique
 * action names. Unknown extra fields are kept. Where Choria's own DDLs break the schema, go-choria's
 * reading wins: input names may hold capitals, and a missing `optional` means required.
 *
 * @param json The DDL: its parsed JSON value, or its JSON text.
 * @returns A copy of the DDL with input and output types lowercased.
 * @throws {DdlError} Naming the file and the path of each fault.
 *
 * @example Load a small DDL
 * ```ts
 * import { parseDdl } from "./ddl.ts";
 * const ddl = parseDdl({
 *   metadata: {
 *     name: "hello", description: "Says hello", author: "me", license: "Apache-2.0",
 *     version: "1.0.0", url: "https://example.net", timeout: 2,
 *   },
 *   actions: [{ action: "greet", description: "Greets", input: {}, output: {} }],
 * }, { file: "hello.json" });
 * console.log(ddl.actions[0]!.action); // "greet"
 * ```
 */
export function parseDdl(json: unknown, options: ParseDdlOptions = {}): AgentDdl {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      const file = options.file ?? "DDL";
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new DdlError(`Cannot load DDL '${file}' as it is not JSON: ${detail}`, {
        file,
        problems: [{ path: "", message: `is not JSON: ${detail}` }],
        cause,
      });
    }
  }
  const problems: DdlProblem[] = [];
  checkDdl(value, problems);
  if (problems.length > 0) {
    const name = isObject(value) && isObject(value.metadata) ? value.metadata.name : undefined;
    const file = options.file ?? (typeof name === "string" && name !== "" ? name : "DDL");
    const first = problems[0]!;
    const where = first.path === "" ? "the document" : first.path;
    const more = problems.length > 1
      ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})`
      : "";
    throw new DdlError(`Cannot load DDL '${file}' as ${where} ${first.message}${more}`, {
      file,
      problems,
    });
  }
  const ddl = structuredClone(value) as AgentDdl;
  for (const action of ddl.actions) {
    for (const input of Object.values(action.input)) {
      input.optional ??= false;
      input.type = input.type.toLowerCase() as InputDdl["type"];
    }
    for (const output of Object.values(action.output)) {
      if (typeof output.type === "string") output.type = output.type.toLowerCase();
    }
  }
  return ddl;
}

function checkDdl(value: unknown, problems: DdlProblem[]): void {
  const add = (path: string, message: string) => problems.push({ path, message });
  if (!isObject(value)) {
    add("", `must be a JSON object: current value is ${show(value)}`);
    return;
  }
  const metadata = value.metadata;
  if (metadata === undefined) add("metadata", "is required");
  else if (!isObject(metadata)) {
    add("metadata", `must be an object: current value is ${show(metadata)}`);
  } else {
    shortName(metadata, "name", "metadata", add);
    for (const key of ["description", "author", "license", "url"]) {
      text(metadata, key, "metadata", add);
    }
    const version = metadata.version;
    if (version === undefined) add("metadata.version", "is required");
    else if (typeof version !== "string" || !VERSION.test(version)) {
      add("metadata.version", `must be a version like 1.2.3: current value is ${show(version)}`);
    }
    const timeout = metadata.timeout;
    if (timeout === undefined) add("metadata.timeout", "is required");
    else if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1) {
      add(
        "metadata.timeout",
        `must be a whole number of seconds of at least 1: current value is ${show(timeout)}`,
      );
    }
    optionalOf(metadata, "provider", "string", "metadata", add);
    optionalOf(metadata, "service", "boolean", "metadata", add);
  }

  const actions = value.actions;
  if (actions === undefined) {
    add("actions", "is required");
    return;
  }
  if (!Array.isArray(actions)) {
    add("actions", `must be an array: current value is ${show(actions)}`);
    return;
  }
  const seen = new Map<string, number>();
  actions.forEach((action: unknown, index) => {
    const path = `actions[${index}]`;
    if (!isObject(action)) {
      add(path, `must be an object: current value is ${show(action)}`);
      return;
    }
    if (shortName(action, "action", path, add)) {
      const name = action.action as string;
      const before = seen.get(name);
      if (before !== undefined) add(`${path}.action`, `duplicates actions[${before}]: '${name}'`);
      else seen.set(name, index);
    }
    text(action, "description", path, add);
    if (action.display !== undefined && !DISPLAY.includes(action.display as string)) {
      add(
        `${path}.display`,
        `must be one of ${DISPLAY.join(", ")}: current value is ${show(action.display)}`,
      );
    }
    if (action.aggregate !== undefined) {
      if (!Array.isArray(action.aggregate)) {
        add(`${path}.aggregate`, `must be an array: current value is ${show(action.aggregate)}`);
      } else {
        action.aggregate.forEach((item: unknown, i) => {
          const at = `${path}.aggregate[${i}]`;
          if (!isObject(item)) add(at, `must be an object: current value is ${show(item)}`);
          else if (typeof item.function !== "string" || item.function === "") {
            add(
              `${at}.function`,
              `must be a non-empty string: current value is ${show(item.function)}`,
            );
          }
        });
      }
    }
    const input = action.input;
    if (input === undefined) add(`${path}.input`, "is required");
    else if (!isObject(input)) {
      add(`${path}.input`, `must be an object: current value is ${show(input)}`);
    } else {
      for (const [name, item] of Object.entries(input)) {
        checkInput(name, item, `${path}.input.${name}`, add);
      }
    }
    const output = action.output;
    if (output === undefined) add(`${path}.output`, "is required");
    else if (!isObject(output)) {
      add(`${path}.output`, `must be an object: current value is ${show(output)}`);
    } else {
      for (const [name, item] of Object.entries(output)) {
        checkOutput(name, item, `${path}.output.${name}`, add);
      }
    }
  });
}

type Add = (path: string, message: string) => void;

function checkInput(name: string, item: unknown, path: string, add: Add): void {
  if (!INPUT_NAME.test(name)) add(path, "must be named with letters, digits and _ only");
  if (!isObject(item)) {
    add(path, `must be an object: current value is ${show(item)}`);
    return;
  }
  text(item, "prompt", path, add);
  text(item, "description", path, add);
  // The schema requires optional, but executor's signal input lacks it; go-choria reads a missing
  // optional as false (required), and so does parseDdl.
  if (item.optional !== undefined && typeof item.optional !== "boolean") {
    add(`${path}.optional`, `must be a boolean: current value is ${show(item.optional)}`);
  }
  const type = typeof item.type === "string" ? item.type.toLowerCase() : undefined;
  const known = (INPUT_TYPES as readonly string[]).includes(type ?? "") &&
    (item.type === type || item.type === "Hash" || item.type === "Array");
  if (item.type === undefined) add(`${path}.type`, "is required");
  else if (!known) {
    add(
      `${path}.type`,
      `must be one of ${INPUT_TYPES.join(", ")}: current value is ${show(item.type)}`,
    );
  }
  const validation = item.validation;
  if (validation !== undefined && typeof validation !== "string") {
    add(`${path}.validation`, `must be a string: current value is ${show(validation)}`);
  }
  const maxlength = item.maxlength;
  if (
    maxlength !== undefined &&
    (typeof maxlength !== "number" || !Number.isInteger(maxlength) || maxlength < 0)
  ) {
    add(
      `${path}.maxlength`,
      `must be a whole number of at least 0: current value is ${show(maxlength)}`,
    );
  }
  if (type === "string") {
    if (validation === undefined) add(`${path}.validation`, "is required for a string input");
    if (maxlength === undefined) add(`${path}.maxlength`, "is required for a string input");
  }
  if (
    typeof validation === "string" && !KEYWORDS.has(validation) && !NAMED_VALIDATOR.test(validation)
  ) {
    try {
      compileValidation(validation);
    } catch (cause) {
      add(
        `${path}.validation`,
        `is not a valid regular expression: ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
      );
    }
  }
  if (type === "list") {
    const list = item.list;
    if (list === undefined) add(`${path}.list`, "is required for a list input");
    else if (
      !Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === "string")
    ) {
      add(`${path}.list`, `must be a non-empty array of strings: current value is ${show(list)}`);
    }
  } else if (item.list !== undefined && !Array.isArray(item.list)) {
    add(`${path}.list`, `must be an array: current value is ${show(item.list)}`);
  }
  if (known && type !== undefined && item.default !== undefined && item.default !== null) {
    const problem = typeProblem(type as InputDdl["type"], item.default, []);
    if (problem !== undefined) add(`${path}.default`, `must suit type ${type}: ${problem}`);
  }
}

function checkOutput(name: string, item: unknown, path: string, add: Add): void {
  if (!SHORT_NAME.test(name)) add(path, "must be named with a-z, 0-9 and _ only");
  if (!isObject(item)) {
    add(path, `must be an object: current value is ${show(item)}`);
    return;
  }
  for (const key of ["description", "display_as"]) {
    if (item[key] === undefined) add(`${path}.${key}`, "is required");
    else if (typeof item[key] !== "string") {
      add(`${path}.${key}`, `must be a string: current value is ${show(item[key])}`);
    }
  }
  if (item.type !== undefined) {
    const type = typeof item.type === "string" ? item.type : "";
    const lower = type.toLowerCase();
    const ok = (OUTPUT_TYPES as readonly string[]).includes(lower) &&
      (type === lower || type === "Hash" || type === "Array");
    if (!ok) {
      add(
        `${path}.type`,
        `must be one of ${OUTPUT_TYPES.join(", ")}: current value is ${show(item.type)}`,
      );
    }
  }
}

function shortName(
  object: Record<string, unknown>,
  key: string,
  path: string,
  add: Add,
): boolean {
  const value = object[key];
  if (value === undefined) add(`${path}.${key}`, "is required");
  else if (typeof value !== "string" || !SHORT_NAME.test(value)) {
    add(`${path}.${key}`, `must be a name of a-z, 0-9 and _: current value is ${show(value)}`);
  } else return true;
  return false;
}

function text(object: Record<string, unknown>, key: string, path: string, add: Add): void {
  const value = object[key];
  if (value === undefined) add(`${path}.${key}`, "is required");
  else if (typeof value !== "string" || value === "") {
    add(`${path}.${key}`, `must be a non-empty string: current value is ${show(value)}`);
  }
}

function optionalOf(
  object: Record<string, unknown>,
  key: string,
  type: "string" | "boolean",
  path: string,
  add: Add,
): void {
  const value = object[key];
  if (value !== undefined && typeof value !== type) {
    add(`${path}.${key}`, `must be a ${type}: current value is ${show(value)}`);
  }
}

/** A fault in a request's inputs, with the status code it answers with. */
export interface InputProblem {
  /** The input at fault; `""` when the request data as a whole is at fault. */
  input: string;
  /** 3 (MissingData) for a missing required input, 4 (InvalidData) for anything else. */
  statuscode: typeof StatusCodes.missingData | typeof StatusCodes.invalidData;
  /** Why, for the reply's `statusmsg`. */
  message: string;
}

/** What {@linkcode validateInputs} found. */
export interface InputValidation {
  /** The inputs with the DDL's defaults filled in (and `process_results` dropped). */
  data: Record<string, unknown>;
  /** Every fault, declared inputs first in DDL order, then undeclared ones. Empty when valid. */
  problems: InputProblem[];
  /** Things not enforced, such as validators Chorale does not have; worth logging. */
  warnings: string[];
}

/**
 * Validates a request's inputs against an action's DDL as a Choria server does, strictly on JSON
 * types (clients convert command-line strings before sending): checks each declared input's type,
 * `list`, `maxlength` and `validation`, reports missing required inputs and undeclared inputs, and
 * fills declared defaults.
 *
 * Types: `string`, `integer` (a whole number), `float` and `number` (any number), `boolean`,
 * `list` (one of the `list` strings), `hash` (an object), `array`, and `any` (unchecked).
 * Validations of string values: `shellsafe`, `ipv4address`, `ipv6address`, `ipaddress`,
 * `boolean`, `integer`, `float` and `number` (the string spells one), or a regular expression.
 *
 * @param action The action's DDL, as {@linkcode parseDdl} returns it.
 * @param data The request's data; anything but a JSON object is a fault.
 *
 * @example Find a shell metacharacter
 * ```ts
 * import { validateInputs } from "./ddl.ts";
 * const { problems } = validateInputs({
 *   action: "install", description: "Installs", output: {},
 *   input: {
 *     package: {
 *       prompt: "Package", description: "The package", type: "string", optional: false,
 *       validation: "shellsafe", maxlength: 90,
 *     },
 *   },
 * }, { package: "zsh; reboot" });
 * console.log(problems[0]!.message);
 * // "Cannot accept input 'package' as it is not shellsafe: contains ';'"
 * ```
 */
export function validateInputs(action: ActionDdl, data: unknown): InputValidation {
  const result: InputValidation = { data: {}, problems: [], warnings: [] };
  if (!isObject(data)) {
    result.problems.push({
      input: "",
      statuscode: StatusCodes.invalidData,
      message: `Cannot accept the request data as it is not a JSON object: current value is ${
        show(data)
      }`,
    });
    return result;
  }
  const declared = Object.keys(action.input);
  for (const name of declared) {
    const input = action.input[name]!;
    const value = Object.hasOwn(data, name) ? data[name] : undefined;
    if (value === undefined || value === null) {
      if (input.default !== undefined && input.default !== null) {
        result.data[name] = structuredClone(input.default);
      } else if (!input.optional) {
        result.problems.push({
          input: name,
          statuscode: StatusCodes.missingData,
          message: `Cannot run action '${action.action}' as input '${name}' is required`,
        });
      }
      continue;
    }
    const problem = typeProblem(input.type, value, result.warnings, input, name);
    if (problem !== undefined) {
      result.problems.push({
        input: name,
        statuscode: StatusCodes.invalidData,
        message: `Cannot accept input '${name}' as ${problem}`,
      });
      continue;
    }
    result.data[name] = value;
  }
  for (const name of Object.keys(data)) {
    if (Object.hasOwn(action.input, name) || name === "process_results") continue;
    const valid = declared.length === 0 ? "none" : declared.join(", ");
    result.problems.push({
      input: name,
      statuscode: StatusCodes.invalidData,
      message: `Cannot accept input '${name}' as action '${action.action}' does not declare it: ` +
        `valid inputs are ${valid}`,
    });
  }
  return result;
}

/**
 * Fills the outputs an action's DDL gives a `default` (even `null`) that the handler left out.
 * Outputs the DDL does not declare are kept, as Choria keeps them.
 *
 * @returns A new object; `output` is not changed.
 *
 * @example Fill a default
 * ```ts
 * import { fillOutputDefaults } from "./ddl.ts";
 * const data = fillOutputDefaults({
 *   action: "inventory", description: "Inventory", input: {},
 *   output: { upgradable: { description: "Upgrades", display_as: "Upgradable", default: false } },
 * }, { extra: 1 });
 * console.log(data); // { extra: 1, upgradable: false }
 * ```
 */
export function fillOutputDefaults(
  action: ActionDdl,
  output: Record<string, unknown>,
): Record<string, unknown> {
  const data: Record<string, unknown> = { ...output };
  for (const [name, item] of Object.entries(action.output) as [string, OutputDdl][]) {
    if (data[name] === undefined && Object.hasOwn(item, "default")) {
      data[name] = structuredClone(item.default);
    }
  }
  return data;
}

/** Why `value` does not suit `type` (and the input's other rules), or undefined when it does. */
function typeProblem(
  type: InputDdl["type"],
  value: unknown,
  warnings: string[],
  input?: InputDdl,
  name?: string,
): string | undefined {
  switch (type.toLowerCase()) {
    case "string": {
      if (typeof value !== "string") return `it is not a string: current value is ${show(value)}`;
      if (input === undefined) return undefined;
      const max = input.maxlength ?? 0;
      const length = [...value].length;
      if (max > 0 && length > max) {
        return `it is longer than ${max} characters: length is ${length}`;
      }
      if (input.validation === undefined) return undefined;
      const problem = validationProblem(input.validation, value);
      if (problem === "unknown") {
        warnings.push(
          `Cannot enforce validator '${input.validation}' on input '${name}' as Chorale does not have it`,
        );
        return undefined;
      }
      return problem;
    }
    case "integer":
      return typeof value === "number" && Number.isInteger(value)
        ? undefined
        : `it is not an integer: current value is ${show(value)}`;
    case "float":
      return typeof value === "number" && Number.isFinite(value)
        ? undefined
        : `it is not a float: current value is ${show(value)}`;
    case "number":
      return typeof value === "number" && Number.isFinite(value)
        ? undefined
        : `it is not a number: current value is ${show(value)}`;
    case "boolean":
      return typeof value === "boolean"
        ? undefined
        : `it is not a boolean: current value is ${show(value)}`;
    case "list": {
      const list = input?.list ?? [];
      if (input === undefined || list.includes(value)) return undefined;
      return `it is not one of ${list.map((v) => show(v)).join(", ")}: current value is ${
        show(value)
      }`;
    }
    case "hash":
      return isObject(value) ? undefined : `it is not a hash: current value is ${show(value)}`;
    case "array":
      return Array.isArray(value)
        ? undefined
        : `it is not an array: current value is ${show(value)}`;
    case "any":
      return undefined;
    default:
      return `its type '${type}' is not supported`;
  }
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN_TEXT = /^(true|false|t|f|yes|no|y|n|1|0)$/i;
const SHELL_UNSAFE = ["`", "$", ";", "|", "&&", ">", "<"];

/** Why `value` fails `validation`, "unknown" for a validator Chorale lacks, else undefined. */
function validationProblem(validation: string, value: string): string | undefined {
  const current = `current value is ${show(value)}`;
  switch (validation) {
    case "shellsafe": {
      const bad = shellUnsafe(value);
      return bad === undefined ? undefined : `it is not shellsafe: contains '${bad}'`;
    }
    case "ipv4address":
      return isIpv4(value) ? undefined : `it is not an IPv4 address: ${current}`;
    case "ipv6address": {
      const bytes = parseIpv6(value);
      return bytes !== undefined && !isV4Mapped(bytes)
        ? undefined
        : `it is not an IPv6 address: ${current}`;
    }
    case "ipaddress":
      return isIpv4(value) || parseIpv6(value) !== undefined
        ? undefined
        : `it is not an IP address: ${current}`;
    case "integer":
      return INTEGER_TEXT.test(value) ? undefined : `it is not an integer: ${current}`;
    case "float":
      return NUMBER_TEXT.test(value) ? undefined : `it is not a float: ${current}`;
    case "number":
      return NUMBER_TEXT.test(value) ? undefined : `it is not a number: ${current}`;
    case "boolean":
      return BOOLEAN_TEXT.test(value) ? undefined : `it is not a boolean: ${current}`;
  }
  if (NAMED_VALIDATOR.test(validation)) return "unknown";
  let pattern: RegExp;
  try {
    pattern = compileValidation(validation);
  } catch {
    // parseDdl rejects these; a hand-built DDL may still carry one.
    return `its validation '${validation}' is not a valid regular expression`;
  }
  return pattern.test(value) ? undefined : `it does not match '${validation}': ${current}`;
}

/** The first of Choria's shell-unsafe sequences in `value`, by position. */
function shellUnsafe(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    for (const bad of SHELL_UNSAFE) {
      if (value.startsWith(bad, i)) return bad;
    }
  }
  return undefined;
}

function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 &&
    parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

/** The 16 bytes of an IPv6 address in text form (no zone), or undefined. */
function parseIpv6(value: string): number[] | undefined {
  let text = value;
  let v4: number[] | undefined;
  const last = text.lastIndexOf(":");
  if (last < 0) return undefined;
  const tail = text.slice(last + 1);
  if (tail.includes(".")) {
    if (!isIpv4(tail)) return undefined;
    v4 = tail.split(".").map(Number);
    text = `${text.slice(0, last + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...rest];
  if (!all.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return undefined;
  if (halves.length === 1 ? all.length !== 8 : all.length > 7) return undefined;
  const words = [
    ...head,
    ...Array<string>(8 - all.length).fill("0"),
    ...rest,
  ].map((group) => parseInt(group, 16));
  const bytes = words.flatMap((word) => [word >> 8, word & 0xff]);
  if (v4 !== undefined) bytes.splice(12, 4, ...v4);
  return bytes;
}

function isV4Mapped(bytes: number[]): boolean {
  return bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: "\\s",
  blank: " \\t",
  xdigit: "0-9A-Fa-f",
  word: "\\w",
  punct: "!-\\/:-@\\[-`{-~",
  cntrl: "\\x00-\\x1f\\x7f",
  print: " -~",
  graph: "!-~",
};

/**
 * Compiles a DDL validation regular expression written for Ruby or Go into a JavaScript RegExp.
 * Throws a SyntaxError (or Error) when it cannot.
 */
function compileValidation(validation: string): RegExp {
  let source = validation;
  let flags = "";
  const ruby = /^\/(.*)\/([a-z]*)$/s.exec(validation);
  if (ruby !== null) {
    source = ruby[1]!;
    for (const flag of ruby[2]!) {
      if (flag === "i") flags += "i";
      else if (flag === "m") flags += "s"; // Ruby's m is JavaScript's dotAll
      else throw new Error(`flag '${flag}' is not supported`);
    }
  }
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (inline !== null) {
    for (const flag of inline[1]!) {
      if (flag !== "i" && flag !== "m" && flag !== "s") {
        throw new Error(`flag '${flag}' is not supported`);
      }
      if (!flags.includes(flag)) flags += flag;
    }
    source = source.slice(inline[0].length);
  }
  source = translate(source);
  try {
    return new RegExp(source, flags + "u");
  } catch {
    return new RegExp(source, flags);
  }
}

/** Rewrites `\A`, `\z`, `\Z`, `[]…]` and POSIX bracket classes for JavaScript. */
function translate(source: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const next = source[i + 1];
      if (next === undefined) {
        out += c;
        continue;
      }
      i++;
      if (!inClass && next === "A") out += "^";
      else if (!inClass && next === "z") out += "$";
      else if (!inClass && next === "Z") out += "(?=\\n?$)";
      else out += c + next;
      continue;
    }
    if (inClass) {
      if (c === "[" && source[i + 1] === ":") {
        const end = source.indexOf(":]", i + 2);
        const posix = end > 0 ? POSIX_CLASSES[source.slice(i + 2, end)] : undefined;
        if (posix !== undefined) {
          out += posix;
          i = end + 1;
          continue;
        }
      }
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    out += c;
    if (c === "[") {
      inClass = true;
      if (source[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (source[i + 1] === "]") {
        out += "\\]";
        i++;
      }
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short, quoted rendering of a value for messages; never the whole of a large payload. */
function show(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = `'${value}'`;
  else if (value === undefined) text = "undefined";
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
