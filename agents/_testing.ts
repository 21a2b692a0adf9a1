/**
 * Test helpers for agents: a context like the one the server builds, a direct call of one action,
 * and an assertion on the ActionError an action throws.
 *
 * @module
 */
import assert from "node:assert/strict";
import { silentLogger } from "../core/log.ts";
import type { ActionContext, ActionError, Agent } from "./agent.ts";

/** A context for `agent`'s actions on a node called `test`. */
export function testContext(
  agent: string,
  signal: AbortSignal = new AbortController().signal,
): ActionContext {
  return {
    request: {
      requestId: "0123456789abcdef0123456789abcdef",
      callerid: "choria=test.mcollective",
      senderid: "test",
      agent,
      action: "test",
      collective: "mcollective",
      data: {},
    },
    node: {
      identity: "test",
      collectives: ["mcollective"],
      facts: () => ({}),
      classes: () => [],
      agents: () => [],
      stats: () => ({}),
      startedAt: new Date(),
      version: "test",
    },
    signal,
    logger: silentLogger,
  };
}

/** Calls one action's handler directly, as the server would after validating its inputs. */
export async function callAction(
  agent: Agent,
  action: string,
  inputs: Record<string, unknown> = {},
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const handler = agent.actions[action];
  assert.ok(handler, `the agent should implement '${action}'`);
  return await handler(inputs, testContext(agent.ddl.metadata.name, signal));
}

/** Asserts the call fails with an ActionError of this status code and a message matching `pattern`. */
export async function assertActionError(
  promise: Promise<unknown>,
  statuscode: number,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as Error).name, "ActionError", String(error));
    assert.equal((error as ActionError).statuscode, statuscode, (error as Error).message);
    assert.match((error as Error).message, pattern);
    return true;
  });
}
