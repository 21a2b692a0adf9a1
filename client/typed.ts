/**
 * Typed agent clients, from the DDL, the single source of an agent's actions, inputs and
 * outputs.
 *
 * {@linkcode typedAgent} infers everything from a DDL known to the compiler (a literal, or one
 * written `as const`): one method per action, so a wrong action name does not compile; inputs
 * typed from each input's `type` (a `list` input takes only its listed values), required unless
 * `optional` or given a default; outputs typed from each output's `type`, all optional (an action
 * may leave any out). A DDL read at run time (`parseDdl`, a JSON import) has only `string`s for
 * the compiler to see, so its methods take any name and its values are `unknown`: for those,
 * {@linkcode generateClient} writes a module with the types spelled out, as
 * `chorale generate client DDL` does.
 *
 * @module
 */
import type { AgentDdl } from "../agents/agent.ts";
import type { RpcCall, RpcOptions, RpcResult, RpcStats } from "./types.ts";

/** What a typed client calls: a {@linkcode Client}, or anything with its `rpc`. */
export interface RpcCaller {
  /** Starts a call. */
  rpc(options: RpcOptions): RpcCall;
}

/** One input of a DDL, as the compiler needs it. */
export interface InputShape {
  readonly type: string;
  readonly optional: boolean;
  readonly default?: unknown;
  readonly list?: readonly unknown[];
}

/** One output of a DDL, as the compiler needs it. */
export interface OutputShape {
  readonly type?: string;
  readonly [key: string]: unknown;
}

/** One action of a DDL, as the compiler needs it. */
export interface ActionShape {
  readonly action: string;
  readonly input: { readonly [name: string]: InputShape };
  readonly output: { readonly [name: string]: OutputShape };
}

/** A DDL as the compiler needs it: an {@linkcode AgentDdl}, or one written `as const`. */
export interface DdlShape {
  readonly metadata: { readonly name: string; readonly timeout: number };
  readonly actions: readonly ActionShape[];
}

/** The value type of a DDL type name; `list` takes its listed values. */
export type DdlValue<T, L = never> = string extends T ? unknown
  : T extends "string" ? string
  : T extends "list" ? ([L] extends [readonly (infer E)[]] ? E : string)
  : T extends "integer" | "float" | "number" ? number
  : T extends "boolean" ? boolean
  : T extends "hash" ? Record<string, unknown>
  : T extends "array" ? unknown[]
  : unknown;

/** The action names of a DDL. */
export type ActionName<D extends DdlShape> = D["actions"][number]["action"];

/** One action of a DDL, by name. */
export type ActionOf<D extends DdlShape, A extends ActionName<D>> = Extract<
  D["actions"][number],
  { readonly action: A }
>;

type Simplify<T> = { [K in keyof T]: T[K] } & unknown;

type RequiredInputKeys<I> = {
  [K in keyof I]: I[K] extends { readonly optional: false }
    ? (I[K] extends { readonly default: NonNullable<unknown> } ? never : K)
    : never;
}[keyof I];

type InputValue<S> = S extends { readonly type: infer T; readonly list: infer L } ? DdlValue<T, L>
  : S extends { readonly type: infer T } ? DdlValue<T>
  : unknown;

/** The inputs of one action: required unless optional or defaulted. */
export type InputsOf<A extends ActionShape> = Simplify<
  & { -readonly [K in RequiredInputKeys<A["input"]>]: InputValue<A["input"][K]> }
  & {
    -readonly [K in Exclude<keyof A["input"], RequiredInputKeys<A["input"]>>]?: InputValue<
      A["input"][K]
    >;
  }
>;

/** The outputs of one action, each optional. */
export type OutputsOf<A extends ActionShape> = Simplify<
  {
    -readonly [K in keyof A["output"]]?: A["output"][K] extends { readonly type: infer T }
      ? DdlValue<T>
      : unknown;
  }
>;

/** A reply whose data has the action's output types. */
export type TypedRpcResult<O> = Omit<RpcResult, "data"> & { data: O };

/** A typed call in progress: iterate replies as they come, or await them all. */
export interface TypedRpcCall<O> extends AsyncIterable<TypedRpcResult<O>> {
  /** Every reply (sorted by sender) and the stats, once the call ends. */
  done(): Promise<{ results: TypedRpcResult<O>[]; stats: RpcStats }>;
}

/** Everything a call takes besides the agent, action, inputs and DDL. */
export type TypedCallOptions = Omit<RpcOptions, "agent" | "action" | "data" | "ddl">;

/** A method of a typed client: inputs may be left out when none is required. */
export type ActionMethod<I, O> = Partial<I> extends I
  ? (data?: I, options?: TypedCallOptions) => TypedRpcCall<O>
  : (data: I, options?: TypedCallOptions) => TypedRpcCall<O>;

/** A typed client: one method per action of the DDL. */
export type TypedAgent<D extends DdlShape> = {
  readonly [A in ActionName<D>]: ActionMethod<
    InputsOf<ActionOf<D, A>>,
    OutputsOf<ActionOf<D, A>>
  >;
};

/**
 * A typed client for the agent a DDL describes: `agent.ping()`, `agent.get_fact({ fact })`.
 * Each call validates its inputs against the DDL before sending (throwing `InputError`) and takes
 * the usual call options (nodes, filter, limit, batches, timeout).
 *
 * @example A wrong action name does not compile
 * ```ts
 * import { typedAgent, type RpcCaller } from "./typed.ts";
 *
 * const hello = {
 *   metadata: { name: "hello", timeout: 2 },
 *   actions: [{
 *     action: "greet",
 *     input: { name: { type: "string", optional: false } },
 *     output: { greeting: { type: "string" } },
 *   }],
 * } as const;
 *
 * // Type-checked only: it needs a client connected to a fleet.
 * export async function greet(client: RpcCaller): Promise<void> {
 *   const agent = typedAgent(client, hello);
 *   const { results } = await agent.greet({ name: "world" }, { timeoutMs: 5_000 }).done();
 *   const greeting: string | undefined = results[0]?.data.greeting;
 *   console.log(greeting);
 *   // @ts-expect-error: the DDL has no action 'wave'
 *   agent.wave();
 * }
 * ```
 */
export function typedAgent<const D extends DdlShape>(caller: RpcCaller, ddl: D): TypedAgent<D> {
  const agent = ddl.metadata.name;
  const methods: Record<string, unknown> = {};
  for (const { action } of ddl.actions) {
    methods[action] = (data: Record<string, unknown> = {}, options: TypedCallOptions = {}) =>
      caller.rpc({ ...options, agent, action, data, ddl: ddl as unknown as AgentDdl });
  }
  return Object.freeze(methods) as TypedAgent<D>;
}

/** Options for {@linkcode generateClient}. */
export interface GenerateClientOptions {
  /** Where the generated module imports Chorale from. @default "jsr:@chorale/chorale" */
  importFrom?: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function pascal(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((part) =>
    part[0]!.toUpperCase() + part.slice(1)
  ).join("");
}

function camel(name: string): string {
  const p = pascal(name);
  return p === "" ? "agent" : p[0]!.toLowerCase() + p.slice(1);
}

function property(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

function docLine(text: string | undefined, indent: string): string {
  const clean = (text ?? "").replaceAll("*/", "*\\/").replace(/\s+/g, " ").trim();
  return clean === "" ? "" : `${indent}/** ${clean} */\n`;
}

function typeText(type: string | undefined, list?: readonly unknown[]): string {
  switch (type) {
    case "string":
      return "string";
    case "list":
      return list && list.length > 0
        ? list.map((v) => JSON.stringify(String(v))).join(" | ")
        : "string";
    case "integer":
    case "float":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "hash":
      return "Record<string, unknown>";
    case "array":
      return "unknown[]";
    default:
      return "unknown";
  }
}

function exampleValue(input: AgentDdl["actions"][number]["input"][string]): string {
  if (input.type === "list" && input.list && input.list.length > 0) {
    return JSON.stringify(String(input.list[0]));
  }
  if (["integer", "float", "number"].includes(input.type)) return "1";
  if (input.type === "boolean") return "true";
  if (input.type === "hash") return "{}";
  if (input.type === "array") return "[]";
  return JSON.stringify(input.prompt || "value");
}

// `.ping()` or `.status({ package: "Package" })`: the required inputs with sample values.
function exampleCall(action: AgentDdl["actions"][number] | undefined): string {
  if (action === undefined) return "";
  const required = Object.entries(action.input).filter(([, input]) =>
    !input.optional && (input.default === undefined || input.default === null)
  );
  const inputs = required.map(([name, input]) => `${property(name)}: ${exampleValue(input)}`);
  const accessor = IDENTIFIER.test(action.action)
    ? `.${action.action}`
    : `[${JSON.stringify(action.action)}]`;
  return `${accessor}(${inputs.length === 0 ? "" : `{ ${inputs.join(", ")} }`})`;
}

/**
 * The source of a TypeScript module with a typed client for a DDL: an interface of inputs and of
 * outputs per action, an interface with one documented method per action, the DDL itself (so
 * calls validate their inputs), and a factory, `<agent>Client(client)`. The module is formatted
 * as `deno fmt` would leave most of it; run `deno fmt` on it to be sure.
 *
 * @param ddl The agent's DDL, as `parseDdl` returns it.
 *
 * @example Generate a client for a small agent
 * ```ts
 * import { generateClient } from "./typed.ts";
 * const source = generateClient({
 *   metadata: {
 *     name: "hello", description: "Says hello", author: "me", license: "Apache-2.0",
 *     version: "1.0.0", url: "https://example.net", timeout: 2,
 *   },
 *   actions: [{
 *     action: "greet", description: "Greets", output: {},
 *     input: { name: { prompt: "Name", description: "Who", type: "string", optional: false } },
 *   }],
 * });
 * console.log(source.includes("export interface HelloGreetInputs {")); // true
 * ```
 */
export function generateClient(ddl: AgentDdl, options: GenerateClientOptions = {}): string {
  const from = JSON.stringify(options.importFrom ?? "jsr:@chorale/chorale");
  const agent = ddl.metadata.name;
  const Agent = pascal(agent);
  const ddlName = `${camel(agent)}Ddl`;
  const lines: string[] = [];
  lines.push(
    "/**",
    ` * A typed client for the \`${agent}\` agent, version ${ddl.metadata.version}: ${
      (ddl.metadata.description ?? "").replaceAll("*/", "*\\/")
    }`,
    " *",
    " * Generated by `chorale generate client` from the agent's DDL: do not edit, generate again.",
    " *",
    " * @module",
    " */",
    `import { typedAgent } from ${from};`,
    `import type { RpcCaller, TypedCallOptions, TypedRpcCall } from ${from};`,
    "",
  );
  const methods: string[] = [];
  for (const action of ddl.actions) {
    const Action = `${Agent}${pascal(action.action)}`;
    let inputs = "";
    let required = false;
    for (const [name, input] of Object.entries(action.input)) {
      const optional = input.optional || (input.default !== undefined && input.default !== null);
      required ||= !optional;
      inputs += docLine(input.description, "  ");
      inputs += `  ${property(name)}${optional ? "?" : ""}: ${typeText(input.type, input.list)};\n`;
    }
    let outputs = "";
    for (const [name, output] of Object.entries(action.output)) {
      outputs += docLine(output.description, "  ");
      outputs += `  ${property(name)}?: ${typeText(output.type)};\n`;
    }
    lines.push(
      `/** Inputs of \`${agent}#${action.action}\`. */`,
      `export interface ${Action}Inputs {${inputs === "" ? "" : `\n${inputs}`}}`,
      "",
      `/** Outputs of \`${agent}#${action.action}\`, each of which a node may leave out. */`,
      `export interface ${Action}Outputs {${outputs === "" ? "" : `\n${outputs}`}}`,
      "",
    );
    methods.push(
      docLine(action.description, "  ") +
        `  ${property(action.action)}(\n    data${required ? "" : "?"}: ${Action}Inputs,\n` +
        `    options?: TypedCallOptions,\n  ): TypedRpcCall<${Action}Outputs>;\n`,
    );
  }
  lines.push(
    `/** The \`${agent}\` agent's actions. */`,
    `export interface ${Agent}Client {\n${methods.join("")}}`,
    "",
    "/** The DDL calls validate their inputs against. */",
    `export const ${ddlName} = ${JSON.stringify(ddl, null, 2)} as const;`,
    "",
    "/**",
    ` * A typed client for the \`${agent}\` agent.`,
    " *",
    " * @example Call an action on every node",
    " * ```ts ignore",
    ` * const agent = ${camel(agent)}Client(client);`,
    ` * const { results, stats } = await agent${exampleCall(ddl.actions[0])}.done();`,
    " * ```",
    " */",
    `export function ${camel(agent)}Client(client: RpcCaller): ${Agent}Client {`,
    `  return typedAgent(client, ${ddlName});`,
    "}",
    "",
  );
  return lines.join("\n");
}
