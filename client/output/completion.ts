/**
 * Shell completion scripts for `chorale`, made from the program's own commands and options and
 * the agents' DDLs, so they never drift from the CLI: bash (`complete -F`) and zsh (`#compdef`,
 * `compadd`). Pure: a model in, script text out.
 *
 * @module
 */

/** A command as completion sees it. */
export interface CompletionCommand {
  name: string;
  aliases: string[];
  /** Every flag, short and long. */
  flags: string[];
  /** The flags that take a value (their next word is not an argument). */
  valueFlags: string[];
  subcommands: CompletionCommand[];
  /** Fixed choices for the first argument, such as `bash zsh`. */
  choices?: string[];
}

/** What completion knows. */
export interface CompletionModel {
  program: CompletionCommand;
  /** Actions and their inputs, by agent. */
  agents: Record<string, Record<string, string[]>>;
}

const SAFE = /^[A-Za-z0-9_.:=\/@%+,-]+$/;

function words(list: readonly string[]): string {
  return list.filter((w) => SAFE.test(w)).join(" ");
}

function names(command: CompletionCommand): string {
  return [command.name, ...command.aliases].filter((n) => SAFE.test(n)).join("|");
}

/** The shell `case` arms shared by both scripts: what to offer at each position. */
function cases(
  model: CompletionModel,
  offer: (list: string) => string,
  files: string,
  at: (n: number) => string,
): string {
  const arms: string[] = [];
  const agentNames = Object.keys(model.agents).sort();
  const actionArms = agentNames.map((agent) =>
    `        ${agent}) ${offer(words(Object.keys(model.agents[agent]!)))} ;;`
  ).join("\n");
  const inputArms = agentNames.flatMap((agent) =>
    Object.entries(model.agents[agent]!).map(([action, inputs]) =>
      `        ${agent}/${action}) ${offer(words(inputs.map((i) => `${i}=`)))} ;;`
    )
  ).join("\n");
  for (const command of model.program.subcommands) {
    const flagsOf = (c: CompletionCommand) => words(c.flags);
    let body: string;
    if (command.subcommands.length > 0) {
      const subArms = command.subcommands.map((sub) => {
        const extra = command.name === "plugin" && sub.name === "doc"
          ? `[[ $npos -eq 2 && $cur != -* ]] && { ${offer(words(agentNames))}; return; }; `
          : "";
        return `        ${names(sub)}) ${extra}if [[ $cur == -* ]]; then ${
          offer(flagsOf(sub))
        }; else ${files}; fi ;;`;
      }).join("\n");
      body = `      if [[ $npos -eq 1 ]]; then ${
        offer(words(command.subcommands.map((s) => s.name)))
      }; return; fi
      case "${at(1)}" in
${subArms}
      esac`;
    } else if (command.name === "rpc") {
      body = `      if [[ $cur == -* ]]; then ${offer(flagsOf(command))}; return; fi
      if [[ $npos -eq 1 ]]; then ${offer(words(agentNames))}; return; fi
      if [[ $npos -eq 2 ]]; then
        case "${at(1)}" in
${actionArms}
        esac
        return
      fi
      case "${at(1)}/${at(2)}" in
${inputArms}
      esac`;
    } else if (command.choices !== undefined) {
      body = `      if [[ $cur == -* ]]; then ${offer(flagsOf(command))}; return; fi
      [[ $npos -eq 1 ]] && ${offer(words(command.choices))}`;
    } else {
      body = `      if [[ $cur == -* ]]; then ${offer(flagsOf(command))}; return; fi
      ${files}`;
    }
    arms.push(`    ${names(command)})\n${body}\n      ;;`);
  }
  return arms.join("\n");
}

function valueFlags(model: CompletionModel): string {
  const all = new Set<string>();
  const walk = (c: CompletionCommand) => {
    c.valueFlags.forEach((f) => all.add(f));
    c.subcommands.forEach(walk);
  };
  walk(model.program);
  return words([...all].sort());
}

/**
 * A bash completion script: `source <(chorale completion bash)`.
 *
 * @example
 * ```ts
 * import { renderBashCompletion } from "./completion.ts";
 * const script = renderBashCompletion({
 *   program: { name: "chorale", aliases: [], flags: [], valueFlags: [], subcommands: [] },
 *   agents: {},
 * });
 * console.log(script.includes("complete -F _chorale chorale")); // true
 * ```
 */
export function renderBashCompletion(model: CompletionModel): string {
  const offer = (list: string) => `COMPREPLY=($(compgen -W "${list}" -- "$cur"))`;
  return `# bash completion for chorale; load it with: source <(chorale completion bash)
_chorale() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local takes_value=" ${valueFlags(model)} "
  local -a pos=()
  local i w skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ $skip -eq 1 ]]; then skip=0; continue; fi
    if [[ $w == -* ]]; then
      [[ $w != *=* && $takes_value == *" $w "* ]] && skip=1
      continue
    fi
    pos+=("$w")
  done
  local npos=\${#pos[@]}
  if [[ $skip -eq 1 ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi
  if [[ $npos -eq 0 ]]; then
    if [[ $cur == -* ]]; then ${offer(words(model.program.flags))}; else ${
    offer(words(model.program.subcommands.flatMap((c) => [c.name, ...c.aliases])))
  }; fi
    return
  fi
  # pos[0] is the command, pos[1] its first argument; npos counts them all.
  case "\${pos[0]}" in
${cases(model, offer, 'COMPREPLY=($(compgen -f -- "$cur"))', (n) => `\${pos[${n}]}`)}
  esac
  if [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == *= ]] && type compopt &>/dev/null; then
    compopt -o nospace
  fi
}
complete -F _chorale chorale
`;
}

/**
 * A zsh completion script: save it as `_chorale` in a directory on `$fpath`, or
 * `source <(chorale completion zsh)`.
 *
 * @example
 * ```ts
 * import { renderZshCompletion } from "./completion.ts";
 * const script = renderZshCompletion({
 *   program: { name: "chorale", aliases: [], flags: [], valueFlags: [], subcommands: [] },
 *   agents: {},
 * });
 * console.log(script.startsWith("#compdef chorale")); // true
 * ```
 */
export function renderZshCompletion(model: CompletionModel): string {
  const offer = (list: string) => `compadd -S '' -- \${=:-"${list}"}`;
  // zsh arrays count from 1, so the command is pos[1] and its first argument pos[2].
  const body = cases(
    model,
    (list) =>
      list.split(" ").some((w) => w.endsWith("=")) ? offer(list) : `compadd -- \${=:-"${list}"}`,
    "_files",
    (n) => `\${pos[${n + 1}]}`,
  );
  return `#compdef chorale
# zsh completion for chorale; save as _chorale on $fpath, or: source <(chorale completion zsh)
_chorale() {
  local cur="\${words[CURRENT]}"
  local takes_value=" ${valueFlags(model)} "
  local -a pos
  local i w skip=0
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if [[ $skip -eq 1 ]]; then skip=0; continue; fi
    if [[ $w == -* ]]; then
      [[ $w != *=* && $takes_value == *" $w "* ]] && skip=1
      continue
    fi
    pos+=("$w")
  done
  local npos=\${#pos}
  if [[ $skip -eq 1 ]]; then _files; return; fi
  if [[ \${#pos} -eq 0 ]]; then
    if [[ $cur == -* ]]; then compadd -- \${=:-"${
    words(model.program.flags)
  }"}; else compadd -- \${=:-"${
    words(model.program.subcommands.flatMap((c) => [c.name, ...c.aliases]))
  }"}; fi
    return
  fi
  case "\${pos[1]}" in
${body}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _chorale "$@"
else
  compdef _chorale chorale
fi
`;
}
