import assert from "node:assert/strict";
import type { FactFilter, FactOperator } from "../protocol/request.ts";
import {
  compareCodePoints,
  compileRegex,
  FactFilterError,
  FilterError,
  lookupFact,
  matchFact,
  matchFacts,
  parseFactFilter,
} from "./fact_filter.ts";

// The content of ../shared/choria/config-examples/filter-facts-fact.yaml (go-choria's
// filter/facts/testdata/fact.yaml), plus shapes it lacks. server/facts_test.ts reads the file.
const FACTS = {
  string: "hello world",
  inumber: 1,
  fnumber: 1.2,
  tbool: true,
  fbool: false,
  nested: {
    string: "nested hello world",
    inumber: 2,
    fnumber: 2.2,
    tbool: true,
    fbool: false,
  },
  version: "10",
  nothing: null,
  interfaces: [{ name: "eth0", mtu: 1500 }, { name: "eth1", mtu: 9000 }],
  "dotted.key": "yes",
  unicode: "Ünïcode",
};

function check(fact: string, operator: FactOperator, value: string): boolean {
  return matchFact({ fact, operator, value }, FACTS);
}

// [fact, operator, value, expected, note]
const MATCHES: [string, FactOperator, string, boolean, string?][] = [
  // strings, as go-choria's facts_test.go
  ["string", "==", "hello world", true],
  ["string", "==", "HeLlO WoRLD", true, "== ignores case"],
  ["string", "==", "helloworld", false],
  ["string", "!=", "hello world", false],
  ["string", "!=", "HeLlO WOrLd", false, "!= ignores case"],
  ["string", "!=", "helloworld", true],
  ["string", "=~", "/hello/", true],
  ["string", "=~", "/HeLlO/", true, "=~ ignores case"],
  ["string", "=~", "/bye/", false],
  ["string", "=~", "hello", true, "slashes are optional"],
  ["string", "=~", "/^hello world$/", true],
  ["string", "<", "h", false],
  ["string", "<", "H", false],
  ["string", "<", "i", true],
  ["string", "<", "I", true, "ordering ignores case"],
  ["string", ">", "h", true],
  ["string", ">", "H", true],
  ["string", ">", "i", false],
  ["string", ">", "I", false],
  ["string", "<=", "HELLO WORLD", true],
  ["string", ">=", "hello world", true],
  ["string", ">=", "hello worle", false],
  ["nested.string", "==", "nested hello world", true],
  ["version", "<", "9", true, "string facts order as text even when numeric"],
  ["version", "==", "10", true],
  ["version", ">", "9", false],
  ["unicode", "==", "üNÏCODE", true, "case folding beyond ASCII"],
  ["unicode", "=~", "/^ü/", true],
  // integers
  ["nested.inumber", "==", "2", true],
  ["inumber", "==", "2", false],
  ["inumber", "!=", "1", false],
  ["inumber", "!=", "2", true],
  ["inumber", ">=", "1", true],
  ["inumber", ">", "1", false],
  ["inumber", "<", "10", true],
  ["inumber", "<=", "1", true],
  ["inumber", "<", "1", false],
  ["inumber", "==", "1.0", true],
  ["inumber", "==", "01", true, "numbers compare as numbers (go-choria compares text)"],
  ["inumber", "==", "abc", false],
  ["inumber", "!=", "abc", true],
  ["inumber", "=~", "/^1$/", true],
  ["inumber", ">", "-5", true],
  ["inumber", "<", "1e3", true],
  // floats
  ["nested.fnumber", "==", "2.2", true],
  ["fnumber", "==", "1.2", true],
  ["fnumber", "=~", "/1\\.\\d+/", true],
  ["fnumber", "!=", "1.2", false],
  ["fnumber", "<=", "1.01", false],
  ["fnumber", ">=", "1", true],
  ["fnumber", "<", "10", true],
  ["fnumber", "<", "1.0", false],
  ["fnumber", ">", "10", false],
  ["fnumber", ">", "1.0", true],
  ["fnumber", ">", "1.2", false, "go-choria's gtMatch makes this >="],
  ["fnumber", "==", "1", false, "go-choria truncates the fact to 1"],
  ["fnumber", ">", "1", true, "go-choria truncates the fact to 1"],
  ["fnumber", "<=", "1.2", true],
  // true booleans, as go-choria's facts_test.go
  ["tbool", "==", "true", true],
  ["tbool", "==", "T", true],
  ["tbool", "==", "1", true],
  ["tbool", "==", "t", true],
  ["tbool", "==", "TRUE", true],
  ["tbool", "==", "True", true],
  ["tbool", "==", "tRuE", false, "ParseBool takes only its own spellings"],
  ["tbool", "==", "false", false],
  ["tbool", "!=", "bob", true],
  ["tbool", "!=", "false", true],
  ["tbool", "!=", "T", false],
  ["tbool", "=~", "/true/", true],
  ["tbool", "=~", "/^f/", false],
  // false booleans
  ["fbool", "==", "false", true],
  ["fbool", "==", "F", true],
  ["fbool", "==", "0", true],
  ["fbool", "==", "f", true],
  ["fbool", "==", "true", false],
  ["fbool", "==", "bob", false, "go-choria's falsey() makes this true"],
  ["fbool", "!=", "bob", true],
  ["fbool", "!=", "true", true, "go-choria's neMatch makes this false"],
  ["fbool", "!=", "false", false, "go-choria's neMatch makes this true"],
  ["fbool", "=~", "/^f/", true],
  ["nested.tbool", "==", "true", true],
  // null, missing and structured facts match nothing
  ["nothing", "==", "null", false],
  ["nothing", "!=", "x", false],
  ["nothing", "=~", "/.*/", false],
  ["missing", "==", "x", false],
  ["missing", "!=", "x", false],
  ["missing", "=~", "/.*/", false],
  ["nested.missing.deeper", "==", "x", false],
  ["nested", "==", "x", false],
  ["nested", "!=", "x", false],
  ["interfaces", "=~", "/eth/", false],
  // paths
  ["interfaces.0.name", "==", "eth0", true],
  ["interfaces.1.mtu", ">", "1500", true],
  ["interfaces.#", "==", "2", true],
  ["interfaces.5.name", "==", "eth0", false],
  ["interfaces.x.name", "==", "eth0", false],
  ["dotted\\.key", "==", "yes", true],
  ["string.length", "==", "11", false, "no properties of strings"],
];

Deno.test("matchFact applies every operator with Choria's typing and case rules", () => {
  for (const [fact, operator, value, expected, note] of MATCHES) {
    assert.equal(
      check(fact, operator, value),
      expected,
      `${fact} ${operator} ${value}${note ? ` (${note})` : ""}`,
    );
  }
});

Deno.test("matchFact reports comparisons it cannot make and does not match", () => {
  const cases: FactFilter[] = [
    { fact: "inumber", operator: "<", value: "abc" },
    { fact: "tbool", operator: "<", value: "1" },
    { fact: "interfaces", operator: ">=", value: "1" },
    { fact: "nothing", operator: ">", value: "1" },
    { fact: "string", operator: "=~", value: "/[/" },
  ];
  for (const filter of cases) {
    const errors: FactFilterError[] = [];
    assert.equal(matchFact(filter, FACTS, { onError: (e) => errors.push(e) }), false);
    assert.equal(errors.length, 1, JSON.stringify(filter));
    assert.ok(errors[0] instanceof FactFilterError);
    assert.equal(errors[0]!.name, "FactFilterError");
    assert.match(errors[0]!.message, /^Cannot /);
  }
  assert.equal(matchFact({ fact: "inumber", operator: "<", value: "abc" }, FACTS), false);
});

Deno.test("matchFacts needs every filter to match and nothing to match an empty list", () => {
  const ok = { fact: "string", operator: "==" as const, value: "hello world" };
  const bad = { fact: "nested.string", operator: "==" as const, value: "fail" };
  assert.equal(matchFacts([ok, { ...bad, value: "nested hello world" }], FACTS), true);
  assert.equal(matchFacts([ok, bad], FACTS), false);
  assert.equal(matchFacts([], FACTS), false);
});

// [text, fact, operator, value]
const PARSES: [string, string, FactOperator, string][] = [
  ["os=linux", "os", "==", "linux"],
  ["os==linux", "os", "==", "linux"],
  ["os!=linux", "os", "!=", "linux"],
  ["memory<1024", "memory", "<", "1024"],
  ["memory>1024", "memory", ">", "1024"],
  ["memory<=1024", "memory", "<=", "1024"],
  ["memory>=1024", "memory", ">=", "1024"],
  ["memory=<1024", "memory", "<=", "1024"],
  ["memory=>1024", "memory", ">=", "1024"],
  ["fqdn=~web", "fqdn", "=~", "web"],
  ["fqdn=~/web/", "fqdn", "=~", "/web/"],
  ["fqdn=/^web\\d+$/", "fqdn", "=~", "/^web\\d+$/"],
  ["fqdn==/web/", "fqdn", "=~", "/web/"],
  [" os = Linux ", "os", "==", "Linux"],
  ["os.family=RedHat", "os.family", "==", "RedHat"],
  ["disks.0.size>=10", "disks.0.size", ">=", "10"],
  ['nics.#(name=="eth0").mtu>1500', 'nics.#(name=="eth0").mtu', ">", "1500"],
  ["a=b=c", "a=b", "==", "c"],
  ["os=~(?=x)", "os=~(?", "==", "x)"],
  ["path=~/a=b/", "path", "=~", "/a=b/"],
  ["path=/a<b/", "path", "=~", "/a<b/"],
  ["motd=hello world", "motd", "==", "hello world"],
];

Deno.test("parseFactFilter reads every operator spelling into the wire form", () => {
  for (const [text, fact, operator, value] of PARSES) {
    assert.deepEqual(parseFactFilter(text), { fact, operator, value }, text);
  }
});

// [text, message fragment]
const BAD_FILTERS: [string, string][] = [
  ["os", "expected 'fact<operator>value'"],
  ["", "expected 'fact<operator>value'"],
  ["=linux", "the fact name is empty"],
  ["os=", "the value is empty"],
  ["os=  ", "the value is empty"],
  ["os<", "the value is empty"],
  ["<os=1", "the fact name cannot start with '<'"],
  ["os=linux<", "the value is empty"],
  ["os!=/web/", "only '=', '==' and '=~' take a /regex/, not '!='"],
  ["os</web/", "only '=', '==' and '=~' take a /regex/, not '<'"],
  ["os=/[/", "the value is not a valid regular expression"],
  ["os=~/(?=x)/", "the value is not a valid regular expression"],
];

Deno.test("parseFactFilter refuses malformed filters with a FactFilterError", () => {
  for (const [text, fragment] of BAD_FILTERS) {
    assert.throws(() => parseFactFilter(text), (error: unknown) => {
      assert.ok(error instanceof FactFilterError, text);
      assert.ok(error instanceof FilterError);
      assert.equal(error.name, "FactFilterError");
      assert.ok(
        error.message.startsWith(`Cannot parse fact filter '${text}': ${fragment}`),
        error.message,
      );
      return true;
    });
  }
  assert.throws(() => parseFactFilter("os=/[/"), (error: unknown) => {
    assert.ok((error as Error).cause instanceof FilterError, "keeps the regex error as cause");
    return true;
  });
});

Deno.test("lookupFact walks gjson paths through objects and arrays", () => {
  const data = {
    a: { b: { c: 1 } },
    list: [{ n: "x", tags: ["p", "q"] }, { n: "y" }, { m: 1 }],
    "k.dot": { inner: true },
    "0": "zero",
    empty: "",
  };
  const cases: [string, unknown][] = [
    ["a.b.c", 1],
    ["a.b", { c: 1 }],
    ["a.x", undefined],
    ["a.b.c.d", undefined],
    ["list.0.n", "x"],
    ["list.1.n", "y"],
    ["list.3", undefined],
    ["list.#", 3],
    ["list.#.n", ["x", "y"]],
    ["list.0.tags.1", "q"],
    ["list.0.tags.#", 2],
    ["list.n", undefined],
    ["k\\.dot.inner", true],
    ["0", "zero"],
    ["empty", ""],
    ["", undefined],
    ["constructor", undefined],
    ["__proto__", undefined],
    ["a.b.c.toString", undefined],
  ];
  for (const [path, expected] of cases) assert.deepEqual(lookupFact(data, path), expected, path);
  assert.equal(lookupFact(["a", "b"], "1"), "b");
  assert.equal(lookupFact("text", "length"), undefined);
});

Deno.test("compileRegex takes Go RE2 syntax and refuses what RE2 lacks", () => {
  const ok: [string, string, boolean, boolean?][] = [
    ["^web\\d+$", "web12", true],
    ["WEB", "web", false],
    ["WEB", "web", true, true],
    ["(?i)WEB", "web", true],
    ["(?s)a.b", "a\nb", true],
    ["(?P<host>web)\\d", "web1", true],
    ["\\Aweb", "web", true],
    ["web\\z", "a web", true],
    ["web\\z", "web\n", false],
    ["role\\:\\:web", "role::web", true],
    ["\\p{Lu}", "Ü", true],
  ];
  for (const [source, text, expected, ignoreCase] of ok) {
    assert.equal(
      compileRegex(source, ignoreCase ? { ignoreCase } : {}).test(text),
      expected,
      `${source} on ${text}`,
    );
  }
  const bad: [string, string][] = [
    ["[", "Invalid regular expression"],
    ["a(?=b)", "look-arounds are not supported"],
    ["a(?!b)", "look-arounds are not supported"],
    ["(?<=a)b", "look-arounds are not supported"],
    ["(a)\\1", "back-references are not supported"],
    ["(?U)a+", "the inline flag 'U' is not supported"],
    ["a\\", "it ends with a lone '\\'"],
  ];
  for (const [source, fragment] of bad) {
    assert.throws(
      () => compileRegex(source, { what: "class filter" }),
      (error: unknown) => {
        assert.ok(error instanceof FilterError, source);
        assert.equal(error.name, "FilterError");
        assert.ok(error.message.startsWith(`Cannot compile class filter '${source}': `));
        assert.ok(error.message.includes(fragment), error.message);
        return true;
      },
    );
  }
});

Deno.test("compareCodePoints orders as Go's byte order does", () => {
  assert.equal(compareCodePoints("a", "b"), -1);
  assert.equal(compareCodePoints("b", "a"), 1);
  assert.equal(compareCodePoints("a", "a"), 0);
  assert.equal(compareCodePoints("a", "ab"), -1);
  assert.equal(compareCodePoints("\u{1F600}", "\uFFFF"), 1);
  assert.equal("\u{1F600}" < "\uFFFF", true, "UTF-16 order differs");
});
