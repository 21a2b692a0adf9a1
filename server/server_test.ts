import assert from "node:assert/strict";
import { reconnectDelay } from "./server.ts";

Deno.test("reconnectDelay doubles its ceiling per attempt up to a minute, with jitter", () => {
  const low = () => 0;
  const high = () => 1;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => reconnectDelay(a, high)), [
    2_000,
    4_000,
    8_000,
    16_000,
    32_000,
    60_000,
    60_000,
  ]);
  assert.equal(reconnectDelay(0, low), 1_000);
  assert.equal(reconnectDelay(40, low), 30_000);
  const spread = new Set(Array.from({ length: 50 }, () => reconnectDelay(3)));
  assert.ok(spread.size > 10, "jittered");
  for (const ms of spread) assert.ok(ms >= 8_000 && ms <= 16_000);
});
