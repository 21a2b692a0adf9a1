import assert from "node:assert/strict";
import {
  type CompoundContext,
  CompoundEvaluationError,
  CompoundParseError,
  evaluateCompound,
  matchCompound,
  MAX_COMPOUND_DEPTH,
  MAX_COMPOUND_LENGTH,
  parseCompound,
} from "./compound.ts";
import { FilterError } from "./fact_filter.ts";

const NODE: CompoundContext = {
  facts: {
    // go-choria's filter/facts/testdata/fact.yaml, as in the shared config examples
    string: "hello world",
    inumber: 1,
    fnumber: 1.2,
    tbool: true,
    fbool: false,
    nested: { string: "nested hello world", inumber: 2, fnumber: 2.2, tbool: true, fbool: false },
    // and what a real node reports
    os: "linux",
    memory: 2048,
    fqdn: "web1.example.net",
    interfaces: [{ name: "eth0", mtu: 1500 }, { name: "eth1", mtu: 9000 }],
    version: "1.2.3",
    nothing: null,
    "choria-version": "0.29.0",
  },
  classes: ["apache", "role::web"],
  agents: ["rpcutil", "package"],
  identity: "web1.example.net",
};

function run(source: string, context: CompoundContext = NODE): boolean {
  return evaluateCompound(parseCompound(source), context);
}

// [filter, expected]
const MATCHES: [string, boolean][] = [
  // comparisons over facts
  ['os == "linux"', true],
  ["os == 'linux'", true],
  ["os == `linux`", true],
  ['os == "Linux"', false], // == is strict, as expr
  ['os != "windows"', true],
  ["memory > 1024", true],
  ["memory >= 2048", true],
  ["memory < 2048", false],
  ["memory <= 2048", true],
  ["memory == 2048.0", true],
  ["memory > -1", true],
  ["fnumber < 1.5", true],
  ["inumber == 1", true],
  ['"b" > "a"', true],
  ['string < "i"', true],
  // regular expressions
  ["fqdn =~ /web/", true],
  ["fqdn =~ /WEB/", true], // =~ ignores case, like -F
  ['fqdn =~ "^web\\\\d"', true],
  ["fqdn =~ /^web\\d\\.example\\.net$/", true],
  ["fqdn !~ /db/", true],
  ["fqdn !~ /web/", false],
  ['fqdn matches "^web"', true],
  ['fqdn matches "^WEB"', false], // matches is case-sensitive, as expr
  ["fqdn matches /^web/", true],
  ["fqdn =~ /a\\/b/", false],
  ["memory =~ /^20/", true],
  ["tbool =~ /true/", true],
  // with(), as go-choria's matchFunc: fact filter, else class, else agent
  ["with('apache')", true],
  ['with("APACHE")', true],
  ['with("/^role::/")', true],
  ["with('package')", true],
  ["with('os=linux')", true],
  ["with('os=Linux')", true], // fact filters ignore case
  ["with('memory>4096')", false],
  ["with('nested.inumber>=2')", true],
  ["with('mysql')", false],
  // include() and in
  ['include(classes, "apache")', true],
  ['include(classes, "mysql")', false],
  ["include([1, 2], 2)", true],
  ["include(nothing, 2)", false],
  ['"apache" in classes', true],
  ['"mysql" not in classes', true],
  ['"package" in agents', true],
  ['"nested" in facts', true],
  ['"inumber" in nested', true],
  ["2 in [1, 2, 3]", true],
  ['"x" in nothing', false],
  // fact paths and member access
  ['fact("nested.inumber") == 2', true],
  ["nested.inumber == 2", true],
  ["facts.nested.inumber == 2", true],
  ['facts["nested"]["inumber"] == 2', true],
  ['fact("nested").string == "nested hello world"', true],
  ['interfaces.0.name == "eth0"', true],
  ["interfaces[1].mtu == 9000", true],
  ["interfaces[-1].mtu == 9000", true],
  ['interfaces.#.name == ["eth0", "eth1"]', true],
  ["interfaces.# == 2", true],
  ["len(interfaces) == 2", true],
  ['choria-version == "0.29.0"', true],
  ['fact("choria-version") == "0.29.0"', true],
  ["classes[0] == 'apache'", true],
  ["classes.1 == 'role::web'", true],
  ["missing == nil", true],
  ["missing == null", true],
  ["nothing == nil", true],
  ["missing.deeper == nil", true],
  ['fact("missing") == nil', true],
  // identity and string operators
  ['identity == "web1.example.net"', true],
  ['identity startsWith "web"', true],
  ['fqdn endsWith ".net"', true],
  ['fqdn contains "example"', true],
  ['fqdn contains "EXAMPLE"', false],
  ['lower("ABC") == "abc"', true],
  ['upper(os) == "LINUX"', true],
  ["len(os) == 5", true],
  ["len(facts) > 5", true],
  // missing values never match
  ["missing > 1", false],
  ["missing < 1", false],
  ["missing =~ /x/", false],
  ["missing !~ /x/", true],
  ['missing contains "x"', false],
  ["with(missing)", false],
  ['semver(missing, ">1")', false],
  ["len(missing) == 0", true],
  // booleans and logic
  ["tbool", true],
  ["tbool == true", true],
  ["!fbool", true],
  ["not fbool", true],
  ["fbool || tbool", true],
  ["fbool or tbool", true],
  ["tbool && fbool", false],
  ["tbool and fbool", false],
  ["true", true],
  ["false", false],
  ["!!true", true],
  ["not not true", true],
  // precedence: or < and < not < comparison
  ["true or false and false", true],
  ["(true or false) and false", false],
  ["false and false or true", true],
  ["false and (false or true)", false],
  ["not true or true", true],
  ["not (true or true)", false],
  ["!false and false", false],
  ['not os == "linux"', false],
  ['! os == "windows"', true],
  ['not os == "linux" or memory > 1024', true],
  ['not (os == "linux" or memory > 1024)', false],
  ["with('apache') and (memory > 4096 or os =~ /lin/)", true],
  ["with('apache') and memory > 4096 or os =~ /bsd/", false],
  ["((((tbool))))", true],
  // literals
  ["\"it's\" == 'it\\'s'", true],
  ['"a\\tb" == "a\tb"', true],
  ['"\\u0041" == "A"', true],
  ["[1, [2, 3]] == [1, [2, 3]]", true],
  ["[1, 2,] == [1, 2]", true],
  ["[] == []", true],
  ["1e3 == 1000", true],
  ["-2.5 < -2", true],
  ["nil == null", true],
  ['1 == "1"', false],
  // semver(), as go-choria's compound_test.go and Masterminds constraints
  ['semver(version, "= 1.2.3")', true],
  ['semver(version, "< 1.2.4")', true],
  ['semver(version, "> 1.0.0")', true],
  ['semver(version, "< 1.0.0")', false],
  ['semver(version, ">= 1.2.0")', true],
  ['semver(version, "!= 1.2.3")', false],
  ['semver(version, "1.2.3")', true],
  ['semver(version, "1.2.x")', true],
  ['semver(version, "1.x")', true],
  ['semver(version, "2.x")', false],
  ['semver(version, "*")', true],
  ['semver(version, "~1.2")', true],
  ['semver(version, "~1.2.4")', false],
  ['semver(version, "~1")', true],
  ['semver(version, "^1")', true],
  ['semver(version, "^1.1")', true],
  ['semver(version, "^2")', false],
  ['semver(version, ">=1.0, <1.2")', false],
  ['semver(version, ">=1.0 <1.3")', true],
  ['semver(version, ">1.3 || =1.2.3")', true],
  ['semver(version, "1.0 - 1.3")', true],
  ['semver(version, "1.3 - 1.4")', false],
  ['semver(version, "<=1.2")', true],
  ['semver(version, ">1.2")', false],
  ['semver(version, ">1.1")', true],
  ['semver("v1.2.3", "=1.2.3")', true],
  ['semver("0.2.9", "^0.2.3")', true],
  ['semver("0.3.0", "^0.2.3")', false],
  ['semver("0.0.4", "^0.0.3")', false],
  ['semver("0.0.3", "^0.0.3")', true],
  ['semver("1.2.3-beta", ">= 1.0")', false], // pre-releases need a pre-release constraint
  ['semver("1.2.3-beta", ">= 1.2.3-alpha")', true],
  ['semver("1.2.3-beta.2", "> 1.2.3-beta.10")', false],
  ['semver("1.2.3-beta", "< 1.2.3-rc")', true],
  ['semver("1.2.3+build5", "=1.2.3")', true],
  ['semver(fact("choria-version"), ">= 0.20")', true],
];

Deno.test("evaluateCompound applies every operator, function and precedence rule", () => {
  for (const [source, expected] of MATCHES) {
    let actual: boolean;
    try {
      actual = run(source);
    } catch (error) {
      throw new Error(`${source}: ${(error as Error).message}`, { cause: error });
    }
    assert.equal(actual, expected, source);
  }
});

Deno.test("parseCompound builds the tree with or loosest and not above comparisons", () => {
  const { ast } = parseCompound("not a == 1 or b and c");
  assert.equal(ast.type, "logical");
  if (ast.type !== "logical") return;
  assert.equal(ast.operator, "or");
  assert.equal(ast.column, 12);
  assert.equal(ast.left.type, "not");
  if (ast.left.type === "not") assert.equal(ast.left.operand.type, "compare");
  assert.equal(ast.right.type, "logical");
  assert.deepEqual(parseCompound("os.family").ast, { type: "fact", path: "os.family", column: 1 });
  assert.deepEqual(parseCompound("facts.a.b").ast, {
    type: "variable",
    name: "facts",
    path: "a.b",
    column: 1,
  });
});

// [filter, column, message fragment]
const PARSE_ERRORS: [string, number, string][] = [
  ["(os == 'linux'", 15, "expected ')' to close the '(' at column 1: found the end of the filter"],
  ["((true)", 8, "expected ')' to close the '(' at column 1"],
  ["os == 'linux')", 14, "unexpected ')' without a matching '('"],
  ["os = 'linux'", 4, "unexpected '=': compare with '=='"],
  ["os == ", 7, "unexpected end of the filter: expected a value"],
  ["os == 'a' and", 14, "unexpected end of the filter: expected a value"],
  ["'abc", 1, "the string has no closing '"],
  ['os == "abc', 7, 'the string has no closing "'],
  ['"\\q"', 2, "unknown escape '\\q'"],
  ['"abc\\u12"', 5, "'\\u' needs four hexadecimal digits"],
  ["os =~ /abc", 7, "the regular expression has no closing '/'"],
  ["os =~ /(/", 7, "invalid regular expression"],
  ["os =~ /a(?=b)/", 7, "look-arounds are not supported"],
  ["foo('x')", 1, "unknown function 'foo'"],
  ["os and scout('x').version", 8, "unknown function 'scout'"],
  ["with('a', 'b')", 1, "'with' takes 1 argument: found 2"],
  ["with()", 1, "'with' takes 1 argument: found 0"],
  ["include(classes)", 1, "'include' takes 2 arguments: found 1"],
  ["with('x'", 9, "expected ')' to close the '(' at column 5"],
  ["a < b < c", 7, "comparisons cannot be chained"],
  ["os == /x/", 7, "a /regex/ can only follow '=~', '!~' or 'matches', not '=='"],
  ["/x/", 1, "a /regex/ can only follow '=~', '!~' or 'matches'"],
  ["os @ 1", 4, "unexpected character '@'"],
  ["os == é", 7, "unexpected character 'é'"],
  ["os == \u0000", 7, "unexpected character '\\u{0}'"],
  ["", 1, "the filter is empty"],
  ["   ", 4, "the filter is empty"],
  ["a & b", 3, "unexpected '&': use 'and' or '&&'"],
  ["a | b", 3, "unexpected '|': use 'or' or '||'"],
  ["12abc", 3, "unexpected 'a' after the number '12'"],
  ["[1, 2", 6, "expected ']' to close the '[' at column 1"],
  ["[1,,2]", 4, "unexpected ',': expected a value"],
  ["x[1", 4, "expected ']' to close the '[' at column 2"],
  ["- x", 3, "expected a number after '-': found 'x'"],
  ["and", 1, "unexpected 'and': expected a value"],
  ["not", 4, "unexpected end of the filter: expected a value"],
  ["a not b", 3, "unexpected 'not': expected 'and', 'or' or the end of the filter"],
  ["true true", 6, "unexpected 'true': expected 'and', 'or' or the end of the filter"],
  ["a in", 5, "unexpected end of the filter: expected a value"],
  ["fact('a').", 11, "expected a key after '.': found the end of the filter"],
  ["memory > 1024 ? true : false", 15, "unexpected character '?'"],
  ["memory + 1 > 2", 8, "unexpected character '+'"],
];

Deno.test("parseCompound names the column of malformed filters", () => {
  for (const [source, column, fragment] of PARSE_ERRORS) {
    assert.throws(() => parseCompound(source), (error: unknown) => {
      assert.ok(error instanceof CompoundParseError, `${source}: ${error}`);
      assert.ok(error instanceof FilterError);
      assert.equal(error.name, "CompoundParseError");
      assert.equal(error.column, column, `${source}: ${error.message}`);
      assert.equal(
        error.message,
        `Cannot parse compound filter '${source}' at column ${column}: ${
          error.message.split(`at column ${column}: `)[1]
        }`,
      );
      assert.ok(error.message.includes(fragment), `${source}: ${error.message}`);
      return true;
    });
  }
});

Deno.test("parseCompound keeps the regex compiler's error as the cause", () => {
  assert.throws(() => parseCompound("os =~ /(/"), (error: unknown) => {
    assert.ok(error instanceof CompoundParseError);
    assert.ok(error.cause instanceof FilterError);
    return true;
  });
});

Deno.test("parseCompound bounds the length and nesting of filters", () => {
  const long = "true or ".repeat(MAX_COMPOUND_LENGTH / 8) + "true";
  assert.throws(() => parseCompound(long), (error: unknown) => {
    assert.ok(error instanceof CompoundParseError);
    assert.equal(error.column, MAX_COMPOUND_LENGTH + 1);
    assert.match(error.message, /longer than 4096 characters/);
    assert.ok(error.message.length < 200, "the message shortens the filter");
    return true;
  });
  assert.equal(run("true or ".repeat(500) + "true"), true, "long flat filters are fine");
  const parens = (n: number) => "(".repeat(n) + "true" + ")".repeat(n);
  assert.equal(run(parens(MAX_COMPOUND_DEPTH - 1)), true);
  for (
    const deep of [
      parens(MAX_COMPOUND_DEPTH),
      "!".repeat(MAX_COMPOUND_DEPTH + 1) + "true",
      "[".repeat(MAX_COMPOUND_DEPTH) + "]".repeat(MAX_COMPOUND_DEPTH) + " == 1",
      "len(".repeat(MAX_COMPOUND_DEPTH) + "1" + ")".repeat(MAX_COMPOUND_DEPTH),
      parens(2000),
    ]
  ) {
    assert.throws(() => parseCompound(deep), (error: unknown) => {
      assert.ok(error instanceof CompoundParseError, deep.slice(0, 40));
      assert.match(error.message, /nests deeper than 32 levels/);
      return true;
    });
  }
  assert.throws(() => parseCompound(parens(3), { maxDepth: 2 }), CompoundParseError);
  assert.throws(() => parseCompound("true", { maxLength: 3 }), CompoundParseError);
});

// [filter, column, message fragment]
const EVALUATION_ERRORS: [string, number, string][] = [
  ["os", 1, "the filter must be true or false: found the string 'linux'"],
  ["missing", 1, "the filter must be true or false: found nil"],
  ["os < 1", 4, "cannot order the string 'linux' and the number 1 with '<'"],
  ["tbool > false", 7, "cannot order"],
  ["memory > 1024 and os", 19, "the right side of 'and' must be true or false"],
  ["os or true", 1, "the left side of 'or' must be true or false"],
  ["not os", 5, "the operand of 'not' must be true or false"],
  ["with(1)", 6, "'with' takes a string: found the number 1"],
  ['semver("bad", ">1")', 1, "cannot parse the version 'bad'"],
  ['semver("1.0.0", ">>1")', 1, "cannot parse the constraint '>>1'"],
  ['semver("1.0.0", "||")', 1, "a group is empty"],
  ["include(os, 1)", 1, "'include' takes a list first"],
  ['"a" in "abc"', 5, "'in' needs a list or an object"],
  ["os =~ memory", 7, "a pattern must be a string or /regex/"],
  ['os =~ "("', 7, "Cannot compile regular expression '('"],
  ["len(tbool) == 1", 1, "'len' cannot measure the boolean true"],
  ['interfaces contains "x"', 12, "'contains' needs two strings"],
  ['interfaces =~ "x"', 12, "'=~' cannot test a list"],
];

Deno.test("evaluateCompound throws CompoundEvaluationError naming the column", () => {
  for (const [source, column, fragment] of EVALUATION_ERRORS) {
    assert.throws(() => run(source), (error: unknown) => {
      assert.ok(error instanceof CompoundEvaluationError, `${source}: ${error}`);
      assert.equal(error.name, "CompoundEvaluationError");
      assert.equal(error.column, column, `${source}: ${error.message}`);
      assert.ok(
        error.message.startsWith(
          `Cannot evaluate compound filter '${source}' at column ${column}: `,
        ),
        error.message,
      );
      assert.ok(error.message.includes(fragment), `${source}: ${error.message}`);
      return true;
    });
  }
});

Deno.test("evaluateCompound short-circuits and and or", () => {
  assert.equal(run("false and os"), false);
  assert.equal(run("true or os"), true);
  assert.equal(run('false and semver("bad", "1")'), false);
});

Deno.test("matchCompound reports parse and evaluation errors and does not match", () => {
  for (const source of ["os ==", "os < 1", "foo()"]) {
    const errors: FilterError[] = [];
    assert.equal(matchCompound(source, NODE, { onError: (e) => errors.push(e) }), false);
    assert.equal(errors.length, 1);
    assert.ok(
      errors[0] instanceof CompoundParseError || errors[0] instanceof CompoundEvaluationError,
    );
  }
  assert.equal(matchCompound("os ==", NODE), false);
  assert.equal(matchCompound('with("apache")', NODE), true);
  assert.equal(matchCompound("identity == ''", { facts: {}, classes: [], agents: [] }), true);
});

// A small deterministic generator (mulberry32), so failures reproduce.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectOwnErrors(source: string): void {
  let parsed;
  try {
    parsed = parseCompound(source);
  } catch (error) {
    if (error instanceof CompoundParseError) {
      assert.ok(error.column >= 1 && error.column <= source.length + 1, JSON.stringify(source));
      return;
    }
    throw new Error(`parseCompound(${JSON.stringify(source)}) threw ${error}`, { cause: error });
  }
  try {
    assert.equal(typeof evaluateCompound(parsed, NODE), "boolean");
  } catch (error) {
    if (error instanceof CompoundEvaluationError) return;
    throw new Error(`evaluateCompound(${JSON.stringify(source)}) threw ${error}`, {
      cause: error,
    });
  }
}

Deno.test("parseCompound throws only CompoundParseError for random garbage", () => {
  const next = random(20240607);
  const alphabet = "()[]{},.!=<>~&|'\"`/\\-+*?:;#@$% \t\n0123456789aeinorstwxAZ_é\u0000\u{1F600}";
  for (let i = 0; i < 5000; i++) {
    const length = Math.floor(next() * 40);
    let source = "";
    for (let j = 0; j < length; j++) {
      source += [...alphabet][Math.floor(next() * [...alphabet].length)];
    }
    expectOwnErrors(source);
  }
  for (let i = 0; i < 1000; i++) {
    const length = Math.floor(next() * 30);
    const codes = Array.from({ length }, () => Math.floor(next() * 0x10000));
    expectOwnErrors(String.fromCharCode(...codes));
  }
});

Deno.test("parseCompound and evaluateCompound throw only their own errors for random token soup", () => {
  const next = random(7);
  const words = [
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "-",
    "and",
    "or",
    "not",
    "!",
    "&&",
    "||",
    "==",
    "!=",
    "<",
    ">=",
    "=~",
    "!~",
    "in",
    "not in",
    "matches",
    "contains",
    "startsWith",
    "os",
    "memory",
    "tbool",
    "missing",
    "interfaces",
    "facts",
    "classes",
    "identity",
    "nested.inumber",
    "1",
    "2.5",
    "'linux'",
    '"apache"',
    "/web/",
    "true",
    "nil",
    "with('apache')",
    "fact('os')",
    "include(classes, 'apache')",
    "semver(version, '>1')",
    "len(os)",
    "lower(",
  ];
  for (let i = 0; i < 5000; i++) {
    const length = 1 + Math.floor(next() * 12);
    const source = Array.from({ length }, () => words[Math.floor(next() * words.length)]).join(
      " ",
    );
    expectOwnErrors(source);
  }
});
