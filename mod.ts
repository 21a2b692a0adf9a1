/**
 * Chorale: secure-by-default fleet orchestration for Deno, in the model of Choria.
 *
 * This is the library's public surface. It grows with the client API, the agent SDK and the DDL
 * and protocol types; for now it offers the subject helpers of the Choria wire protocol and the
 * certificate authority used for fleets without Puppet.
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
export * from "./core/protocol/subjects.ts";
export * from "./core/security/ca.ts";
