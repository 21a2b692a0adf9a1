import assert from "node:assert/strict";
import { matchIdentities, matchIdentity } from "./identity_filter.ts";

// [filter, identity, expected, note]
const CASES: [string, string, boolean, string?][] = [
  ["web1.example.net", "web1.example.net", true],
  ["WEB1.example.net", "web1.example.net", false, "names are case-sensitive"],
  ["web1", "web1.example.net", false, "names match whole identities"],
  ["/^web\\d+\\./", "web1.example.net", true],
  ["/example/", "web1.example.net", true, "regular expressions search"],
  ["/^WEB/", "web1.example.net", false, "regular expressions are case-sensitive"],
  ["/(?i)^WEB/", "web1.example.net", true, "unless they say (?i)"],
  ["/db/", "web1.example.net", false],
  ["/[/", "/[/", true, "an invalid regex still compares exactly"],
  ["/odd/", "/odd/", true, "a slash-delimited identity compares exactly"],
  ["", "", true],
];

Deno.test("matchIdentity takes exact identities and case-sensitive /regex/", () => {
  for (const [filter, identity, expected, note] of CASES) {
    assert.equal(
      matchIdentity(filter, identity),
      expected,
      `${filter} on ${identity}${note ? ` (${note})` : ""}`,
    );
  }
});

Deno.test("matchIdentities needs any one filter to match", () => {
  assert.equal(matchIdentities(["db1", "/^web/"], "web2"), true);
  assert.equal(matchIdentities(["db1", "db2"], "web2"), false);
  assert.equal(matchIdentities([], "web2"), false);
});
