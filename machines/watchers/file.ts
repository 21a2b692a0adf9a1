/**
 * The `file` watcher: looks at a file every `interval` while the machine is in one of its
 * states. A missing file fires `fail_transition`; a file that appeared or changed (modification
 * time or size) fires `success_transition`; an unchanged one fires nothing. With
 * `gather_initial_state` the file as found at start counts as unchanged.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import type { WatcherDef } from "../manifest.ts";
import { type CheckOutcome, PolledWatcher, propertyChecks, type WatcherPlugin } from "./watcher.ts";

class FileWatcher extends PolledWatcher {
  #previous: string | null = null;
  #outcome: "unknown" | "skipped" | "error" | "unchanged" | "changed" = "unknown";

  get path(): string {
    const path = String(this.def.properties.path);
    return isAbsolute(path) ? path : join(this.host.directory, path);
  }

  override start(): void {
    super.start();
    if (this.def.properties.gather_initial_state === true) {
      try {
        const stat = Deno.statSync(this.path);
        this.#previous = `${stat.mtime?.getTime()}:${stat.size}`;
      } catch {
        this.#previous = null;
      }
    }
  }

  protected async check(): Promise<CheckOutcome> {
    let fingerprint: string;
    try {
      const stat = await Deno.stat(this.path);
      fingerprint = `${stat.mtime?.getTime()}:${stat.size}`;
    } catch {
      this.#previous = null;
      this.#outcome = "error";
      return "fail";
    }
    const changed = fingerprint !== this.#previous;
    this.#previous = fingerprint;
    this.#outcome = changed ? "changed" : "unchanged";
    return changed ? "success" : "none";
  }

  protected override announceAfterCheck(outcome: CheckOutcome): boolean {
    return outcome !== "none";
  }

  stateFields(): Record<string, unknown> {
    return { path: this.path, previous_outcome: this.#outcome };
  }
}

/** The `file` watcher plugin. */
export const fileWatcher: WatcherPlugin = {
  type: "file",
  properties: ["path", "gather_initial_state"],
  validate(def: WatcherDef, problem) {
    const check = propertyChecks(def, problem);
    check.string("path", true);
    check.boolean("gather_initial_state");
  },
  create: (def, host) => new FileWatcher(def, host),
};
