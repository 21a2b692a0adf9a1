/**
 * Identity filters (`-I`): which nodes, by identity (certname). Pure: no I/O.
 *
 * As go-choria's `filter/identity/identity.go` (commit 58e80bab): a node has one identity, so the
 * filters are ORed; each is an exact, case-sensitive identity or a case-sensitive `/regex/`. When
 * the regular expression does not match (or is invalid) the filter is still compared exactly, so
 * a literal `/odd/` identity can be selected.
 *
 * @module
 */
import { compileRegex, slashRegexSource } from "./fact_filter.ts";

/**
 * Whether an identity satisfies one identity filter.
 *
 * @example Match an identity by name or pattern
 * ```ts
 * import { matchIdentity } from "./identity_filter.ts";
 * console.log(matchIdentity("web1.example.net", "web1.example.net")); // true
 * console.log(matchIdentity("/^web\\d/", "web1.example.net")); // true
 * console.log(matchIdentity("/^WEB/", "web1.example.net")); // false
 * ```
 */
export function matchIdentity(filter: string, identity: string): boolean {
  const source = slashRegexSource(filter);
  if (source !== undefined) {
    try {
      if (compileRegex(source, { what: "identity filter" }).test(identity)) return true;
    } catch {
      // go-choria ignores the regex error and compares the text.
    }
  }
  return identity === filter;
}

/**
 * Whether an identity satisfies any of the identity filters; an empty list matches nothing
 * (callers skip empty lists).
 *
 * @example Match one of several identities
 * ```ts
 * import { matchIdentities } from "./identity_filter.ts";
 * console.log(matchIdentities(["db1", "/^web/"], "web2")); // true
 * ```
 */
export function matchIdentities(filters: readonly string[], identity: string): boolean {
  return filters.some((filter) => matchIdentity(filter, identity));
}
