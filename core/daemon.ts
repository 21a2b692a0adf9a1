/**
 * What every daemon entrypoint does the same way: read the `--config` file (a problem, not a
 * throw, when it cannot), and wait for SIGINT or SIGTERM.
 *
 * @module
 */

/** The configuration file's path and text, as `loadConfig` takes it. */
export interface ConfigFile {
  path: string;
  text: string;
}

/**
 * Reads the file `--config` names; pushes a problem and returns undefined when it cannot.
 *
 * @example No file named
 * ```ts
 * import { readConfigFile } from "./daemon.ts";
 * console.log(await readConfigFile(undefined, [])); // undefined
 * ```
 */
export async function readConfigFile(
  path: string | undefined,
  problems: string[],
): Promise<ConfigFile | undefined> {
  if (!path) return undefined;
  try {
    return { path, text: await Deno.readTextFile(path) };
  } catch (error) {
    problems.push(`--config: cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
}

/** Resolves on the first SIGINT or SIGTERM, then stops listening for them. */
export async function waitForStopSignal(): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
}
