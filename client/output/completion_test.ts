import assert from "node:assert/strict";
import { type CompletionModel, renderBashCompletion, renderZshCompletion } from "./completion.ts";

const model: CompletionModel = {
  program: {
    name: "chorale",
    aliases: [],
    flags: ["-V", "--version", "--help"],
    valueFlags: [],
    subcommands: [
      {
        name: "rpc",
        aliases: ["req"],
        flags: ["--help", "-F", "--with-fact", "--json"],
        valueFlags: ["-F", "--with-fact"],
        subcommands: [],
      },
      {
        name: "plugin",
        aliases: [],
        flags: ["--help"],
        valueFlags: [],
        subcommands: [{
          name: "doc",
          aliases: [],
          flags: ["--help", "--ddl-dir"],
          valueFlags: ["--ddl-dir"],
          subcommands: [],
        }],
      },
      {
        name: "completion",
        aliases: [],
        flags: ["--help"],
        valueFlags: [],
        subcommands: [],
        choices: ["bash", "zsh"],
      },
    ],
  },
  agents: { rpcutil: { ping: [], get_fact: ["fact"] } },
};

async function bashAvailable(): Promise<boolean> {
  try {
    return (await new Deno.Command("bash", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** What the bash script offers for a command line whose last word is being completed. */
async function complete(line: string[]): Promise<string[]> {
  const script = renderBashCompletion(model) + `
COMP_WORDS=(${line.map((w) => `'${w}'`).join(" ")})
COMP_CWORD=${line.length - 1}
_chorale
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).sort();
}

Deno.test("renderBashCompletion offers commands, agents, actions, inputs and flags", async () => {
  const script = renderBashCompletion(model);
  assert.match(script, /complete -F _chorale chorale\n$/);
  if (!(await bashAvailable())) return;
  assert.deepEqual(await complete(["chorale", ""]), ["completion", "plugin", "req", "rpc"]);
  assert.deepEqual(await complete(["chorale", "rpc", ""]), ["rpcutil"]);
  assert.deepEqual(await complete(["chorale", "req", "rpcutil", "g"]), ["get_fact"]);
  assert.deepEqual(await complete(["chorale", "rpc", "rpcutil", "get_fact", ""]), ["fact="]);
  // An option's value is not an argument: the agent is still the first one.
  assert.deepEqual(await complete(["chorale", "rpc", "-F", "role=web", "r"]), ["rpcutil"]);
  assert.deepEqual(await complete(["chorale", "rpc", "--w"]), ["--with-fact"]);
  assert.deepEqual(await complete(["chorale", "plugin", ""]), ["doc"]);
  assert.deepEqual(await complete(["chorale", "plugin", "doc", ""]), ["rpcutil"]);
  assert.deepEqual(await complete(["chorale", "completion", ""]), ["bash", "zsh"]);
});

Deno.test("renderZshCompletion is a #compdef function with the same knowledge", () => {
  const script = renderZshCompletion(model);
  assert.match(script, /^#compdef chorale\n/);
  assert.match(script, /rpc\|req\)/);
  assert.match(script, /rpcutil\) compadd -- \$\{=:-"ping get_fact"\}/);
  assert.match(script, /rpcutil\/get_fact\) compadd -S '' -- \$\{=:-"fact="\}/);
  // zsh arrays count from 1: the command is pos[1], the agent pos[2].
  assert.match(script, /case "\$\{pos\[1\]\}" in/);
  assert.match(script, /case "\$\{pos\[2\]\}\/\$\{pos\[3\]\}" in/);
  assert.match(script, /compdef _chorale chorale/);
});
