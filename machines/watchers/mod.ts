/**
 * The watcher plugins Chorale ships, one file each behind {@linkcode WatcherPlugin}.
 *
 * @module
 */
import { execWatcher } from "./exec.ts";
import { fileWatcher } from "./file.ts";
import { kvWatcher } from "./kv.ts";
import { metricWatcher } from "./metric.ts";
import { nagiosWatcher } from "./nagios.ts";
import { scheduleWatcher } from "./schedule.ts";
import { timerWatcher } from "./timer.ts";
import type { WatcherPlugin } from "./watcher.ts";

export type {
  KvReader,
  MetricSample,
  NodeStatus,
  Watcher,
  WatcherHost,
  WatcherPlugin,
} from "./watcher.ts";

/**
 * A new map of the built-in watcher plugins by type; add your own to it.
 *
 * @example List the types
 * ```ts
 * import { defaultPlugins } from "./mod.ts";
 * console.log([...defaultPlugins().keys()]); // ["exec", "file", "metric", "nagios", "schedule", "timer"]
 * ```
 */
export function defaultPlugins(): Map<string, WatcherPlugin> {
  return new Map(
    [
      execWatcher,
      fileWatcher,
      kvWatcher,
      metricWatcher,
      nagiosWatcher,
      scheduleWatcher,
      timerWatcher,
    ].map((
      p,
    ) => [p.type, p]),
  );
}
