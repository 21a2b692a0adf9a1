/**
 * NATS subject rules: validity of subjects and queue names, and wildcard matching between
 * subjects and patterns. Tokens are separated by `.`; `*` matches one token and `>` the rest.
 *
 * @module
 */

/** Whether `subject` may be subscribed to: non-empty tokens, `*` and `>` only as whole tokens, `>` last. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0) return false;
  let tokenStart = 0;
  for (let i = 0; i <= subject.length; i++) {
    const c = i < subject.length ? subject.charCodeAt(i) : 0x2e;
    if (c === 0x2e /* . */) {
      const len = i - tokenStart;
      if (len === 0) return false;
      if (len > 1) {
        // A wildcard character inside a longer token is literal in NATS; only whitespace is invalid.
      } else if (subject.charCodeAt(tokenStart) === 0x3e /* > */ && i !== subject.length) {
        return false;
      }
      tokenStart = i + 1;
    } else if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) {
      return false;
    }
  }
  return true;
}

/** Whether `subject` is valid and has no wildcard tokens, so it may be published to. */
export function isValidLiteralSubject(subject: string): boolean {
  return isValidSubject(subject) && !hasWildcard(subject);
}

/** Whether any token of `subject` is exactly `*` or `>`. */
export function hasWildcard(subject: string): boolean {
  for (let i = 0; i < subject.length; i++) {
    const c = subject.charCodeAt(i);
    if (c !== 0x2a && c !== 0x3e) continue;
    const startsToken = i === 0 || subject.charCodeAt(i - 1) === 0x2e;
    const endsToken = i === subject.length - 1 || subject.charCodeAt(i + 1) === 0x2e;
    if (startsToken && endsToken) return true;
  }
  return false;
}

/** Whether a queue group name is valid: non-empty, no whitespace. */
export function isValidQueueName(queue: string): boolean {
  return queue.length > 0 && !/[\s]/.test(queue);
}

/** Whether the literal `subject` is matched by `pattern` (which may hold wildcards). */
export function subjectMatches(pattern: string, subject: string): boolean {
  return tokensMatch(pattern.split("."), subject.split("."));
}

/** Token-level {@linkcode subjectMatches} for callers that keep subjects split. */
export function tokensMatch(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

/**
 * Whether every subject matched by `subset` is also matched by `pattern`; `subset` may hold
 * wildcards. `foo.*` is a subset of `foo.>` and of `>`, but not of `foo.bar`.
 */
export function isSubsetMatch(subset: string, pattern: string): boolean {
  const s = subset.split(".");
  const p = pattern.split(".");
  for (let i = 0; i < p.length; i++) {
    const pt = p[i];
    if (pt === ">") return s.length > i;
    if (i >= s.length) return false;
    const st = s[i];
    if (pt === "*") {
      if (st === ">") return false;
      continue;
    }
    if (pt !== st) return false;
  }
  return p.length === s.length;
}

/** Whether some subject could be matched by both patterns. */
export function subjectsOverlap(a: string, b: string): boolean {
  const at = a.split(".");
  const bt = b.split(".");
  for (let i = 0; i < Math.max(at.length, bt.length); i++) {
    const x = at[i];
    const y = bt[i];
    if (x === ">" || y === ">") return x !== undefined && y !== undefined;
    if (x === undefined || y === undefined) return false;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
  return true;
}
