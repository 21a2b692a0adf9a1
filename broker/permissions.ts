/**
 * Per-identity publish and subscribe permissions, evaluated as nats-server does: a subject is
 * allowed when the allow list is absent or matches it, and no deny entry matches it. A wildcard
 * subscription that only overlaps a deny entry is accepted, and the denied messages are filtered
 * out at delivery.
 *
 * @module
 */
import { wireFromText } from "./wire_text.ts";
import { hasWildcard, isSubsetMatch, subjectMatches, subjectsOverlap } from "./subject.ts";

/** Allow and deny lists of subject patterns. */
export interface SubjectPermission {
  /** Patterns that are allowed; absent means everything not denied. */
  allow?: string[];
  /** Patterns that are denied, whatever the allow list says. @default [] */
  deny?: string[];
}

/** The permissions of one identity. */
export interface Permissions {
  publish?: SubjectPermission;
  subscribe?: SubjectPermission;
}

/** Which default set an identity gets, the Choria way. */
export type IdentityKind = "client" | "server";

/**
 * Choria's split: servers answer requests and publish replies, registration and events; clients
 * make requests and read only their own replies. `{identity}` stands for the certificate name and
 * `{replyhash}` for the md5 hex of the caller id `choria=<identity>`.
 */
export const DefaultPermissions: Readonly<Record<IdentityKind, Permissions>> = {
  server: {
    publish: {
      allow: [
        "*.reply.>",
        "*.broadcast.agent.registration",
        "choria.lifecycle.event.>",
        "choria.machine.>",
        // Replies to federated requests go back through the federation broker.
        "choria.federation.*.collective",
        // Key-value reads for kv watchers: the store answers these from KV_ streams only.
        "chorale.streams.api.read.kv",
      ],
    },
    subscribe: {
      allow: [
        "*.broadcast.agent.>",
        "*.broadcast.service.>",
        "*.node.{identity}",
        // Replies to the server's own requests (a kv watcher's reads).
        "_INBOX.{identity}.>",
      ],
      deny: ["*.reply.>", "*.broadcast.agent.registration"],
    },
  },
  client: {
    publish: {
      allow: [
        "*.broadcast.agent.>",
        "*.broadcast.service.>",
        "*.node.>",
        "choria.federation.*.federation",
      ],
      deny: ["*.broadcast.agent.registration"],
    },
    subscribe: { allow: ["*.reply.{replyhash}.>"] },
  },
};

/**
 * What a federation broker may do: take federated requests and member replies, and publish
 * requests into a member collective and replies back to clients. No identity gets it by default;
 * a rule grants it by name with `preset: federation`.
 */
export const FederationPermissions: Readonly<Permissions> = {
  publish: { allow: ["*.broadcast.agent.>", "*.broadcast.service.>", "*.node.>", "*.reply.>"] },
  subscribe: { allow: ["choria.federation.*.federation", "choria.federation.*.collective"] },
};

/**
 * Replaces `{identity}` and `{replyhash}` in every pattern, and turns the patterns (UTF-8 text)
 * into wire strings, the form in which the broker holds subjects.
 */
export function expandPermissions(
  permissions: Permissions,
  values: { identity: string; replyhash: string },
): Permissions {
  const expand = (list?: string[]) =>
    list?.map((p) =>
      wireFromText(
        p.replaceAll("{identity}", values.identity).replaceAll("{replyhash}", values.replyhash),
      )
    );
  const side = (p?: SubjectPermission): SubjectPermission | undefined => {
    if (!p) return undefined;
    const out: SubjectPermission = {};
    const allow = expand(p.allow);
    const deny = expand(p.deny);
    if (allow) out.allow = allow;
    if (deny) out.deny = deny;
    return out;
  };
  const out: Permissions = {};
  const publish = side(permissions.publish);
  const subscribe = side(permissions.subscribe);
  if (publish) out.publish = publish;
  if (subscribe) out.subscribe = subscribe;
  return out;
}

/** The answer to a subscribe check. */
export const SubscribeVerdict = {
  /** Refused: the subject is not allowed or lies wholly inside a deny entry. */
  denied: 0,
  /** Allowed, and no message it can match is denied. */
  allowed: 1,
  /** Allowed, but some matching messages are denied: filter each delivery. */
  filtered: 2,
} as const;

/** A {@linkcode SubscribeVerdict} value. */
export type SubscribeVerdict = typeof SubscribeVerdict[keyof typeof SubscribeVerdict];

const PUBLISH_CACHE_SIZE = 256;

/**
 * Checks one connection's permissions. Publish answers are cached per subject.
 *
 * @example Deny a subject
 * ```ts
 * import { PermissionChecker } from "./permissions.ts";
 * const checker = new PermissionChecker({ publish: { deny: ["secret.>"] } });
 * console.log(checker.canPublish("secret.plans")); // false
 * ```
 */
export class PermissionChecker {
  readonly #publish: SubjectPermission | undefined;
  readonly #subscribe: SubjectPermission | undefined;
  readonly #publishCache = new Map<string, boolean>();

  constructor(permissions: Permissions) {
    this.#publish = permissions.publish;
    this.#subscribe = permissions.subscribe;
  }

  /** Whether the connection may publish to the literal `subject`. */
  canPublish(subject: string): boolean {
    const p = this.#publish;
    if (!p) return true;
    let ok = this.#publishCache.get(subject);
    if (ok !== undefined) return ok;
    ok = (!p.allow || p.allow.some((a) => subjectMatches(a, subject))) &&
      !(p.deny ?? []).some((d) => subjectMatches(d, subject));
    if (this.#publishCache.size >= PUBLISH_CACHE_SIZE) this.#publishCache.clear();
    this.#publishCache.set(subject, ok);
    return ok;
  }

  /** Whether the connection may subscribe to `subject`, which may hold wildcards. */
  canSubscribe(subject: string): SubscribeVerdict {
    const s = this.#subscribe;
    if (!s) return SubscribeVerdict.allowed;
    if (s.allow && !s.allow.some((a) => isSubsetMatch(subject, a))) return SubscribeVerdict.denied;
    const deny = s.deny ?? [];
    if (deny.some((d) => isSubsetMatch(subject, d))) return SubscribeVerdict.denied;
    if (hasWildcard(subject) && deny.some((d) => subjectsOverlap(subject, d))) {
      return SubscribeVerdict.filtered;
    }
    return SubscribeVerdict.allowed;
  }

  /** Whether a message on the literal `subject` must be withheld from a filtered subscription. */
  deliveryDenied(subject: string): boolean {
    return (this.#subscribe?.deny ?? []).some((d) => subjectMatches(d, subject));
  }
}
