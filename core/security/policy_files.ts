/**
 * Reads Choria action policies from a policies directory laid out as Choria's
 * `<configdir>/policies/`: `<agent>.policy` per agent, an optional `default.policy` and an
 * optional `groups` file.
 *
 * Needs `--allow-read` on the policies directory.
 *
 * @module
 */
import {
  type AuthorizationRequest,
  authorize,
  type AuthorizeOptions,
  type Decision,
  parseGroups,
  parsePolicy,
  type Policy,
  PolicyError,
  type PolicyGroups,
} from "./policy.ts";

/** Options for {@linkcode loadPolicy}. */
export interface LoadPolicyOptions {
  /**
   * Use `<defaultName>.policy` for agents without a policy of their own; Choria's
   * `plugin.actionpolicy.enable_default`.
   *
   * @default false
   */
  enableDefault?: boolean;
  /**
   * The default policy's name, without `.policy`; Choria's `plugin.actionpolicy.default_name`.
   *
   * @default "default"
   */
  defaultName?: string;
}

// Agent names become file names, so nothing that could leave the directory.
const AGENT_NAME = /^[A-Za-z0-9_][\w-]*$/;

/**
 * Loads the policy of an agent from a policies directory.
 *
 * @param dir The policies directory, such as `/etc/choria/policies`.
 * @returns The policy, or `null` when neither the agent's policy nor an enabled default exists.
 * @throws {PolicyError} when the agent name is not usable as a file name, a policy cannot be
 *   read or a policy line is malformed.
 *
 * @example Load a policy, treating a broken one as a denial
 * ```ts
 * import { loadPolicy } from "./policy_files.ts";
 * import { authorize, PolicyError } from "./policy.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/rpcutil.policy`, "policy default allow\n");
 * const policy = await loadPolicy(dir, "rpcutil").catch((e) => {
 *   if (e instanceof PolicyError) return e;
 *   throw e;
 * });
 * console.log(authorize(policy, { callerid: "choria=rip.mcollective", action: "ping" }).allowed);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadPolicy(
  dir: string,
  agent: string,
  options: LoadPolicyOptions = {},
): Promise<Policy | null> {
  if (!AGENT_NAME.test(agent)) {
    throw new PolicyError(
      `Cannot load the policy of agent '${agent}' as it is not an agent name: expected letters, digits, '_' or '-'`,
      { file: dir },
    );
  }
  const own = await readIfExists(joinPath(dir, `${agent}.policy`));
  if (own !== undefined) return parsePolicy(own.text, { file: own.file });
  if (options.enableDefault ?? false) {
    const name = options.defaultName ?? "default";
    if (!AGENT_NAME.test(name)) {
      throw new PolicyError(
        `Cannot load the default policy '${name}' as it is not a policy name: expected letters, digits, '_' or '-'`,
        { file: dir },
      );
    }
    const fallback = await readIfExists(joinPath(dir, `${name}.policy`));
    if (fallback !== undefined) return parsePolicy(fallback.text, { file: fallback.file });
  }
  return null;
}

/**
 * Loads the `groups` file of a policies directory; a missing file means no groups.
 *
 * @throws {PolicyError} when the file cannot be read or a line is malformed.
 *
 * @example Load groups
 * ```ts
 * import { loadGroups } from "./policy_files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/groups`, "admins choria=rip.mcollective\n");
 * console.log((await loadGroups(dir)).get("admins")); // ["choria=rip.mcollective"]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadGroups(dir: string): Promise<PolicyGroups> {
  const read = await readIfExists(joinPath(dir, "groups"));
  return read === undefined ? new Map() : parseGroups(read.text, { file: read.file });
}

/** A request to authorize against the files of a policies directory. */
export interface AgentAuthorizationRequest extends Omit<AuthorizationRequest, "groups"> {
  /** The agent whose policy applies. */
  agent: string;
}

/**
 * Authorizes a request with the agent's policy and the groups file of a policies directory. It
 * never rejects for a policy problem: a missing, unreadable or malformed policy or groups file
 * denies, with the {@linkcode PolicyError} in the decision.
 *
 * @example Deny an agent without a policy
 * ```ts
 * import { authorizeWithFiles } from "./policy_files.ts";
 * const dir = await Deno.makeTempDir();
 * const decision = await authorizeWithFiles(dir, {
 *   agent: "service",
 *   callerid: "choria=rip.mcollective",
 *   action: "restart",
 * });
 * console.log(decision.allowed); // false
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function authorizeWithFiles(
  dir: string,
  request: AgentAuthorizationRequest,
  options: LoadPolicyOptions & AuthorizeOptions = {},
): Promise<Decision> {
  let policy: Policy | PolicyError | null;
  let groups: PolicyGroups = new Map();
  try {
    groups = await loadGroups(dir);
    policy = await loadPolicy(dir, request.agent, options);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    policy = error;
  }
  return authorize(policy, { ...request, groups }, options);
}

function joinPath(dir: string, name: string): string {
  return `${dir.replace(/[\\/]+$/, "")}/${name}`;
}

async function readIfExists(file: string): Promise<{ file: string; text: string } | undefined> {
  try {
    return { file, text: await Deno.readTextFile(file) };
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) return undefined;
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PolicyError(`Cannot read policy file '${file}': ${detail}`, { file, cause });
  }
}
