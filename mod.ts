/**
 * Chorale: secure-by-default fleet orchestration for Deno, in the model of Choria.
 *
 * This is the library's public surface: the client (connect, discover, call agents, typed agent
 * clients, the client configuration), the Choria protocol v1 envelopes and subjects, request
 * signing and verification, identities and security providers, action policies, the audit log,
 * and the certificate authority used for fleets without Puppet. The agent SDK is still to come.
 *
 * @example Build the reply subject of a caller
 * ```ts
 * import { callerId, replySubject } from "./mod.ts";
 * const subject = replySubject("mcollective", callerId("alice.mcollective"), "0123");
 * console.log(subject.startsWith("mcollective.reply."));
 * ```
 *
 * @module
 */
export * from "./client/mod.ts";
export * from "./core/protocol/errors.ts";
export * from "./core/protocol/receive.ts";
export * from "./core/protocol/replay_guard.ts";
export * from "./core/protocol/reply.ts";
export * from "./core/protocol/request.ts";
export * from "./core/protocol/secure_reply.ts";
export * from "./core/protocol/secure_request.ts";
export * from "./core/protocol/subjects.ts";
export * from "./core/protocol/transport.ts";
export * from "./core/security/audit.ts";
export * from "./core/security/ca.ts";
export * from "./core/security/identity.ts";
export {
  type AuthorizationRequest,
  authorize,
  type AuthorizeOptions,
  type Decision,
  parseGroups,
  parsePolicy,
  type Policy,
  PolicyError,
  type PolicyGroups,
} from "./core/security/policy.ts";
export * from "./core/security/policy_files.ts";
export * from "./core/security/providers.ts";
export * from "./core/security/signing.ts";
export * from "./core/security/verify.ts";
