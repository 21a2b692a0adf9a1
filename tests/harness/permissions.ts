/**
 * The permission flags of a `deno task`, read from deno.json, so tests run an entrypoint with
 * exactly the permissions its task grants.
 *
 * @module
 */

const DENO_JSON = new URL("../../deno.json", import.meta.url);

/** The `--allow-*` flags of `deno task <name>`. */
export async function taskPermissions(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks?: Record<string, string>;
  };
  const task = config.tasks?.[name];
  if (!task) throw new Error(`Cannot find task '${name}' in deno.json`);
  return task.split(/\s+/).filter((arg) => arg.startsWith("--allow-") || arg.startsWith("--deny-"));
}
