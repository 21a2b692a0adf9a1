/**
 * A machine as a Graphviz DOT graph: one node per state (the initial one doubled), one edge per
 * transition from each of its `from` states, labelled with its name. Pure.
 *
 * @module
 */
import type { MachineManifest } from "./manifest.ts";

function quote(text: string): string {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * The DOT text of a machine.
 *
 * @example Graph a machine
 * ```ts
 * import { machineGraph } from "./graph.ts";
 * console.log(machineGraph({
 *   name: "m", version: "1.0.0", initial_state: "off", splay_start: 0, watchers: [],
 *   transitions: [{ name: "on", from: ["off"], destination: "on" }],
 * }).includes('"off" -> "on" [label="on"];')); // true
 * ```
 */
export function machineGraph(manifest: MachineManifest): string {
  const states = new Set<string>([manifest.initial_state]);
  for (const t of manifest.transitions) {
    for (const f of t.from) states.add(f);
    states.add(t.destination);
  }
  const lines = [
    `digraph ${quote(manifest.name)} {`,
    `  label=${quote(`${manifest.name} ${manifest.version}`)};`,
    "  rankdir=LR;",
  ];
  for (const state of states) {
    lines.push(
      `  ${quote(state)} [shape=${state === manifest.initial_state ? "doublecircle" : "circle"}];`,
    );
  }
  for (const t of manifest.transitions) {
    for (const from of t.from) {
      lines.push(`  ${quote(from)} -> ${quote(t.destination)} [label=${quote(t.name)}];`);
    }
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
