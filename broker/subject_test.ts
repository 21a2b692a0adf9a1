import assert from "node:assert/strict";
import {
  hasWildcard,
  isSubsetMatch,
  isValidLiteralSubject,
  isValidSubject,
  subjectMatches,
  subjectsOverlap,
} from "./subject.ts";

Deno.test("isValidSubject accepts NATS subjects and rejects malformed ones", () => {
  for (const good of ["a", "a.b", "a.*", "*.b", ">", "a.>", "a.*.>", "foo*", "a>b", "_INBOX.x1"]) {
    assert.ok(isValidSubject(good), good);
  }
  for (const bad of ["", ".", "a.", ".a", "a..b", "a.>.b", ">.a", "a b", "a\tb", "a\r\n"]) {
    assert.ok(!isValidSubject(bad), JSON.stringify(bad));
  }
});

Deno.test("isValidLiteralSubject rejects wildcard tokens only", () => {
  assert.ok(isValidLiteralSubject("a.b"));
  assert.ok(isValidLiteralSubject("a*b.c>"));
  assert.ok(!isValidLiteralSubject("a.*"));
  assert.ok(!isValidLiteralSubject("a.>"));
  assert.ok(hasWildcard("*"));
  assert.ok(!hasWildcard("a*"));
});

Deno.test("subjectMatches follows * and > rules", () => {
  assert.ok(subjectMatches("a.*", "a.b"));
  assert.ok(!subjectMatches("a.*", "a.b.c"));
  assert.ok(subjectMatches("a.>", "a.b.c"));
  assert.ok(!subjectMatches("a.>", "a"));
  assert.ok(subjectMatches(">", "x"));
  assert.ok(!subjectMatches("a.b", "a.c"));
});

Deno.test("isSubsetMatch decides whether a pattern lies inside another", () => {
  assert.ok(isSubsetMatch("foo.*", "foo.>"));
  assert.ok(isSubsetMatch("foo.bar", "foo.*"));
  assert.ok(isSubsetMatch("foo.*.baz", ">"));
  assert.ok(!isSubsetMatch("foo.>", "foo.*"));
  assert.ok(!isSubsetMatch("foo.*", "foo.bar"));
  assert.ok(!isSubsetMatch("foo", "foo.>"));
});

Deno.test("subjectsOverlap finds patterns that share a subject", () => {
  assert.ok(subjectsOverlap("foo.>", "foo.bar"));
  assert.ok(subjectsOverlap("*.bar", "foo.*"));
  assert.ok(!subjectsOverlap("foo.*", "bar.*"));
  assert.ok(!subjectsOverlap("foo.*", "foo.a.b"));
  assert.ok(subjectsOverlap(">", "a.b.c"));
});
