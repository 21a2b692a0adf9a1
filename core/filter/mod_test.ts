import assert from "node:assert/strict";
import { createRequest, type RequestFilter } from "../protocol/request.ts";
import {
  CompoundParseError,
  FactFilterError,
  type FilterError,
  type FilterNode,
  isEmptyFilter,
  matchesFilter,
  parseFilterArgs,
} from "./mod.ts";

const NODE: FilterNode = {
  identity: "web1.example.net",
  facts: { os: "linux", memory: 2048, nested: { string: "nested hello world", inumber: 2 } },
  classes: ["apache", "role::testing", "testing"],
  agents: ["rpcutil", "package"],
};

function filter(patch: Partial<RequestFilter>): RequestFilter {
  return { fact: [], cf_class: [], agent: [], identity: [], compound: [], ...patch };
}

// [description, filter, expected]
const CASES: [string, RequestFilter, boolean][] = [
  ["an empty filter", filter({}), true],
  ["an empty filter without agents", { fact: [], cf_class: [], identity: [], compound: [] }, true],
  ["one identity", filter({ identity: ["web1.example.net"] }), true],
  ["identities are ORed", filter({ identity: ["db1", "/^web/"] }), true],
  ["no identity matches", filter({ identity: ["db1", "db2"] }), false],
  ["agents are ANDed", filter({ agent: ["rpcutil", "package"] }), true],
  ["a missing agent", filter({ agent: ["rpcutil", "puppet"] }), false],
  ["classes are ANDed", filter({ cf_class: ["apache", "/^role::/"] }), true],
  ["a missing class", filter({ cf_class: ["apache", "mysql"] }), false],
  ["facts are ANDed", filter({ fact: [{ fact: "os", operator: "==", value: "Linux" }] }), true],
  [
    "a failing fact",
    filter({
      fact: [
        { fact: "os", operator: "==", value: "linux" },
        { fact: "memory", operator: ">", value: "4096" },
      ],
    }),
    false,
  ],
  [
    "a compound filter",
    filter({ compound: [[{ expr: "with('apache') and memory > 1024" }]] }),
    true,
  ],
  ["a failing compound filter", filter({ compound: [[{ expr: "os == 'windows'" }]] }), false],
  [
    "every compound filter must match",
    filter({ compound: [[{ expr: "true" }], [{ expr: "false" }], [{ expr: "true" }]] }),
    false,
  ],
  [
    "every kind must match",
    filter({
      identity: ["/web/"],
      agent: ["package"],
      cf_class: ["apache"],
      fact: [{ fact: "nested.inumber", operator: ">=", value: "2" }],
      compound: [[{ expr: "os == 'linux'" }]],
    }),
    true,
  ],
  ["one kind failing fails all", filter({ identity: ["/web/"], agent: ["puppet"] }), false],
];

Deno.test("matchesFilter needs every present kind to match and passes empty filters", () => {
  for (const [description, f, expected] of CASES) {
    assert.equal(matchesFilter(f, NODE), expected, description);
  }
});

Deno.test("matchesFilter does not match malformed compound terms and reports them", () => {
  const bad: RequestFilter["compound"][] = [
    [[]],
    [[{ expr: "true" }, { expr: "true" }]],
    [[{ other: "true" }]],
    [[{ expr: 1 as unknown as string }]],
    [[{ expr: "os ==" }]],
    [[{ expr: "os < 1" }]],
  ];
  for (const compound of bad) {
    const errors: FilterError[] = [];
    assert.equal(
      matchesFilter(filter({ compound }), NODE, { onError: (e) => errors.push(e) }),
      false,
      JSON.stringify(compound),
    );
    assert.equal(errors.length, 1, JSON.stringify(compound));
    assert.match(errors[0]!.message, /^Cannot /);
  }
});

Deno.test("matchesFilter reports fact comparisons it cannot make", () => {
  const errors: FilterError[] = [];
  const f = filter({ fact: [{ fact: "os", operator: "=~", value: "/[/" }] });
  assert.equal(matchesFilter(f, NODE, { onError: (e) => errors.push(e) }), false);
  assert.equal(errors[0]?.name, "FactFilterError");
});

Deno.test("isEmptyFilter tells filters with no entries", () => {
  assert.equal(isEmptyFilter({}), true);
  assert.equal(isEmptyFilter(filter({})), true);
  assert.equal(isEmptyFilter(filter({ agent: ["rpcutil"] })), false);
  assert.equal(isEmptyFilter(filter({ compound: [[{ expr: "true" }]] })), false);
});

Deno.test("parseFilterArgs builds the wire filter from CLI strings", () => {
  assert.deepEqual(parseFilterArgs({}), filter({}));
  assert.deepEqual(
    parseFilterArgs({
      facts: ["os=linux", "memory>=1024", "fqdn=/^web/", ""],
      classes: ["apache", "apache", ""],
      agents: ["package", "/serv/"],
      identities: ["web1", "/^db/", "web1"],
      compound: "with('apache') and memory > 1024",
    }),
    {
      fact: [
        { fact: "os", operator: "==", value: "linux" },
        { fact: "memory", operator: ">=", value: "1024" },
        { fact: "fqdn", operator: "=~", value: "/^web/" },
      ],
      cf_class: ["apache"],
      agent: ["package", "/serv/"],
      identity: ["web1", "/^db/"],
      compound: [[{ expr: "with('apache') and memory > 1024" }]],
    },
  );
});

Deno.test("parseFilterArgs splits -W words into classes and facts by their operators", () => {
  const parsed = parseFilterArgs({
    with: ["apache os=linux  role::web", "memory>1024 /^role/"],
    facts: ["os=linux"],
  });
  assert.deepEqual(parsed.cf_class, ["apache", "role::web", "/^role/"]);
  assert.deepEqual(parsed.fact, [
    { fact: "os", operator: "==", value: "linux" },
    { fact: "memory", operator: ">", value: "1024" },
  ]);
});

Deno.test("parseFilterArgs refuses malformed fact and compound filters", () => {
  assert.throws(() => parseFilterArgs({ facts: ["os"] }), FactFilterError);
  assert.throws(() => parseFilterArgs({ with: ["apache os="] }), FactFilterError);
  assert.throws(() => parseFilterArgs({ compound: "(os == 'linux'" }), (error: unknown) => {
    assert.ok(error instanceof CompoundParseError);
    assert.equal(error.column, 15);
    return true;
  });
  assert.deepEqual(parseFilterArgs({ compound: "  " }).compound, []);
});

Deno.test("parseFilterArgs output passes the v1 request checks and matches nodes", () => {
  const f = parseFilterArgs({
    with: ["apache os=linux"],
    identities: ["/^web/"],
    agents: ["package"],
    compound: "nested.inumber == 2",
  });
  const request = createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: "choria=alice.mcollective",
    senderid: "ws1",
    message: "{}",
    filter: f,
  });
  assert.deepEqual(request.envelope.filter, f);
  assert.equal(matchesFilter(request.envelope.filter, NODE), true);
  assert.equal(matchesFilter(request.envelope.filter, { ...NODE, identity: "db1" }), false);
});
