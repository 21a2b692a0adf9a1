/**
 * Class filters (`-C`): configuration management classes a node must have. Pure: no I/O.
 *
 * As go-choria's `filter/classes/classes.go` (commit 58e80bab): every filter must match (AND); a
 * filter is an exact class name, compared after lower-casing the filter (Puppet writes classes in
 * lower case), or a `/regex/` that any class matches regardless of case (go-choria prefixes
 * `(?i)`). An invalid regular expression matches nothing. The classes file is Puppet's
 * `classes.txt`: one class per line, read sorted.
 *
 * @module
 */
import { compileRegex, slashRegexSource } from "./fact_filter.ts";

/**
 * Whether the node's classes satisfy one class filter.
 *
 * @example Match a class by name or pattern
 * ```ts
 * import { matchClass } from "./class_filter.ts";
 * const classes = ["apache", "role::web"];
 * console.log(matchClass("Apache", classes)); // true
 * console.log(matchClass("/^ROLE::/", classes)); // true
 * console.log(matchClass("mysql", classes)); // false
 * ```
 */
export function matchClass(filter: string, classes: readonly string[]): boolean {
  const source = slashRegexSource(filter);
  if (source === undefined) {
    const wanted = filter.toLowerCase();
    return classes.includes(wanted);
  }
  let regex: RegExp;
  try {
    regex = compileRegex(source, { ignoreCase: true, what: "class filter" });
  } catch {
    return false;
  }
  return classes.some((c) => regex.test(c));
}

/**
 * Whether the node's classes satisfy every class filter; an empty list matches nothing, as in
 * go-choria (callers skip empty lists).
 *
 * @example Match several class filters
 * ```ts
 * import { matchClasses } from "./class_filter.ts";
 * console.log(matchClasses(["apache", "/role/"], ["apache", "role::web"])); // true
 * console.log(matchClasses(["apache", "mysql"], ["apache", "role::web"])); // false
 * ```
 */
export function matchClasses(filters: readonly string[], classes: readonly string[]): boolean {
  return filters.length > 0 && filters.every((filter) => matchClass(filter, classes));
}

/**
 * The classes in the text of a classes file (Puppet's `classes.txt`): one per line, trimmed,
 * blank lines dropped, sorted as go-choria sorts them.
 *
 * @example Read a classes file
 * ```ts
 * import { parseClassesFile } from "./class_filter.ts";
 * console.log(parseClassesFile("role::testing\r\ntesting\napache\n")); // [ "apache", "role::testing", "testing" ]
 * ```
 */
export function parseClassesFile(text: string): string[] {
  return text.split("\n").map((line) => line.trim()).filter((line) => line !== "").sort();
}
