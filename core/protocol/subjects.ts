/**
 * Every subject Chorale uses, built in one place, as Choria names them.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The caller id of a certificate name: `choria=<certname>`. */
export function callerId(certname: string): string {
  return `choria=${certname}`;
}

/** The md5 hex of a caller id, the caller's part of its reply subjects. */
export function callerHash(callerid: string): string {
  return createHash("md5").update(callerid).digest("hex");
}

/** `<collective>.broadcast.agent.<agent>`: requests to every node with `agent`. */
export function broadcastSubject(collective: string, agent: string): string {
  return `${collective}.broadcast.agent.${agent}`;
}

/** `<collective>.node.<identity>`: requests to one node. */
export function directedSubject(collective: string, identity: string): string {
  return `${collective}.node.${identity}`;
}

/** `<collective>.reply.<md5hex(callerid)>`: the prefix of every reply subject of a caller. */
export function replyPrefix(collective: string, callerid: string): string {
  return `${collective}.reply.${callerHash(callerid)}`;
}

/** `<collective>.reply.<md5hex(callerid)>.<requestid>`: where replies to one request go. */
export function replySubject(collective: string, callerid: string, requestId: string): string {
  return `${replyPrefix(collective, callerid)}.${requestId}`;
}

/** `<collective>.broadcast.agent.registration`: where nodes publish their inventory. */
export function registrationSubject(collective: string): string {
  return broadcastSubject(collective, "registration");
}

/** `choria.lifecycle.event.<type>.<component>` */
export function lifecycleSubject(type: string, component: string): string {
  return `choria.lifecycle.event.${type}.${component}`;
}

/** `choria.federation.<name>.federation`: what clients publish to a federation. */
export function federationSubject(name: string): string {
  return `choria.federation.${name}.federation`;
}

/** `choria.federation.<name>.collective`: where member collectives' replies go back. */
export function federationCollectiveSubject(name: string): string {
  return `choria.federation.${name}.collective`;
}

/** `choria.lifecycle.>`: every lifecycle event, the subjects of the `CHORIA_EVENTS` stream. */
export function lifecycleWildcard(): string {
  return "choria.lifecycle.>";
}

/** `choria.machine.>`: every autonomous agent event, the subjects of `CHORIA_MACHINE`. */
export function machineWildcard(): string {
  return "choria.machine.>";
}

/**
 * `choria.registration.<identity>`: a node's latest inventory in the registration stream; with
 * `%s` as the identity it is the data adapter's output subject template.
 */
export function registrationStreamSubject(identity: string): string {
  return `choria.registration.${identity}`;
}

/** `choria.registration.>`: the subjects of the `CHORIA_REGISTRATION` stream. */
export function registrationStreamWildcard(): string {
  return "choria.registration.>";
}

/** The access classes of the stream store's API, each its own subject branch for permissions. */
export type StreamsApiAccess = "read" | "write" | "manage";

/**
 * `chorale.streams.api.<access>.<operation>`: the stream store's request/reply API. Broker
 * permissions grant `read`, `write` and `manage` separately.
 */
export function streamsApiSubject(access: StreamsApiAccess, operation: string): string {
  return `chorale.streams.api.${access}.${operation}`;
}

/** `chorale.streams.api.>` (or one access class's branch): what the store service subscribes to. */
export function streamsApiWildcard(access?: StreamsApiAccess): string {
  return access === undefined ? "chorale.streams.api.>" : `chorale.streams.api.${access}.>`;
}

/** `choria.machine.transition`: where autonomous agents announce their transitions. */
export function machineTransitionSubject(): string {
  return "choria.machine.transition";
}

/** `choria.machine.watcher.<type>.state`: where a watcher of `type` announces its state. */
export function machineWatcherSubject(type: string): string {
  return `choria.machine.watcher.${type}.state`;
}

/** Bucket names: Choria's key-value bucket pattern. */
const KV_BUCKET = /^[a-zA-Z0-9_-]+$/;
/** Key names: Choria's key pattern (no dots, so a key is one subject token). */
const KV_KEY = /^[-/_a-zA-Z0-9]+$/;

/** Whether `bucket` and `key` (when given) are valid key-value names, as Choria's. */
export function isKvName(bucket: string, key?: string): boolean {
  return KV_BUCKET.test(bucket) && (key === undefined || KV_KEY.test(key));
}

/** Why `bucket` and `key` are not key-value names, or null when they are. */
export function kvNameProblem(bucket: string, key?: string): string | null {
  if (isKvName(bucket, key)) return null;
  const what = key === undefined ? `bucket '${bucket}'` : `bucket '${bucket}' and key '${key}'`;
  return `Cannot use ${what} as they are not key-value names: buckets take letters, digits, '_' and '-'; keys also '/'`;
}

/**
 * `$KV.<bucket>.<key>`: where a key's values are kept (JetStream's layout), in the stream
 * {@linkcode kvStreamName} names.
 *
 * @example
 * ```ts
 * import { kvSubject } from "./subjects.ts";
 * console.log(kvSubject("config", "motd")); // $KV.config.motd
 * ```
 */
export function kvSubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}

/** `$KV.<bucket>.>`: every key of a bucket. */
export function kvWildcard(bucket: string): string {
  return `$KV.${bucket}.>`;
}

/** `KV_<bucket>`: the stream that holds a key-value bucket. */
export function kvStreamName(bucket: string): string {
  return `KV_${bucket}`;
}

/**
 * `_INBOX.<identity>`: where a server's own requests (say a `kv` watcher asking the stream store)
 * get their replies. Choria's default permissions let a server subscribe there and nowhere else
 * for replies, so no node reads another's answers.
 */
export function serverInboxPrefix(identity: string): string {
  return `_INBOX.${identity}`;
}
