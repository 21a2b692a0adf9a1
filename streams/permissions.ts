/**
 * The broker permission rules the stream store and data adapters need, for the broker's
 * `permissions.identities` list (Chorale's broker) or nats-server's `authorization.users`. Rules
 * replace the Choria defaults for the identities they match, so the reader rule repeats the
 * client defaults and adds the store's read API.
 *
 * @module
 */
import {
  lifecycleWildcard,
  machineWildcard,
  registrationSubject,
  streamsApiSubject,
  streamsApiWildcard,
} from "../core/protocol/subjects.ts";

/** One identity rule, as the broker configuration's `permissions.identities` takes it. */
export interface IdentityRuleConfig {
  /** An identity, or a `/regex/`. */
  match: string;
  /** What it may publish. */
  publish: { allow: string[]; deny?: string[] };
  /** What it may subscribe to. */
  subscribe: { allow: string[]; deny?: string[] };
}

/** Who plays which part. */
export interface StreamsIdentities {
  /** The store service's identity (or pattern). */
  store?: string;
  /** The data adapters' identity (or pattern). */
  adapter?: string;
  /** Clients that may read the store: events, inventory, fleet, registry discovery. */
  readers?: string;
  /** Clients that may also write (say `chorale kv put`) and manage streams (add, delete, purge). */
  managers?: string;
}

const CLIENT_PUBLISH = [
  "*.broadcast.agent.>",
  "*.broadcast.service.>",
  "*.node.>",
  "choria.federation.*.federation",
];

/**
 * The rules for each part named: the store subscribes to its API and the captured event
 * subjects and answers on reply subjects; adapters read registration and write to the store;
 * readers are clients that may also ask the store's read API; managers may also write to it and
 * manage streams.
 *
 * @example Rules for a store and one operator
 * ```ts
 * import { streamsPermissionRules } from "./permissions.ts";
 * const rules = streamsPermissionRules({ store: "streams.example.net", readers: "/^ops\\./" });
 * console.log(rules[0]?.subscribe.allow); // [ "chorale.streams.api.>", "choria.lifecycle.>", "choria.machine.>" ]
 * ```
 */
export function streamsPermissionRules(ids: StreamsIdentities): IdentityRuleConfig[] {
  const rules: IdentityRuleConfig[] = [];
  if (ids.store) {
    rules.push({
      match: ids.store,
      publish: { allow: ["*.reply.>", "_INBOX.>"] },
      subscribe: { allow: [streamsApiWildcard(), lifecycleWildcard(), machineWildcard()] },
    });
  }
  if (ids.adapter) {
    rules.push({
      match: ids.adapter,
      publish: {
        allow: [streamsApiWildcard("write"), streamsApiSubject("manage", "add")],
      },
      subscribe: { allow: [registrationSubject("*"), "_INBOX.>"] },
    });
  }
  const client = (match: string, extra: string[]): IdentityRuleConfig => ({
    match,
    publish: { allow: [...CLIENT_PUBLISH, ...extra], deny: [registrationSubject("*")] },
    subscribe: { allow: ["*.reply.{replyhash}.>"] },
  });
  if (ids.managers) {
    rules.push(
      client(ids.managers, [
        streamsApiWildcard("read"),
        streamsApiWildcard("write"),
        streamsApiWildcard("manage"),
      ]),
    );
  }
  if (ids.readers) rules.push(client(ids.readers, [streamsApiWildcard("read")]));
  return rules;
}
