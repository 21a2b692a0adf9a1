import assert from "node:assert/strict";
import type { ActionDdl, InputDdl } from "./agent.ts";
import { DdlError, fillOutputDefaults, parseDdl, validateInputs } from "./ddl.ts";

const CHORIA_DDLS = new URL("../../shared/choria/ddl/", import.meta.url);

for (const entry of [...Deno.readDirSync(CHORIA_DDLS)].sort((a, b) => a.name < b.name ? -1 : 1)) {
  if (!entry.name.endsWith(".json")) continue;
  Deno.test(`parseDdl loads Choria's ${entry.name}`, async () => {
    const text = await Deno.readTextFile(new URL(entry.name, CHORIA_DDLS));
    const ddl = parseDdl(JSON.parse(text), { file: entry.name });
    assert.equal(ddl.metadata.name, entry.name.replace(/\.json$/, ""));
    assert.ok(ddl.actions.length > 0);
    assert.deepEqual(parseDdl(text, { file: entry.name }), ddl);
  });
}

// The fault tests delete and retype arbitrary fields of a DDL, which no precise type allows.
// deno-lint-ignore no-explicit-any
type Draft = any;

function minimal(): Draft {
  return {
    metadata: {
      name: "hello",
      description: "Says hello",
      author: "me",
      license: "Apache-2.0",
      version: "1.0.0",
      url: "https://example.net",
      timeout: 2,
    },
    actions: [{
      action: "greet",
      description: "Greets",
      input: {
        who: {
          prompt: "Who",
          description: "Whom to greet",
          type: "string",
          optional: false,
          validation: ".",
          maxlength: 10,
        },
        tags: { prompt: "Tags", description: "Tags", type: "Array", optional: true },
      },
      output: { said: { description: "What", display_as: "Said", type: "Hash" } },
    }],
  };
}

function faultOf(mutate: (ddl: Draft) => void, file = "hello.json"): DdlError {
  const ddl = minimal();
  mutate(ddl);
  try {
    parseDdl(ddl, { file });
  } catch (error) {
    assert.ok(error instanceof DdlError);
    return error;
  }
  assert.fail("parseDdl accepted a faulty DDL");
}

Deno.test("parseDdl lowercases Hash and Array and keeps the input unchanged", () => {
  const source = minimal();
  const ddl = parseDdl(source);
  assert.equal(ddl.actions[0]!.input.tags!.type, "array");
  assert.equal(ddl.actions[0]!.output.said!.type, "hash");
  assert.equal(source.actions[0].input.tags.type, "Array");
});

Deno.test("parseDdl reads a missing optional as required, as go-choria does", () => {
  const source = minimal();
  delete source.actions[0].input.who.optional;
  assert.equal(parseDdl(source).actions[0]!.input.who!.optional, false);
});

Deno.test("parseDdl accepts a timeout of 1 second and an any input", () => {
  const ddl = parseDdl({
    ...minimal(),
    metadata: { ...minimal().metadata, timeout: 1 },
  });
  assert.equal(ddl.metadata.timeout, 1);
  const source = minimal();
  source.actions[0].input.tags.type = "any";
  assert.equal(parseDdl(source).actions[0]!.input.tags!.type, "any");
});

const FAULTS: [string, (ddl: Draft) => void, string, string][] = [
  ["a missing metadata", (d) => delete d.metadata, "metadata", "is required"],
  ["a missing timeout", (d) => delete d.metadata.timeout, "metadata.timeout", "is required"],
  [
    "a zero timeout",
    (d) => d.metadata.timeout = 0,
    "metadata.timeout",
    "must be a whole number of seconds of at least 1: current value is 0",
  ],
  [
    "a string timeout",
    (d) => d.metadata.timeout = "2",
    "metadata.timeout",
    "must be a whole number of seconds of at least 1: current value is '2'",
  ],
  [
    "a bad name",
    (d) => d.metadata.name = "Hello",
    "metadata.name",
    "must be a name of a-z, 0-9 and _: current value is 'Hello'",
  ],
  [
    "a bad version",
    (d) => d.metadata.version = "v1",
    "metadata.version",
    "must be a version like 1.2.3: current value is 'v1'",
  ],
  [
    "an empty author",
    (d) => d.metadata.author = "",
    "metadata.author",
    "must be a non-empty string: current value is ''",
  ],
  [
    "a service flag that is not a boolean",
    (d) => d.metadata.service = "yes",
    "metadata.service",
    "must be a boolean: current value is 'yes'",
  ],
  ["missing actions", (d) => delete d.actions, "actions", "is required"],
  [
    "an action without input",
    (d) => delete d.actions[0].input,
    "actions[0].input",
    "is required",
  ],
  [
    "a duplicate action",
    (d) => d.actions.push(structuredClone(d.actions[0])),
    "actions[1].action",
    "duplicates actions[0]: 'greet'",
  ],
  [
    "a bad display",
    (d) => d.actions[0].display = "never",
    "actions[0].display",
    "must be one of ok, failed, always: current value is 'never'",
  ],
  [
    "an unknown input type",
    (d) => d.actions[0].input.who.type = "strin",
    "actions[0].input.who.type",
    "must be one of string, integer, float, number, boolean, list, hash, array, any: current value is 'strin'",
  ],
  [
    "an optional that is not a boolean",
    (d) => d.actions[0].input.who.optional = "no",
    "actions[0].input.who.optional",
    "must be a boolean: current value is 'no'",
  ],
  [
    "a string input without validation",
    (d) => delete d.actions[0].input.who.validation,
    "actions[0].input.who.validation",
    "is required for a string input",
  ],
  [
    "a string input without maxlength",
    (d) => delete d.actions[0].input.who.maxlength,
    "actions[0].input.who.maxlength",
    "is required for a string input",
  ],
  [
    "a negative maxlength",
    (d) => d.actions[0].input.who.maxlength = -1,
    "actions[0].input.who.maxlength",
    "must be a whole number of at least 0: current value is -1",
  ],
  [
    "a list input without a list",
    (d) => d.actions[0].input.who.type = "list",
    "actions[0].input.who.list",
    "is required for a list input",
  ],
  [
    "a default of the wrong type",
    (d) => d.actions[0].input.who.default = 5,
    "actions[0].input.who.default",
    "must suit type string: it is not a string: current value is 5",
  ],
  [
    "a badly named input",
    (d) => d.actions[0].input["who-1"] = d.actions[0].input.who,
    "actions[0].input.who-1",
    "must be named with letters, digits and _ only",
  ],
  [
    "an output without display_as",
    (d) => delete d.actions[0].output.said.display_as,
    "actions[0].output.said.display_as",
    "is required",
  ],
  [
    "an unknown output type",
    (d) => d.actions[0].output.said.type = "map",
    "actions[0].output.said.type",
    "must be one of string, list, boolean, integer, float, number, hash, array, any: current value is 'map'",
  ],
];

for (const [what, mutate, path, message] of FAULTS) {
  Deno.test(`parseDdl names the file and path of ${what}`, () => {
    const error = faultOf(mutate);
    assert.equal(error.name, "DdlError");
    assert.equal(error.file, "hello.json");
    assert.deepEqual(error.problems[0], { path, message });
    assert.equal(error.message, `Cannot load DDL 'hello.json' as ${path} ${message}`);
  });
}

Deno.test("parseDdl rejects a validation regular expression that does not compile", () => {
  const error = faultOf((d) => d.actions[0].input.who.validation = "^(unclosed$");
  assert.equal(error.problems[0]!.path, "actions[0].input.who.validation");
  assert.match(error.problems[0]!.message, /^is not a valid regular expression: /);
});

Deno.test("parseDdl reports every fault and counts the rest in the message", () => {
  const error = faultOf((d) => {
    delete d.metadata.url;
    d.metadata.timeout = 0;
    d.actions[0].input.who.type = "text";
  });
  assert.equal(error.problems.length, 3);
  assert.equal(
    error.message,
    "Cannot load DDL 'hello.json' as metadata.url is required (and 2 more problems)",
  );
});

Deno.test("parseDdl names the DDL after its metadata when no file is given", () => {
  const ddl = minimal();
  delete ddl.metadata.url;
  assert.throws(() => parseDdl(ddl), {
    name: "DdlError",
    message: "Cannot load DDL 'hello' as metadata.url is required",
  });
});

Deno.test("parseDdl rejects text that is not JSON and a document that is not an object", () => {
  assert.throws(() => parseDdl("{nope", { file: "x.json" }), (error: unknown) => {
    assert.ok(error instanceof DdlError);
    assert.match(error.message, /^Cannot load DDL 'x.json' as it is not JSON: /);
    assert.ok(error.cause instanceof SyntaxError);
    return true;
  });
  assert.throws(() => parseDdl([], { file: "x.json" }), {
    message: "Cannot load DDL 'x.json' as the document must be a JSON object: current value is []",
  });
});

// validateInputs

function input(type: InputDdl["type"], extra: Partial<InputDdl> = {}): InputDdl {
  return { prompt: "P", description: "D", type, optional: false, ...extra };
}

function action(inputs: Record<string, InputDdl>): ActionDdl {
  return { action: "act", description: "Acts", input: inputs, output: {} };
}

function check(spec: InputDdl, value: unknown) {
  return validateInputs(action({ v: spec }), { v: value });
}

const str = (validation: string, maxlength = 0) => input("string", { validation, maxlength });

// [what, input, value, expected problem reason or undefined when valid]
const CASES: [string, InputDdl, unknown, string | undefined][] = [
  ["string accepts a string", str("."), "x", undefined],
  ["string refuses a number", str("."), 5, "it is not a string: current value is 5"],
  ["integer accepts 42", input("integer"), 42, undefined],
  ["integer accepts -3", input("integer"), -3, undefined],
  ["integer refuses 4.5", input("integer"), 4.5, "it is not an integer: current value is 4.5"],
  ["integer refuses '42'", input("integer"), "42", "it is not an integer: current value is '42'"],
  ["float accepts 4.5", input("float"), 4.5, undefined],
  ["float accepts 4", input("float"), 4, undefined],
  ["float refuses '4.5'", input("float"), "4.5", "it is not a float: current value is '4.5'"],
  ["number accepts 1e3", input("number"), 1e3, undefined],
  ["number refuses true", input("number"), true, "it is not a number: current value is true"],
  ["boolean accepts false", input("boolean"), false, undefined],
  [
    "boolean refuses 'true'",
    input("boolean"),
    "true",
    "it is not a boolean: current value is 'true'",
  ],
  ["boolean refuses 0", input("boolean"), 0, "it is not a boolean: current value is 0"],
  ["list accepts a member", input("list", { list: ["a", "b"] }), "b", undefined],
  [
    "list refuses a stranger",
    input("list", { list: ["a", "b"] }),
    "c",
    "it is not one of 'a', 'b': current value is 'c'",
  ],
  [
    "list refuses a non-string",
    input("list", { list: ["1"] }),
    1,
    "it is not one of '1': current value is 1",
  ],
  ["hash accepts an object", input("hash"), { a: 1 }, undefined],
  ["hash refuses an array", input("hash"), [1], "it is not a hash: current value is [1]"],
  ["array accepts an array", input("array"), [1, "a"], undefined],
  [
    "array refuses an object",
    input("array"),
    { a: 1 },
    'it is not an array: current value is {"a":1}',
  ],
  ["any accepts a string", input("any"), "x", undefined],
  ["any accepts an object", input("any"), { a: [1] }, undefined],
  ["Hash (Choria's spelling) accepts an object", input("Hash" as InputDdl["type"]), {}, undefined],
  // maxlength
  ["maxlength accepts the limit", str(".", 3), "abc", undefined],
  [
    "maxlength refuses one more",
    str(".", 3),
    "abcd",
    "it is longer than 3 characters: length is 4",
  ],
  ["maxlength counts code points", str(".", 2), "é🎵", undefined],
  ["maxlength 0 is no limit", str(".", 0), "x".repeat(10_000), undefined],
  [
    "validation applies with maxlength 0",
    str("^a$", 0),
    "b",
    "it does not match '^a$': current value is 'b'",
  ],
  // shellsafe
  ["shellsafe accepts plain words", str("shellsafe"), "ok ok ok", undefined],
  ["shellsafe accepts the empty string", str("shellsafe"), "", undefined],
  ["shellsafe refuses ;", str("shellsafe"), "zsh; reboot", "it is not shellsafe: contains ';'"],
  ["shellsafe refuses a backtick", str("shellsafe"), "a`id`", "it is not shellsafe: contains '`'"],
  ["shellsafe refuses $", str("shellsafe"), "$(id)", "it is not shellsafe: contains '$'"],
  ["shellsafe refuses |", str("shellsafe"), "a|b", "it is not shellsafe: contains '|'"],
  ["shellsafe refuses ||", str("shellsafe"), "a||b", "it is not shellsafe: contains '|'"],
  ["shellsafe refuses &&", str("shellsafe"), "a && b", "it is not shellsafe: contains '&&'"],
  ["shellsafe refuses >", str("shellsafe"), "a>b", "it is not shellsafe: contains '>'"],
  ["shellsafe refuses <", str("shellsafe"), "a<b", "it is not shellsafe: contains '<'"],
  [
    "shellsafe names the first fault",
    str("shellsafe"),
    "a>b;c",
    "it is not shellsafe: contains '>'",
  ],
  ["shellsafe allows a single & as Choria does", str("shellsafe"), "R&D", undefined],
  ["shellsafe allows a newline as Choria does", str("shellsafe"), "a\nb", undefined],
  ["shellsafe allows quotes and parentheses", str("shellsafe"), "'a' \"b\" (c)", undefined],
  // IP addresses
  ["ipv4address accepts 192.168.1.1", str("ipv4address"), "192.168.1.1", undefined],
  ["ipv4address accepts 0.0.0.0", str("ipv4address"), "0.0.0.0", undefined],
  [
    "ipv4address refuses 256.1.1.1",
    str("ipv4address"),
    "256.1.1.1",
    "it is not an IPv4 address: current value is '256.1.1.1'",
  ],
  [
    "ipv4address refuses leading zeros",
    str("ipv4address"),
    "01.2.3.4",
    "it is not an IPv4 address: current value is '01.2.3.4'",
  ],
  [
    "ipv4address refuses an IPv6 address",
    str("ipv4address"),
    "::1",
    "it is not an IPv4 address: current value is '::1'",
  ],
  ["ipv6address accepts ::1", str("ipv6address"), "::1", undefined],
  ["ipv6address accepts a full address", str("ipv6address"), "2001:db8:0:0:0:0:2:1", undefined],
  ["ipv6address accepts a compressed address", str("ipv6address"), "2001:DB8::2:1", undefined],
  ["ipv6address accepts ::", str("ipv6address"), "::", undefined],
  [
    "ipv6address accepts an embedded IPv4 tail",
    str("ipv6address"),
    "64:ff9b::192.0.2.33",
    undefined,
  ],
  [
    "ipv6address refuses an IPv4 address",
    str("ipv6address"),
    "1.2.3.4",
    "it is not an IPv6 address: current value is '1.2.3.4'",
  ],
  [
    "ipv6address refuses an IPv4-mapped address",
    str("ipv6address"),
    "::ffff:1.2.3.4",
    "it is not an IPv6 address: current value is '::ffff:1.2.3.4'",
  ],
  [
    "ipv6address refuses two ::",
    str("ipv6address"),
    "1::2::3",
    "it is not an IPv6 address: current value is '1::2::3'",
  ],
  [
    "ipv6address refuses a zone",
    str("ipv6address"),
    "fe80::1%eth0",
    "it is not an IPv6 address: current value is 'fe80::1%eth0'",
  ],
  [
    "ipv6address refuses nine groups",
    str("ipv6address"),
    "1:2:3:4:5:6:7:8:9",
    "it is not an IPv6 address: current value is '1:2:3:4:5:6:7:8:9'",
  ],
  ["ipaddress accepts IPv4", str("ipaddress"), "10.0.0.1", undefined],
  ["ipaddress accepts IPv6", str("ipaddress"), "fe80::1", undefined],
  ["ipaddress accepts IPv4-mapped", str("ipaddress"), "::ffff:1.2.3.4", undefined],
  [
    "ipaddress refuses a host name",
    str("ipaddress"),
    "example.net",
    "it is not an IP address: current value is 'example.net'",
  ],
  // textual type keywords
  ["integer validation accepts '-12'", str("integer"), "-12", undefined],
  [
    "integer validation refuses '1.5'",
    str("integer"),
    "1.5",
    "it is not an integer: current value is '1.5'",
  ],
  ["float validation accepts '1.5e3'", str("float"), "1.5e3", undefined],
  [
    "float validation refuses 'one'",
    str("float"),
    "one",
    "it is not a float: current value is 'one'",
  ],
  ["number validation accepts '.5'", str("number"), ".5", undefined],
  [
    "number validation refuses '1.2.3'",
    str("number"),
    "1.2.3",
    "it is not a number: current value is '1.2.3'",
  ],
  ["boolean validation accepts 'yes'", str("boolean"), "yes", undefined],
  ["boolean validation accepts 'FALSE'", str("boolean"), "FALSE", undefined],
  [
    "boolean validation refuses 'maybe'",
    str("boolean"),
    "maybe",
    "it is not a boolean: current value is 'maybe'",
  ],
  // regular expressions
  ["a plain regex searches the value", str("\\d"), "abc1", undefined],
  [
    "a plain regex refuses a mismatch",
    str("^\\w+$"),
    "a b",
    "it does not match '^\\w+$': current value is 'a b'",
  ],
  [
    "^ and $ anchor the whole value, not a line",
    str("^\\w+$"),
    "ok\n; reboot",
    "it does not match '^\\w+$': current value is 'ok\n; reboot'",
  ],
  ["a Ruby-style /regex/i ignores case", str("/^abc$/i"), "ABC", undefined],
  [
    "a Ruby-style /regex/ is anchored as written",
    str("/^abc$/"),
    "ABC",
    "it does not match '/^abc$/': current value is 'ABC'",
  ],
  ["a Ruby-style /regex/m lets . match a newline", str("/^a.b$/m"), "a\nb", undefined],
  ["\\A and \\z anchor the value", str("\\A[a-z][a-z0-9_]*\\z"), "good_1", undefined],
  [
    "\\A and \\z refuse a mismatch",
    str("\\A[a-z][a-z0-9_]*\\z"),
    "1bad",
    "it does not match '\\A[a-z][a-z0-9_]*\\z': current value is '1bad'",
  ],
  ["a leading (?i) ignores case", str("(?i)^abc$"), "AbC", undefined],
  ["a POSIX class works", str("^[[:alpha:]]+$"), "Hello", undefined],
  [
    "a POSIX class refuses digits",
    str("^[[:alpha:]]+$"),
    "H1",
    "it does not match '^[[:alpha:]]+$': current value is 'H1'",
  ],
  [
    "rpcutil's get_facts pattern accepts a list",
    str("^\\s*[\\w\\.\\-]+(\\s*,\\s*[\\w\\.\\-]+)*$"),
    "os.family, kernel",
    undefined,
  ],
];

for (const [what, spec, value, reason] of CASES) {
  Deno.test(`validateInputs: ${what}`, () => {
    const { data, problems } = check(spec, value);
    if (reason === undefined) {
      assert.deepEqual(problems, []);
      assert.deepEqual(data, { v: value });
    } else {
      assert.deepEqual(problems, [{
        input: "v",
        statuscode: 4,
        message: `Cannot accept input 'v' as ${reason}`,
      }]);
      assert.deepEqual(data, {});
    }
  });
}

Deno.test("validateInputs reports a missing required input with status 3", () => {
  const { problems } = validateInputs(action({ fact: str(".+", 512) }), {});
  assert.deepEqual(problems, [{
    input: "fact",
    statuscode: 3,
    message: "Cannot run action 'act' as input 'fact' is required",
  }]);
});

Deno.test("validateInputs treats null as not given", () => {
  const spec = action({
    need: str("."),
    maybe: { ...str("."), optional: true },
    dflt: { ...str("."), optional: true, default: "d" },
  });
  const { data, problems } = validateInputs(spec, { need: null, maybe: null, dflt: null });
  assert.deepEqual(data, { dflt: "d" });
  assert.deepEqual(problems.map((p) => [p.input, p.statuscode]), [["need", 3]]);
});

Deno.test("validateInputs fills defaults of optional inputs and copies them", () => {
  const tags = { ...input("array"), optional: true, default: ["a"] };
  const spec = action({
    mode: { ...input("list", { list: ["x", "y"] }), optional: true, default: "y" },
    tags,
    none: { ...str("."), optional: true, default: null },
    given: { ...input("integer"), optional: true, default: 1 },
  });
  const { data, problems } = validateInputs(spec, { given: 7 });
  assert.deepEqual(problems, []);
  assert.deepEqual(data, { mode: "y", tags: ["a"], given: 7 });
  (data.tags as string[]).push("b");
  assert.deepEqual(tags.default, ["a"]);
});

Deno.test("validateInputs fills the default of a required input instead of refusing it", () => {
  const { data, problems } = validateInputs(action({ n: { ...input("integer"), default: 3 } }), {});
  assert.deepEqual(problems, []);
  assert.deepEqual(data, { n: 3 });
});

Deno.test("validateInputs refuses undeclared inputs with status 4 and drops process_results", () => {
  const none = validateInputs(action({}), { process_results: true });
  assert.deepEqual(none, { data: {}, problems: [], warnings: [] });
  const { problems } = validateInputs(action({ a: str("."), b: str(".") }), {
    a: "x",
    b: "y",
    c: 1,
  });
  assert.deepEqual(problems, [{
    input: "c",
    statuscode: 4,
    message: "Cannot accept input 'c' as action 'act' does not declare it: valid inputs are a, b",
  }]);
  assert.equal(
    validateInputs(action({}), { c: 1 }).problems[0]!.message,
    "Cannot accept input 'c' as action 'act' does not declare it: valid inputs are none",
  );
});

Deno.test("validateInputs lists every problem, declared inputs first", () => {
  const spec = action({ a: str("."), b: input("integer") });
  const { problems } = validateInputs(spec, { z: 1, b: "x" });
  assert.deepEqual(problems.map((p) => [p.input, p.statuscode]), [["a", 3], ["b", 4], ["z", 4]]);
});

Deno.test("validateInputs refuses request data that is not an object", () => {
  for (const data of [null, [], "x", 1]) {
    const { problems } = validateInputs(action({}), data);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.statuscode, 4);
    assert.match(
      problems[0]!.message,
      /^Cannot accept the request data as it is not a JSON object/,
    );
  }
});

Deno.test("validateInputs warns about and passes validators Chorale does not have", () => {
  const { data, problems, warnings } = check(str("service_name"), "sshd; reboot");
  assert.deepEqual(problems, []);
  assert.deepEqual(data, { v: "sshd; reboot" });
  assert.deepEqual(warnings, [
    "Cannot enforce validator 'service_name' on input 'v' as Chorale does not have it",
  ]);
});

Deno.test("validateInputs shortens long values in messages", () => {
  const { problems } = check(input("integer"), "x".repeat(500));
  assert.ok(problems[0]!.message.length < 140);
  assert.ok(problems[0]!.message.endsWith("..."));
});

// fillOutputDefaults

Deno.test("fillOutputDefaults fills declared defaults, keeps extras and copies", () => {
  const list: string[] = [];
  const spec: ActionDdl = {
    action: "act",
    description: "Acts",
    input: {},
    output: {
      upgradable: { description: "U", display_as: "U", type: "boolean", default: false },
      value: { description: "V", display_as: "V", default: null },
      items: { description: "I", display_as: "I", type: "array", default: list },
      plain: { description: "P", display_as: "P", type: "string" },
      given: { description: "G", display_as: "G", default: "d" },
    },
  };
  const output = { given: "mine", extra: 1 };
  const data = fillOutputDefaults(spec, output);
  assert.deepEqual(data, { given: "mine", extra: 1, upgradable: false, value: null, items: [] });
  assert.deepEqual(output, { given: "mine", extra: 1 });
  (data.items as string[]).push("x");
  assert.deepEqual(list, []);
});
