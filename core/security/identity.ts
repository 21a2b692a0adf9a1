/**
 * Identities the Choria way: a certificate name (`certname`) is a client when it matches the
 * allowed client patterns, a privileged client when it matches the privileged patterns, and a
 * server otherwise; its caller id is `choria=<certname>`.
 *
 * @module
 */

/** Choria's default patterns for client certificate names. */
export const DEFAULT_CLIENT_PATTERNS: readonly string[] = ["\\.mcollective$", "\\.choria$"];

/** Choria's default patterns for privileged signers (who may sign for others). */
export const DEFAULT_PRIVILEGED_PATTERNS: readonly string[] = [
  "\\.privileged\\.mcollective$",
  "\\.privileged\\.choria$",
];

/** What an identity is. */
export type IdentityKind = "client" | "server";

/** Compiled name patterns. */
export interface IdentityPatterns {
  clients: RegExp[];
  privileged: RegExp[];
}

/** Compiles pattern strings; throws a SyntaxError naming the bad pattern. */
export function compilePatterns(
  clients: readonly string[] = DEFAULT_CLIENT_PATTERNS,
  privileged: readonly string[] = DEFAULT_PRIVILEGED_PATTERNS,
): IdentityPatterns {
  const compile = (p: string) => {
    try {
      return new RegExp(p);
    } catch (cause) {
      throw new SyntaxError(`Cannot compile identity pattern '${p}': not a regular expression`, {
        cause,
      });
    }
  };
  return { clients: clients.map(compile), privileged: privileged.map(compile) };
}

/** Whether `certname` is a client's (privileged names count as clients). */
export function identityKind(certname: string, patterns: IdentityPatterns): IdentityKind {
  return patterns.clients.some((p) => p.test(certname)) ||
      patterns.privileged.some((p) => p.test(certname))
    ? "client"
    : "server";
}

/** Whether `certname` may sign requests on behalf of other callers. */
export function isPrivileged(certname: string, patterns: IdentityPatterns): boolean {
  return patterns.privileged.some((p) => p.test(certname));
}

/** The default client certificate name of a user: `<user>.mcollective`. */
export function defaultClientName(user: string): string {
  return `${user}.mcollective`;
}
