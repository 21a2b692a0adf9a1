/**
 * The exit codes of `chorale`'s fleet commands, Choria's for the outcome of a call and one
 * apiece for each way a command can fail before it sends anything, with the translation of the
 * client library's errors into one sentence and a code each.
 *
 * | code | meaning                                                                      |
 * | ---- | ---------------------------------------------------------------------------- |
 * | 0    | every node answered, and answered OK                                         |
 * | 1    | an error: invalid inputs (nothing sent), nothing discovered, a bad DDL ...   |
 * | 2    | usage or configuration error; after a call, some nodes answered with failure |
 * | 3    | some nodes did not answer                                                    |
 * | 4    | no node answered                                                             |
 * | 5    | no DDL for the agent, or the agent has no such action                        |
 * | 6    | no broker could be reached                                                   |
 * | 7    | the certificate or key is missing, expired, not yet valid or refused         |
 *
 * @module
 */
import { DdlError } from "../agents/ddl.ts";
import { ConfigError } from "../core/config.ts";
import { MissingFileError } from "../core/security/pem_files.ts";
import { SecurityProviderError } from "../core/security/providers.ts";
import { CliError } from "./cli.ts";
import { UnknownAgentError } from "./ddl_store.ts";
import {
  CertificateRejectedError,
  ClientError,
  ConnectError,
  DiscoveryError,
  InputError,
} from "./errors.ts";
import type { RpcStats } from "./types.ts";

/** The exit codes, by name. */
export const ExitCodes = {
  ok: 0,
  error: 1,
  usage: 2,
  someFailed: 2,
  someNoReply: 3,
  noReply: 4,
  unknownAgent: 5,
  brokerUnreachable: 6,
  certificate: 7,
} as const;

/**
 * The exit code of a finished call, Choria's way: 1 when nothing was targeted, 4 when nobody
 * answered, 3 when somebody did not, 2 when somebody failed, else 0.
 *
 * @example
 * ```ts
 * import { rpcExitCode } from "./exit_codes.ts";
 * console.log(rpcExitCode({ discovered: ["a", "b"], responded: ["a"], noResponses: ["b"], failed: 0 }));
 * // 3
 * ```
 */
export function rpcExitCode(
  stats: Pick<RpcStats, "discovered" | "responded" | "noResponses" | "failed">,
): number {
  if (stats.discovered.length === 0) return ExitCodes.error;
  if (stats.responded.length === 0) return ExitCodes.noReply;
  if (stats.noResponses.length > 0) return ExitCodes.someNoReply;
  if (stats.failed > 0) return ExitCodes.someFailed;
  return ExitCodes.ok;
}

/**
 * A library, DDL or configuration error as a {@linkcode CliError} with its exit code and a hint;
 * anything else is returned as it is.
 */
export function toCliError(error: unknown): unknown {
  if (error instanceof CliError || !(error instanceof Error)) return error;
  const options = { cause: error };
  if (error instanceof UnknownAgentError) {
    return new CliError(error.message, ExitCodes.unknownAgent, {
      ...options,
      hint:
        "pass --ddl-dir DIR to use DDLs from another directory; 'chorale plugin doc' lists them",
    });
  }
  if (error instanceof InputError) {
    const [first, ...rest] = error.problems.map((p) => p.message);
    return new CliError(first ?? error.message, ExitCodes.error, {
      ...options,
      details: rest,
      hint: `see 'chorale plugin doc ${error.agent}' for the inputs of ${error.action}`,
    });
  }
  if (error instanceof ConnectError) {
    return new CliError(error.message, ExitCodes.brokerUnreachable, {
      ...options,
      hint: "check the brokers in the configuration and that one is running",
    });
  }
  if (error instanceof CertificateRejectedError) {
    return new CliError(error.message, ExitCodes.certificate, {
      ...options,
      hint: error.side === "broker"
        ? "check that the certificate is a client certificate from the broker's CA and still valid"
        : "check that the CA file is the one that issued the broker's certificate",
    });
  }
  if (error instanceof SecurityProviderError || error instanceof MissingFileError) {
    return new CliError(error.message, ExitCodes.certificate, {
      ...options,
      hint: "check the certificate, key and CA in the configuration (see 'chorale ca --help')",
    });
  }
  if (error instanceof ConfigError) {
    const [first, ...rest] = error.problems;
    return new CliError(
      first === undefined ? error.message : `Cannot use the configuration: ${first}`,
      ExitCodes.usage,
      {
        ...options,
        details: rest,
        hint: "pass --config FILE, write ~/.config/chorale/client.yaml or chorale.yaml, or set " +
          "CHORALE_BROKERS, CHORALE_CERTIFICATE, CHORALE_KEY and CHORALE_CA",
      },
    );
  }
  if (
    error instanceof DiscoveryError || error instanceof DdlError || error instanceof ClientError
  ) {
    return new CliError(error.message, ExitCodes.error, options);
  }
  return error;
}
