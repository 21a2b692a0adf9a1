import assert from "node:assert/strict";
import { matchAgent, matchAgents } from "./agent_filter.ts";

const AGENTS = ["rpcutil", "choria_util", "package", "service"];

// [filter, expected, note]
const CASES: [string, boolean, string?][] = [
  ["package", true],
  ["Package", false, "names are case-sensitive"],
  ["pack", false, "names match whole agents"],
  ["/^pack/", true],
  ["/util$/", true],
  ["/^PACK/", false, "regular expressions are case-sensitive"],
  ["/(?i)^PACK/", true, "unless they say (?i)"],
  ["/^puppet/", false],
  ["/[/", false, "an invalid regex matches nothing"],
];

Deno.test("matchAgent takes exact names and case-sensitive /regex/", () => {
  for (const [filter, expected, note] of CASES) {
    assert.equal(matchAgent(filter, AGENTS), expected, `${filter}${note ? ` (${note})` : ""}`);
  }
});

Deno.test("matchAgents needs every filter to match", () => {
  assert.equal(matchAgents(["rpcutil", "/serv/"], AGENTS), true);
  assert.equal(matchAgents(["rpcutil", "puppet"], AGENTS), false);
  assert.equal(matchAgents([], AGENTS), false);
  assert.equal(matchAgents(["rpcutil"], []), false);
});
