import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { matchesFilter, parseFilterArgs } from "../core/filter/mod.ts";
import { jsonLogger } from "../core/log.ts";
import {
  FactsFileError,
  type FactsWatcher,
  mergeFacts,
  type NodeFacts,
  parseFactsText,
  readClasses,
  readFacts,
  watchFacts,
} from "./facts.ts";

const EXAMPLES = fileURLToPath(new URL("../../shared/choria/config-examples/", import.meta.url));
const FACTS_YAML = join(EXAMPLES, "filter-facts-fact.yaml");
const CLASSES_TXT = join(EXAMPLES, "filter-classes.txt");

const EXAMPLE_FACTS = {
  string: "hello world",
  inumber: 1,
  fnumber: 1.2,
  tbool: true,
  fbool: false,
  nested: { string: "nested hello world", inumber: 2, fnumber: 2.2, tbool: true, fbool: false },
};

// The yaml package reads LOG_TOKENS and LOG_STREAM while parsing; without that permission YAML
// tests are listed as ignored and the test of the explanatory error runs instead.
const envGranted = async (variable: string) =>
  (await Deno.permissions.query({ name: "env", variable })).state === "granted";
const YAML_ALLOWED = (await envGranted("LOG_TOKENS")) && (await envGranted("LOG_STREAM"));
const YAML = " (needs --allow-env=LOG_TOKENS,LOG_STREAM)";

async function waitFor(what: string, ready: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "chorale_facts_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function record() {
  const errors: FactsFileError[] = [];
  const changes: NodeFacts[] = [];
  const lines: string[] = [];
  return {
    errors,
    changes,
    lines,
    options: {
      onError: (e: FactsFileError) => errors.push(e),
      onChange: (c: NodeFacts) => changes.push(c),
      logger: jsonLogger({ component: "facts", write: (line) => lines.push(line) }),
    },
  };
}

Deno.test({
  name: "parseFactsText reads the nested example facts file" + YAML,
  ignore: !YAML_ALLOWED,
  fn: async () => {
    const facts = parseFactsText(await Deno.readTextFile(FACTS_YAML), FACTS_YAML);
    assert.deepEqual(facts, EXAMPLE_FACTS);
  },
});

Deno.test({
  name: "parseFactsText explains the env permission YAML needs when it is missing",
  ignore: YAML_ALLOWED,
  fn: () => {
    assert.throws(() => parseFactsText("a: 1\n", "facts.yaml"), (error: unknown) => {
      assert.ok(error instanceof FactsFileError);
      assert.match(error.message, /--allow-env=LOG_TOKENS,LOG_STREAM/);
      assert.ok(error.cause instanceof Deno.errors.NotCapable);
      return true;
    });
  },
});

Deno.test("parseFactsText reads JSON and refuses what is not a mapping", () => {
  assert.deepEqual(parseFactsText('{"a": {"b": [1]}}', "facts.json"), { a: { b: [1] } });
  assert.deepEqual(parseFactsText('{"a": 1}', "facts"), { a: 1 }, "JSON unless .yaml/.yml");
  const bad: [string, string, string][] = [
    ["{", "facts.json", "Cannot parse fact file 'facts.json' as JSON: "],
    ["[1, 2]", "facts.json", "must hold a mapping: found a list"],
    ["null", "facts.json", "must hold a mapping: found nothing"],
    ['"text"', "facts.json", "must hold a mapping: found string"],
  ];
  for (const [text, path, fragment] of bad) {
    assert.throws(() => parseFactsText(text, path), (error: unknown) => {
      assert.ok(error instanceof FactsFileError, text);
      assert.equal(error.name, "FactsFileError");
      assert.equal(error.path, path);
      assert.ok(error.message.includes(fragment), error.message);
      return true;
    });
  }
  assert.throws(() => parseFactsText("{", "f.json"), (error: unknown) => {
    assert.ok((error as Error).cause instanceof SyntaxError);
    return true;
  });
});

Deno.test({
  name: "parseFactsText refuses broken and non-mapping YAML" + YAML,
  ignore: !YAML_ALLOWED,
  fn: () => {
    // go-choria's filter/facts/testdata/bad.yaml is a plain scalar, not a mapping.
    assert.throws(() => parseFactsText("not yaml at all.", "bad.yaml"), /found string/);
    assert.throws(() => parseFactsText("a: [1, 2\n", "bad.yml"), /as YAML: /);
    assert.throws(() => parseFactsText("- 1\n- 2\n", "list.yaml"), /found a list/);
    assert.deepEqual(parseFactsText("a:\n  b: yes\n", "ok.YAML"), { a: { b: "yes" } });
  },
});

Deno.test("mergeFacts replaces top-level keys in order, as go-choria's shallow merge", () => {
  assert.deepEqual(
    mergeFacts([{ a: 1, b: { x: 1 }, c: 3 }, { b: { y: 2 } }, { a: 2 }]),
    { a: 2, b: { y: 2 }, c: 3 },
  );
  assert.deepEqual(mergeFacts([]), {});
});

Deno.test("readClasses reads the example classes file", async () => {
  assert.deepEqual(await readClasses(CLASSES_TXT), ["apache", "role::testing", "testing"]);
  await assert.rejects(() => readClasses(join(EXAMPLES, "missing.txt")), (error: unknown) => {
    assert.ok(error instanceof FactsFileError);
    assert.match(error.message, /^Cannot read classes file '.*missing\.txt': /);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
    return true;
  });
});

Deno.test("readFacts merges JSON files in order and names the file that fails", async () => {
  await using dir = await tempDir();
  const first = join(dir.path, "a.json");
  const second = join(dir.path, "b.json");
  await Deno.writeTextFile(first, JSON.stringify(EXAMPLE_FACTS));
  await Deno.writeTextFile(second, '{"ifact": 2, "inumber": 5}');
  assert.deepEqual(await readFacts([first, second]), { ...EXAMPLE_FACTS, ifact: 2, inumber: 5 });
  await Deno.writeTextFile(second, "{broken");
  await assert.rejects(() => readFacts([first, second]), (error: unknown) => {
    assert.ok(error instanceof FactsFileError);
    assert.equal(error.path, second);
    return true;
  });
});

Deno.test({
  name: "readFacts merges the example YAML with a JSON file, as go-choria's test" + YAML,
  ignore: !YAML_ALLOWED,
  fn: async () => {
    await using dir = await tempDir();
    const second = join(dir.path, "2ndfact.json");
    await Deno.writeTextFile(second, '{\n    "ifact": 2\n}');
    const facts = await readFacts([FACTS_YAML, second]);
    assert.equal(facts.ifact, 2);
    assert.deepEqual(facts.nested, EXAMPLE_FACTS.nested);
  },
});

Deno.test({
  name: "watchFacts loads the example files and discovery filters match them" + YAML,
  ignore: !YAML_ALLOWED,
  fn: async () => {
    const seen = record();
    await using watcher = await watchFacts({
      factFiles: [FACTS_YAML],
      classesFile: CLASSES_TXT,
      intervalMs: 0,
      ...seen.options,
    });
    const { facts, classes } = watcher.current();
    assert.deepEqual(facts, EXAMPLE_FACTS);
    assert.deepEqual(classes, ["apache", "role::testing", "testing"]);
    assert.equal(seen.errors.length, 0);
    assert.equal(seen.changes.length, 1);
    const node = { identity: "node1.example.net", facts, classes, agents: ["rpcutil"] };
    const yes = parseFilterArgs({
      with: ["apache nested.string=NESTED_HELLO_WORLD"],
      facts: ["fnumber>=1.2", "tbool=true", "string=~/^hello/"],
      classes: ["/^role::/"],
      compound: "with('testing') and nested.inumber == 2 and not fbool",
    });
    assert.equal(matchesFilter(yes, node), false, "'_' is not a space");
    assert.equal(
      matchesFilter({ ...yes, fact: yes.fact.filter((f) => f.fact !== "nested.string") }, node),
      true,
    );
    assert.equal(matchesFilter(parseFilterArgs({ facts: ["inumber>1"] }), node), false);
    assert.equal(matchesFilter(parseFilterArgs({ classes: ["mysql"] }), node), false);
  },
});

async function watched(
  dir: string,
  seen: ReturnType<typeof record>,
): Promise<{ watcher: FactsWatcher; facts: string; extra: string; classes: string }> {
  const facts = join(dir, "facts.json");
  const extra = join(dir, "extra.json");
  const classes = join(dir, "classes.txt");
  await Deno.writeTextFile(facts, JSON.stringify(EXAMPLE_FACTS));
  await Deno.writeTextFile(extra, '{"role": "web"}');
  await Deno.copyFile(CLASSES_TXT, classes);
  const watcher = await watchFacts({
    factFiles: [facts, extra],
    classesFile: classes,
    intervalMs: 10,
    ...seen.options,
  });
  return { watcher, facts, extra, classes };
}

Deno.test("watchFacts reloads facts and classes when their files change", async () => {
  await using dir = await tempDir();
  const seen = record();
  const { watcher, facts, classes } = await watched(dir.path, seen);
  await using _ = watcher;
  assert.deepEqual(watcher.current().facts, { ...EXAMPLE_FACTS, role: "web" });
  assert.deepEqual(watcher.current().classes, ["apache", "role::testing", "testing"]);

  await Deno.writeTextFile(facts, JSON.stringify({ ...EXAMPLE_FACTS, inumber: 42 }));
  await waitFor("the changed fact", () => watcher.current().facts.inumber === 42);
  assert.equal(watcher.current().facts.role, "web", "other files keep their facts");

  await Deno.writeTextFile(classes, "mysql\napache\nrole::db\n");
  await waitFor("the changed classes", () => watcher.current().classes.includes("mysql"));
  assert.deepEqual(watcher.current().classes, ["apache", "mysql", "role::db"]);

  // Write-then-rename, as Puppet and editors do.
  const staged = join(dir.path, "staged.json");
  await Deno.writeTextFile(staged, JSON.stringify({ renamed: true }));
  await Deno.rename(staged, facts);
  await waitFor("the renamed file", () => watcher.current().facts.renamed === true);
  assert.equal(watcher.current().facts.inumber, undefined);
  assert.equal(seen.errors.length, 0);
  assert.ok(seen.changes.length >= 4);
  assert.equal(seen.changes.at(-1), watcher.current());
});

Deno.test("watchFacts keeps the last good facts of a broken file and reports it once", async () => {
  await using dir = await tempDir();
  const seen = record();
  const { watcher, facts } = await watched(dir.path, seen);
  await using _ = watcher;
  const good = watcher.current();

  await Deno.writeTextFile(facts, '{"inumber": 7, broken');
  await waitFor("the error report", () => seen.errors.length > 0);
  assert.equal(watcher.current(), good, "the last good facts stay");
  assert.equal(seen.errors[0]!.path, facts);
  assert.match(seen.errors[0]!.message, /^Cannot parse fact file '.*facts\.json' as JSON: /);
  const logged = JSON.parse(seen.lines.at(-1)!);
  assert.equal(logged.level, "error");
  assert.equal(logged.kept, "last good content");

  assert.equal(await watcher.reload(), false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(seen.errors.length, 1, "an unchanged broken file is reported once");

  await Deno.writeTextFile(facts, JSON.stringify({ inumber: 8, fixed: "yes" }));
  await waitFor("the repaired file", () => watcher.current().facts.fixed === "yes");
  assert.equal(watcher.current().facts.inumber, 8);

  await Deno.remove(facts);
  const vanished = () => seen.errors.find((e) => e.message.startsWith("Cannot read fact file"));
  await waitFor("the missing file report", () => vanished() !== undefined);
  assert.ok(vanished()!.cause instanceof Deno.errors.NotFound);
  assert.equal(watcher.current().facts.fixed, "yes", "a vanished file keeps its last facts");
});

Deno.test({
  name: "watchFacts keeps the last good facts of a broken YAML file" + YAML,
  ignore: !YAML_ALLOWED,
  fn: async () => {
    await using dir = await tempDir();
    const facts = join(dir.path, "facts.yaml");
    await Deno.copyFile(FACTS_YAML, facts);
    const seen = record();
    await using watcher = await watchFacts({ factFiles: [facts], intervalMs: 10, ...seen.options });
    assert.deepEqual(watcher.current().facts, EXAMPLE_FACTS);
    await Deno.writeTextFile(facts, "nested: [unclosed\n  string: x\n");
    await waitFor("the error report", () => seen.errors.length > 0);
    assert.deepEqual(watcher.current().facts, EXAMPLE_FACTS);
    assert.match(seen.errors[0]!.message, /as YAML: /);
  },
});

Deno.test("watchFacts starts without files it cannot read and picks them up later", async () => {
  await using dir = await tempDir();
  const seen = record();
  const facts = join(dir.path, "later.json");
  const present = join(dir.path, "present.json");
  await Deno.writeTextFile(present, '{"a": 1}');
  await using watcher = await watchFacts({
    factFiles: [facts, present],
    classesFile: join(dir.path, "classes.txt"),
    intervalMs: 10,
    ...seen.options,
  });
  assert.deepEqual(watcher.current(), { facts: { a: 1 }, classes: [] });
  assert.equal(seen.errors.length, 2);
  assert.deepEqual(seen.errors.map((e) => e.path), [facts, join(dir.path, "classes.txt")]);
  await Deno.writeTextFile(facts, '{"a": 0, "b": 2}');
  await waitFor("the new file", () => watcher.current().facts.b === 2);
  assert.deepEqual(watcher.current().facts, { a: 1, b: 2 }, "later files still win");
});

Deno.test("watchFacts survives throwing callbacks and stops polling when disposed", async () => {
  await using dir = await tempDir();
  const lines: string[] = [];
  const facts = join(dir.path, "facts.json");
  await Deno.writeTextFile(facts, '{"n": 1}');
  const watcher = await watchFacts({
    factFiles: [facts],
    intervalMs: 10,
    onChange: () => {
      throw new Error("change handler broke");
    },
    onError: () => {
      throw new Error("error handler broke");
    },
    logger: jsonLogger({ component: "facts", write: (line) => lines.push(line) }),
  });
  assert.deepEqual(watcher.current().facts, { n: 1 });
  await Deno.writeTextFile(facts, "{");
  await waitFor(
    "the error handler's failure",
    () => lines.some((l) => l.includes("facts error handler failed")),
  );
  await Deno.writeTextFile(facts, '{"n": 22}');
  await waitFor("the reload", () => watcher.current().facts.n === 22);
  assert.ok(lines.some((l) => l.includes("facts change handler failed")));

  await watcher[Symbol.asyncDispose]();
  await Deno.writeTextFile(facts, '{"n": 333}');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(watcher.current().facts.n, 22, "no polling after dispose");
  assert.equal(await watcher.reload(), true, "an explicit reload still works");
  assert.equal(watcher.current().facts.n, 333);
});

Deno.test("watchFacts with no files gives empty facts and classes", async () => {
  await using watcher = await watchFacts({ intervalMs: 0 });
  assert.deepEqual(watcher.current(), { facts: {}, classes: [] });
  assert.equal(await watcher.reload(), false);
});
