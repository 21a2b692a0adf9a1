/**
 * Replies, stats and DDLs for the output tests.
 *
 * @module
 */
import type { AgentDdl } from "../../agents/agent.ts";
import { parseDdl } from "../../agents/ddl.ts";
import type { RpcResult, RpcStats } from "../types.ts";

/** A reply from `sender`. */
export function reply(
  sender: string,
  data: Record<string, unknown> = {},
  options: Partial<RpcResult> = {},
): RpcResult {
  return { sender, statuscode: 0, statusmsg: "OK", data, signed: true, elapsedMs: 5, ...options };
}

/** Stats for a call to `discovered` in which `responded` answered. */
export function stats(
  discovered: string[],
  responded: string[],
  options: Partial<RpcStats> = {},
): RpcStats {
  return {
    discovered,
    responded,
    ok: responded.length,
    failed: 0,
    noResponses: discovered.filter((n) => !responded.includes(n)),
    unexpected: [],
    discoveryMs: 12,
    publishMs: 1,
    repliesMs: 30,
    totalMs: 43,
    ...options,
  };
}

/** The built-in rpcutil DDL. */
export async function rpcutilDdl(): Promise<AgentDdl> {
  const url = new URL("../../agents/ddl/rpcutil.json", import.meta.url);
  return parseDdl(await Deno.readTextFile(url), { file: "rpcutil.json" });
}

/** A small DDL with every aggregate function and display policy. */
export const widgetDdl: AgentDdl = parseDdl({
  metadata: {
    name: "widget",
    description: "Manages widgets",
    author: "Test",
    license: "Apache-2.0",
    version: "1.2.3",
    url: "https://example.net",
    timeout: 5,
  },
  actions: [
    {
      action: "status",
      description: "Reports a widget's status",
      display: "always",
      input: {
        name: {
          prompt: "Name",
          description: "The widget",
          type: "string",
          optional: false,
          validation: "^[a-z]+$",
          maxlength: 20,
        },
      },
      output: {
        state: { description: "Its state", display_as: "State", type: "string" },
        enabled: { description: "Whether on", display_as: "Enabled", type: "boolean" },
        runtime: { description: "Seconds up", display_as: "Runtime", type: "number" },
        tags: { description: "Its tags", display_as: "Tags", type: "array" },
      },
      aggregate: [
        { function: "summary", args: ["state"] },
        { function: "boolean_summary", args: ["enabled", { true: "on", false: "off" }] },
        { function: "average", args: ["runtime", { format: "Mean: %0.1f s" }] },
        { function: "summary", args: ["tags", { format: "%s on %d node(s)" }] },
        { function: "percentile", args: ["runtime"] },
      ],
    },
    {
      action: "restart",
      description: "Restarts a widget",
      display: "failed",
      input: {
        count: { prompt: "Count", description: "How often", type: "integer", optional: true },
        force: { prompt: "Force", description: "Even if busy", type: "boolean", optional: true },
        ratio: { prompt: "Ratio", description: "A share", type: "float", optional: true },
        mode: {
          prompt: "Mode",
          description: "How",
          type: "list",
          optional: true,
          list: ["soft", "hard"],
        },
        labels: { prompt: "Labels", description: "Labels", type: "hash", optional: true },
        hosts: { prompt: "Hosts", description: "Hosts", type: "array", optional: true },
        extra: { prompt: "Extra", description: "Anything", type: "any", optional: true },
      },
      output: { state: { description: "Its state", display_as: "State" } },
    },
    {
      action: "check",
      description: "Checks a widget",
      display: "ok",
      input: {},
      output: {},
    },
  ],
}, { file: "widget.json" });
