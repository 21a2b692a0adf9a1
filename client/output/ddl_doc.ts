/**
 * An agent's DDL rendered as help: `chorale plugin doc AGENT` (everything), `chorale rpc AGENT
 * --help` (the actions and their inputs) and `chorale rpc AGENT ACTION --help` (one action). The
 * DDL is the single source: nothing here is written by hand per agent. Pure.
 *
 * @module
 */
import type { ActionDdl, AgentDdl, InputDdl } from "../../agents/agent.ts";
import { formatPairs } from "./format.ts";

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => indent + l).join("\n");
}

/**
 * An input's rule in a few words: `string, required, matches '^\w+$', at most 512 characters`.
 *
 * @example
 * ```ts
 * import { describeInput } from "./ddl_doc.ts";
 * console.log(describeInput({
 *   prompt: "Package", description: "", type: "string", optional: false,
 *   validation: "shellsafe", maxlength: 90,
 * }));
 * // "string, required, shellsafe, at most 90 characters"
 * ```
 */
export function describeInput(input: InputDdl): string {
  const parts: string[] = [input.type, input.optional ? "optional" : "required"];
  if (input.type === "list" && input.list !== undefined) {
    parts.push(`one of ${input.list.map((v) => String(v)).join(", ")}`);
  }
  if (input.validation !== undefined && input.validation !== "") {
    parts.push(
      /^[a-z][a-z0-9_]*$/.test(input.validation)
        ? input.validation
        : `matches '${input.validation}'`,
    );
  }
  if (input.maxlength !== undefined && input.maxlength > 0) {
    parts.push(`at most ${input.maxlength} characters`);
  }
  if (input.default !== undefined && input.default !== null) {
    parts.push(`default ${JSON.stringify(input.default)}`);
  }
  return parts.join(", ");
}

function inputLines(action: ActionDdl, indent: string): string {
  const names = Object.keys(action.input);
  if (names.length === 0) return `${indent}no inputs`;
  const width = Math.max(...names.map((n) => n.length));
  return names.map((name) => {
    const input = action.input[name]!;
    return `${indent}${name.padEnd(width)}  ${input.description || input.prompt}\n` +
      `${indent}${" ".repeat(width)}  (${describeInput(input)})`;
  }).join("\n");
}

function outputLines(action: ActionDdl, indent: string): string {
  const names = Object.keys(action.output);
  if (names.length === 0) return `${indent}no outputs`;
  const width = Math.max(...names.map((n) => n.length));
  return names.map((name) => {
    const output = action.output[name]!;
    const type = output.type ? ` (${output.type})` : "";
    return `${indent}${name.padEnd(width)}  ${output.description}${type}`;
  }).join("\n");
}

/** `chorale rpc AGENT --help`: what the agent does, its actions and their inputs. */
export function renderAgentHelp(ddl: AgentDdl, program = "chorale rpc"): string {
  const { metadata } = ddl;
  const width = Math.max(...ddl.actions.map((a) => a.action.length));
  const actions = ddl.actions.map((action) => {
    const inputs = Object.entries(action.input).map(([name, input]) =>
      `${name}=${input.type.toUpperCase()}${input.optional ? "" : " (required)"}`
    );
    const head = `  ${action.action.padEnd(width)}  ${action.description}`;
    return inputs.length === 0 ? head : `${head}\n  ${" ".repeat(width)}    ${inputs.join("  ")}`;
  });
  return [
    `Usage: ${program} ${metadata.name} ACTION [key=value ...] [options]`,
    "",
    wrap(metadata.description, 96, ""),
    `(${metadata.name} ${metadata.version}, timeout ${metadata.timeout} s)`,
    "",
    "Actions:",
    ...actions,
    "",
    `Run '${program} ${metadata.name} ACTION --help' for an action's inputs and outputs, and ` +
    `'${program} --help' for the filter and output options.`,
    "",
  ].join("\n");
}

/** `chorale rpc AGENT ACTION --help`: one action, its inputs with their rules, its outputs. */
export function renderActionHelp(
  ddl: AgentDdl,
  action: ActionDdl,
  program = "chorale rpc",
): string {
  const inputs = Object.entries(action.input);
  const usage = inputs.map(([name, input]) => (input.optional ? `[${name}=...]` : `${name}=...`));
  return [
    `Usage: ${program} ${ddl.metadata.name} ${action.action} ${usage.join(" ")}${
      usage.length > 0 ? " " : ""
    }[options]`,
    "",
    wrap(action.description, 96, ""),
    "",
    "Inputs:",
    inputLines(action, "  "),
    "",
    "Outputs:",
    outputLines(action, "  "),
    "",
    `Shows ${
      action.display === "always"
        ? "every reply"
        : action.display === "ok"
        ? "successful replies"
        : "failed replies"
    } unless --display says otherwise.`,
    "",
  ].join("\n");
}

/** `chorale plugin doc AGENT`: the whole DDL as a reference page. */
export function renderDdlDoc(ddl: AgentDdl): string {
  const { metadata } = ddl;
  const head = [
    `${metadata.name} version ${metadata.version}`,
    "",
    wrap(metadata.description, 96, ""),
    "",
    formatPairs([
      ["Author", metadata.author],
      ["License", metadata.license],
      ["URL", metadata.url],
      ["Timeout", `${metadata.timeout} seconds`],
    ], 6),
    "",
    "ACTIONS:",
    wrap(ddl.actions.map((a) => a.action).join(", "), 93, "   "),
  ];
  const actions = ddl.actions.map((action) => {
    const block = [
      `${action.action} action:`,
      wrap(action.description, 93, "   "),
      "",
      `   Display: ${action.display ?? "failed"}`,
      "",
      "   INPUT:",
    ];
    const inputs = Object.entries(action.input);
    if (inputs.length === 0) block.push("      This action does not have any inputs");
    for (const [name, input] of inputs) {
      const pairs: [string, string][] = [
        ["Description", input.description],
        ["Prompt", input.prompt],
        ["Type", input.type],
        ["Optional", String(input.optional)],
      ];
      if (input.validation !== undefined) pairs.push(["Validation", input.validation]);
      if (input.maxlength !== undefined) pairs.push(["Length", String(input.maxlength)]);
      if (input.list !== undefined) pairs.push(["Values", input.list.map(String).join(", ")]);
      if (input.default !== undefined && input.default !== null) {
        pairs.push(["Default", JSON.stringify(input.default)]);
      }
      block.push(`      ${name}:`, formatPairs(pairs, 9), "");
    }
    block.push("   OUTPUT:");
    const outputs = Object.entries(action.output);
    if (outputs.length === 0) block.push("      This action does not have any outputs");
    for (const [name, output] of outputs) {
      const pairs: [string, string][] = [
        ["Description", output.description],
        ["Display As", output.display_as],
      ];
      if (output.type !== undefined) pairs.push(["Type", output.type]);
      if (output.default !== undefined) pairs.push(["Default", JSON.stringify(output.default)]);
      block.push(`      ${name}:`, formatPairs(pairs, 9), "");
    }
    const aggregates = (action.aggregate ?? []).map((a) => {
      const spec = a as { function?: unknown; args?: unknown[] };
      return `${String(spec.function)}(${
        (spec.args ?? []).map((x) => JSON.stringify(x)).join(", ")
      })`;
    });
    if (aggregates.length > 0) {
      block.push(
        "   SUMMARIES:",
        ...aggregates.map((a) => `      ${a}`),
        "",
      );
    }
    return block.join("\n").trimEnd();
  });
  return [...head, "", ...actions.flatMap((a) => [a, ""])].join("\n");
}
