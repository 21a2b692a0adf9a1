import assert from "node:assert/strict";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { type CliContext, UsageError } from "./cli.ts";
import {
  parseCount,
  parseLimit,
  parseSeconds,
  parseSleep,
  repeat,
  targetingOf,
} from "./targeting.ts";

const ctx: CliContext = {
  stdout() {},
  stderr() {},
  env: () => undefined,
  cwd: () => "/work/here",
  uid: () => 1000,
  now: () => new Date(),
};

Deno.test("targetingOf builds the request filter from Choria's flags", () => {
  const t = targetingOf(ctx, {
    withFact: ["role=web", "memory>=1024"],
    withClass: ["apache"],
    withAgent: ["package"],
    withIdentity: ["/^n1/", "n2.example.net"],
    with: ["base os.family=linux"],
    select: "role == 'web'",
    target: "eu",
    discoveryTimeout: 500,
  });
  assert.deepEqual(t.filter, {
    fact: [
      { fact: "role", operator: "==", value: "web" },
      { fact: "memory", operator: ">=", value: "1024" },
      { fact: "os.family", operator: "==", value: "linux" },
    ],
    cf_class: ["base", "apache"],
    agent: ["package"],
    identity: ["/^n1/", "n2.example.net"],
    compound: [[{ expr: "role == 'web'" }]],
  });
  assert.equal(t.collective, "eu");
  // A discovery timeout given on the command line is waited out in full, as in Choria.
  assert.deepEqual(t.discovery, { timeoutMs: 500, windowMs: 500 });
});

Deno.test("targetingOf reads --nodes as a flatfile relative to the working directory", () => {
  assert.deepEqual(targetingOf(ctx, { nodes: "nodes.txt" }).discovery, {
    method: "flatfile",
    source: "/work/here/nodes.txt",
  });
  assert.deepEqual(targetingOf(ctx, { nodes: "-" }).discovery, {
    method: "flatfile",
    source: "-",
  });
  assert.deepEqual(targetingOf(ctx, {}).filter, {
    fact: [],
    cf_class: [],
    agent: [],
    identity: [],
    compound: [],
  });
});

Deno.test("targetingOf makes a filter that does not parse a usage error", () => {
  assert.throws(() => targetingOf(ctx, { withFact: ["role="] }), UsageError);
  assert.throws(() => targetingOf(ctx, { select: "role ==" }), UsageError);
});

Deno.test("option parsers take Choria's values and refuse the rest", () => {
  assert.equal(parseSeconds("2"), 2000);
  assert.equal(parseSeconds("0.25"), 250);
  for (const bad of ["0", "-1", "x", "1e3", "100000"]) {
    assert.throws(() => parseSeconds(bad), InvalidArgumentError, bad);
  }
  assert.equal(parseSleep("0"), 0);
  assert.equal(parseSleep("1.5"), 1500);
  assert.equal(parseLimit("5"), 5);
  assert.equal(parseLimit("10%"), "10%");
  for (const bad of ["0", "0%", "101%", "1.5", "x", "-2"]) {
    assert.throws(() => parseLimit(bad), InvalidArgumentError, bad);
  }
  assert.equal(parseCount("3"), 3);
  assert.throws(() => parseCount("0"), InvalidArgumentError);
  assert.deepEqual(repeat("a,b", repeat("c", undefined)), ["c", "a,b"]);
});
