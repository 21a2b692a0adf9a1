import assert from "node:assert/strict";
import { join } from "node:path";
import rpcutilJson from "../agents/ddl/rpcutil.json" with { type: "json" };
import packageJson from "../agents/ddl/package.json" with { type: "json" };
import { parseDdl } from "../agents/ddl.ts";
import type { RpcCall, RpcOptions } from "./types.ts";
import { generateClient, type RpcCaller, typedAgent } from "./typed.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const MOD = new URL("./mod.ts", import.meta.url).href;

const HELLO = {
  metadata: { name: "hello", timeout: 2 },
  actions: [
    {
      action: "greet",
      input: {
        name: { type: "string", optional: false, maxlength: 20 },
        mood: { type: "list", optional: true, list: ["happy", "sad"] },
        times: { type: "integer", optional: false, default: 1 },
      },
      output: { greeting: { type: "string" }, count: { type: "integer" } },
    },
    { action: "ping", input: {}, output: { pong: { type: "number" } } },
  ],
} as const;

// Records the options of each call instead of calling a fleet.
function recorder(): RpcCaller & { calls: RpcOptions[] } {
  const calls: RpcOptions[] = [];
  return {
    calls,
    rpc(options: RpcOptions): RpcCall {
      calls.push(options);
      return {
        done: () =>
          Promise.resolve({
            results: [],
            stats: {
              discovered: [],
              responded: [],
              ok: 0,
              failed: 0,
              noResponses: [],
              unexpected: [],
              discoveryMs: 0,
              publishMs: 0,
              repliesMs: 0,
              totalMs: 0,
            },
          }),
        async *[Symbol.asyncIterator]() {},
      };
    },
  };
}

Deno.test("typedAgent calls the agent's actions with the DDL and call options", async () => {
  const caller = recorder();
  const hello = typedAgent(caller, HELLO);
  assert.deepEqual(Object.keys(hello), ["greet", "ping"]);
  const { results } = await hello.greet({ name: "ann", mood: "happy" }, { nodes: ["n1"] }).done();
  const greeting: string | undefined = results[0]?.data.greeting;
  assert.equal(greeting, undefined);
  hello.ping();
  assert.equal(caller.calls.length, 2);
  const [greet, ping] = caller.calls;
  assert.equal(greet?.agent, "hello");
  assert.equal(greet?.action, "greet");
  assert.deepEqual(greet?.data, { name: "ann", mood: "happy" });
  assert.deepEqual(greet?.nodes, ["n1"]);
  assert.equal(greet?.ddl, HELLO as unknown);
  assert.deepEqual(ping?.data, {});
});

Deno.test("generateClient writes interfaces, methods, the DDL and a factory", () => {
  const source = generateClient(parseDdl(packageJson), { importFrom: "./chorale.ts" });
  assert.match(source, /^\/\*\*\n \* A typed client for the `package` agent, version 5\.5\.1: /);
  assert.match(source, /import \{ typedAgent \} from "\.\/chorale\.ts";/);
  assert.match(source, /export interface PackageInstallInputs \{\n/);
  assert.ok(source.includes("\n  package: string;\n"));
  assert.ok(source.includes("\n  version?: string;\n"));
  assert.ok(source.includes('\n  mode?: "all" | "headers" | "packages"'));
  assert.match(source, /export interface PackageInstallOutputs \{\n[^}]*\n {2}ensure\?: /);
  assert.ok(source.includes("\n  install(\n    data: PackageInstallInputs,\n"));
  assert.ok(source.includes("\n  count(\n    data?: PackageCountInputs,\n"));
  assert.match(source, /export const packageDdl = \{\n/);
  assert.match(source, /export function packageClient\(client: RpcCaller\): PackageClient \{/);
  assert.match(source, /agent\.apt_checkupdates\(\)\.done\(\)/);
});

async function denoCheck(files: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--config", CONFIG, ...files],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("deno check refuses a wrong action name and accepts the right ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-typed-check-" });
  try {
    await Deno.writeTextFile(
      join(dir, "rpcutil_client.ts"),
      generateClient(parseDdl(rpcutilJson), { importFrom: MOD }),
    );
    const hello = `import { type RpcCaller, typedAgent } from ${JSON.stringify(MOD)};
import { rpcutilClient } from "./rpcutil_client.ts";
declare const client: RpcCaller;
const hello = typedAgent(client, ${JSON.stringify(HELLO)});
const rpcutil = rpcutilClient(client);
`;
    await Deno.writeTextFile(
      join(dir, "good.ts"),
      `${hello}
const greeted = await hello.greet({ name: "ann", mood: "sad" }).done();
const greeting: string | undefined = greeted.results[0]?.data.greeting;
hello.ping(undefined, { timeoutMs: 1_000 });
const facts = await rpcutil.get_fact({ fact: "role" }, { nodes: ["n1"] }).done();
const fact: string | undefined = facts.results[0]?.data.fact;
rpcutil.ping();
console.log(greeting, fact);
`,
    );
    await Deno.writeTextFile(
      join(dir, "bad_action.ts"),
      `${hello}
hello.wave({ name: "ann" });
rpcutil.pingg();
`,
    );
    await Deno.writeTextFile(
      join(dir, "bad_inputs.ts"),
      `${hello}
hello.greet({ mood: "sad" });
hello.greet({ name: "ann", mood: "angry" });
rpcutil.get_fact({ fact: 1 });
`,
    );

    const good = await denoCheck([join(dir, "good.ts")]);
    assert.equal(good.code, 0, good.output);

    // One run for both bad files: each error names its file.
    const bad = await denoCheck([join(dir, "bad_action.ts"), join(dir, "bad_inputs.ts")]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /Property 'wave' does not exist(.*\n){3}\s+at .*bad_action\.ts:7:/);
    assert.match(bad.output, /Property 'pingg' does not exist(.*\n){3}\s+at .*bad_action\.ts:8:/);
    assert.match(bad.output, /Property 'name' is missing(.*\n){3}\s+at .*bad_inputs\.ts:7:/);
    assert.match(bad.output, /'"angry"' is not assignable(.*\n){3}\s+at .*bad_inputs\.ts:8:/);
    assert.match(
      bad.output,
      /Type 'number' is not assignable to type 'string'(.*\n){3}\s+at .*bad_inputs\.ts:9:/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
