import assert from "node:assert/strict";
import {
  type AuthorizationRequest,
  authorize,
  type AuthorizeOptions,
  parseGroups,
  parsePolicy,
  type Policy,
  PolicyError,
} from "./policy.ts";
import { authorizeWithFiles, loadGroups, loadPolicy } from "./policy_files.ts";

const EXAMPLES = new URL("../../../shared/choria/actionpolicy/", import.meta.url);

async function example(name: string): Promise<Policy> {
  return parsePolicy(await Deno.readTextFile(new URL(name, EXAMPLES)), { file: name });
}

async function exampleGroups(): Promise<Map<string, string[]>> {
  return parseGroups(await Deno.readTextFile(new URL("groups", EXAMPLES)), { file: "groups" });
}

// The request go-choria's actionpolicy tests start from: agent ginkgo, action test, the facts of
// testdata/foo_bar_facts.json and the classes of testdata/classes.txt.
const BASE: AuthorizationRequest = {
  callerid: "choria=ginkgo.mcollective",
  action: "test",
  facts: { foo: "bar" },
  classes: ["one", "two", "three"],
};
// testdata/foo_baz_facts.json and testdata/classes_2.txt.
const BAZ = { foo: "baz" };
const CLASSES_2 = ["four", "five"];

interface Case {
  /** What the request changes from BASE. */
  with: Partial<AuthorizationRequest>;
  /** null: the file's default decides. */
  line: number | null;
  allowed: boolean;
}

const CASES: Record<string, Case[]> = {
  default_allow: [
    { with: {}, line: null, allowed: true },
    {
      with: { callerid: "other", action: "other", facts: {}, classes: [] },
      line: null,
      allowed: true,
    },
  ],
  default_deny: [
    { with: {}, line: null, allowed: false },
  ],
  example1: [
    { with: {}, line: 2, allowed: true },
    {
      with: { callerid: "other", action: "other", facts: {}, classes: [] },
      line: 2,
      allowed: true,
    },
  ],
  example2: [
    { with: {}, line: 2, allowed: true },
    { with: { callerid: "other" }, line: null, allowed: false },
    { with: { callerid: "up=bob" }, line: 3, allowed: true },
    { with: { callerid: "choria=up=bob" }, line: null, allowed: false },
  ],
  example3: [
    { with: {}, line: 2, allowed: true },
    { with: { action: "other" }, line: null, allowed: false },
  ],
  example4: [
    { with: {}, line: 2, allowed: true },
    { with: { facts: BAZ }, line: null, allowed: false },
    { with: { facts: {} }, line: null, allowed: false },
  ],
  example5: [
    { with: {}, line: 2, allowed: true },
    { with: { classes: CLASSES_2 }, line: null, allowed: false },
  ],
  example6: [
    { with: {}, line: 2, allowed: true },
    { with: { action: "other" }, line: null, allowed: false },
    { with: { callerid: "other" }, line: null, allowed: false },
  ],
  example7: [
    { with: {}, line: 2, allowed: true },
    { with: { facts: BAZ }, line: null, allowed: false },
    { with: { callerid: "other" }, line: null, allowed: false },
  ],
  example8: [
    { with: {}, line: 2, allowed: true },
    { with: { classes: CLASSES_2 }, line: null, allowed: false },
    // go-choria's "testdata/missing" classes file: no classes known.
    { with: { classes: [] }, line: null, allowed: false },
    { with: { callerid: "other" }, line: null, allowed: false },
  ],
  example9: [
    { with: {}, line: 2, allowed: true },
    { with: { callerid: "other" }, line: null, allowed: false },
    { with: { facts: BAZ }, line: null, allowed: false },
    { with: { action: "other" }, line: null, allowed: false },
  ],
  example10: [
    { with: {}, line: 2, allowed: true },
    { with: { callerid: "other" }, line: null, allowed: false },
    { with: { action: "other" }, line: null, allowed: false },
    { with: { classes: CLASSES_2 }, line: null, allowed: false },
  ],
  example11: [
    { with: {}, line: 2, allowed: true },
    { with: { callerid: "other" }, line: null, allowed: false },
    { with: { action: "other" }, line: null, allowed: false },
    { with: { facts: BAZ }, line: null, allowed: false },
    { with: { classes: CLASSES_2 }, line: null, allowed: false },
  ],
  // Compound statements are skipped in allow rules, as go-choria does, even when they would hold.
  example12: [
    { with: {}, line: null, allowed: false },
    { with: { facts: { foo: "bar", bar: "foo" } }, line: null, allowed: false },
  ],
  example13: [
    { with: {}, line: null, allowed: false },
  ],
  example14: [
    { with: {}, line: null, allowed: false },
  ],
  example15: [
    { with: {}, line: 2, allowed: true },
    { with: { callerid: "other" }, line: null, allowed: false },
    { with: { callerid: "choria=two.mcollective" }, line: 3, allowed: true },
    { with: { callerid: "choria=two.mcollective", action: "anything" }, line: 3, allowed: true },
    { with: { callerid: "choria=two.mcollective", facts: BAZ }, line: null, allowed: false },
    {
      with: { callerid: "choria=two.mcollective", classes: CLASSES_2 },
      line: null,
      allowed: false,
    },
    { with: { callerid: "choria=three.mcollective", action: "enable" }, line: 4, allowed: true },
    { with: { callerid: "choria=three.mcollective", action: "disable" }, line: 4, allowed: true },
    { with: { callerid: "choria=three.mcollective", action: "status" }, line: 4, allowed: true },
    { with: { callerid: "choria=three.mcollective", action: "other" }, line: null, allowed: false },
    {
      with: { callerid: "choria=three.mcollective", action: "status", facts: BAZ },
      line: null,
      allowed: false,
    },
    {
      with: { callerid: "choria=four.mcollective", action: "restart" },
      line: null,
      allowed: false,
    },
    {
      with: {
        callerid: "choria=four.mcollective",
        action: "restart",
        facts: { environment: "development" },
      },
      line: null,
      allowed: false,
    },
  ],
  example16: [
    { with: { callerid: "uid=500" }, line: 2, allowed: true },
    { with: { callerid: "uid=600" }, line: 2, allowed: true },
    { with: { callerid: "uid=700" }, line: 2, allowed: true },
    { with: { callerid: "uid=800" }, line: null, allowed: false },
    { with: {}, line: null, allowed: false },
  ],
  example17: [
    { with: { callerid: "cert=sa1" }, line: 2, allowed: true },
    { with: { callerid: "cert=sa2" }, line: 2, allowed: true },
    { with: { callerid: "rspec_caller" }, line: 2, allowed: true },
    { with: { callerid: "cert=aa1" }, line: 2, allowed: true },
    {
      with: { callerid: "cert=aa2", action: "anything", facts: {}, classes: [] },
      line: 2,
      allowed: true,
    },
    { with: {}, line: null, allowed: false },
    // Group names also match literally, as in go-choria.
    { with: { callerid: "sysadmin" }, line: 2, allowed: true },
  ],
};

Deno.test("parsePolicy and parseGroups accept every go-choria example file", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(EXAMPLES)) {
    if (entry.isFile) names.push(entry.name);
  }
  names.sort();
  assert.ok(names.length >= 20, `expected the example files, found ${names.join(", ")}`);
  for (const name of names) {
    const text = await Deno.readTextFile(new URL(name, EXAMPLES));
    if (name === "groups") {
      assert.ok(parseGroups(text, { file: name }).size > 0);
    } else {
      assert.doesNotThrow(() => parsePolicy(text, { file: name }), `parsing ${name}`);
    }
  }
  // Every policy file has its decisions tabulated below.
  assert.deepEqual(names.filter((n) => n !== "groups"), Object.keys(CASES).sort());
});

for (const [name, cases] of Object.entries(CASES)) {
  Deno.test(`authorize decides ${name} as go-choria does`, async () => {
    const policy = await example(name);
    const groups = await exampleGroups();
    for (const c of cases) {
      const request = { ...BASE, groups, ...c.with };
      const decision = authorize(policy, request);
      const label = `${name} with ${JSON.stringify(c.with)}: ${decision.reason}`;
      assert.equal(decision.allowed, c.allowed, label);
      assert.equal(decision.line, c.line ?? undefined, label);
      if (c.line === null) {
        const verb = c.allowed ? "Allowing" : "Denying";
        assert.equal(decision.reason, `${verb} based on default policy in ${name}`, label);
      } else {
        assert.match(decision.reason, new RegExp(`policy line ${c.line} in ${name}$`), label);
      }
    }
  });
}

Deno.test("parseGroups reads the example groups file", async () => {
  assert.deepEqual(
    await exampleGroups(),
    new Map([
      ["sysadmin", ["cert=sa1", "cert=sa2", "rspec_caller"]],
      ["app_admin", ["cert=aa1", "cert=aa2"]],
      ["single_group", ["rspec_caller"]],
      // go-choria drops a group without members; kept empty it matches no caller either.
      ["invalid_group", []],
    ]),
  );
});

Deno.test("authorize needs the groups file for group names in example17", async () => {
  const policy = await example("example17");
  const decision = authorize(policy, { ...BASE, callerid: "cert=sa1" });
  assert.equal(decision.allowed, false);
  assert.equal(decision.reason, "Denying based on default policy in example17");
});

Deno.test("parsePolicy parses the fields of the example files", async () => {
  const two = await example("example2");
  assert.equal(two.default, "deny");
  const rule = two.rules[1];
  assert.ok(rule && rule.callers !== "*");
  assert.deepEqual(rule.callers[0], { type: "name", name: "choria=ginkgo.mcollective" });
  assert.equal(rule.callers[1]?.type, "regex");

  const fifteen = await example("example15");
  assert.deepEqual(fifteen.rules.map((r) => r.line), [2, 3, 4, 5]);
  assert.deepEqual(fifteen.rules[2]?.actions, ["enable", "disable", "status"]);
  assert.deepEqual(fifteen.rules[1]?.facts, [
    { text: "foo=bar", path: ["foo"], operator: "==", value: "bar" },
  ]);
  assert.equal(
    fifteen.rules[3]?.compound,
    "(puppet().enabled=false and environment=production) or environment=development",
  );

  const sixteen = await example("example16");
  assert.deepEqual(sixteen.rules[0]?.callers, [
    { type: "name", name: "uid=500" },
    { type: "name", name: "uid=600" },
    { type: "name", name: "uid=700" },
  ]);
});

Deno.test("parsePolicy warns about each compound statement it will not evaluate", async () => {
  for (
    const [name, line, column] of [
      ["example12", 2, "foo=bar and bar=foo"],
      ["example13", 2, "one and two or three"],
      ["example14", 2, "foo=bar and one or (two and one)"],
      [
        "example15",
        5,
        "(puppet().enabled=false and environment=production) or environment=development",
      ],
    ] as const
  ) {
    const policy = await example(name);
    assert.equal(policy.warnings.length, 1, name);
    assert.equal(policy.warnings[0]?.line, line, name);
    assert.match(policy.warnings[0]?.message ?? "", /Compound statements are not supported/);
    assert.equal(policy.rules.find((r) => r.line === line)?.compound, column, name);
  }
  assert.deepEqual((await example("example11")).warnings, []);
});

Deno.test("authorize applies a compound deny rule without evaluating it (fail closed)", () => {
  const policy = parsePolicy(
    "policy default allow\ndeny\t*\trestart\tenv=prod and role=db\t*\nallow\t*\t*\t*\t*\n",
    { file: "svc.policy" },
  );
  const denied = authorize(policy, { ...BASE, action: "restart", facts: { env: "dev" } });
  assert.equal(denied.allowed, false);
  assert.equal(denied.line, 2);
  assert.match(denied.reason, /compound statement is applied without evaluation/);
  const other = authorize(policy, { ...BASE, action: "status" });
  assert.deepEqual([other.allowed, other.line], [true, 3]);
  assert.match(policy.warnings[0]?.message ?? "", /matches every request/);
});

Deno.test("parsePolicy tells compound statements from regular expressions with groups", () => {
  const cases: [string, string, boolean][] = [
    ["foo=bar and bar=foo", "*", true],
    ["*", "one or two", true],
    ["!foo=bar", "*", true],
    ["not foo=bar", "*", true],
    ["puppet().enabled=false", "*", true],
    ["*", "(one", true],
    ["role=/^(web|db)$/", "*", false],
    ["role=~^(web|db)$", "*", false],
    ["*", "/^role::(web|db)$/", false],
    ["foo=bar", "one two", false],
  ];
  for (const [facts, classes, compound] of cases) {
    const rule = parsePolicy(`allow\t*\t*\t${facts}\t${classes}`).rules[0];
    assert.equal(rule?.compound !== undefined, compound, `${facts} | ${classes}`);
  }
  const groups = parsePolicy("allow\t*\t*\trole=/^(web|db)$/\t/^role::(web|db)$/");
  const request = { callerid: "c", action: "a", facts: { role: "db" }, classes: ["role::web"] };
  assert.equal(authorize(groups, request).allowed, true);
  assert.equal(authorize(groups, { ...request, facts: { role: "dbx" } }).allowed, false);
});

Deno.test("authorize lets the first matching line win", () => {
  const policy = parsePolicy(
    [
      "# services",
      "policy default allow",
      "",
      "deny\tchoria=intern.mcollective\trestart stop\t*\t*",
      "allow\tchoria=intern.mcollective\t*\t*\t*",
      "deny\t*\t*\t*\t*",
    ].join("\n"),
    { file: "service.policy" },
  );
  const request = { callerid: "choria=intern.mcollective", action: "restart" };
  assert.deepEqual(authorize(policy, request), {
    allowed: false,
    reason: "Denying based on explicit 'deny' policy line 4 in service.policy",
    line: 4,
  });
  assert.deepEqual(authorize(policy, { ...request, action: "status" }), {
    allowed: true,
    reason: "Allowing based on 'allow' policy line 5 in service.policy",
    line: 5,
  });
  assert.equal(authorize(policy, { callerid: "choria=bob.mcollective", action: "status" }).line, 6);
});

Deno.test("authorize falls back to allowUnconfigured without a policy or a default line", () => {
  const request = { callerid: "choria=rip.mcollective", action: "status" };
  const cases: [Policy | null, AuthorizeOptions, boolean, RegExp][] = [
    [null, {}, false, /no policy and unconfigured agents are denied/],
    [null, { allowUnconfigured: false }, false, /denied/],
    [null, { allowUnconfigured: true }, true, /no policy and unconfigured agents are allowed/],
    [
      parsePolicy("allow\tnobody\t*\t*\t*", { file: "p" }),
      {},
      false,
      /no line in p matched and it sets no default/,
    ],
    [
      parsePolicy("allow\tnobody\t*\t*\t*", { file: "p" }),
      { allowUnconfigured: true },
      true,
      /are allowed/,
    ],
    [
      parsePolicy("policy default deny", { file: "p" }),
      { allowUnconfigured: true },
      false,
      /default/,
    ],
    [parsePolicy("policy default allow", { file: "p" }), {}, true, /default policy in p/],
  ];
  for (const [policy, options, allowed, reason] of cases) {
    const decision = authorize(policy, request, options);
    assert.equal(decision.allowed, allowed, decision.reason);
    assert.match(decision.reason, reason);
  }
});

Deno.test("authorize denies through a broken policy and keeps its error", () => {
  const error = new PolicyError("Cannot parse policy line 3 of 'x' as it is odd", {
    file: "x",
    line: 3,
  });
  const decision = authorize(error, { callerid: "choria=rip.mcollective", action: "status" }, {
    allowUnconfigured: true,
  });
  assert.equal(decision.allowed, false);
  assert.equal(decision.error, error);
  assert.equal(
    decision.reason,
    "Denying as the policy is broken: Cannot parse policy line 3 of 'x' as it is odd",
  );
});

Deno.test("authorize compares facts with Choria's operators", () => {
  const facts = {
    os: { family: "RedHat", release: { major: 9, full: "9.3" } },
    uptime: 3600,
    load: 1.5,
    virtual: false,
    enabled: true,
    interfaces: ["lo", "eth0"],
    "dotted.name": "yes",
    nothing: null,
    country: "mt",
  };
  const cases: [string, boolean][] = [
    ["country=mt", true],
    ["country==mt", true],
    ["country=MT", false],
    ["country!=mt", false],
    ["country!=uk", true],
    ["country=/^m/", true],
    ["country=~/^M/", false],
    ["country=~(?i)^M", true],
    ["country=~t$", true],
    ["country<nz", true],
    ["country>nz", false],
    ["country<=mt", true],
    ["country>=mu", false],
    ["os.family=RedHat", true],
    ["os.release.major=9", true],
    ["os.release.major>=9", true],
    ["os.release.major>8", true],
    ["os.release.major<9", false],
    ["os.release.major=<9", true],
    ["os.release.major=>10", false],
    ["os.release.major=9.0", true],
    ["os.release.major=nine", false],
    ["os.release.major!=nine", true],
    ["os.release.major>nine", false],
    ["os.release.full=9.3", true],
    ["os.release.full>9.10", true], // a string fact compares as text
    ["os.missing=1", false],
    ["os.missing!=1", false],
    ["os=RedHat", false],
    ["uptime>600", true],
    ["uptime<600", false],
    ["uptime=~^36", true],
    ["load>1", true],
    ["load<=1.5", true],
    ["load>1.5", false],
    ["virtual=false", true],
    ["virtual=0", true],
    ["virtual=true", false],
    ["virtual!=true", true],
    ["virtual=no", false],
    ["enabled=true", true],
    ["enabled=T", true],
    ["enabled<true", false],
    ["interfaces.1=eth0", true],
    ["interfaces.2=eth1", false],
    ["interfaces=lo", false],
    ["dotted\\.name=yes", true],
    ["dotted.name=yes", false],
    ["nothing=null", false],
    ["nothing!=x", false],
  ];
  for (const [matcher, expected] of cases) {
    const policy = parsePolicy(`allow\t*\t*\t${matcher}\t*`, { file: "facts" });
    const decision = authorize(policy, { callerid: "c", action: "a", facts });
    assert.equal(decision.allowed, expected, `${matcher}: ${decision.reason}`);
  }

  const all = parsePolicy("allow\t*\t*\tcountry=mt os.family=RedHat uptime>60\t*");
  assert.equal(authorize(all, { callerid: "c", action: "a", facts }).allowed, true);
  assert.equal(
    authorize(all, { callerid: "c", action: "a", facts: { ...facts, uptime: 5 } }).allowed,
    false,
  );
  assert.equal(authorize(all, { callerid: "c", action: "a" }).allowed, false);
});

Deno.test("authorize matches classes by name and by /regex/, all of them", () => {
  const classes = ["role::web", "profile::base", "apache"];
  const cases: [string, boolean][] = [
    ["apache", true],
    ["apache nginx", false],
    ["apache /^role::/", true],
    ["/^profile::/ /^role::db/", false],
    ["/(?i)APACHE/", true],
  ];
  for (const [field, expected] of cases) {
    const policy = parsePolicy(`allow\t*\t*\t*\t${field}`);
    assert.equal(
      authorize(policy, { callerid: "c", action: "a", classes }).allowed,
      expected,
      field,
    );
    assert.equal(authorize(policy, { callerid: "c", action: "a" }).allowed, false, field);
  }
});

Deno.test("parsePolicy tolerates runs of tabs, padding, CRLF and a missing final newline", () => {
  const policy = parsePolicy(
    "  # comment\r\npolicy   default\tallow\r\n\t\r\nallow\t\t choria=a  choria=b \t\t\tstatus\t*\t*\t \r\ndeny\t*\t*\t*\t*",
  );
  assert.equal(policy.default, "allow");
  assert.equal(policy.rules.length, 2);
  assert.deepEqual(policy.rules[0]?.callers, [
    { type: "name", name: "choria=a" },
    { type: "name", name: "choria=b" },
  ]);
  assert.deepEqual(policy.rules[0]?.actions, ["status"]);
  assert.equal(policy.rules[1]?.line, 5);
});

Deno.test("parsePolicy names the file, line and problem of a malformed line", () => {
  const cases: [string, RegExp][] = [
    ["allow * * * *", /line 1 of 'bad' as its fields are separated by spaces/],
    ["allow\t*\t*\t*", /line 1 of 'bad' as it has 4 fields: expected 5 \(a fourth field/],
    ["policy default deny\nallow\t*\t*\t*\t*\t*", /line 2 of 'bad' as it has 6 fields: expected 5/],
    ["allow", /as it has 1 field: expected 5/],
    ["permit\t*\t*\t*\t*", /as it starts with 'permit': expected 'allow', 'deny' or 'policy'/],
    ["policy default maybe", /as 'policy default maybe' is not 'policy default allow'/],
    [
      "policy default deny\n\npolicy default allow",
      /line 3 of 'bad' as the default was already set on line 1/,
    ],
    ["allow\t//\t*\t*\t*", /caller '\/\/' is an empty regular expression/],
    ["allow\t/*/\t*\t*\t*", /caller '\/\*\/' is not a valid regular expression/],
    ["allow\t/up=\t*\t*\t*", /caller '\/up=' is not a \/regex\//],
    ["allow\tchoria=a *\t*\t*\t*", /'\*' in its callers field must stand alone/],
    ["allow\t*\tstatus *\t*\t*", /'\*' in its actions field must stand alone/],
    ["allow\t*\t*\tfoo\t*", /fact 'foo' has no operator: expected fact=value/],
    ["allow\t*\t*\t=bar\t*", /fact '=bar' is not a comparison/],
    ["allow\t*\t*\tfoo=bar=\t*", /fact 'foo=bar=' is not a comparison/],
    ["allow\t*\t*\tfoo..bar=1\t*", /fact 'foo..bar=1' has an empty segment/],
    ["allow\t*\t*\tfoo!=/bar/\t*", /compares with a \/regex\/ using '!='/],
    ["allow\t*\t*\tfoo=/(/\t*", /fact 'foo=\/\(\/' is not a valid regular expression/],
    ["allow\t*\t*\t*\tfoo=bar", /class 'foo=bar' is a fact comparison/],
    ["allow\t \t*\t*\t*", /its callers field is empty/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parsePolicy(text, { file: "bad" }),
      (e) => {
        assert.ok(e instanceof PolicyError, text);
        assert.equal(e.name, "PolicyError");
        assert.equal(e.file, "bad");
        assert.equal(typeof e.line, "number");
        assert.match(e.message, /^Cannot parse policy line \d+ of 'bad' as /);
        assert.match(e.message, message, text);
        return true;
      },
    );
  }
});

Deno.test("parsePolicy keeps the regular expression error as the cause", () => {
  try {
    parsePolicy("allow\t/(/\t*\t*\t*", { file: "bad" });
    assert.fail("expected a PolicyError");
  } catch (e) {
    assert.ok(e instanceof PolicyError);
    assert.equal(e.line, 1);
    assert.ok(e.cause instanceof SyntaxError);
  }
});

Deno.test("parseGroups rejects bad names and groups defined twice", () => {
  assert.throws(
    () => parseGroups("ok a\nbad/name a b", { file: "groups" }),
    (e) =>
      e instanceof PolicyError && e.line === 2 &&
      /^Cannot parse groups line 2 of 'groups' as 'bad\/name' is not a group name/.test(e.message),
  );
  assert.throws(
    () => parseGroups("admins a\n# x\nadmins b"),
    /line 3 of 'groups' as group 'admins' was already defined on line 1/,
  );
  assert.deepEqual(parseGroups("  admins\ta  b \n"), new Map([["admins", ["a", "b"]]]));
});

async function withPolicies(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale_policy_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadPolicy reads <agent>.policy, then an enabled default, else null", async () => {
  await withPolicies({
    "service.policy": "policy default deny\nallow\t*\tstatus\t*\t*\n",
    "default.policy": "policy default allow\n",
    "fallback.policy": "policy default deny\n",
  }, async (dir) => {
    const own = await loadPolicy(dir, "service");
    assert.equal(own?.file, `${dir}/service.policy`);
    assert.equal(own?.rules.length, 1);
    assert.equal(await loadPolicy(dir, "package"), null);
    assert.equal(
      (await loadPolicy(`${dir}/`, "package", { enableDefault: true }))?.default,
      "allow",
    );
    const named = await loadPolicy(dir, "package", {
      enableDefault: true,
      defaultName: "fallback",
    });
    assert.equal(named?.default, "deny");
    assert.equal(
      await loadPolicy(dir, "package", { enableDefault: true, defaultName: "none" }),
      null,
    );
    assert.deepEqual(await loadGroups(dir), new Map());
  });
});

Deno.test("loadPolicy refuses agent names that could leave the directory", async () => {
  await withPolicies({}, async (dir) => {
    for (const agent of ["../service", "a/b", "", ".hidden"]) {
      await assert.rejects(
        () => loadPolicy(dir, agent),
        (e) => e instanceof PolicyError && /is not an agent name/.test(e.message),
        agent,
      );
    }
  });
});

Deno.test("authorizeWithFiles decides with the policies directory's files", async () => {
  await withPolicies({
    "ginkgo.policy": await Deno.readTextFile(new URL("example17", EXAMPLES)),
    "groups": await Deno.readTextFile(new URL("groups", EXAMPLES)),
  }, async (dir) => {
    const allowed = await authorizeWithFiles(dir, {
      agent: "ginkgo",
      callerid: "cert=aa2",
      action: "x",
    });
    assert.deepEqual([allowed.allowed, allowed.line], [true, 2]);
    const denied = await authorizeWithFiles(dir, {
      agent: "ginkgo",
      callerid: "cert=x",
      action: "x",
    });
    assert.equal(denied.reason, `Denying based on default policy in ${dir}/ginkgo.policy`);
    const missing = await authorizeWithFiles(dir, {
      agent: "other",
      callerid: "cert=aa2",
      action: "x",
    });
    assert.equal(missing.allowed, false);
    const unconfigured = await authorizeWithFiles(
      dir,
      { agent: "other", callerid: "cert=aa2", action: "x" },
      { allowUnconfigured: true },
    );
    assert.equal(unconfigured.allowed, true);
  });
});

Deno.test("authorizeWithFiles denies when the policy or groups file is broken", async () => {
  await withPolicies({ "svc.policy": "policy default allow\nallow * * * *\n" }, async (dir) => {
    const decision = await authorizeWithFiles(dir, { agent: "svc", callerid: "c", action: "a" }, {
      allowUnconfigured: true,
    });
    assert.equal(decision.allowed, false);
    assert.ok(decision.error instanceof PolicyError);
    assert.equal(decision.error.line, 2);
    assert.match(
      decision.reason,
      /^Denying as the policy is broken: Cannot parse policy line 2 of '.*svc\.policy'/,
    );
  });
  await withPolicies(
    { "svc.policy": "policy default allow\n", "groups": "bad/name x\n" },
    async (dir) => {
      const decision = await authorizeWithFiles(dir, { agent: "svc", callerid: "c", action: "a" });
      assert.equal(decision.allowed, false);
      assert.match(decision.reason, /Cannot parse groups line 1 of '.*groups'/);
    },
  );
  await withPolicies({}, async (dir) => {
    await Deno.mkdir(`${dir}/svc.policy`);
    const decision = await authorizeWithFiles(dir, { agent: "svc", callerid: "c", action: "a" });
    assert.equal(decision.allowed, false);
    assert.match(decision.reason, /Cannot read policy file '.*svc\.policy'/);
    assert.ok(decision.error?.cause instanceof Error);
  });
});
