/**
 * The `package` agent for Debian and its derivatives: Choria's package agent (DDL
 * `agents/ddl/package.json`, version 5.5.1) driven by `dpkg-query`, `apt-get` and `apt-cache`.
 *
 * Actions and how they run:
 *
 * | action | runs | notes |
 * |---|---|---|
 * | `status` | `dpkg-query -W` | `ensure` is the full version, `absent` (removed, config files left) or `purged` (unknown to dpkg) |
 * | `install` | `apt-get install` | refuses with status 1 when already installed and no version is asked for, as Choria does |
 * | `update` | `apt-get install --only-upgrade` | refuses with status 1 when not installed, as Choria does |
 * | `uninstall` | `apt-get remove` | refuses with status 1 when not installed |
 * | `purge` | `apt-get purge` | refuses with status 1 when already purged |
 * | `count`, `md5` | `dpkg-query --list` | count and MD5 of the `ii` lines, as Choria computes them |
 * | `apt_checkupdates`, `checkupdates` | `apt-get --simulate dist-upgrade` | `outdated_packages` is `[{package, version, repo}]` |
 * | `apt_update`, `refresh` | `apt-get update`, then the check above | |
 * | `search` | `apt-cache madison` | exact names only: globs are refused like any other bad name |
 * | `yum_clean`, `yum_checkupdates` | nothing | status 5 "not supported on this platform", as Choria fails where yum is missing |
 *
 * Every package name is checked against Debian's naming rules ({@linkcode parsePackageSpec})
 * before any program runs, and programs run from an argv array with a pinned environment (see
 * `_command.ts`), so no input reaches a shell or can pass as an option. Failures of apt or dpkg
 * (unknown package, lock held, non-zero exit, the action timeout) become status 1 with apt's `E:`
 * lines as the message; a program that cannot be started becomes status 5.
 *
 * Permissions: `--allow-run=/usr/bin/dpkg-query,/usr/bin/apt-get,/usr/bin/apt-cache`; mutating
 * actions and `apt_update` need the server to run as root.
 *
 * @module
 */
import { createHash } from "node:crypto";
import ddlJson from "./ddl/package.json" with { type: "json" };
import {
  type ActionContext,
  ActionError,
  type ActionHandler,
  type Agent,
  type AgentDdl,
  StatusCodes,
} from "./agent.ts";
import {
  CommandAbortedError,
  CommandError,
  type CommandResult,
  type CommandRunner,
  runCommand,
} from "./_command.ts";

const DPKG_QUERY = "/usr/bin/dpkg-query";
const APT_GET = "/usr/bin/apt-get";
const APT_CACHE = "/usr/bin/apt-cache";

/** Debian package names: lower case, digits, `+ - .`, two or more characters, starting alphanumeric; an optional `:arch` qualifier. */
export const PACKAGE_NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9][a-z0-9-]*)?$/;

/** Debian versions: `[epoch:]upstream[-revision]`, starting alphanumeric. */
export const PACKAGE_VERSION_PATTERN: RegExp = /^(?:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$/;

const MAX_SPEC_LENGTH = 90;

/** A package name with the version asked for, if any. */
export interface PackageSpec {
  name: string;
  version?: string;
}

/** Options for {@linkcode parsePackageSpec}. */
export interface ParsePackageSpecOptions {
  /** Whether `name=version` is accepted. @default false */
  allowVersion?: boolean;
}

/**
 * Checks a requested package against Debian's naming rules and splits off `=version`. Pure: this is
 * the gate between a request and `argv`.
 *
 * @throws {ActionError} status 3 when the value is missing, 4 when it is not a valid package name
 *
 * @example Accept a name and a pinned version, refuse an option
 * ```ts
 * import { parsePackageSpec } from "./package.ts";
 * console.log(parsePackageSpec("hello=2.10-3", { allowVersion: true })); // { name: "hello", version: "2.10-3" }
 * try {
 *   parsePackageSpec("-oAPT::Get::Trivial-Only=true");
 * } catch (error) {
 *   console.log((error as Error).message.startsWith("Cannot use")); // true
 * }
 * ```
 */
export function parsePackageSpec(
  value: unknown,
  options: ParsePackageSpecOptions = {},
): PackageSpec {
  if (value === undefined || value === null || value === "") {
    throw new ActionError(StatusCodes.missingData, "Cannot find the 'package' input");
  }
  if (typeof value !== "string") {
    throw new ActionError(
      StatusCodes.invalidData,
      `Cannot use the 'package' input as it must be a string: current type is ${typeof value}`,
    );
  }
  const refuse = (why: string) =>
    new ActionError(
      StatusCodes.invalidData,
      `Cannot use ${JSON.stringify(value)} as a package name: ${why}`,
    );
  if (value.length > MAX_SPEC_LENGTH) {
    throw refuse(`it is longer than ${MAX_SPEC_LENGTH} characters`);
  }
  const at = value.indexOf("=");
  const name = at === -1 ? value : value.slice(0, at);
  const version = at === -1 ? undefined : value.slice(at + 1);
  if (!PACKAGE_NAME_PATTERN.test(name)) {
    throw refuse(
      "it must follow Debian's rules (a-z, 0-9, '+', '-' and '.', starting with a letter or digit, at least 2 characters) with an optional ':arch'",
    );
  }
  if (version === undefined) return { name };
  if (!options.allowVersion) throw refuse("this action takes no version");
  if (!PACKAGE_VERSION_PATTERN.test(version)) {
    throw refuse(`the version must be a Debian version such as '1:2.10-3'`);
  }
  return { name, version };
}

/** The outputs `status`, `install`, `update`, `uninstall` and `purge` share. */
export interface PackageStatus extends Record<string, unknown> {
  name: string;
  /** The full version when installed, else `absent` or `purged`. */
  ensure: string;
  version: string | null;
  release: string | null;
  epoch: string | null;
  arch: string | null;
  provider: "dpkg";
  output: string | null;
}

/** Options for {@linkcode packageAgent}. */
export interface PackageAgentOptions {
  /** Runs the programs. @default runCommand */
  runner?: CommandRunner;
  /** Seconds apt waits for the dpkg lock another apt holds before failing. @default 60 */
  lockTimeoutSeconds?: number;
}

/** Outdated or available packages as Choria's package agent lists them. */
export interface PackageEntry extends Record<string, unknown> {
  package: string;
  version: string;
  repo: string;
}

/** dpkg states Puppet (and so Choria) treats as `absent` rather than installed. */
const ABSENT_STATES = new Set(["config-files", "half-installed", "unpacked", "half-configured"]);
const STATUS_FORMAT = "${Package}\t${Architecture}\t${Version}\t${Status}\n";

/** Splits `epoch:upstream-revision` the way rpm-minded clients read Choria's replies. */
function splitVersion(full: string): { epoch: string; version: string; release: string } {
  const colon = full.indexOf(":");
  const epoch = colon === -1 ? "0" : full.slice(0, colon);
  const rest = colon === -1 ? full : full.slice(colon + 1);
  const dash = rest.lastIndexOf("-");
  return dash === -1
    ? { epoch, version: rest, release: "" }
    : { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** Parses `dpkg-query -W` lines in {@linkcode STATUS_FORMAT}; the installed row wins. */
function parseStatus(name: string, stdout: string): PackageStatus {
  const rows = stdout.split("\n").filter((line) => line !== "").map((line) => {
    const [pkg = "", arch = "", version = "", status = ""] = line.split("\t");
    return { pkg, arch, version, state: status.split(" ")[2] ?? "" };
  });
  const row = rows.find((r) => r.state === "installed") ?? rows[0];
  const absent = (ensure: string): PackageStatus => ({
    name: row?.pkg || name,
    ensure,
    version: null,
    release: null,
    epoch: null,
    arch: null,
    provider: "dpkg",
    output: null,
  });
  if (row === undefined || row.state === "not-installed" || row.state === "") {
    return absent("purged");
  }
  if (ABSENT_STATES.has(row.state)) return absent("absent");
  return {
    name: row.pkg,
    ensure: row.version,
    ...splitVersion(row.version),
    arch: row.arch,
    provider: "dpkg",
    output: null,
  };
}

/** The `E:` lines apt printed, else its last line of stderr, else the exit code. */
function aptReason(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split("\n");
  const errors = lines.filter((line) => line.startsWith("E: ")).map((line) => line.slice(3).trim());
  if (errors.length > 0) return errors.join("; ");
  const last = result.stderr.trim().split("\n").at(-1)?.trim();
  return last || `exit code ${result.code}`;
}

/** `Inst pkg [current] (candidate repo... [arch])` lines from a simulated upgrade. */
const INST_LINE = /^Inst (\S+) \[[^\]]+\] \((\S+) (.+?)\)/;

function parseUpgrades(stdout: string): PackageEntry[] {
  const entries: PackageEntry[] = [];
  for (const line of stdout.split("\n")) {
    const match = INST_LINE.exec(line);
    if (match) entries.push({ package: match[1]!, version: match[2]!, repo: match[3]!.trim() });
  }
  return entries;
}

function stringInput(inputs: Record<string, unknown>, key: string): string | undefined {
  const value = inputs[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") {
    throw new ActionError(
      StatusCodes.invalidData,
      `Cannot use the '${key}' input as it must be a string: current type is ${typeof value}`,
    );
  }
  return value;
}

/**
 * Creates the `package` agent. Pass `runner` to observe or replace the programs it runs.
 *
 * @example Ask dpkg about bash
 * ```ts
 * import type { ActionContext } from "./agent.ts";
 * import { packageAgent } from "./package.ts";
 * // The server builds the whole context; a status query only reads the signal.
 * const context = { signal: new AbortController().signal } as ActionContext;
 * const reply = await packageAgent().actions.status!({ package: "bash" }, context);
 * console.log(reply.provider, reply.ensure); // "dpkg" "5.2.15-2+b8"
 * ```
 */
export function packageAgent(options: PackageAgentOptions = {}): Agent {
  const runner = options.runner ?? runCommand;
  const lockTimeout = options.lockTimeoutSeconds ?? 60;
  if (!Number.isInteger(lockTimeout) || lockTimeout < 0) {
    throw new RangeError(
      `Cannot create the package agent as 'lockTimeoutSeconds' must be a non-negative integer: current value is ${lockTimeout}`,
    );
  }
  const aptGet = [
    APT_GET,
    "-q",
    "-y",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    `DPkg::Lock::Timeout=${lockTimeout}`,
  ];

  /** Runs a program, turning start failures into status 5 and aborts into status 1. */
  const run = async (
    argv: readonly string[],
    context: ActionContext,
    what: string,
  ): Promise<CommandResult> => {
    try {
      return await runner(argv, { signal: context.signal });
    } catch (error) {
      if (error instanceof CommandAbortedError) {
        throw new ActionError(StatusCodes.aborted, `Cannot ${what} as it was aborted`, {
          cause: error,
        });
      }
      if (error instanceof CommandError) {
        throw new ActionError(StatusCodes.unknownError, `Cannot ${what}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  };

  const status = async (name: string, context: ActionContext): Promise<PackageStatus> => {
    const result = await run(
      [DPKG_QUERY, "-W", `-f=${STATUS_FORMAT}`, "--", name],
      context,
      `query the status of '${name}'`,
    );
    if (result.code === 1 && result.stderr.includes("no packages found matching")) {
      return parseStatus(name, "");
    }
    if (result.code !== 0) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot query the status of '${name}' as dpkg-query failed with exit code ${result.code}: ${
          aptReason(result)
        }`,
      );
    }
    return parseStatus(name, result.stdout);
  };

  /** Runs apt-get and returns the package's status after it, with apt's output. */
  const change = async (
    verb: string,
    name: string,
    args: string[],
    context: ActionContext,
  ): Promise<PackageStatus> => {
    const result = await run([...aptGet, ...args], context, `${verb} '${name}'`);
    if (result.code !== 0) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot ${verb} '${name}' as apt-get failed with exit code ${result.code}: ${
          aptReason(result)
        }`,
      );
    }
    return { ...(await status(name, context)), output: result.stdout };
  };

  const installed = (s: PackageStatus) => s.ensure !== "absent" && s.ensure !== "purged";

  const checkUpdates = async (context: ActionContext) => {
    const result = await run([APT_GET, "--simulate", "dist-upgrade"], context, "check for updates");
    if (result.code !== 0) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot check for updates as apt-get failed with exit code ${result.code}: ${
          aptReason(result)
        }`,
      );
    }
    return {
      output: result.stdout,
      outdated_packages: parseUpgrades(result.stdout),
      exitcode: result.code,
    };
  };

  const aptUpdate = async (context: ActionContext) => {
    const result = await run([...aptGet, "update"], context, "update the apt cache");
    if (result.code !== 0) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot update the apt cache as apt-get failed with exit code ${result.code}: ${
          aptReason(result)
        }`,
      );
    }
    return await checkUpdates(context);
  };

  const dpkgList = async (context: ActionContext, what: string) => {
    const result = await run([DPKG_QUERY, "--list"], context, what);
    if (result.code !== 0) {
      throw new ActionError(
        StatusCodes.aborted,
        `Cannot ${what} as dpkg-query failed with exit code ${result.code}: ${aptReason(result)}`,
      );
    }
    return { lines: result.stdout.split("\n").filter((l) => l.startsWith("ii")), result };
  };

  const unsupported = (action: string): ActionHandler => () => {
    throw new ActionError(
      StatusCodes.unknownError,
      `Cannot run '${action}' as yum is not supported on this platform: it uses dpkg and apt`,
    );
  };

  const actions: Record<string, ActionHandler> = {
    status: async (inputs, context) => {
      const { name } = parsePackageSpec(inputs.package);
      return await status(name, context);
    },

    install: async (inputs, context) => {
      const spec = parsePackageSpec(inputs.package, { allowVersion: true });
      const version = stringInput(inputs, "version");
      if (version !== undefined) {
        if (spec.version !== undefined) {
          throw new ActionError(
            StatusCodes.invalidData,
            `Cannot install '${spec.name}' as a version is given twice: '${spec.version}' and '${version}'`,
          );
        }
        spec.version = parsePackageSpec(`${spec.name}=${version}`, { allowVersion: true }).version!;
      }
      const before = await status(spec.name, context);
      if (installed(before) && spec.version === undefined) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot install '${spec.name}' as it is already installed: version ${before.ensure}`,
        );
      }
      const target = spec.version === undefined ? spec.name : `${spec.name}=${spec.version}`;
      const pinned = spec.version === undefined ? [] : ["--allow-downgrades"];
      return await change("install", spec.name, [...pinned, "install", "--", target], context);
    },

    update: async (inputs, context) => {
      const spec = parsePackageSpec(inputs.package, { allowVersion: true });
      const before = await status(spec.name, context);
      if (!installed(before)) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot update '${spec.name}' as it is not installed: ensure is ${before.ensure}`,
        );
      }
      const target = spec.version === undefined ? spec.name : `${spec.name}=${spec.version}`;
      return await change(
        "update",
        spec.name,
        ["install", "--only-upgrade", "--", target],
        context,
      );
    },

    uninstall: async (inputs, context) => {
      const { name } = parsePackageSpec(inputs.package);
      const before = await status(name, context);
      if (!installed(before)) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot uninstall '${name}' as it is not installed: ensure is ${before.ensure}`,
        );
      }
      return await change("uninstall", name, ["remove", "--", name], context);
    },

    purge: async (inputs, context) => {
      const { name } = parsePackageSpec(inputs.package);
      const before = await status(name, context);
      if (before.ensure === "purged") {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot purge '${name}' as it is not present on the system`,
        );
      }
      return await change("purge", name, ["purge", "--", name], context);
    },

    count: async (_inputs, context) => {
      const { lines, result } = await dpkgList(context, "count installed packages");
      return { output: String(lines.length), exitcode: result.code };
    },

    md5: async (_inputs, context) => {
      const { lines, result } = await dpkgList(context, "digest the installed packages");
      return {
        output: createHash("md5").update(lines.join("\n")).digest("hex"),
        exitcode: result.code,
      };
    },

    apt_checkupdates: async (_inputs, context) => await checkUpdates(context),

    checkupdates: async (_inputs, context) => ({
      ...(await checkUpdates(context)),
      package_manager: "apt",
    }),

    apt_update: async (_inputs, context) => await aptUpdate(context),

    refresh: async (_inputs, context) => {
      const { output, exitcode } = await aptUpdate(context);
      return { output, exitcode };
    },

    search: async (inputs, context) => {
      const { name } = parsePackageSpec(inputs.package);
      const result = await run([APT_CACHE, "madison", "--", name], context, `search for '${name}'`);
      if (result.code !== 0) {
        throw new ActionError(
          StatusCodes.aborted,
          `Cannot search for '${name}' as apt-cache failed with exit code ${result.code}: ${
            aptReason(result)
          }`,
        );
      }
      const available: PackageEntry[] = result.stdout.split("\n").flatMap((line) => {
        const [pkg, version, repo] = line.split("|").map((field) => field.trim());
        return pkg && version && repo ? [{ package: pkg, version, repo }] : [];
      });
      return { package_count: available.length, available_packages: available };
    },

    yum_clean: unsupported("yum_clean"),
    yum_checkupdates: unsupported("yum_checkupdates"),
  };

  return { ddl: ddlJson as AgentDdl, actions };
}
