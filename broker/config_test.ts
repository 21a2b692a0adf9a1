import assert from "node:assert/strict";
import { parseHostPort, parsePermissions } from "./config.ts";

Deno.test("parseHostPort splits host and port, IPv6 in brackets", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:4222"), { host: "127.0.0.1", port: 4222 });
  assert.deepEqual(parseHostPort("[::1]:0"), { host: "::1", port: 0 });
  assert.deepEqual(parseHostPort(":4222"), { host: "0.0.0.0", port: 4222 });
  assert.equal(typeof parseHostPort("nowhere"), "string");
  assert.equal(typeof parseHostPort("h:70000"), "string");
});

Deno.test("parsePermissions reads rules and reports each fault", () => {
  const problems: string[] = [];
  const config = parsePermissions({
    defaults: "open",
    identities: [
      { match: "/^fed\\d+$/", publish: { allow: ["*.broadcast.>"], deny: ["a..b"] } },
      { match: "" },
      { match: "x", subscribe: { allow: "nope" }, extra: 1 },
    ],
    client_patterns: ["("],
    other: true,
  }, problems);
  assert.equal(config.defaults, "open");
  assert.equal(config.identities.length, 2);
  for (
    const fragment of [
      '"a..b" is not a valid subject',
      ".match",
      "expected a list of subjects",
      "unknown setting 'extra'",
      "is not a regular expression",
      "unknown setting 'other'",
    ]
  ) {
    assert.ok(
      problems.some((p) => p.includes(fragment)),
      `missing ${fragment} in ${problems.join("\n")}`,
    );
  }
});

Deno.test("parsePermissions keeps Choria's defaults when nothing is set", () => {
  const problems: string[] = [];
  const config = parsePermissions({}, problems);
  assert.deepEqual(problems, []);
  assert.equal(config.defaults, "choria");
  assert.deepEqual(config.clientPatterns, ["\\.mcollective$", "\\.choria$"]);
});

Deno.test("parsePermissions fills a rule from a preset and refuses bad presets", () => {
  const problems: string[] = [];
  const config = parsePermissions({
    identities: [
      { match: "fed1.example.net", preset: "federation" },
      { match: "x", preset: "admin" },
      { match: "y", preset: "server", publish: { allow: [">"] } },
    ],
  }, problems);
  assert.deepEqual(config.identities[0]!.subscribe!.allow, [
    "choria.federation.*.federation",
    "choria.federation.*.collective",
  ]);
  assert.ok(
    problems.some((p) => p.includes('preset: expected server, client or federation, got "admin"')),
  );
  assert.ok(problems.some((p) => p.includes("either a preset or publish and subscribe")));
});
