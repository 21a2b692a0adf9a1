/**
 * The inputs of `chorale rpc AGENT ACTION key=value ...`: each argument split at its first `=`,
 * converted from text to the type the action's DDL declares, then validated by the same rules a
 * server applies, so a request that would be refused is never sent. Pure.
 *
 * Conversions: `integer` (whole numbers), `float` and `number` (decimal or exponent notation),
 * `boolean` (`true`, `false`, `yes`, `no`, `y`, `n`, `t`, `f`, `1`, `0`, any case), `hash` (a JSON
 * object), `array` (a JSON array, else comma-separated strings), `any` (JSON when it parses, else
 * the text), `string` and `list` (the text as is).
 *
 * @module
 */
import { type ActionDdl, type InputDdl, StatusCodes } from "../agents/agent.ts";
import { type InputProblem, validateInputs } from "../agents/ddl.ts";
import { InputError } from "./errors.ts";

/** Options for {@linkcode parseRpcInputs}. */
export interface ParseRpcInputsOptions {
  /** The agent, for the error. @default "" */
  agent?: string;
}

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = ["true", "yes", "y", "t", "1"];
const FALSE = ["false", "no", "n", "f", "0"];

/**
 * Converts one command-line value to `input`'s DDL type, or returns why it cannot.
 *
 * @example
 * ```ts
 * import { convertInput } from "./rpc_inputs.ts";
 * const flag = { prompt: "", description: "", type: "boolean" as const, optional: true };
 * console.log(convertInput("force", flag, "yes")); // { value: true }
 * ```
 */
export function convertInput(
  name: string,
  input: InputDdl,
  text: string,
): { value: unknown } | { problem: string } {
  const bad = (what: string) => ({
    problem: `Cannot accept input '${name}' as it is not ${what}: current value is '${text}'`,
  });
  switch (input.type) {
    case "integer": {
      if (!INTEGER.test(text.trim())) return bad("an integer");
      const value = Number(text);
      return Number.isSafeInteger(value) ? { value } : bad("an integer JSON can carry");
    }
    case "float":
    case "number":
      return NUMBER.test(text.trim()) ? { value: Number(text) } : bad(`a ${input.type}`);
    case "boolean": {
      const lower = text.trim().toLowerCase();
      if (TRUE.includes(lower)) return { value: true };
      if (FALSE.includes(lower)) return { value: false };
      return bad("a boolean (true, false, yes or no)");
    }
    case "hash": {
      const value = parseJson(text);
      return value !== undefined && typeof value.value === "object" && value.value !== null &&
          !Array.isArray(value.value)
        ? value
        : bad('a JSON object such as {"key":"value"}');
    }
    case "array": {
      if (text.trim().startsWith("[")) {
        const value = parseJson(text);
        return value !== undefined && Array.isArray(value.value) ? value : bad("a JSON array");
      }
      return { value: text === "" ? [] : text.split(",").map((item) => item.trim()) };
    }
    case "any":
      return parseJson(text) ?? { value: text };
    default:
      return { value: text };
  }
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/**
 * Turns `key=value` arguments into the request data for `action`, converted and validated
 * against its DDL (undeclared inputs, missing required ones, types, `list`, `maxlength`,
 * `validation`). Defaults are left for the server to fill.
 *
 * @throws {InputError} Listing every problem, each one sentence.
 *
 * @example
 * ```ts
 * import { parseRpcInputs } from "./rpc_inputs.ts";
 * const action = {
 *   action: "get_fact", description: "", output: {},
 *   input: {
 *     fact: {
 *       prompt: "Fact", description: "", type: "string" as const, optional: false,
 *       validation: ".+", maxlength: 512,
 *     },
 *   },
 * };
 * console.log(parseRpcInputs(action, ["fact=role"])); // { fact: "role" }
 * ```
 */
export function parseRpcInputs(
  action: ActionDdl,
  args: readonly string[],
  options: ParseRpcInputsOptions = {},
): Record<string, unknown> {
  const problems: InputProblem[] = [];
  const invalid = (input: string, message: string) =>
    problems.push({ input, statuscode: StatusCodes.invalidData, message });
  const data: Record<string, unknown> = {};
  // Inputs whose text did not convert: already reported, so not "required" as well.
  const failed = new Set<string>();
  const seen = new Set<string>();
  for (const arg of args) {
    const at = arg.indexOf("=");
    if (at <= 0) {
      invalid("", `Cannot read argument '${arg}' as it is not key=value`);
      continue;
    }
    const name = arg.slice(0, at);
    const text = arg.slice(at + 1);
    if (seen.has(name)) {
      invalid(name, `Cannot accept input '${name}' twice`);
      continue;
    }
    seen.add(name);
    const input = action.input[name];
    if (input === undefined) {
      // Left in so validateInputs names the inputs the action does declare.
      data[name] = text;
      continue;
    }
    const converted = convertInput(name, input, text);
    if ("problem" in converted) {
      invalid(name, converted.problem);
      failed.add(name);
    } else data[name] = converted.value;
  }
  const checked = validateInputs(action, data);
  for (const problem of checked.problems) {
    if (!failed.has(problem.input)) problems.push(problem);
  }
  if (problems.length > 0) {
    const agent = options.agent ?? "";
    throw new InputError(
      `Cannot call ${agent}#${action.action} as ${
        problems.length === 1 ? "an input is" : "its inputs are"
      } invalid`,
      { agent, action: action.action, problems },
    );
  }
  return data;
}
