/**
 * Choria's `scout` agent: the Scout checks on a node, and forcing them. `checks` lists each
 * check with its state (Choria's `name`, `state`, `started` and `version`, plus the last result's
 * `output` and `check_time`, which Choria clients ignore); `trigger` checks now; `maintenance` pauses checking (the MAINTENANCE
 * transition) and `resume` restarts it (RESUME). The last three take an optional list of check
 * names (all checks when empty) and answer which were transitioned, which skipped (not active,
 * already paused, not paused) and which failed (no such check).
 *
 * Its DDL, `agents/ddl/scout.json`, is go-choria's without `goss_validate`: Chorale has no Goss,
 * and a DDL must not offer actions that can only fail.
 *
 * @module
 */
import ddl from "./ddl/scout.json" with { type: "json" };
import type { Agent } from "./agent.ts";
import { defineAgent } from "./sdk.ts";
import type { HostedMachine, HostedMachines } from "../machines/control.ts";

/** What `trigger`, `maintenance` and `resume` answer. */
type Outcome = {
  transitioned: string[];
  skipped: string[];
  failed: string[];
};

function selected(machines: HostedMachines, names: unknown, outcome: Outcome): HostedMachine[] {
  const checks = machines.list().filter((m) => m.scout);
  if (!Array.isArray(names) || names.length === 0) return checks;
  const picked: HostedMachine[] = [];
  for (const name of names) {
    const check = checks.find((c) => c.name === String(name));
    if (check) picked.push(check);
    else outcome.failed.push(String(name));
  }
  return picked;
}

function transitionAll(
  machines: HostedMachines,
  names: unknown,
  transition: string,
  reason: string,
): Outcome {
  const outcome: Outcome = { transitioned: [], skipped: [], failed: [] };
  for (const check of selected(machines, names, outcome)) {
    if (!check.availableTransitions().includes(transition)) outcome.skipped.push(check.name);
    else if (check.transition(transition, reason).ok) outcome.transitioned.push(check.name);
    else outcome.failed.push(check.name);
  }
  return outcome;
}

/**
 * Makes the `scout` agent over a node's machines.
 *
 * @example List no checks
 * ```ts
 * import { scoutAgent } from "./scout.ts";
 * import { callAction } from "./_testing.ts";
 * const agent = scoutAgent({ list: () => [], find: () => { throw new Error("none"); } });
 * console.log(await callAction(agent, "checks")); // { checks: [] }
 * ```
 */
export function scoutAgent(machines: HostedMachines): Agent {
  return defineAgent(ddl, {
    checks: () => ({
      checks: machines.list().filter((m) => m.scout).map((m) => {
        const last = m.checkState();
        return {
          name: m.name,
          state: m.state,
          started: m.startedAt ? Math.floor(m.startedAt.getTime() / 1000) : 0,
          version: m.version,
          output: String(last?.output ?? ""),
          check_time: Number(last?.check_time ?? 0),
        };
      }),
    }),
    trigger: async ({ checks }) => {
      const outcome: Outcome = { transitioned: [], skipped: [], failed: [] };
      for (const check of selected(machines, checks, outcome)) {
        const ran = await check.trigger();
        (ran.length > 0 ? outcome.transitioned : outcome.skipped).push(check.name);
      }
      return outcome;
    },
    maintenance: ({ checks }, { request }) =>
      transitionAll(machines, checks, "MAINTENANCE", `maintenance by ${request.callerid}`),
    resume: ({ checks }, { request }) =>
      transitionAll(machines, checks, "RESUME", `resume by ${request.callerid}`),
  }, { file: "agents/ddl/scout.json" });
}
