import assert from "node:assert/strict";
import { batches, checkLimit, limitCount, limitNodes } from "./limit.ts";

Deno.test("limitCount keeps a count or rounds a share up", () => {
  assert.equal(limitCount(10, 3), 3);
  assert.equal(limitCount(2, 3), 2);
  assert.equal(limitCount(3, "50%"), 2);
  assert.equal(limitCount(10, "10%"), 1);
  assert.equal(limitCount(10, "1%"), 1);
  assert.equal(limitCount(10, "100%"), 10);
  assert.equal(limitCount(0, "50%"), 0);
});

Deno.test("checkLimit refuses counts below one and shares outside (0, 100]", () => {
  for (const bad of [0, -1, 1.5, "0%", "101%", "x%", "%"] as const) {
    assert.throws(() => checkLimit(bad as number), TypeError, String(bad));
  }
  checkLimit(1);
  checkLimit("12.5%");
});

Deno.test("limitNodes picks the same nodes for the same seed, whatever the order", () => {
  const nodes = Array.from({ length: 20 }, (_, i) => `n${i}.example.net`);
  const a = limitNodes(nodes, 5, { seed: 1234 });
  assert.equal(a.length, 5);
  assert.deepEqual(limitNodes([...nodes].reverse(), 5, { seed: 1234 }), a);
  assert.deepEqual(a, [...a].sort());
  assert.ok(a.every((n) => nodes.includes(n)));
  assert.notDeepEqual(limitNodes(nodes, 5, { seed: 99 }), a);
  assert.equal(limitNodes(nodes, "25%").length, 5);
  assert.deepEqual(limitNodes(["a", "a", "b"], 5, { seed: 1 }), ["a", "b"]);
});

Deno.test("batches splits in order and treats 0 as one batch", () => {
  assert.deepEqual(batches(["a", "b", "c", "d", "e"], 2), [["a", "b"], ["c", "d"], ["e"]]);
  assert.deepEqual(batches(["a", "b"], 0), [["a", "b"]]);
  assert.deepEqual(batches([], 3), []);
  assert.throws(() => batches(["a"], -1), TypeError);
});
