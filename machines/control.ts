/**
 * The narrow view of a node's machines that agents get (`choria_util`'s machine actions and the
 * `scout` agent): list, find, transition and trigger, without the host itself.
 *
 * @module
 */
import type { MachineHost } from "./host.ts";
import type { Machine } from "./machine.ts";

/** One hosted machine, as agents see it. */
export interface HostedMachine {
  id: string;
  name: string;
  version: string;
  state: string;
  /** The file it came from. */
  path: string;
  startedAt: Date | null;
  /** Whether it is a compiled Scout check. */
  scout: boolean;
  availableTransitions(): string[];
  /** The state event of its nagios watcher (Scout checks), or null. */
  checkState(): Record<string, unknown> | null;
  /** Fires a transition; says why not when it cannot. */
  transition(name: string, reason: string): { ok: true } | { ok: false; message: string };
  /** Checks now with the watchers active in the current state; their names. */
  trigger(): Promise<string[]>;
}

/** A node's machines, as agents see them. */
export interface HostedMachines {
  list(): HostedMachine[];
  /** The one machine matching every given field; throws an Error saying why not. */
  find(query: { instance?: string; name?: string; path?: string; version?: string }): HostedMachine;
}

function view(host: MachineHost, machine: Machine): HostedMachine {
  return {
    id: machine.id,
    name: machine.name,
    version: machine.version,
    state: machine.state,
    path: host.pathOf(machine),
    startedAt: machine.startedAt,
    scout: machine.scout,
    availableTransitions: () => machine.availableTransitions(),
    checkState: () => {
      const watcher = machine.watchers.find((w) => w.def.type === "nagios");
      return watcher ? machine.watcherState(watcher) : null;
    },
    transition: (name, reason) => {
      const result = machine.transition(name, reason);
      return result.ok ? { ok: true } : { ok: false, message: result.message };
    },
    trigger: () => machine.trigger(),
  };
}

/**
 * The agents' view of a host.
 *
 * @example Wrap a host
 * ```ts
 * import { hostedMachines } from "./control.ts";
 * import { MachineHost } from "./host.ts";
 * import { defaultPlugins } from "./watchers/mod.ts";
 * const host = new MachineHost({ store: "", identity: "n1", plugins: defaultPlugins() });
 * console.log(hostedMachines(host).list()); // []
 * ```
 */
export function hostedMachines(host: MachineHost): HostedMachines {
  return {
    list: () => host.machines().map((m) => view(host, m)),
    find: (query) => view(host, host.find(query)),
  };
}
