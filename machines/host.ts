/**
 * Hosts a node's machines: loads every `<store>/<name>/machine.yaml` and every Scout check
 * `<checks>/<name>.yaml`, validates each first (a broken one is logged with every problem,
 * remembered and skipped; the others run), starts them, and looks again every poll interval:
 * added, changed and removed files start, restart and stop their machines without touching the
 * rest. It also answers the lookups the `choria_util` and `scout` agents make, and keeps the
 * Prometheus textfile when told where.
 *
 * @module
 */
import { basename, join } from "node:path";
import { type Logger, silentLogger } from "../core/log.ts";
import type { MachineCloudEvent } from "./events.ts";
import { Governors } from "./governor.ts";
import { Machine } from "./machine.ts";
import { loadManifest, type MachineManifest, ManifestError } from "./manifest.ts";
import { renderTextfile, writeTextfile } from "./prometheus.ts";
import { compileScoutCheck } from "./scout.ts";
import type { TransitionLimit } from "./state_machine.ts";
import type { KvReader, MetricSample, NodeStatus, WatcherPlugin } from "./watchers/watcher.ts";

/** A machine file that could not be loaded. */
export interface BrokenMachine {
  path: string;
  problems: string[];
}

/** A lookup that found no machine, or more than one. */
export class MachineLookupError extends Error {
  override name = "MachineLookupError";
}

/** What {@linkcode MachineHost} is built from. */
export interface MachineHostOptions {
  /** The machine store: a directory of `<name>/machine.yaml`; empty for none. */
  store: string;
  /** A directory of Scout check files; empty for none. */
  checks?: string;
  identity: string;
  plugins: ReadonlyMap<string, WatcherPlugin>;
  publish?: (subject: string, event: MachineCloudEvent) => void;
  facts?: () => Record<string, unknown>;
  nodeStatus?: () => NodeStatus;
  /** Reads key-value buckets for `kv` watchers. @default none: they fail */
  kv?: KvReader;
  /** How often to look for changes, ms; 0 never. @default 10000 */
  pollMs?: number;
  /** Where to write the Prometheus textfile; empty for none. */
  textfileDir?: string;
  /** Commands running at once across all machines. @default 8 */
  maxCommands?: number;
  limit?: TransitionLimit;
  /** Honour `splay_start`. @default true */
  splay?: boolean;
  /** Where exec watchers write their temporary files. @default the system's */
  tempDir?: string;
  logger?: Logger;
}

interface Loaded {
  machine: Machine;
  path: string;
  fingerprint: string;
}

/**
 * The machines of one node.
 *
 * @example Host the machines of a directory
 * ```ts ignore
 * import { MachineHost } from "./host.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * await using host = new MachineHost({ store: "/etc/chorale/machines", identity: "n1", plugins: defaultPlugins() });
 * await host.start();
 * console.log(host.machines().map((m) => `${m.name} ${m.state}`));
 * ```
 */
export class MachineHost implements AsyncDisposable {
  readonly #options: MachineHostOptions;
  readonly #logger: Logger;
  readonly #loaded = new Map<string, Loaded>();
  #broken = new Map<string, BrokenMachine & { fingerprint: string }>();
  readonly #governors: Governors;
  readonly #samples = new Map<string, MetricSample>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #textfileTimer: ReturnType<typeof setTimeout> | undefined;
  #scanning: Promise<void> | null = null;
  #stopped = false;

  constructor(options: MachineHostOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child("machines");
    this.#governors = new Governors({ maxConcurrent: options.maxCommands ?? 8 });
  }

  /** Loads and starts every machine, then keeps looking for changes. */
  async start(): Promise<void> {
    await this.reload();
    const pollMs = this.#options.pollMs ?? 10_000;
    const again = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(async () => {
        await this.reload().catch((error) =>
          this.#logger.error("reload failed", { error: (error as Error).message })
        );
        again();
      }, pollMs);
    };
    if (pollMs > 0) again();
  }

  /** Every running machine. */
  machines(): Machine[] {
    return [...this.#loaded.values()].map((l) => l.machine);
  }

  /** The Scout checks among them. */
  scoutChecks(): Machine[] {
    return this.machines().filter((m) => m.scout);
  }

  /** Machine files that could not be loaded, with their problems. */
  broken(): BrokenMachine[] {
    return [...this.#broken.values()].map(({ path, problems }) => ({ path, problems }));
  }

  /** The file a machine came from. */
  pathOf(machine: Machine): string {
    for (const l of this.#loaded.values()) if (l.machine === machine) return l.path;
    return "";
  }

  /**
   * The one machine matching every given field; throws {@linkcode MachineLookupError} when none
   * or several match.
   */
  find(query: { instance?: string; name?: string; path?: string; version?: string }): Machine {
    const given = Object.entries(query).filter(([, v]) =>
      v !== undefined && v !== null && v !== ""
    );
    if (given.length === 0) {
      throw new MachineLookupError("Cannot find a machine as no instance, name or path was given");
    }
    const matches = [...this.#loaded.values()].filter((l) =>
      (!query.instance || l.machine.id === query.instance) &&
      (!query.name || l.machine.name === query.name) &&
      (!query.path || l.path === query.path || l.machine.directory === query.path) &&
      (!query.version || l.machine.version === query.version)
    );
    const described = given.map(([k, v]) => `${k} '${v}'`).join(", ");
    if (matches.length === 0) {
      throw new MachineLookupError(`Cannot find a machine with ${described}`);
    }
    if (matches.length > 1) {
      throw new MachineLookupError(
        `Cannot pick a machine with ${described} as ${matches.length} match`,
      );
    }
    return matches[0]!.machine;
  }

  /** Looks at the files now: starts, restarts and stops machines as they changed. */
  reload(): Promise<void> {
    this.#scanning ??= this.#scan().finally(() => {
      this.#scanning = null;
    });
    return this.#scanning;
  }

  async #scan(): Promise<void> {
    const found = new Map<
      string,
      { path: string; kind: "machine" | "scout"; directory: string; fingerprint: string }
    >();
    if (this.#options.store) {
      for (const entry of await this.#list(this.#options.store)) {
        if (!entry.isDirectory) continue;
        const path = join(this.#options.store, entry.name, "machine.yaml");
        const fingerprint = await this.#fingerprint(path);
        if (fingerprint !== null) {
          found.set(path, {
            path,
            kind: "machine",
            directory: join(this.#options.store, entry.name),
            fingerprint,
          });
        }
      }
    }
    if (this.#options.checks) {
      for (const entry of await this.#list(this.#options.checks)) {
        if (!entry.isFile || !/\.ya?ml$/.test(entry.name)) continue;
        const path = join(this.#options.checks, entry.name);
        const fingerprint = await this.#fingerprint(path);
        if (fingerprint !== null) {
          found.set(path, { path, kind: "scout", directory: this.#options.checks, fingerprint });
        }
      }
    }
    for (const [path, loaded] of [...this.#loaded]) {
      if (found.get(path)?.fingerprint === loaded.fingerprint) continue;
      this.#loaded.delete(path);
      await loaded.machine.stop();
      this.#logger.info(found.has(path) ? "machine changed" : "machine removed", {
        machine: loaded.machine.name,
        path,
      });
    }
    for (const path of [...this.#broken.keys()]) {
      if (found.get(path)?.fingerprint !== this.#broken.get(path)!.fingerprint) {
        this.#broken.delete(path);
      }
    }
    for (const file of [...found.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      if (this.#loaded.has(file.path) || this.#broken.has(file.path) || this.#stopped) continue;
      let manifest: MachineManifest;
      try {
        const text = await Deno.readTextFile(file.path);
        const options = { plugins: this.#options.plugins };
        manifest = file.kind === "scout"
          ? compileScoutCheck(text, basename(file.path).replace(/\.ya?ml$/, ""), options)
          : loadManifest(text, options, file.path);
        const clash = this.machines().find((m) => m.name === manifest.name);
        if (clash) {
          throw new ManifestError(file.path, [
            `name '${manifest.name}' is already used by ${this.pathOf(clash)}`,
          ]);
        }
      } catch (error) {
        const problems = error instanceof ManifestError
          ? error.problems
          : [(error as Error).message];
        this.#broken.set(file.path, { path: file.path, problems, fingerprint: file.fingerprint });
        this.#logger.error("machine not loaded", { path: file.path, problems });
        continue;
      }
      const machine = new Machine({
        manifest,
        directory: file.directory,
        identity: this.#options.identity,
        plugins: this.#options.plugins,
        governors: this.#governors,
        scout: file.kind === "scout",
        logger: this.#logger,
        ...(this.#options.publish ? { publish: this.#options.publish } : {}),
        ...(this.#options.facts ? { facts: this.#options.facts } : {}),
        ...(this.#options.nodeStatus ? { nodeStatus: this.#options.nodeStatus } : {}),
        ...(this.#options.kv ? { kv: this.#options.kv } : {}),
        ...(this.#options.limit ? { limit: this.#options.limit } : {}),
        ...(this.#options.splay !== undefined ? { splay: this.#options.splay } : {}),
        ...(this.#options.tempDir ? { tempDir: this.#options.tempDir } : {}),
        recordMetrics: (sample) => {
          this.#samples.set(`${sample.machine}\u0000${sample.watcher}`, sample);
          this.#textfileSoon();
        },
        onTransition: () => this.#textfileSoon(),
      });
      this.#loaded.set(file.path, { machine, path: file.path, fingerprint: file.fingerprint });
      this.#logger.info("machine loaded", {
        machine: manifest.name,
        version: manifest.version,
        path: file.path,
        scout: file.kind === "scout",
      });
      // Splay can hold a start for a while: do not make the others wait for it.
      machine.start().catch((error) =>
        this.#logger.error("machine failed to start", {
          machine: manifest.name,
          error: (error as Error).message,
        })
      );
    }
    for (const key of [...this.#samples.keys()]) {
      if (!this.machines().some((m) => key.startsWith(`${m.name}\u0000`))) {
        this.#samples.delete(key);
      }
    }
    this.#textfileSoon();
  }

  async #list(dir: string): Promise<Deno.DirEntry[]> {
    try {
      return await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      this.#logger.warn("cannot read machine directory", { dir, error: (error as Error).message });
      return [];
    }
  }

  async #fingerprint(path: string): Promise<string | null> {
    try {
      const stat = await Deno.stat(path);
      return `${stat.mtime?.getTime()}:${stat.size}:${stat.ino ?? ""}`;
    } catch {
      return null;
    }
  }

  #textfileSoon(): void {
    const dir = this.#options.textfileDir;
    if (!dir || this.#textfileTimer !== undefined || this.#stopped) return;
    // Coalesce bursts of changes into one write.
    this.#textfileTimer = setTimeout(async () => {
      this.#textfileTimer = undefined;
      await this.writeTextfile().catch((error) =>
        this.#logger.warn("textfile not written", { dir, error: (error as Error).message })
      );
    }, 200);
  }

  /** Writes the Prometheus textfile now (when configured). */
  async writeTextfile(): Promise<void> {
    const dir = this.#options.textfileDir;
    if (!dir) return;
    const views = this.machines().map((m) => {
      const states = new Set<string>();
      for (const t of m.manifest.transitions) {
        states.add(t.destination);
        for (const f of t.from) states.add(f);
      }
      return { name: m.name, state: m.state, states: [...states], transitions: m.transitions };
    });
    await writeTextfile(dir, renderTextfile(views, [...this.#samples.values()]));
  }

  /** Stops every machine and the polling. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#textfileTimer);
    await this.#scanning;
    await Promise.allSettled(this.machines().map((m) => m.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
