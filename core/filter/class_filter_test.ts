import assert from "node:assert/strict";
import { matchClass, matchClasses, parseClassesFile } from "./class_filter.ts";

const CLASSES_FILE = new URL(
  "../../../shared/choria/config-examples/filter-classes.txt",
  import.meta.url,
);

Deno.test("parseClassesFile reads the example classes file sorted", async () => {
  const classes = parseClassesFile(await Deno.readTextFile(CLASSES_FILE));
  assert.deepEqual(classes, ["apache", "role::testing", "testing"]);
});

Deno.test("parseClassesFile trims lines and drops blank ones", () => {
  assert.deepEqual(parseClassesFile(""), []);
  assert.deepEqual(parseClassesFile("b\r\n\n  a  \n\n"), ["a", "b"]);
});

// [filter, expected, note]
const CASES: [string, boolean, string?][] = [
  ["apache", true],
  ["APACHE", true, "the filter is lower-cased"],
  ["testing", true],
  ["role::testing", true],
  ["role", false, "names match whole classes"],
  ["mysql", false],
  ["/^role::/", true],
  ["/TESTING/", true, "regular expressions ignore case"],
  ["/^test$/", false],
  ["/^(apache|nginx)$/", true],
  ["/[/", false, "an invalid regex matches nothing"],
  ["/", false, "a lone slash is a name"],
];

Deno.test("matchClass takes exact names and case-insensitive /regex/", async () => {
  const classes = parseClassesFile(await Deno.readTextFile(CLASSES_FILE));
  for (const [filter, expected, note] of CASES) {
    assert.equal(matchClass(filter, classes), expected, `${filter}${note ? ` (${note})` : ""}`);
  }
});

Deno.test("matchClass lower-cases the filter only, as go-choria does", () => {
  assert.equal(matchClass("Foo", ["Foo"]), false);
  assert.equal(matchClass("foo", ["Foo"]), false);
  assert.equal(matchClass("/foo/", ["Foo"]), true);
});

Deno.test("matchClasses needs every filter to match", () => {
  const classes = ["apache", "role::testing", "testing"];
  assert.equal(matchClasses(["apache", "/role/"], classes), true);
  assert.equal(matchClasses(["apache", "mysql"], classes), false);
  assert.equal(matchClasses([], classes), false);
  assert.equal(matchClasses(["apache"], []), false);
});
