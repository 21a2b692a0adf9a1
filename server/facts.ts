/**
 * The node's facts and classes, read from files and kept current: the thin I/O shell around
 * `core/filter`. Fact files are YAML (`.yaml`, `.yml`) or JSON (anything else), each a mapping;
 * several are merged in order, later files replacing earlier ones key by key at the top level (the
 * shallow merge go-choria's `filter/facts/facts.go` keeps for mcollective compatibility). The
 * classes file is Puppet's `classes.txt`, one class per line.
 *
 * {@linkcode watchFacts} polls the files' modification time, size and inode and reloads those that
 * changed and then held still for one more poll (so a file written in place is not read half
 * written); polling sees editors' and Puppet's write-then-rename updates that file watchers can
 * miss. A file that cannot be read or parsed keeps its last good content, and the error goes to a
 * callback and the logger: the watcher never throws.
 *
 * Needs read access to the fact and classes files, and for YAML `--allow-env=LOG_TOKENS,LOG_STREAM`
 * (the `yaml` package reads those variables while parsing).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { parseClassesFile } from "../core/filter/class_filter.ts";
import type { Facts } from "../core/filter/fact_filter.ts";
import { type Logger, silentLogger } from "../core/log.ts";

/** A fact or classes file that cannot be read or parsed. */
export class FactsFileError extends Error {
  /** The file. */
  readonly path: string;
  /** Makes the error. */
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FactsFileError";
    this.path = path;
  }
}

/** A node's facts and classes at one moment. */
export interface NodeFacts {
  /** The merged facts. */
  readonly facts: Facts;
  /** The classes, sorted. */
  readonly classes: readonly string[];
}

/**
 * Parses the text of a fact file: YAML when `path` ends in `.yaml` or `.yml`, JSON otherwise;
 * throws {@linkcode FactsFileError} unless it holds a mapping.
 *
 * @example Parse YAML facts
 * ```ts
 * import { parseFactsText } from "./facts.ts";
 * const facts = parseFactsText("os:\n  family: Debian\n", "facts.yaml");
 * console.log(facts.os); // { family: "Debian" }
 * ```
 */
export function parseFactsText(text: string, path: string): Facts {
  const yaml = /\.ya?ml$/i.test(path);
  let data: unknown;
  try {
    data = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotCapable
      ? "the yaml package reads LOG_TOKENS and LOG_STREAM: grant --allow-env=LOG_TOKENS,LOG_STREAM"
      : error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    throw new FactsFileError(
      `Cannot parse fact file '${path}' as ${yaml ? "YAML" : "JSON"}: ${detail}`,
      path,
      { cause: error },
    );
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    const found = data === null ? "nothing" : Array.isArray(data) ? "a list" : typeof data;
    throw new FactsFileError(
      `Cannot load fact file '${path}' as it must hold a mapping: found ${found}`,
      path,
    );
  }
  return data as Facts;
}

/**
 * Merges fact sets in order, later ones replacing earlier ones key by key at the top level.
 *
 * @example Merge two fact files
 * ```ts
 * import { mergeFacts } from "./facts.ts";
 * console.log(mergeFacts([{ a: 1, b: { x: 1 } }, { b: { y: 2 } }])); // { a: 1, b: { y: 2 } }
 * ```
 */
export function mergeFacts(sets: readonly Facts[]): Facts {
  return Object.assign({}, ...sets);
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new FactsFileError(`Cannot read ${what} '${path}': ${detail}`, path, { cause: error });
  }
}

/**
 * Reads and merges fact files; throws {@linkcode FactsFileError} for the first that cannot be
 * read or parsed.
 *
 * @example Read the facts of a node
 * ```ts ignore
 * import { readFacts } from "./facts.ts";
 * const facts = await readFacts(["/etc/choria/facts.yaml", "/etc/choria/extra.json"]);
 * ```
 */
export async function readFacts(paths: readonly string[]): Promise<Facts> {
  const sets: Facts[] = [];
  for (const path of paths) sets.push(parseFactsText(await readText(path, "fact file"), path));
  return mergeFacts(sets);
}

/**
 * Reads a classes file; throws {@linkcode FactsFileError} when it cannot be read.
 *
 * @example Read Puppet's classes
 * ```ts ignore
 * import { readClasses } from "./facts.ts";
 * const classes = await readClasses("/opt/puppetlabs/puppet/cache/state/classes.txt");
 * ```
 */
export async function readClasses(path: string): Promise<string[]> {
  return parseClassesFile(await readText(path, "classes file"));
}

/** Options for {@linkcode watchFacts}. */
export interface FactsWatcherOptions {
  /** Fact files, merged in order. @default [] */
  factFiles?: readonly string[];
  /** The classes file. @default no classes */
  classesFile?: string;
  /** How often to look for changes, in milliseconds; 0 turns polling off. @default 5000 */
  intervalMs?: number;
  /** Told of every file that cannot be read or parsed (once per change of the file). @default none */
  onError?: (error: FactsFileError) => void;
  /** Told of the new facts and classes after a change is loaded. @default none */
  onChange?: (current: NodeFacts) => void;
  /** Where problems are logged. @default silentLogger */
  logger?: Logger;
}

interface FileState {
  /** The stamp of the content last loaded or reported. */
  stamp: string | undefined;
  /** A new stamp seen by the last poll, loaded once the next poll sees it unchanged. */
  pending: string | undefined;
  good: Facts | string[] | undefined;
}

const EMPTY: NodeFacts = Object.freeze({ facts: Object.freeze({}), classes: Object.freeze([]) });

/**
 * Keeps a node's facts and classes current; made by {@linkcode watchFacts}. Dispose it to stop
 * polling.
 */
export class FactsWatcher implements AsyncDisposable {
  readonly #factFiles: readonly string[];
  readonly #classesFile: string | undefined;
  readonly #onError: ((error: FactsFileError) => void) | undefined;
  readonly #onChange: ((current: NodeFacts) => void) | undefined;
  readonly #logger: Logger;
  readonly #files = new Map<string, FileState>();
  #current: NodeFacts = EMPTY;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<boolean> | undefined;
  #closed = false;

  /** Use {@linkcode watchFacts}. */
  constructor(options: FactsWatcherOptions) {
    this.#factFiles = [...(options.factFiles ?? [])];
    this.#classesFile = options.classesFile;
    this.#onError = options.onError;
    this.#onChange = options.onChange;
    this.#logger = options.logger ?? silentLogger;
    for (const path of this.#allFiles()) {
      this.#files.set(path, { stamp: undefined, pending: undefined, good: undefined });
    }
  }

  /** The facts and classes as last loaded. */
  current(): NodeFacts {
    return this.#current;
  }

  /**
   * Looks for changed files now and loads them; resolves true when the facts or classes changed.
   * Never rejects: problems go to `onError` and the logger.
   */
  reload(): Promise<boolean> {
    return this.#run(false);
  }

  #run(settle: boolean): Promise<boolean> {
    if (this.#running) return this.#running.then(() => this.#run(settle));
    const run = this.#scan(settle).catch((error) => {
      this.#logger.error("facts reload failed", { error: String(error) });
      return false;
    }).finally(() => {
      this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  /** Starts polling every `intervalMs`. */
  start(intervalMs: number): void {
    if (this.#closed || intervalMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (!this.#running) void this.#run(true);
    }, intervalMs);
  }

  /** Stops polling and waits for a reload under way. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #allFiles(): string[] {
    return this.#classesFile === undefined
      ? [...this.#factFiles]
      : [...this.#factFiles, this.#classesFile];
  }

  async #stamp(path: string): Promise<string> {
    try {
      const info = await Deno.stat(path);
      return `${info.mtime?.getTime() ?? "?"}:${info.size}:${info.ino ?? "?"}`;
    } catch (error) {
      return `error:${error instanceof Error ? error.name : "unknown"}`;
    }
  }

  async #scan(settle: boolean): Promise<boolean> {
    let changed = false;
    for (const path of new Set(this.#allFiles())) {
      const state = this.#files.get(path)!;
      const stamp = await this.#stamp(path);
      if (stamp === state.stamp) continue;
      // Polls load a change once it has held still for a poll, so files written in place
      // (truncate, then write) are not read half written.
      if (settle && stamp !== state.pending) {
        state.pending = stamp;
        continue;
      }
      try {
        const text = await readText(
          path,
          path === this.#classesFile ? "classes file" : "fact file",
        );
        // A file changed while it was read may be half written: try again on the next poll.
        if ((await this.#stamp(path)) !== stamp) continue;
        state.good = path === this.#classesFile && !this.#factFiles.includes(path)
          ? parseClassesFile(text)
          : parseFactsText(text, path);
        changed = true;
      } catch (error) {
        const problem = error instanceof FactsFileError
          ? error
          : new FactsFileError(`Cannot load '${path}': ${String(error)}`, path, { cause: error });
        this.#logger.error(problem.message, {
          path,
          kept: state.good === undefined ? "nothing" : "last good content",
        });
        try {
          this.#onError?.(problem);
        } catch (handlerError) {
          this.#logger.error("facts error handler failed", { error: String(handlerError) });
        }
      }
      state.stamp = stamp;
    }
    if (!changed) return false;
    const sets = this.#factFiles.map((path) => this.#files.get(path)!.good)
      .filter((good): good is Facts => good !== undefined && !Array.isArray(good));
    const classes = this.#classesFile === undefined ? [] : this.#files.get(this.#classesFile)!.good;
    this.#current = Object.freeze({
      facts: Object.freeze(mergeFacts(sets)),
      classes: Object.freeze(Array.isArray(classes) ? [...classes] : []),
    });
    if (!this.#closed) {
      try {
        this.#onChange?.(this.#current);
      } catch (error) {
        this.#logger.error("facts change handler failed", { error: String(error) });
      }
    }
    return true;
  }
}

/**
 * Loads the facts and classes and keeps them current, polling for changes every `intervalMs`.
 * Files that cannot be loaded at first are reported and left out until they can; the promise
 * never rejects for them.
 *
 * @example Watch a node's facts
 * ```ts ignore
 * import { watchFacts } from "./facts.ts";
 * await using watcher = await watchFacts({
 *   factFiles: ["/etc/choria/facts.yaml"],
 *   classesFile: "/opt/puppetlabs/puppet/cache/state/classes.txt",
 *   onError: (error) => console.error(error.message),
 * });
 * console.log(watcher.current().facts);
 * ```
 */
export async function watchFacts(options: FactsWatcherOptions): Promise<FactsWatcher> {
  const watcher = new FactsWatcher(options);
  await watcher.reload();
  watcher.start(options.intervalMs ?? 5000);
  return watcher;
}
