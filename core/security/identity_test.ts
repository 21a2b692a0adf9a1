import assert from "node:assert/strict";
import { compilePatterns, defaultClientName, identityKind, isPrivileged } from "./identity.ts";

Deno.test("identityKind tells clients from servers with Choria's patterns", () => {
  const p = compilePatterns();
  assert.equal(identityKind("rip.mcollective", p), "client");
  assert.equal(identityKind("ops.choria", p), "client");
  assert.equal(identityKind("admin.privileged.choria", p), "client");
  assert.equal(identityKind("n1.example.net", p), "server");
  assert.equal(identityKind("mcollective.example.net", p), "server");
  assert.ok(isPrivileged("admin.privileged.mcollective", p));
  assert.ok(!isPrivileged("rip.mcollective", p));
  assert.equal(defaultClientName("rip"), "rip.mcollective");
});

Deno.test("compilePatterns names a pattern that is not a regular expression", () => {
  assert.throws(() => compilePatterns(["("]), /Cannot compile identity pattern '\('/);
});
