import assert from "node:assert/strict";
import { StateMachine } from "./state_machine.ts";

const transitions = [
  { name: "up", from: ["down"], destination: "up" },
  { name: "down", from: ["up"], destination: "down" },
];

Deno.test("StateMachine moves only along valid transitions and says why not", () => {
  const fsm = new StateMachine("down", transitions);
  assert.deepEqual(fsm.fire("up", 0), { ok: true, transition: "up", from: "down", to: "up" });
  const again = fsm.fire("up", 1);
  assert.equal(again.ok, false);
  assert.match((again as { message: string }).message, /not valid from state 'up': valid are down/);
  const unknown = fsm.fire("sideways", 2);
  assert.match((unknown as { message: string }).message, /has no such transition/);
  assert.deepEqual(fsm.states().sort(), ["down", "up"]);
  const self = new StateMachine("ok", [{ name: "OK", from: ["ok", "bad"], destination: "ok" }], {
    burst: 1,
  });
  assert.equal((self.fire("OK", 0) as { reason: string }).reason, "unchanged");
  assert.equal(self.rateLimited, 0);
});

Deno.test("StateMachine rate-limits a flapping machine and lets it go on after refill", () => {
  const fsm = new StateMachine("down", transitions, { burst: 3, refillMs: 1_000 });
  for (let i = 0; i < 3; i++) assert.equal(fsm.fire(i % 2 === 0 ? "up" : "down", 10 * i).ok, true);
  const limited = fsm.fire("down", 40);
  assert.equal(limited.ok, false);
  assert.equal((limited as { reason: string }).reason, "rate-limited");
  assert.equal(fsm.rateLimited, 1);
  assert.equal(fsm.state, "up");
  assert.equal(fsm.fire("down", 1_100).ok, true);
  assert.equal(fsm.fire("up", 1_150).ok, false);
});
